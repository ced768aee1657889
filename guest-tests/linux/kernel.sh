#!/usr/bin/env bash
# kernel.sh OUTDIR [--config-only]
#
# Puts the amber test-guest kernel into OUTDIR as `bzImage` and `vmlinux` and prints the
# directory it was taken from on stdout (progress goes to stderr).
#
# Where the kernel comes from, in order:
#   1. The prebuilt copy in the shared directory (${AMBER_SHARED:-<repo>/../shared}/guest),
#      used when bzImage and vmlinux are there and match that directory's SHA256SUMS.
#      It is a Linux 6.1 tinyconfig + microvm fragment build, made with the same recipe as
#      below; using it saves a ~10 minute build.
#   2. Our own build from Debian's linux-source-6.1: `make ARCH=x86_64 tinyconfig`, merge
#      guest-tests/linux/microvm.fragment, olddefconfig, check every fragment option landed,
#      build bzImage + vmlinux. Cached in ${AMBER_CACHE:-$HOME/.cache/amber}/kernel-<key>,
#      key = hash of the fragment, the linux-source package version and this recipe's
#      version, so a changed fragment (or source update) gives a fresh build.
#
# Environment:
#   AMBER_SHARED        the shared directory (holding guest/), or the guest directory itself
#   AMBER_CACHE         cache root (default $HOME/.cache/amber)
#   AMBER_KERNEL_BUILD=1  ignore the shared copy and use/build our own
#   AMBER_KERNEL_JOBS   make -j value (default: nproc)
#
# --config-only: stop after producing and checking the .config; writes OUTDIR/config
# (fast: ~30 s incl. unpacking the source; used to test the fragment without a full build).
set -euo pipefail

RECIPE_VERSION=1 # bump when the build steps below change in a way that changes the output
SRC_PKG=linux-source-6.1
SRC_TARBALL=/usr/src/linux-source-6.1.tar.xz
BUILD_DEPS=(linux-source-6.1 gcc make bc flex bison libelf-dev xz-utils binutils)

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
fragment=$here/microvm.fragment

log() { echo "kernel.sh: $*" >&2; }
die() { echo "kernel.sh: error: $*" >&2; exit 1; }

usage() { echo "usage: $0 OUTDIR [--config-only]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
outdir=$1
config_only=0
if [[ $# -eq 2 ]]; then
  [[ $2 == --config-only ]] || usage
  config_only=1
fi
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)

# Copy only when the content differs, so make-style callers see stable mtimes.
install_file() { # src dst
  if ! cmp -s "$1" "$2" 2>/dev/null; then
    install -m 0644 "$1" "$2.tmp.$$" && mv -f "$2.tmp.$$" "$2"
  fi
}

# ------------------------------------------------------------------ 1. shared prebuilt copy
shared_guest_dir() {
  local base=${AMBER_SHARED:-$repo/../shared}
  if [[ -f $base/bzImage && -f $base/SHA256SUMS ]]; then echo "$base"; else echo "$base/guest"; fi
}

shared_ok() { # dir -> 0 when bzImage and vmlinux exist and match SHA256SUMS
  local d=$1 sums
  [[ -f $d/bzImage && -f $d/vmlinux && -f $d/SHA256SUMS ]] || return 1
  sums=$(grep -E '^[0-9a-f]{64}  (bzImage|vmlinux)$' "$d/SHA256SUMS") || return 1
  [[ $(wc -l <<<"$sums") -eq 2 ]] || return 1
  (cd "$d" && sha256sum --quiet -c - <<<"$sums" >/dev/null 2>&1)
}

if [[ $config_only -eq 0 && ${AMBER_KERNEL_BUILD:-0} != 1 ]]; then
  sd=$(shared_guest_dir)
  if shared_ok "$sd"; then
    sd=$(cd "$sd" && pwd)
    install_file "$sd/bzImage" "$outdir/bzImage"
    install_file "$sd/vmlinux" "$outdir/vmlinux"
    log "using the shared prebuilt kernel from $sd (SHA256SUMS ok)"
    echo "$sd"
    exit 0
  fi
  if [[ -e $sd/bzImage ]]; then
    log "shared kernel in $sd does not match its SHA256SUMS; building our own"
  else
    log "no shared kernel in $sd; using/building our own"
  fi
fi

# ------------------------------------------------------------------ 2. own build (cached)
here_ep=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=ensure_packages.sh
source "$here_ep/ensure_packages.sh"

ensure_packages "${BUILD_DEPS[@]}"
[[ -f $SRC_TARBALL ]] || die "$SRC_TARBALL missing although $SRC_PKG is installed"
src_version=$(dpkg-query -W -f='${Version}' "$SRC_PKG")
key=$( { cat "$fragment"; echo "src=$SRC_PKG $src_version"; echo "recipe=$RECIPE_VERSION"; } |
  sha256sum | cut -c1-16)
cache_root=${AMBER_CACHE:-$HOME/.cache/amber}
cache=$cache_root/kernel-$key
mkdir -p "$cache_root"

# Every CONFIG_ line of the fragment must appear verbatim in the final .config
# ("# CONFIG_X is not set" lines included). merge_config.sh only warns; we fail.
check_config() { # .config
  local cfg=$1 bad=0 line name want got
  while IFS= read -r line; do
    if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
      name=${BASH_REMATCH[1]}; want=$line
    elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
      name=${BASH_REMATCH[1]}; want=$line
    else
      continue
    fi
    got=$(grep -E "^(# )?${name}[= ]" "$cfg" || true)
    # An option that is absent from .config (dependencies not met) counts as "not set".
    if [[ $got != "$want" && ! ( -z $got && $want == "# $name is not set" ) ]]; then
      log "config mismatch: wanted '$want', got '${got:-<absent>}'"
      bad=1
    fi
  done <"$fragment"
  return $bad
}

make_config() { # srcdir builddir
  local s=$1 b=$2
  make -C "$s" O="$b" ARCH=x86_64 tinyconfig >&2
  # -m: merge only (no olddefconfig pass inside the script); -O: where .config lives.
  (cd "$s" && ARCH=x86_64 scripts/kconfig/merge_config.sh -m -O "$b" "$b/.config" "$fragment") >&2
  make -C "$s" O="$b" ARCH=x86_64 olddefconfig >&2
  check_config "$b/.config" || die "fragment options did not survive olddefconfig (see above)"
}

if [[ $config_only -eq 0 && -f $cache/done ]]; then
  log "using cached own build $cache"
  install_file "$cache/bzImage" "$outdir/bzImage"
  install_file "$cache/vmlinux" "$outdir/vmlinux"
  echo "$cache"
  exit 0
fi

# One builder per cache key; others wait and then reuse its result.
exec 9>"$cache.lock"
flock 9
if [[ $config_only -eq 0 && -f $cache/done ]]; then
  install_file "$cache/bzImage" "$outdir/bzImage"
  install_file "$cache/vmlinux" "$outdir/vmlinux"
  echo "$cache"
  exit 0
fi

work=$(mktemp -d "$cache_root/kernel-$key.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "unpacking $SRC_TARBALL ($SRC_PKG $src_version) into $work"
tar -C "$work" -xf "$SRC_TARBALL"
srcdir=$(echo "$work"/linux-source-*)
[[ -d $srcdir ]] || die "unexpected tarball layout in $SRC_TARBALL"
builddir=$work/build
mkdir -p "$builddir"

log "configuring: tinyconfig + $fragment"
make_config "$srcdir" "$builddir"
if [[ $config_only -eq 1 ]]; then
  cp "$builddir/.config" "$outdir/config"
  log "config ok; wrote $outdir/config"
  echo "$outdir"
  exit 0
fi

jobs=${AMBER_KERNEL_JOBS:-$(nproc)}
log "building bzImage + vmlinux with -j$jobs (about 10 minutes on 2 cores)"
# KBUILD_BUILD_* pin the version string so rebuilds of one key are comparable.
make -C "$srcdir" O="$builddir" ARCH=x86_64 -j"$jobs" \
  KBUILD_BUILD_USER=amber KBUILD_BUILD_HOST=amber KBUILD_BUILD_TIMESTAMP="$src_version" \
  bzImage vmlinux >&2

stage=$work/out
mkdir -p "$stage"
cp "$builddir/arch/x86/boot/bzImage" "$stage/bzImage"
# Stripped like the shared copy; strip keeps allocated sections, including .notes with
# the PVH entry note (checked below). The unstripped one is kept for gdb.
cp "$builddir/vmlinux" "$stage/vmlinux.debug"
strip -o "$stage/vmlinux" "$builddir/vmlinux"
cp "$builddir/.config" "$stage/config"
cp "$builddir/System.map" "$stage/System.map"
cp "$fragment" "$stage/microvm.fragment"
if ! readelf -n "$stage/vmlinux" | grep -q 'Xen.*0x00000012'; then
  die "vmlinux has no XEN_ELFNOTE_PHYS32_ENTRY (PVH) note"
fi
(cd "$stage" && sha256sum bzImage vmlinux config microvm.fragment >SHA256SUMS)
touch "$stage/done"
rm -rf "$cache"
mv "$stage" "$cache"
log "built and cached $cache"
install_file "$cache/bzImage" "$outdir/bzImage"
install_file "$cache/vmlinux" "$outdir/vmlinux"
echo "$cache"
