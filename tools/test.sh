#!/usr/bin/env bash
# Sets up, builds and runs every test suite (README's test command).
#
#   1. unit suites on the host (no KVM), once normally and once under
#      AddressSanitizer + UBSan;
#   2. the placement self-test (detect): `amber doctor` and the sandbox's
#      placement on this machine and with /dev/kvm hidden; the sandbox's own
#      self-test (sandbox: watchdog, freeze and L1-reset retries); the
#      self-test of test.sh's one retry of a KVM test (retry);
#   3. the KVM suites on every KVM there is (docs/testing.md):
#      - bare-metal suites (kvm, vmm) natively where this machine's KVM runs
#        bare-metal guests (VT-x, AMD-V or PVM) AND in the QEMU-TCG sandbox,
#        a second KVM implementation;
#      - Linux suites (linux, ci) natively where the KVM runs Linux (VT-x or
#        AMD-V), otherwise in the sandbox (tools/kvm-sandbox.sh, docs/sandbox.md).
#      Each suite says where it ran and why.
#
# In CI (CI=true) a KVM suite that cannot run, or that skips a test, is a
# failure. Elsewhere a skip is printed loudly with its reason.
# Options: --unit-only, --kvm-only, --suite NAME (detect, sandbox, retry, kvm, vmm, linux, ci;
# kvm@native, kvm@sandbox, vmm@native, vmm@sandbox pick one placement).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

unit=1 kvm=1 only_suite=""
while [ $# -gt 0 ]; do
  case $1 in
    --unit-only) kvm=0 ;;
    --kvm-only) unit=0 ;;
    --suite) only_suite=$2; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

ci=${CI:-false}
build=${AMBER_BUILD_DIR:-build}
asan=${AMBER_ASAN_DIR:-build-asan}
log_dir="$root/$build/test-logs"
passed=0 failed=0 skipped=0 kvm_skipped=0 infra_events=0 tf_retries=0
failures=()

say() { printf '\n=== %s\n' "$*"; }
die() { echo "test.sh: $*" >&2; exit 1; }

tools/setup.sh || die "setup failed"

say "build ($build)"
[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null || die "meson setup failed"
ninja -C "$build" || die "build failed"
mkdir -p "$log_dir"

# shellcheck source=tools/test-lib.sh
. "$root/tools/test-lib.sh"

run_unit_suites() {  # $1 = build dir, $2 = label
  say "unit suites ($2)"
  local log="$log_dir/unit-$2.log"
  if ! meson test -C "$1" --suite unit --print-errorlogs --no-rebuild >/dev/null 2>&1; then
    failures+=("unit-$2 (meson test)")
    meson test -C "$1" --suite unit --print-errorlogs --no-rebuild 2>&1 | tail -60
  fi
  cp "$1/meson-logs/testlog.txt" "$log"
  count_gtest "$log" "unit-$2"
}

if [ $unit = 1 ]; then
  run_unit_suites "$build" "release"
  say "build ($asan: AddressSanitizer + UBSan)"
  [ -f "$asan/build.ninja" ] || meson setup "$asan" --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
      -Dbenchmarks=disabled >/dev/null || die "meson setup ($asan) failed"
  # Only what the unit suites need, at -O0: it compiles faster and the
  # unit suites run in seconds either way.
  targets=$(meson introspect "$asan" --tests | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if "unit" in t["suite"] or any(s.endswith(":unit") for s in t["suite"]):
        print(t["cmd"][0])' | sed "s|^$root/$asan/||")
  # shellcheck disable=SC2086
  ninja -C "$asan" $targets || die "ASan build failed"
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 run_unit_suites "$asan" "asan"
fi

# ---- KVM suites (kvm_suite and its helpers: tools/test-lib.sh) -------------

# A script suite that prints "N passed, N failed" ($1 = label, $2.. = command).
script_suite() {
  local label=$1; shift
  wanted "$label" || return 0
  say "suite: $label"
  local log="$log_dir/$label.log" rc line p f
  "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line=$(grep -aE '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
  p=$(echo "$line" | awk '{print $1+0}'); f=$(echo "$line" | awk '{print $3+0}')
  passed=$((passed + p)); failed=$((failed + f))
  echo "$label: $p passed, $f failed"
  count_infra "$log" "$label"
  # ci-inner.sh's one proven retry (docs/testing.md "Known sandbox flakes").
  local r
  r=$(grep -ac '^RETRY: resume .*triple-faulted' "$log")
  tf_retries=$((tf_retries + r))
  if [ "$rc" -ne 0 ] || [ -z "$line" ] || [ "$f" -ne 0 ]; then failures+=("$label (exit $rc)"); fi
}

if [ $kvm = 1 ]; then
  # How this machine's KVM is placed, checked here and with /dev/kvm
  # hidden, so a change of machines cannot break the README commands silently.
  script_suite detect tools/detect-selftest.sh "$root/$build/tools/amber"
  # The sandbox's own watchdog: exit status, carry, timeout, freeze and L1
  # reset retries (docs/sandbox.md "Self-tests"), about a minute.
  script_suite sandbox tools/sandbox-selftest.sh
  say "guest artifacts"
  guest-tests/linux/prepare.sh "$build/guest" || die "guest artifacts failed"
  # test.sh's own retry of a sandbox triple fault (tools/test-lib.sh), with
  # stand-in gtest binaries through kvm-sandbox.sh, about 40 s.
  AMBER_BUILD_DIR=$build script_suite retry tools/test-retry-selftest.sh
  # Bare-metal suites on every KVM there is: natively where this machine's
  # KVM runs bare-metal guests, and always in the sandbox (a second KVM
  # implementation finds bugs the first hides).
  placement=$(tools/kvm-sandbox.sh --needs bare --amber "$root/$build/tools/amber" --placement 2>&1)
  echo "$placement"
  native_bare=0
  grep -q 'run natively' <<<"$placement" && native_bare=1
  # Debian's gdb for the vmm suite (an `amber dump` core, Cli.DumpOf...; the
  # gdb stub, GdbStub.*) and the linux suite (a Linux guest's core); gdb
  # needs its Python standard library to start (docs/testing.md).
  gdb_carry=()
  if [ -x /usr/bin/gdb ]; then
    py=$(ldd /usr/bin/gdb | grep -o 'libpython3\.[0-9]*' | head -1 | sed 's/^lib//')
    gdb_carry=(--carry /usr/bin/gdb --carry /usr/share/gdb ${py:+--carry /usr/lib/$py})
  fi
  for s in kvm:src/kvm/kvm_tests vmm:src/vmm/vmm_kvm_tests; do
    extra_carry=()
    # The vmm suite also carries fail_syscalls_exec (CrashSafety.ASaveThatGetsEio*: a real EIO).
    if [ "${s%%:*}" = vmm ]; then
      extra_carry=(${gdb_carry[@]+"${gdb_carry[@]}"} --carry "$root/$build/src/vmm/fail_syscalls_exec")
    fi
    if [ $native_bare = 1 ]; then
      kvm_suite "${s%%:*}@native" bare native 1 "$root/$build/${s#*:}"
    elif wanted "${s%%:*}@native"; then
      echo "!!! ${s%%:*}@native: no native run: this machine's KVM runs no bare-metal guest (placement above); the sandbox run is the only one" >&2
    fi
    # The vmm suite in two sandbox runs (kvm_suite above); the kvm suite is short.
    kvm_suite "${s%%:*}@sandbox" bare qemu "$([ "${s%%:*}" = vmm ] && echo 2 || echo 1)" "$root/$build/${s#*:}"
  done
  extra_carry=(${gdb_carry[@]+"${gdb_carry[@]}"})
  if [ -x "$build/guest-tests/linux_tests/linux_tests" ]; then
    kvm_suite linux linux auto 2 "$root/$build/guest-tests/linux_tests/linux_tests"
  fi
  extra_carry=()
  # The CI-style workflow (guest-requested save, 10 concurrent resumes,
  # control socket, in-place reset); it places itself like the linux suite.
  AMBER_BUILD_DIR=$build script_suite ci guest-tests/ci/ci-workflow.sh 10
fi

say "summary"
# A KVM test that skips in CI is a failure: CI must exercise real KVM.
if [ "$ci" = true ] && [ "$kvm_skipped" -gt 0 ]; then
  failures+=("$kvm_skipped KVM test(s) skipped in CI")
fi
[ "$infra_events" -eq 0 ] || echo "!!! $infra_events sandbox infrastructure event(s) (L1 froze or reset) were retried; see above" >&2
[ "$tf_retries" -eq 0 ] || echo "!!! $tf_retries sandbox guest triple fault(s) were retried (docs/testing.md \"Known sandbox flakes\"); see RETRY above" >&2
echo "$passed passed, $failed failed, $skipped skipped"
if [ ${#failures[@]} -gt 0 ]; then
  echo "FAILED: ${failures[*]}" >&2
  exit 1
fi
