#!/usr/bin/env bash
# tools/bench/clones.sh [R] - clones, in-place reset and resume vs guest size.
#
# One kvm-sandbox run (L1 with 4 GiB, 2 vCPUs). The `snap` guest (1 vCPU, no
# disk, "quiet") boots with 256 MiB, idles at its shell and is saved on
# AMBER-SNAP-HERE. Then:
#
# clones  for N in AMBER_BENCH_CLONES (default "1 10 50"): N `amber resume
#         img --timings --api SOCK` start at once (each under benchrun, which
#         types a newline and `echo tok-$((6*7))`). Per clone: "to KVM_RUN"
#         (the --timings total: main() to the vCPUs started), "to output"
#         (fork() to the first console byte) and "to tok-42" (to the answer).
#         Once every clone has answered, the memory of all amber processes
#         is summed from /proc/PID/smaps_rollup: PSS (what they really cost
#         the host: shared page-cache pages of the image are split among
#         them) against RSS (what they would cost if each had its own copy
#         of every page it maps: the naive sum), plus Anonymous (each
#         clone's own: guest writes and VMM heap) and the PSS of the image's
#         pages (Pss_File + Pss_Shmem: L1's /tmp is tmpfs). Then
#         `amber ctl SOCK stop`.
# reset   one clone with --api: the guest dirties 64 MiB (dd to a file in its
#         RAM-backed root), then `amber ctl SOCK reset`; R times. Reported:
#         amber's "reset_ms" (the guest is stopped for that long), the clone's
#         Anonymous memory before and after, and that the file is gone.
# sizes   resume latency of the same guest saved at each of AMBER_BENCH_SIZES
#         (MiB, default "256 2048"), R resumes each: "to KVM_RUN", "to output".
#         L1 has 4 GiB: amber refuses to resume a guest of more RAM than the
#         host has with swap, so 4096 does not fit here.
#
# Prints every measurement, then tables of medians and p95 (nearest rank), and
# draws clones-pss.svg (memory against the clone count) and resume-size.svg
# (resume latency against guest size) with bench_plot (common.sh).
# Exits non-zero when any step fails.
set -euo pipefail
# shellcheck source=tools/bench/common.sh disable=SC2154
. "$(dirname "$0")/common.sh"

reps=${1:-5}
[[ $reps =~ ^[1-9][0-9]*$ ]] || bench_die "usage: $0 [R]"
counts=${AMBER_BENCH_CLONES:-1 10 50}
sizes=${AMBER_BENCH_SIZES:-256 2048}

bench_setup
cp "$build/guest/snap.cpio.gz" "$work/"

bench_inner reps="$reps" counts="$counts" sizes="$sizes" <<'EOF'
# Lines printed: CLONE N i metric value | CLONEMEM N metric kib |
#                RESET rep metric value | SIZE mib metric value
cd "$w" || exit 1
fail=0
bad() { echo "--- FAILED: $*"; fail=1; }
typed='\necho tok-$((6*7))\n'
val() { sed -n "s/^benchrun: $1 \([0-9.]*\).*/\1/p" "$2" | head -n 1; }
timings_total() { tr -d '\r' <"$1" | sed -n 's/^amber: timings: .*; total \([0-9.]*\) ms.*/\1/p' | head -n 1; }
# sum of one smaps_rollup field (kB) over the given pids
smaps_sum() {  # field pid...
  f=$1; shift
  for p in "$@"; do cat "/proc/$p/smaps_rollup" 2>/dev/null; done | awk -v f="$f:" '$1 == f { s += $2 } END { print s + 0 }'
}
save_image() {  # mib -> img.<mib>
  rm -f "img.$1"
  if ! ./benchrun -t 300 -m snap=AMBER-SNAP-HERE -o "log.save.$1" -- ./amber run --kernel bzImage \
      --initrd snap.cpio.gz --mem "$1M" --cpus 1 --cmdline quiet \
      --save-on-serial AMBER-SNAP-HERE --save "img.$1" >"res.save.$1" 2>&1 || [ ! -f "img.$1" ]; then
    bad "boot + save at $1 MiB: $(cat "res.save.$1")"; tail -c 1500 "log.save.$1"; return 1
  fi
  echo "SAVE $1 $(tr -d '\r' <"log.save.$1" | grep 'amber: saved' | tail -n 1)"
  # A resume that finds no check record reads every RAM run once
  # (checked_images.h), and one right after the save cannot leave a record
  # (the file's ctime must be a second old): the first resumes would pay for
  # it and the later ones not. verify, two seconds after the save, leaves the
  # record, so every resume here measures the same path.
  sleep 2
  ./amber verify "img.$1" || bad "verify img.$1"
}
# wait_for PATTERN FILE SECONDS
wait_for() {
  t=0
  while ! grep -q -- "$1" "$2" 2>/dev/null; do
    [ "$t" -ge "$3" ] && return 1
    sleep 1; t=$((t + 1))
  done
}

# ---- clones --------------------------------------------------------------
save_image 256 || exit 1
for n in $counts; do
  i=1
  while [ "$i" -le "$n" ]; do
    ./benchrun -t 900 -i "$typed" -m tok=tok-42 -o "log.$n.$i" -- \
      ./amber resume img.256 --timings --api "$w/s.$n.$i" >"res.$n.$i" 2>&1 &
    i=$((i + 1))
  done
  t=0
  # benchrun prints each mark as it happens; its -o copy is complete only at exit.
  while [ "$(grep -l 'mark tok' res."$n".* 2>/dev/null | wc -l)" -lt "$n" ] && [ "$t" -lt 600 ]; do
    sleep 1; t=$((t + 1))
    [ $((t % 15)) = 0 ] && echo "... $n clones: $(grep -l 'mark tok' res."$n".* 2>/dev/null | wc -l) answered after $t s"
  done
  pids=$(pidof amber || true)
  echo "CLONEMEM $n processes $(echo "$pids" | wc -w)"
  echo "CLONEMEM $n pss_kib $(smaps_sum Pss $pids)"
  echo "CLONEMEM $n rss_kib $(smaps_sum Rss $pids)"
  echo "CLONEMEM $n anon_kib $(smaps_sum Anonymous $pids)"
  echo "CLONEMEM $n pss_image_kib $(( $(smaps_sum Pss_File $pids) + $(smaps_sum Pss_Shmem $pids) ))"
  i=1
  while [ "$i" -le "$n" ]; do ./amber ctl "$w/s.$n.$i" stop >/dev/null 2>&1 || true; i=$((i + 1)); done
  wait
  i=1
  while [ "$i" -le "$n" ]; do
    if grep -q 'mark tok' "res.$n.$i"; then
      echo "CLONE $n $i kvmrun_ms $(timings_total "log.$n.$i")"
      echo "CLONE $n $i output_ms $(val first-stdout "res.$n.$i")"
      echo "CLONE $n $i tok_ms $(val 'mark tok' "res.$n.$i")"
    else
      bad "clone $i of $n never answered: $(tail -n 3 "res.$n.$i")"; tr -d '\r' <"log.$n.$i" | tail -c 1500
    fi
    i=$((i + 1))
  done
done

# ---- in-place reset after dirtying 64 MiB ---------------------------------
mkfifo in.r
./amber resume img.256 --api "$w/s.r" <in.r >out.r 2>err.r &
apid=$!
exec 3>in.r
printf '\necho tok-$((6*7))\n' >&3
wait_for tok-42 out.r 300 || bad "reset clone: no answer"
r=1
while [ "$r" -le "$reps" ]; do
  printf 'dd if=/dev/zero of=/dirty bs=1M count=64 2>/dev/null; echo dirty-$((100+%s))\n' "$r" >&3
  wait_for "dirty-$((100 + r))" out.r 300 || { bad "reset $r: the guest never dirtied its RAM"; break; }
  before=$(smaps_sum Anonymous "$apid")
  ans=$(./amber ctl "$w/s.r" reset 2>&1) || { bad "reset $r: $ans"; break; }
  after=$(smaps_sum Anonymous "$apid")
  echo "RESET $r answer $ans"
  echo "RESET $r reset_ms $(echo "$ans" | sed -n 's/.*"reset_ms":\([0-9.]*\).*/\1/p')"
  echo "RESET $r anon_before_kib $before"
  echo "RESET $r anon_after_kib $after"
  printf '\n[ -e /dirty ] && echo still-$((200+%s)) || echo gone-$((200+%s))\n' "$r" "$r" >&3
  if wait_for "gone-$((200 + r))" out.r 120; then echo "RESET $r file_gone 1"; else bad "reset $r: /dirty survived the reset"; fi
  r=$((r + 1))
done
./amber ctl "$w/s.r" stop >/dev/null 2>&1 || kill "$apid"
exec 3>&-
wait "$apid" || true

# ---- resume latency against guest size -------------------------------------
for s in $sizes; do
  [ "$s" = 256 ] || save_image "$s" || continue
  r=1
  while [ "$r" -le "$reps" ]; do
    if ./benchrun -t 300 -i "$typed" -m tok=tok-42 -q tok-42 -o "log.size.$s.$r" -- \
        ./amber resume "img.$s" --timings >"res.size.$s.$r" 2>&1; then
      echo "SIZE $s kvmrun_ms $(timings_total "log.size.$s.$r")"
      echo "SIZE $s output_ms $(val first-stdout "res.size.$s.$r")"
      echo "SIZE $s tok_ms $(val 'mark tok' "res.size.$s.$r")"
      echo "SIZE $s timings $(tr -d '\r' <"log.size.$s.$r" | grep '^amber: timings' | head -n 1)"
    else
      bad "resume at $s MiB: $(cat "res.size.$s.$r")"; tr -d '\r' <"log.size.$s.$r" | tail -c 600
    fi
    r=$((r + 1))
  done
  rm -f "img.$s"
done
exit $fail
EOF

total=0
for n in $counts; do total=$((total + n)); done
limit=$(( 300 + total * 20 + reps * 120 ))
bench_log "clones ${counts}, reset and sizes ${sizes} MiB, $reps repetitions (limit ${limit}s)"
rc=0
bench_sandbox --timeout "$limit" --mem 4096 --carry "$work" -- sh "$work/inner.sh" || rc=$?

# p95 by nearest rank of the numbers on stdin ("-" when none)
p95() {
  sort -g | awk 'NF { a[++n] = $1 } END { if (!n) { print "-"; exit } i = int(0.95 * n + 0.999999); if (i < 1) i = 1; printf "%.2f\n", a[i] }'
}
clone_vals() { awk -v n="$1" -v m="$2" '$1 == "CLONE" && $2 == n && $4 == m && $5 != "" { print $5 }' "$work.out"; }
mem() { awk -v n="$1" -v m="$2" '$1 == "CLONEMEM" && $2 == n && $3 == m { print $4 }' "$work.out" | head -n 1; }
mib() { awk -v x="$1" 'BEGIN { if (x == "" || x == "-") print "-"; else printf "%.1f", x / 1024 }'; }

echo
echo "Clones of one 256 MiB image started at once (per-clone latency: median / p95, ms; memory of all clones, MiB)"
printf '  %6s %17s %17s %17s %8s %8s %8s %10s %8s %10s\n' clones "to KVM_RUN" "to output" "to tok-42" PSS RSS PSS/RSS PSS/clone anon "image PSS"
for n in $counts; do
  pss=$(mem "$n" pss_kib) rss=$(mem "$n" rss_kib)
  printf '  %6s %8s / %-6s %8s / %-6s %8s / %-6s %8s %8s %8s %10s %8s %10s\n' "$n" \
    "$(clone_vals "$n" kvmrun_ms | median)" "$(clone_vals "$n" kvmrun_ms | p95)" \
    "$(clone_vals "$n" output_ms | median)" "$(clone_vals "$n" output_ms | p95)" \
    "$(clone_vals "$n" tok_ms | median)" "$(clone_vals "$n" tok_ms | p95)" \
    "$(mib "$pss")" "$(mib "$rss")" "$(ratio "$pss" "$rss")" \
    "$(mib "$(awk -v p="$pss" -v n="$n" 'BEGIN { if (p == "") print ""; else print p / n }')")" \
    "$(mib "$(mem "$n" anon_kib)")" "$(mib "$(mem "$n" pss_image_kib)")"
done
echo "  RSS = the naive sum: every clone holding its own copy of every page it maps."
echo "  anon = private memory (guest writes, VMM heap); image PSS = the image's shared pages."

rv() { awk -v m="$1" '$1 == "RESET" && $3 == m && $4 != "" { print $4 }' "$work.out"; }
echo
echo "In-place reset of a 256 MiB clone after the guest dirtied 64 MiB ($reps resets)"
echo "  reset_ms median $(rv reset_ms | median) (range $(rv reset_ms | minmax));" \
  "the clone's private (anonymous) memory, median $(mib "$(rv anon_before_kib | median)") MiB before," \
  "$(mib "$(rv anon_after_kib | median)") MiB after; file gone after $(rv file_gone | grep -c 1)/$reps resets"

sv() { awk -v s="$1" -v m="$2" '$1 == "SIZE" && $2 == s && $3 == m && $4 != "" { print $4 }' "$work.out"; }
echo
echo "Resume latency against guest size (medians of $reps resumes, ms)"
printf '  %8s %12s %12s %12s\n' guest "to KVM_RUN" "to output" "to tok-42"
for s in $sizes; do
  printf '  %7sM %12s %12s %12s\n' "$s" "$(sv "$s" kvmrun_ms | median)" "$(sv "$s" output_ms | median)" "$(sv "$s" tok_ms | median)"
done
first=${sizes%% *} last=${sizes##* }
if [ "$first" != "$last" ]; then
  echo "  ${last}M / ${first}M: to KVM_RUN $(ratio "$(sv "$last" kvmrun_ms | median)" "$(sv "$first" kvmrun_ms | median)")," \
    "to output $(ratio "$(sv "$last" output_ms | median)" "$(sv "$first" output_ms | median)")"
fi

# Plots: the medians above, one line per clone count / guest size.
: >"$work/clones.dat"
for n in $counts; do
  pss=$(mem "$n" pss_kib) rss=$(mem "$n" rss_kib)
  [ -n "$pss" ] && echo "$n $(mib "$pss") $(mib "$rss")" >>"$work/clones.dat"
done
bench_plot clones-pss "$work/clones.dat" <<'EOP'
set title "Clones of one 256 MiB image, all amber processes (sandbox)"
set xlabel "clones running"
set ylabel "MiB"
plot data using 1:3 with linespoints title "RSS: each clone its own copy", \
     data using 1:2 with linespoints title "PSS: what the host really holds"
EOP
: >"$work/sizes.dat"
for s in $sizes; do
  echo "$s $(sv "$s" kvmrun_ms | median) $(sv "$s" output_ms | median)" >>"$work/sizes.dat"
done
bench_plot resume-size "$work/sizes.dat" <<'EOP'
set title "Resume latency against guest size (sandbox, medians)"
set xlabel "guest RAM (MiB)"
set ylabel "ms"
set logscale x 2
set yrange [0:*]
set key bottom right
plot data using 1:2 with linespoints title "to the first KVM_RUN", \
     data using 1:3 with linespoints title "to the first console output"
EOP
[ "$rc" = 0 ] || bench_die "sandbox run failed (status $rc)"
grep -q '^CLONE ' "$work.out" || bench_die "no clone results"
