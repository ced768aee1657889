#!/usr/bin/env bash
# tools/bench/bgsave.sh [ROUNDS [DIRTY_MIB...]] - how long a save stops the guest:
# background (vmm/background_save.h: fork, the child writes) against
# stop-the-world, and how both grow with the RAM there is to write.
#
# One kvm-sandbox run. Per round, RAM size and mode, a Linux guest (the `snap`
# scenario: 1 vCPU, no disk, at its shell) gets 3 saves through the control
# socket (`amber ctl SOCK save path=... then=continue`), whose answer holds
# pause_ms (the guest stopped), total_ms (to the file on disk) and
# ram_data_bytes. Stop-the-world is the same amber with AMBER_BACKGROUND_SAVES=0.
# Modes alternate.
#   no DIRTY_MIB: an idle 256 MiB guest (docs/performance.md "Background save").
#   DIRTY_MIB...: a 512 MiB guest that first fills that many MiB of its tmpfs
#                 (amber.dirty=) per size: pause and total against RAM data,
#                 the save's throughput in s/GiB, and the plot bgsave-dirty.svg.
# Prints every save, medians per size and mode, and the ratios
# background/stop-the-world. ROUNDS defaults to 3.
set -euo pipefail
# shellcheck source=tools/bench/common.sh disable=SC2154
. "$(dirname "$0")/common.sh"

rounds=${1:-3}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || bench_die "usage: $0 [ROUNDS [DIRTY_MIB...]]"
shift || true
sweep=$#
dirty=${*:-0}
for d in $dirty; do
  if ! [[ $d =~ ^[0-9]+$ ]] || ((d > 224)); then bench_die "DIRTY_MIB '$d': 0 to 224 (the 512 MiB guest's tmpfs)"; fi
done
mem=256M
((sweep)) && mem=512M

bench_setup
cp "$build/guest/snap.cpio.gz" "$work/"

bench_inner rounds="$rounds" dirty="$dirty" mem="$mem" <<'EOF'
# Lines printed: BG <mode> <dirty MiB> <pause_ms> <total_ms> <ram_data_bytes> <background>
cd "$w" || exit 1
fail=0
for round in $(seq "$rounds"); do
  for d in $dirty; do
    for mode in 1 0; do
      rm -f a.sock log
      # stdin at end of input: the console stops reading, the guest runs on.
      AMBER_BACKGROUND_SAVES=$mode ./amber run --kernel bzImage --initrd snap.cpio.gz --mem "$mem" \
         --cpus 1 --cmdline "quiet amber.dirty=$d" --api a.sock </dev/null >log 2>&1 &
      for i in $(seq 1800); do grep -q AMBER-SNAP-HERE log 2>/dev/null && break; sleep 0.1; done
      grep -q AMBER-SNAP-HERE log || { echo "--- FAILED: no prompt (mode $mode, dirty $d)"; tail -c 2000 log; fail=1; continue; }
      sleep 1
      for k in 1 2 3; do
        out=$(./amber ctl a.sock save path=/tmp/bg.amber then=continue 2>&1) || { echo "--- FAILED: $out"; fail=1; }
        p=$(echo "$out" | sed -n 's/.*"pause_ms":\([0-9.]*\).*/\1/p')
        t=$(echo "$out" | sed -n 's/.*"total_ms":\([0-9.]*\).*/\1/p')
        r=$(echo "$out" | sed -n 's/.*"ram_data_bytes":\([0-9]*\).*/\1/p')
        b=$(echo "$out" | sed -n 's/.*"background":\([a-z]*\).*/\1/p')
        echo "BG $mode $d ${p:--} ${t:--} ${r:--} $b"
        sleep 0.5
      done
      ./amber ctl a.sock stop >/dev/null 2>&1 || true
      wait
      rm -f /tmp/bg.amber
    done
  done
done
exit $fail
EOF

bench_log "sandbox run: $rounds rounds x 2 modes x 3 saves, $mem guest, dirty MiB: $dirty"
rc=0
bench_sandbox --needs linux --mem 2048 --timeout 2400 --carry "$work" -- sh "$work/inner.sh" || rc=$?
out="$work.out"
col() { awk -v m="$1" -v d="$2" -v c="$3" '$1 == "BG" && $2 == m && $3 == d && $c != "-" { print $c }' "$out"; }
echo
echo "saves of a $mem Linux guest, medians of $((rounds * 3)) each (ms; s/GiB = total / RAM data):"
printf '%-6s %9s | %-30s | %-30s | %s\n' "" "" "background" "stop-the-world" "ratio bg/stw"
printf '%-6s %9s | %9s %9s %10s | %9s %9s %10s | %7s %7s\n' dirty "data MiB" paused total "s/GiB" paused total "s/GiB" paused total
: >"$work/plot.dat"
for d in $dirty; do
  data=$(col 0 "$d" 6 | median)
  mib=$(awk -v b="$data" 'BEGIN { if (b == "-") print "-"; else printf "%.1f\n", b / 1048576 }')
  bgp=$(col 1 "$d" 4 | median) bgt=$(col 1 "$d" 5 | median)
  fgp=$(col 0 "$d" 4 | median) fgt=$(col 0 "$d" 5 | median)
  sg() { awk -v t="$1" -v m="$mib" 'BEGIN { if (t == "-" || m == "-" || m + 0 == 0) print "-"; else printf "%.2f\n", t / 1000 / (m / 1024) }'; }
  printf '%-6s %9s | %9s %9s %10s | %9s %9s %10s | %7s %7s\n' "$d" "$mib" "$bgp" "$bgt" "$(sg "$bgt")" \
    "$fgp" "$fgt" "$(sg "$fgt")" "$(ratio "$bgp" "$fgp")" "$(ratio "$bgt" "$fgt")"
  echo "$mib $bgp $bgt $fgp $fgt" >>"$work/plot.dat"
done
if ((sweep)); then
  bench_plot bgsave-dirty "$work/plot.dat" <<'EOF'
set title "Save of a 512 MiB Linux guest in the sandbox (medians)"
set xlabel "RAM data written (MiB)"
set ylabel "ms"
set logscale y
plot data using 1:4 with linespoints title "stop-the-world: paused", \
     data using 1:2 with linespoints title "background: paused", \
     data using 1:3 with linespoints dashtype 2 title "background: total"
EOF
fi
exit "$rc"
