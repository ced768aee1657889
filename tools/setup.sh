#!/usr/bin/env bash
# Installs what amber needs to build and test on Debian 12, only when missing
# (quiet when everything is there). Part of both README commands.
set -euo pipefail

packages=(
  g++ meson ninja-build pkg-config            # build
  linux-libc-dev                              # KVM UAPI headers
  libfdt-dev libzstd-dev libxxhash-dev libfmt-dev nlohmann-json3-dev
  libseccomp-dev                              # per-thread system-call filters (docs/security.md)
  libgtest-dev libgmock-dev libbenchmark-dev  # tests, benchmarks
  qemu-system-x86 busybox-static cpio         # the KVM sandbox and test guests
  e2fsprogs                                   # ext4 test disks (mke2fs -d)
  gdb                                         # opens amber dump's cores in tests (docs/debugging.md)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
