#!/usr/bin/env bash
# mkdisk.sh OUT.img SIZE_MB
#
# Makes an ext4 disk image for the virtio-blk tests without mounting anything (no root
# needed): the file system is populated from a temporary directory with `mke2fs -d`.
# Contents:
#   /hello.txt   one line: the value of AMBER_HELLO (default "hello-from-amber-disk"),
#                which the disk scenario reports as AMBER-RESULT read=<line>
# The image is sparse and reproducible: fixed UUID, directory hash seed and timestamps
# (E2FSPROGS_FAKE_TIME, AMBER_DISK_UUID override), so the same inputs give the same bytes.
set -euo pipefail

die() { echo "mkdisk.sh: error: $*" >&2; exit 1; }
[[ $# -eq 2 ]] || { echo "usage: $0 OUT.img SIZE_MB" >&2; exit 2; }
out=$1
size=$2
[[ $size =~ ^[0-9]+$ && $size -ge 2 ]] || die "SIZE_MB must be an integer >= 2"
hello=${AMBER_HELLO:-hello-from-amber-disk}

if ! dpkg -s e2fsprogs >/dev/null 2>&1; then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends e2fsprogs >&2
fi
MKE2FS=$(command -v mke2fs || echo /sbin/mke2fs)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/root"
printf '%s\n' "$hello" >"$tmp/root/hello.txt"
touch -d @0 "$tmp/root/hello.txt" "$tmp/root"

rm -f "$out.tmp"
truncate -s "${size}M" "$out.tmp"
# -F: it is a regular file; -q: quiet; -L: label; -U, hash_seed, E2FSPROGS_FAKE_TIME: reproducible;
# -E root_owner: files owned by root whoever runs this; lazy init off so the image is
# complete (no background init in the guest competing with the tests).
E2FSPROGS_FAKE_TIME=${E2FSPROGS_FAKE_TIME:-1} "$MKE2FS" -q -F -t ext4 -L amber-test \
  -U "${AMBER_DISK_UUID:-a3be4000-0000-4000-8000-000000000001}" \
  -E root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0,hash_seed=a3be4000-0000-4000-8000-000000000002 \
  -d "$tmp/root" "$out.tmp"
# mke2fs -d copies the source files' ctime (the time of this run); pin it as well.
E2FSPROGS_FAKE_TIME=${E2FSPROGS_FAKE_TIME:-1} debugfs -w -R 'set_inode_field /hello.txt ctime @0' \
  "$out.tmp" >/dev/null 2>&1 || die "debugfs could not set the ctime of /hello.txt"
mv -f "$out.tmp" "$out"
echo "$out"
