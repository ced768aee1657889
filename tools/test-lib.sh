# Shared by tools/test.sh and tools/test-retry-selftest.sh: counting GoogleTest
# logs and running a gtest binary on every KVM there is (docs/testing.md).
# Sourced, not run. The caller sets root, build, log_dir, only_suite, the
# counters (passed failed skipped kvm_skipped infra_events tf_retries), the
# failures array, extra_carry and a say() function.
# shellcheck shell=bash disable=SC2154

# The lines of a sandbox log after its last INFRA retry line: the try that
# counts (a try retried as infrastructure may have printed results too).
last_try() {
  awk '/^\[kvm-sandbox\] INFRA:/ { buf = ""; next } { buf = buf $0 "\n" } END { printf "%s", buf }' "$1"
}

# "PASSED FAILED SKIPPED": the test counts of a GoogleTest log's last try.
gtest_counts() {
  last_try "$1" | awk '
    /^\[  PASSED  \] [0-9]+ test/ { p += $4 }
    /^\[  FAILED  \] [0-9]+ test/ { f += $4 }
    /^\[  SKIPPED \] [0-9]+ test/ { s += $4 }
    END { print p + 0, f + 0, s + 0 }'
}

# Adds the counts from a GoogleTest log to the totals.
count_gtest() {  # $1 = log file, $2 = suite label
  local p f s
  read -r p f s < <(gtest_counts "$1")
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  printf '%s: %d passed, %d failed, %d skipped\n' "$2" "$p" "$f" "$s"
  if [ "$s" -gt 0 ]; then
    echo "!!! $2: $s test(s) SKIPPED:" >&2
    last_try "$1" | grep -aE '^\[  SKIPPED \] [A-Za-z]' >&2 || true
    last_try "$1" | grep -aiE 'skipp' | grep -av '^\[' | head -5 >&2 || true
  fi
  [ "$f" -eq 0 ] || failures+=("$2")
}

# Whether NAME (a suite label such as kvm@native) was asked for by --suite.
wanted() { [ -z "$only_suite" ] || [ "$only_suite" = "$1" ] || [ "$only_suite" = "${1%@*}" ]; }

# Sandbox infrastructure events (L1 froze or reset itself) that kvm-sandbox.sh
# retried: counted and shown, never hidden ($1 = log, $2 = label).
count_infra() {
  local n
  n=$(grep -ac '^\[kvm-sandbox\] INFRA:' "$1")
  [ "$n" -gt 0 ] || return 0
  infra_events=$((infra_events + n))
  echo "!!! $2: $n sandbox infrastructure event(s), retried in a fresh L1:" >&2
  grep -a '^\[kvm-sandbox\] INFRA:' "$1" >&2
}

# $1 = label, $2 = needs (linux|bare), $3 = placement (auto|native|qemu),
# $4 = shards, $5.. = command (a gtest binary). With N shards the tests are
# split N ways (GTEST_TOTAL_SHARDS) and each part runs as its own sandbox
# run: an L1 freeze then repeats only that part, and each part spends less
# time in L1, where the chance of a freeze grows with time (docs/sandbox.md).
kvm_suite() {
  local label=$1 needs=$2 where=$3 shards=$4; shift 4
  wanted "$label" || return 0
  local k
  for (( k = 0; k < shards; k++ )); do
    local part=$label
    [ "$shards" -gt 1 ] && part="${label}[$((k + 1))/$shards]"
    say "KVM suite: $part"
    local log="$log_dir/kvm-${label//@/-}.log" rc
    [ "$shards" -gt 1 ] && log="$log_dir/kvm-${label//@/-}-$((k + 1)).log"
    sandbox_gtest "$log" "$needs" "$where" "$shards" "$k" "$@"
    rc=$?
    if [ "$rc" -eq 125 ] || [ "$rc" -eq 124 ]; then
      echo "!!! KVM suite $part could not run (exit $rc: timeout, stall or sandbox infrastructure failure, see above)" >&2
      failures+=("kvm-$part (did not run)")
      continue
    fi
    count_infra "$log" "kvm-$part"
    local before=$skipped
    count_gtest "$log" "kvm-$part"
    kvm_skipped=$((kvm_skipped + skipped - before))
    if [ "$rc" -ne 0 ] && retry_triple_faults "$log" "$part" "$needs" "$where" "$@"; then rc=0; fi
    if [ "$rc" -ne 0 ] && ! printf '%s\n' "${failures[@]+"${failures[@]}"}" | grep -qxF "kvm-$part"; then
      failures+=("kvm-$part (exit $rc)")
    fi
  done
}

# $1 = log, $2 = needs, $3 = placement, $4 = shards, $5 = shard index,
# $6.. = command: one sandbox run of a gtest binary (or one shard of it).
sandbox_gtest() {
  local log=$1 needs=$2 where=$3 shards=$4 k=$5; shift 5
  AMBER_SANDBOX=$where tools/kvm-sandbox.sh --needs "$needs" --amber "$root/$build/tools/amber" \
      --timeout "${AMBER_KVM_TIMEOUT:-900}" --retries 6 \
      --carry "$root/$build/tools/amber" --carry "$1" --carry "$root/$build/guest-tests/bare" \
      --carry "$root/$build/guest" ${extra_carry[@]+"${extra_carry[@]}"} \
      --env "AMBER_BIN=$root/$build/tools/amber" --env "AMBER_GUEST_DIR=$root/$build/guest" \
      --env "GTEST_TOTAL_SHARDS=$shards" --env "GTEST_SHARD_INDEX=$k" \
      --env "GTEST_COLOR=no" -- "$@" 2>&1 | tee "$log"
  return "${PIPESTATUS[0]}"
}

# The failed tests of a gtest log's last try, space-separated, when every
# one of them printed amber's guest triple-fault warning; else nothing.
triple_faulted_tests() {
  last_try "$1" | awk '
    /^\[ RUN      \] / { t = $4 }
    /the guest shut down \(triple fault/ { if (t != "") sig[t] = 1 }
    /^\[  FAILED  \] [A-Za-z_0-9\/.]+ \(/ { failed[++n] = $4 }
    END {
      if (n == 0) exit
      for (i = 1; i <= n; i++) if (!(failed[i] in sig)) exit
      for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? " " : ""), failed[i]
    }'
}

# The KVM suites' one proven retry, as ci-inner.sh's (docs/testing.md
# "Known sandbox flakes": in the QEMU-TCG sandbox fresh and resumed guests
# alike triple-fault, about 1 VM in 20 under load; natively none did). Only
# inside the sandbox, only when every failed test shows that signature: the
# tests are run once more, alone, in a fresh L1; the retry's result replaces
# theirs. Printed as RETRY and counted in the summary, never silent.
# $1 = log, $2 = part, $3 = needs, $4 = placement, $5.. = command.
# Returns 0 when the retry ran and passed.
retry_triple_faults() {
  local log=$1 part=$2 needs=$3 where=$4; shift 4
  grep -aq '^\[kvm-sandbox\] placement: .*QEMU-TCG sandbox' "$log" || return 1
  local tests
  tests=$(triple_faulted_tests "$log")
  [ -n "$tests" ] || return 1
  local n; n=$(wc -w <<<"$tests")
  echo "RETRY: $part: $tests: the guest triple-faulted in the sandbox (docs/testing.md \"Known sandbox flakes\"); running them once more" |
    tee -a "$log"
  tf_retries=$((tf_retries + n))
  local rlog=$log.retry rrc p f s
  sandbox_gtest "$rlog" "$needs" "$where" 1 0 "$@" "--gtest_filter=${tests// /:}"
  rrc=$?
  read -r p f s < <(gtest_counts "$rlog")
  echo "kvm-$part retry: $p passed, $f failed, $s skipped (exit $rrc)"
  count_infra "$rlog" "kvm-$part retry"
  # The retried tests were counted as failures above. A retry that reported
  # each of them replaces their result; one that did not (it could not run,
  # or crashed) leaves the failures as they were.
  [ $((p + f + s)) -eq "$n" ] ||
    { echo "!!! kvm-$part: the retry reported $((p + f + s)) of $n test(s); the failures stand" >&2; return 1; }
  failed=$((failed - n + f)); passed=$((passed + p)); skipped=$((skipped + s)); kvm_skipped=$((kvm_skipped + s))
  [ "$rrc" -eq 0 ] && [ "$f" -eq 0 ] || return 1
  local kept=() x
  for x in "${failures[@]}"; do [ "$x" = "kvm-$part" ] || kept+=("$x"); done
  failures=(${kept[@]+"${kept[@]}"})
  return 0
}
