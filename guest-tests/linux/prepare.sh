#!/usr/bin/env bash
# Puts everything the Linux guest tests need into OUTDIR: bzImage, vmlinux,
# one initramfs per scenario and an ext4 test disk. Cheap when up to date.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: prepare.sh OUTDIR}
mkdir -p "$out"
"$here/kernel.sh" "$out" >/dev/null
stamp="$out/.initramfs-stamp"
newest=$(find "$here/init" "$here/initramfs.sh" -newer "$stamp" 2>/dev/null | head -1 || true)
if [ ! -f "$stamp" ] || [ -n "$newest" ]; then
  "$here/initramfs.sh" "$out" >/dev/null
  touch "$stamp"
fi
[ -f "$out/disk.img" ] || "$here/mkdisk.sh" "$out/disk.img" 32 >/dev/null
