#!/usr/bin/env bash
# initramfs-ci.sh GUESTDIR OUTDIR
#
# Builds OUTDIR/ci.cpio.gz: the `snap` image of guest-tests/linux/initramfs.sh
# (busybox, lib.sh, device nodes; GUESTDIR/snap.cpio.gz from prepare.sh) with a
# second archive appended that replaces /init by init-ci.sh and adds the static
# /bin/amber-guest-save. The kernel unpacks concatenated (compressed) cpio
# archives in order and a later file replaces an earlier one
# (Documentation/driver-api/early-userspace/buffer-format.rst), so nothing of
# the base image is rebuilt or duplicated here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
guest=${1:?usage: initramfs-ci.sh GUESTDIR OUTDIR}
out=${2:?usage: initramfs-ci.sh GUESTDIR OUTDIR}
[ -f "$guest/snap.cpio.gz" ] || { echo "initramfs-ci.sh: $guest/snap.cpio.gz missing (run guest-tests/linux/prepare.sh $guest)" >&2; exit 1; }
mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin"
gcc -static -Os -Wall -Werror -o "$stage/bin/amber-guest-save" "$here/amber-guest-save.c"
strip "$stage/bin/amber-guest-save"
install -m 0755 "$here/init-ci.sh" "$stage/init"
(cd "$stage" && printf '%s\n' bin bin/amber-guest-save init |
  cpio --quiet -o -H newc -R 0:0 --reproducible | gzip -9 -n) >"$stage/overlay.cpio.gz"
cat "$guest/snap.cpio.gz" "$stage/overlay.cpio.gz" >"$out/ci.cpio.gz"
echo "$out/ci.cpio.gz $(stat -c %s "$out/ci.cpio.gz")"
