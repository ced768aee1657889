#!/usr/bin/env bash
# tools/experiments/triple-fault.sh [ROUNDS [C]]  -- the same-load comparison
# behind the sandbox's triple-fault retry (docs/testing.md "Known sandbox
# flakes"): in ONE sandbox run, ROUNDS batches of C concurrent fresh boots
# and C concurrent resumed clones of the same Linux guest, each running the
# same load first. If fresh boots, which never touch amber's resume path,
# triple-fault like resumed clones, the fault is the sandbox's. Not a CI
# suite: about 2 minutes per batch on a 2-core machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
rounds=${1:-3} c=${2:-5}
build=${AMBER_BUILD_DIR:-build}
ninja -C "$build" tools/amber >/dev/null
guest=$root/$build/guest ci=$root/$build/ci
guest-tests/linux/prepare.sh "$guest" >/dev/null
guest-tests/ci/initramfs-ci.sh "$guest" "$ci" >/dev/null
cp -f "$guest/bzImage" "$ci/bzImage"
[ -f "$ci/disk.img" ] || guest-tests/linux/mkdisk.sh "$ci/disk.img" 8 >/dev/null
exec tools/kvm-sandbox.sh --needs linux --amber "$root/$build/tools/amber" --mem 3072 \
  --timeout $((600 + rounds * 2 * 400)) \
  --carry "$root/$build/tools/amber" --carry "$ci" --carry "$root/tools/experiments/triple-fault-inner.sh" \
  -- sh "$root/tools/experiments/triple-fault-inner.sh" "$root/$build/tools/amber" "$ci" "$rounds" "$c"
