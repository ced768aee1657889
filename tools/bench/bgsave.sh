#!/usr/bin/env bash
# tools/bench/bgsave.sh [ROUNDS] - how long a save stops the guest: background
# (vmm/background_save.h: fork, the child writes) against stop-the-world.
#
# One kvm-sandbox run. Per round and mode, an idle 256 MiB Linux guest (the
# `snap` scenario: 1 vCPU, no disk, at its shell) gets 3 saves through the
# control socket (`amber ctl SOCK save path=... then=continue`), whose answer
# holds pause_ms (the guest stopped) and total_ms (to the file on disk).
# Stop-the-world is the same amber with AMBER_BACKGROUND_SAVES=0. Modes
# alternate; prints every save, medians per mode and the ratios
# background/stop-the-world. ROUNDS defaults to 3 (9 saves per mode).
set -euo pipefail
# shellcheck source=tools/bench/common.sh disable=SC2154
. "$(dirname "$0")/common.sh"

rounds=${1:-3}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || bench_die "usage: $0 [ROUNDS]"

bench_setup
cp "$build/guest/snap.cpio.gz" "$work/"

bench_inner rounds="$rounds" <<'EOF2'
# Lines printed: BG <mode> <pause_ms> <total_ms>
cd "$w" || exit 1
fail=0
for round in $(seq "$rounds"); do
  for mode in 1 0; do
    rm -f a.sock log
    # stdin at end of input: the console stops reading, the guest runs on.
    AMBER_BACKGROUND_SAVES=$mode ./amber run --kernel bzImage --initrd snap.cpio.gz --mem 256M \
       --cpus 1 --cmdline quiet --api a.sock </dev/null >log 2>&1 &
    for i in $(seq 900); do grep -q AMBER-SNAP-HERE log 2>/dev/null && break; sleep 0.1; done
    grep -q AMBER-SNAP-HERE log || { echo "--- FAILED: no prompt (mode $mode)"; tail -c 2000 log; fail=1; continue; }
    sleep 1
    for k in 1 2 3; do
      out=$(./amber ctl a.sock save path=/tmp/bg.amber then=continue 2>&1) || { echo "--- FAILED: $out"; fail=1; }
      p=$(echo "$out" | sed -n 's/.*"pause_ms":\([0-9.]*\).*/\1/p')
      t=$(echo "$out" | sed -n 's/.*"total_ms":\([0-9.]*\).*/\1/p')
      b=$(echo "$out" | sed -n 's/.*"background":\([a-z]*\).*/\1/p')
      echo "BG $mode ${p:--} ${t:--} $b"
      sleep 0.5
    done
    ./amber ctl a.sock stop >/dev/null 2>&1 || true
    wait
  done
done
exit $fail
EOF2

bench_log "sandbox run: $rounds rounds x 2 modes x 3 saves"
rc=0
bench_sandbox --needs linux --mem 2048 --timeout 1500 --carry "$work" -- sh "$work/inner.sh" || rc=$?
out="$work.out"
col() { awk -v m="$1" -v c="$2" '$1 == "BG" && $2 == m && $c != "-" { print $c }' "$out"; }
bgp=$(col 1 3 | median) bgt=$(col 1 4 | median) fgp=$(col 0 3 | median) fgt=$(col 0 4 | median)
echo
echo "save of an idle 256 MiB Linux guest, medians of $((rounds * 3)) each (ms):"
printf '%-16s %10s %10s\n' "" "paused" "total"
printf '%-16s %10s %10s\n' "background" "$bgp" "$bgt"
printf '%-16s %10s %10s\n' "stop-the-world" "$fgp" "$fgt"
printf '%-16s %10s %10s\n' "ratio bg/stw" "$(ratio "$bgp" "$fgp")" "$(ratio "$bgt" "$fgt")"
exit "$rc"
