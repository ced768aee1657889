#!/usr/bin/env bash
# The main job (README's first command): set up, build, then boot a Linux
# guest, snapshot it into one image file, delete everything it booted from,
# and resume it from the image. Runs natively where this machine's KVM runs
# Linux guests (VT-x or AMD-V; `amber doctor` tells) and in the QEMU-TCG
# sandbox otherwise, e.g. on a PVM /dev/kvm (it says which, and why).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${AMBER_BUILD_DIR:-build}

tools/setup.sh
[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
ninja -C "$build" tools/amber guest-tests/bare/hello.bin >/dev/null
guest-tests/linux/prepare.sh "$build/guest"

exec tools/kvm-sandbox.sh --needs linux --amber "$root/$build/tools/amber" --timeout 600 \
  --carry "$root/$build/tools/amber" --carry "$root/$build/guest" --carry "$root/$build/guest-tests/bare" \
  --carry "$root/tools/demo-inner.sh" \
  -- "$root/tools/demo-inner.sh" "$root/$build/tools/amber" "$root/$build/guest" "$root/$build/guest-tests/bare"
