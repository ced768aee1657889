#!/usr/bin/env bash
# initramfs.sh OUTDIR [SCENARIO...]
#
# Builds one gzip'd newc initramfs per scenario: OUTDIR/<scenario>.cpio.gz, where the
# scenarios are guest-tests/linux/init/<scenario>.sh (default: all of them; lib.sh is the
# shared helper file, not a scenario). Each image holds only:
#   /bin/busybox          from Debian's busybox-static (statically linked)
#   applet symlinks       /bin, /sbin, /usr/bin, /usr/sbin -> /bin/busybox
#   /init                 the scenario script
#   /lib.sh               init/lib.sh (helpers the scenarios source)
#   /dev/console          char 5:1, so the kernel can give /init its stdin/stdout
#   empty /proc /sys /dev /tmp /mnt /root /etc /run
#
# The archive is written by this script itself (newc is a simple ASCII-header format),
# so no root, fakeroot or mknod is needed for /dev/console, and every entry has
# uid/gid 0 and mtime 0: the same inputs give byte-identical images. An image is only
# replaced when its content changes. Prints one line per image: "<path> <bytes> <sha256>".
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
initdir=$here/init
BUSYBOX=${AMBER_BUSYBOX:-/bin/busybox}

log() { echo "initramfs.sh: $*" >&2; }
die() { echo "initramfs.sh: error: $*" >&2; exit 1; }

[[ $# -ge 1 ]] || { echo "usage: $0 OUTDIR [SCENARIO...]" >&2; exit 2; }
outdir=$1
shift

here_ep=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=ensure_packages.sh
source "$here_ep/ensure_packages.sh"

[[ -n ${AMBER_BUSYBOX:-} ]] || ensure_packages busybox-static gzip
[[ -x $BUSYBOX ]] || die "$BUSYBOX not found"
if LC_ALL=C readelf -l "$BUSYBOX" 2>/dev/null | grep -q 'INTERP'; then
  die "$BUSYBOX is dynamically linked; the initramfs needs busybox-static"
fi

if [[ $# -gt 0 ]]; then
  scenarios=("$@")
else
  scenarios=()
  for f in "$initdir"/*.sh; do
    n=$(basename "$f" .sh)
    [[ $n == lib ]] || scenarios+=("$n")
  done
fi
for n in "${scenarios[@]}"; do
  [[ -f $initdir/$n.sh ]] || die "no scenario $n ($initdir/$n.sh)"
done
mkdir -p "$outdir"

# ---------------------------------------------------------------- newc writer
# newc ("070701"): a 110-byte ASCII header (13 fields of 8 hex digits), the NUL-terminated
# name padded to a multiple of 4 (counting the header), then the data padded to 4.
ino=300000
pad4() { # n -> zero bytes to the next multiple of 4
  local r=$(($1 % 4))
  [[ $r -eq 0 ]] || head -c $((4 - r)) /dev/zero
}
entry() { # name mode(octal) size rdevmajor rdevminor  -- data follows from the caller
  local name=$1 mode=$2 size=$3 rmaj=${4:-0} rmin=${5:-0} nlink=1
  [[ $((8#$mode & 8#170000)) -eq $((8#040000)) ]] && nlink=2
  ino=$((ino + 1))
  printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
    "$ino" $((8#$mode)) 0 0 "$nlink" 0 "$size" 0 0 "$rmaj" "$rmin" $((${#name} + 1)) 0
  printf '%s\0' "$name"
  pad4 $((110 + ${#name} + 1))
}
add_dir() { entry "$1" 040755 0; }
add_chr() { entry "$1" 020600 0 "$2" "$3"; }
add_file() { # name permissions(octal) path
  local size
  size=$(stat -c %s "$3")
  entry "$1" "$(printf '%o' $((8#100000 | 8#$2)))" "$size"
  cat "$3"
  pad4 "$size"
}
add_symlink() { # name target
  entry "$1" 0120777 "${#2}"
  printf '%s' "$2"
  pad4 "${#2}"
}
add_trailer() { ino=0; entry 'TRAILER!!!' 0 0; }

# The part every image shares: directories, console node, busybox and its applet links.
write_base() {
  local d
  for d in bin sbin usr usr/bin usr/sbin dev proc sys tmp mnt root etc run; do
    add_dir "$d"
  done
  add_chr dev/console 5 1
  add_file bin/busybox 0755 "$BUSYBOX"
  # Applet links at the paths busybox itself lists. No /sbin/init or /linuxrc: if /init
  # failed, the kernel should panic with "No working init found", not start busybox init.
  "$BUSYBOX" --list-full | LC_ALL=C sort | while read -r p; do
    case $p in
      bin/busybox | sbin/init | linuxrc | */) continue ;;
      */*) add_symlink "$p" /bin/busybox ;;
    esac
  done
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
write_base >"$tmp/base.cpio"

for n in "${scenarios[@]}"; do
  {
    cat "$tmp/base.cpio"
    add_file init 0755 "$initdir/$n.sh"
    add_file lib.sh 0644 "$initdir/lib.sh"
    add_trailer
  } | gzip -9 -n >"$tmp/$n.cpio.gz"
  dst=$outdir/$n.cpio.gz
  cmp -s "$tmp/$n.cpio.gz" "$dst" 2>/dev/null || cp -f "$tmp/$n.cpio.gz" "$dst"
  echo "$dst $(stat -c %s "$dst") $(sha256sum "$dst" | cut -c1-64)"
done
