#!/usr/bin/env bash
# tools/test-retry-selftest.sh - checks test.sh's one retry of a KVM test
# (tools/test-lib.sh retry_triple_faults; docs/testing.md "Known sandbox
# flakes"): which failed tests it picks from a log, and, through a real
# kvm-sandbox.sh run of stand-in gtest binaries, that it retries them once
# inside the sandbox only, counts the retry, and keeps a failure that repeats
# or that lacks the signature. Prints "N passed, N failed" (test.sh's
# script_suite). Needs the build's amber and guest artifacts (test.sh runs
# it after "guest artifacts").
set -uo pipefail
# shellcheck disable=SC2016  # the checks are eval'd when they run
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
build=${AMBER_BUILD_DIR:-build}
tmp=$(mktemp -d /tmp/amber-retry-selftest.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
ok=0 bad=0
check() {  # name, then a command that succeeds when the check holds
  local name=$1; shift
  if "$@"; then echo "ok   $name"; ok=$((ok + 1)); else echo "FAIL $name"; bad=$((bad + 1)); fi
}

# The state test-lib.sh works on (as test.sh sets it).
log_dir=$tmp/logs only_suite="" extra_carry=(--carry "$tmp")  # the stand-ins call each other
mkdir -p "$log_dir"
say() { echo "== $*"; }
reset_counts() { passed=0 failed=0 skipped=0 kvm_skipped=0 infra_events=0 tf_retries=0; failures=(); }
reset_counts
# shellcheck source=tools/test-lib.sh
. "$root/tools/test-lib.sh"

# ---- which failed tests carry the signature (no KVM) ----------------------
sig='amber: warning: vCPU 0: the guest shut down (triple fault: a crash, or reboot=t): rip=0xfff0'
printf '[ RUN      ] A.b\n%s\n[  FAILED  ] A.b (2 ms)\n[ RUN      ] C.d\n[       OK ] C.d (1 ms)\n' "$sig" >"$tmp/one.log"
check "a failed test with the signature is picked" [ "$(triple_faulted_tests "$tmp/one.log")" = A.b ]
printf '[ RUN      ] A.b\n%s\n[  FAILED  ] A.b (2 ms)\n[ RUN      ] C.d\n[  FAILED  ] C.d (1 ms)\n' "$sig" >"$tmp/mixed.log"
check "nothing is picked when one failure lacks the signature" [ -z "$(triple_faulted_tests "$tmp/mixed.log")" ]
printf '[ RUN      ] A.b\n%s\n[       OK ] A.b (2 ms)\n' "$sig" >"$tmp/passed.log"
check "a passing test with the signature is not picked" [ -z "$(triple_faulted_tests "$tmp/passed.log")" ]
printf '[ RUN      ] A.b\n%s\n[  FAILED  ] A.b (2 ms)\n[kvm-sandbox] INFRA: L1 froze\n[ RUN      ] A.b\n[  FAILED  ] A.b (3 ms)\n' \
  "$sig" >"$tmp/infra.log"
check "only the last try counts" [ -z "$(triple_faulted_tests "$tmp/infra.log")" ]

# ---- through kvm-sandbox.sh -----------------------------------------------
# Stand-ins for a gtest binary. flaky: Fake.Test fails with the signature
# unless run alone (--gtest_filter, as the retry runs it); always: it always
# does; nosig: it fails without the signature.
fake() {  # name, filtered-run behaviour (pass|fail), signature line or ""
  cat >"$tmp/$1" <<EOF
#!/bin/sh
case " \$* " in *" --gtest_filter=Fake.Test "*) filtered=1 ;; *) filtered=0 ;; esac
if [ \$filtered = 1 ] && [ $2 = pass ]; then
  printf '[ RUN      ] Fake.Test\n[       OK ] Fake.Test (1 ms)\n[  PASSED  ] 1 test.\n'; exit 0
fi
printf '[ RUN      ] Fake.Test\n%s\n[  FAILED  ] Fake.Test (2 ms)\n' '$3'
if [ \$filtered = 0 ]; then printf '[ RUN      ] Fake.Other\n[       OK ] Fake.Other (1 ms)\n[  PASSED  ] 1 test.\n'; fi
printf '[  FAILED  ] 1 test, listed below:\n[  FAILED  ] Fake.Test\n'
exit 1
EOF
  chmod +x "$tmp/$1"
}
fake flaky pass "$sig"
fake always fail "$sig"
fake nosig fail "a plain assertion failure"
# crashy: the retry dies before it reports anything.
printf '#!/bin/sh\ncase " $* " in *" --gtest_filter=Fake.Test "*) exit 1 ;; esac\nexec %s "$@"\n' "$tmp/always" >"$tmp/crashy"
chmod +x "$tmp/crashy"

in_sandbox=0
tools/kvm-sandbox.sh --needs linux --amber "$root/$build/tools/amber" --placement 2>&1 | grep -q 'QEMU-TCG sandbox' && in_sandbox=1
kvm_suite linux linux auto 1 "$tmp/flaky" >"$tmp/flaky.out" 2>&1
cat "$tmp/flaky.out"
if [ $in_sandbox = 1 ]; then
  check "sandbox: the flake is retried once, with a RETRY line" [ "$(grep -c '^RETRY: linux: Fake.Test: ' "$tmp/flaky.out")" = 1 ]
  check "sandbox: the retry is counted" [ "$tf_retries" = 1 ]
  check "sandbox: the passing retry replaces the failure" eval '[ "$failed" = 0 ] && [ ${#failures[@]} = 0 ]'
  check "sandbox: both tests count as passed" [ "$passed" = 2 ]
else
  check "native: nothing is retried" eval '[ "$tf_retries" = 0 ] && ! grep -q "^RETRY" "$tmp/flaky.out"'
  check "native: the failure stays" eval '[ "$failed" = 1 ] && [ ${#failures[@]} -gt 0 ]'
fi

reset_counts
kvm_suite vmm bare qemu 1 "$tmp/always" >"$tmp/always.out" 2>&1
cat "$tmp/always.out"
check "a failure that repeats on the retry stays a failure" eval '[ "$failed" = 1 ] && [ ${#failures[@]} -gt 0 ]'
check "a bare-metal suite in the sandbox retries too, exactly once" [ "$(grep -c '^RETRY: vmm: Fake.Test: ' "$tmp/always.out")" = 1 ]

reset_counts
kvm_suite linux linux auto 1 "$tmp/crashy" >"$tmp/crashy.out" 2>&1
cat "$tmp/crashy.out"
check "a retry that reports nothing leaves the failure and its count" eval '[ "$failed" = 1 ] && [ "$passed" = 1 ] && [ ${#failures[@]} -gt 0 ]'

reset_counts
kvm_suite linux linux auto 1 "$tmp/nosig" >"$tmp/nosig.out" 2>&1
cat "$tmp/nosig.out"
check "a failure without the signature is not retried" eval '[ "$tf_retries" = 0 ] && ! grep -q "^RETRY" "$tmp/nosig.out"'
check "and stays a failure" eval '[ "$failed" = 1 ] && [ ${#failures[@]} -gt 0 ]'

echo "$ok passed, $bad failed"
[ "$bad" = 0 ]
