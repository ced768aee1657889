#!/usr/bin/env bash
# guest-tests/ci/ci-workflow.sh [N]  -- a CI-style run of amber's image workflow:
#
#   1. boot the Linux test guest once; when ready, the guest itself asks for a
#      save (amber-guest-save rings the UART OUT1 doorbell; docs/api.md);
#   2. resume that image N times (default 10) concurrently, each running a
#      different command over the serial console and exiting (shell exit ->
#      reboot -> amber exit 0); every output and exit status is checked;
#   3. resume it once more with --api: amber ctl status/pause/resume/save, then
#      an in-place reset must bring back the image's RAM token and drop a file
#      written to the disk after the resume; stop ends the VM with status 0.
#
# AMBER_CI_CMDLINE adds to the guest's kernel command line (e.g.
# amber.reseed=0 to see clones without the re-seed of docs/entropy.md).
# Prints "N passed, N failed". Runs in tools/kvm-sandbox.sh --needs linux
# (natively where the KVM runs Linux guests, otherwise in the sandbox). Builds what it needs in $AMBER_BUILD_DIR (default build-api).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
n=${1:-10}
build=${AMBER_BUILD_DIR:-build-api}
[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
ninja -C "$build" -j2 tools/amber >/dev/null
guest=$root/$build/guest
ci=$root/$build/ci
guest-tests/linux/prepare.sh "$guest" >/dev/null
guest-tests/ci/initramfs-ci.sh "$guest" "$ci" >/dev/null
cp -f "$guest/bzImage" "$ci/bzImage"
# A small disk: everything carried into the sandbox lives in L1's RAM.
[ -f "$ci/disk.img" ] || guest-tests/linux/mkdisk.sh "$ci/disk.img" 8 >/dev/null
exec tools/kvm-sandbox.sh --needs linux --amber "$root/$build/tools/amber" --retries 4 --mem 2048 --timeout "${AMBER_CI_TIMEOUT:-900}" \
  --carry "$root/$build/tools/amber" --carry "$ci" --carry "$root/guest-tests/ci/ci-inner.sh" \
  -- sh "$root/guest-tests/ci/ci-inner.sh" "$root/$build/tools/amber" "$ci" "$n" "${AMBER_CI_CMDLINE:-}"
