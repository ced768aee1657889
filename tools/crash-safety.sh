#!/usr/bin/env bash
# tools/crash-safety.sh [KILLS [SEED]]  -- issue 11's crash-safety run: kill -9
# amber at KILLS (default 100) random points of saves over an existing image
# (background and stop-the-world saves alternately) and check each time that
# the image verifies and no temporary file is left; then a save into a full
# file system. It is the vmm KVM suite's CrashSafety tests with more kills
# (the suite runs 6), placed like that suite: natively where this machine's
# KVM runs bare-metal guests, otherwise in the QEMU-TCG sandbox. Needs a
# build in build/ (tools/test.sh makes one). docs/testing.md has results.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
b=$root/build
[ -x "$b/src/vmm/vmm_kvm_tests" ] || { echo "crash-safety.sh: build first (tools/test.sh --unit-only)" >&2; exit 2; }
env=(--env "AMBER_CRASH_KILLS=${1:-100}" --env GTEST_COLOR=no --env "AMBER_BIN=$b/tools/amber")
[ -n "${2:-}" ] && env+=(--env "AMBER_CRASH_SEED=$2")
exec tools/kvm-sandbox.sh --needs bare --amber "$b/tools/amber" --timeout 1800 \
  --carry "$b/tools/amber" --carry "$b/src/vmm/vmm_kvm_tests" --carry "$b/guest-tests/bare" "${env[@]}" \
  -- "$b/src/vmm/vmm_kvm_tests" --gtest_filter='CrashSafety.*'
