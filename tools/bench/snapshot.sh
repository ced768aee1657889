#!/usr/bin/env bash
# tools/bench/snapshot.sh [R] - snapshot save/restore, amber vs QEMU migrate-to-file.
#
# One kvm-sandbox run (L1 with 3 GiB). For each guest size (256 MiB and 2 GiB;
# AMBER_BENCH_SIZES="256 2048" in MiB), the `snap` guest (1 vCPU, no disk,
# "quiet") boots and idles at its shell, then:
#
# amber  save:    amber run ... --save-on-serial AMBER-SNAP-HERE --save img
#                 [--compress]; the save line "paused Y ms" is amber's own
#                 measure of the host work while the guest is stopped; image
#                 size = st_blocks (du -k) and st_size.
#        resume:  amber resume img --timings, R times (default 3): "to KVM_RUN"
#                 = the --timings total (main() to the vCPUs started); "to
#                 output" = fork() to the first console byte after typing a
#                 newline (sent at once; the guest's shell answers it); "to
#                 tok-42" = to the answer of `echo tok-$((6*7))`; then
#                 `echo tik-$((7*8))` is typed: "first command" = first
#                 output to tok-42, "second command" = tok-42 to tik-56.
#                 L1 KVM's debugfs counters (benchrun -k), read at the first
#                 output, tok-42 and tik-56, give each command's nested-paging
#                 faults (pf_fixed: a mapping made on a guest access), exits,
#                 and the 4 KiB / 2 MiB mappings the VM has at the end.
# QEMU   save:    -M microvm ... -monitor pipe:mon; on AMBER-SNAP-HERE the
#                 monitor gets `migrate_set_parameter max-bandwidth 100G` (no
#                 rate limit: QEMU's best case), `migrate "exec:cat > qimg"`,
#                 `info migrate`, `quit`. This is a live migration: "downtime"
#                 (the guest stopped) is the number comparable to amber's
#                 "paused"; "total time" (QEMU's whole save) is printed too.
#                 (Stopping the guest first would make the restored guest stay
#                 paused: QEMU restores the source's run state.)
#        restore: the same command line plus -incoming "exec:cat qimg", R
#                 times, timed like amber's resume (QEMU prints nothing
#                 comparable to "to KVM_RUN").
# Runs alternate amber / QEMU. Prints every measurement, a table of medians,
# the ratios amber/QEMU and the ratios amber-zstd/amber-plain (issue 12 goal
# 3: a --compress image resumes within 2x of a plain one, to the first
# output and to the first command's answer). AMBER_BENCH_QEMU=0 leaves QEMU
# out (amber only: a shorter run). Exits non-zero when any step fails.
set -euo pipefail
# shellcheck source=tools/bench/common.sh disable=SC2154
. "$(dirname "$0")/common.sh"

reps=${1:-3}
[[ $reps =~ ^[1-9][0-9]*$ ]] || bench_die "usage: $0 [R]"
sizes=${AMBER_BENCH_SIZES:-256 2048}
qemu=${AMBER_BENCH_QEMU:-1}

bench_setup
cp "$build/guest/snap.cpio.gz" "$work/"
# L1 KVM's counters read per phase of a resume (benchrun -k; debugfs names).
phased="pf_fixed pf_taken pf_spurious pf_guest exits io_exits mmio_exits halt_exits irq_exits irq_window_exits irq_injections insn_emulation"

bench_inner reps="$reps" sizes="$sizes" qemu="$qemu" phased="$phased" <<'EOF'
# Lines printed: SNAP <vmm> <size> <metric> <value>
cd "$w" || exit 1
# Check records and hot-chunk records (docs/image-format.md) of this run only.
XDG_CACHE_HOME=$w/cache
export XDG_CACHE_HOME
fail=0
bad() { echo "--- FAILED: $*"; [ -f "$log" ] && { tr -d '\r' <"$log" | tail -c 2000; echo; }; fail=1; }
val() { echo "$out" | sed -n "s/^benchrun: $1 \([0-9.]*\).*/\1/p" | head -n 1; }
typed='\necho tok-$((6*7))\n'
# The second command, typed when the first one's answer appears (issue 12
# goal 4: the first command after a resume within 2x of a warm second one).
second='echo tik-$((7*8))\n'
# cmd_ms KIND: first = output -> tok-42, second = tok-42 -> tik-56
cmd_ms() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "-"; else printf "%.1f", b - a }'; }
# L1 KVM's counters, summed over its VMs (only the one under test runs).
k=/sys/kernel/debug/kvm
counters="-k $k/pages_4k -k $k/pages_2m"
for c in $phased; do counters="$counters -k $k/$c"; done
cnt() { echo "$out" | awk -v w="$1" -v n="$2" '$1 == "benchrun:" && $2 == "count" && $3 == w && $4 == n { print $5; exit }'; }
cnt_delta() { awk -v a="$(cnt "$1" "$3")" -v b="$(cnt "$2" "$3")" 'BEGIN { if (a == "" || b == "") print "-"; else print b - a }'; }
counts() {  # vmm size: the counters of one resume, per phase
  for c in $phased; do
    v=$(cnt first-stdout "$c")
    echo "SNAP $1 $2 output_$c ${v:--}"
    echo "SNAP $1 $2 first_$c $(cnt_delta first-stdout tok "$c")"
    echo "SNAP $1 $2 second_$c $(cnt_delta tok tik "$c")"
  done
  v=$(cnt tik pages_4k); echo "SNAP $1 $2 pages_4k ${v:--}"
  v=$(cnt tik pages_2m); echo "SNAP $1 $2 pages_2m ${v:--}"
}
qemu_cmd() {  # size
  echo "qemu-system-x86_64 -M microvm,acpi=off -accel kvm -cpu host -m $1 -smp 1 -device i8042" \
    "-nographic -no-reboot -nodefaults -no-user-config -serial stdio -kernel bzImage" \
    "-initrd snap.cpio.gz"
}
append='console=ttyS0 reboot=k panic=-1 quiet'

amber_save() {  # size tag [--compress]
  img=/tmp/a-$1-$2.amber log=log-asave-$1-$2
  rm -f "$img"
  out=$(./benchrun -t 180 -m snap=AMBER-SNAP-HERE -o "$log" -- ./amber run --kernel bzImage \
    --initrd snap.cpio.gz --mem "$1M" --cpus 1 --cmdline quiet \
    --save-on-serial AMBER-SNAP-HERE --save "$img" $3 2>&1) || { bad "amber save $1 $2: $out"; return; }
  line=$(tr -d '\r' <"$log" | grep 'paused' | tail -n 1)
  [ -f "$img" ] && [ -n "$line" ] || { bad "amber save $1 $2: no image"; return; }
  echo "SNAP amber-$2 $1 saveline $line"
  p=$(echo "$line" | sed -n 's/.*paused \([0-9.]*\) ms.*/\1/p')
  echo "SNAP amber-$2 $1 pause_ms $p"
  echo "SNAP amber-$2 $1 total_ms $p"
  echo "SNAP amber-$2 $1 alloc_kib $(du -k "$img" | cut -f1)"
  echo "SNAP amber-$2 $1 size_kib $(( $(stat -c %s "$img") / 1024 ))"
  echo "SNAP amber-$2 $1 boot_ms $(val 'mark snap')"
}
amber_resume() {  # size tag rep [image tag]
  img=/tmp/a-$1-${4:-$2}.amber log=log-ares-$1-$2-$3
  [ -f "$img" ] || return
  out=$(./benchrun -t 60 $counters -i "$typed" -m tok=tok-42 -I "tok=$second" -m tik=tik-56 -q tik-56 -o "$log" -- \
    ./amber resume "$img" --timings -v 2>&1) || { bad "amber resume $1 $2: $out"; return; }
  echo "SNAP amber-$2 $1 prefetched $(tr -d '\r' <"$log" | sed -n 's/.*prefetching the \([0-9]*\) chunks.*/\1/p' | head -n 1)"
  kvm=$(tr -d '\r' <"$log" | sed -n 's/^amber: timings: .*; total \([0-9.]*\) ms.*/\1/p' | head -n 1)
  echo "SNAP amber-$2 $1 timings $(tr -d '\r' <"$log" | grep '^amber: timings' | head -n 1)"
  echo "SNAP amber-$2 $1 kvmrun_ms ${kvm:--}"
  echo "SNAP amber-$2 $1 output_ms $(val first-stdout)"
  echo "SNAP amber-$2 $1 tok_ms $(val 'mark tok')"
  echo "SNAP amber-$2 $1 first_cmd_ms $(cmd_ms "$(val first-stdout)" "$(val 'mark tok')")"
  echo "SNAP amber-$2 $1 second_cmd_ms $(cmd_ms "$(val 'mark tok')" "$(val 'mark tik')")"
  counts "amber-$2" "$1"
}
qemu_save() {  # size
  img=/tmp/q-$1.mig log=log-qsave-$1
  rm -f "$img" mon.in mon.out mon.log
  mkfifo mon.in mon.out
  # The hook drives the monitor: HMP's migrate holds further commands until
  # the migration ends, so all can be queued at once.
  hook="cat mon.out >mon.log & exec 3>mon.in; printf '%s\n' 'migrate_set_parameter max-bandwidth 100G' 'migrate \"exec:cat > $img\"' 'info migrate' quit >&3; wait"
  out=$(./benchrun -t 180 -m snap=AMBER-SNAP-HERE -x "snap=$hook" -o "$log" -- \
    $(qemu_cmd "$1") -append "$append" -monitor pipe:mon 2>&1) || { bad "qemu save $1: $out"; return; }
  tr -d '\r' <mon.log | grep -E 'Migration status|total time|downtime|transferred ram|total ram|duplicate|normal' | sed "s/^/SNAP qemu $1 info /"
  st=$(tr -d '\r' <mon.log | sed -n 's/^Migration status: //p' | tail -n 1)
  [ "$st" = completed ] && [ -s "$img" ] || { bad "qemu save $1: migration status '$st'"; tr -d '\r' <mon.log | tail -n 20; return; }
  echo "SNAP qemu $1 pause_ms $(tr -d '\r' <mon.log | sed -n 's/^downtime: \([0-9]*\) ms.*/\1/p' | tail -n 1)"
  echo "SNAP qemu $1 total_ms $(tr -d '\r' <mon.log | sed -n 's/^total time: \([0-9]*\) ms.*/\1/p' | tail -n 1)"
  echo "SNAP qemu $1 alloc_kib $(du -k "$img" | cut -f1)"
  echo "SNAP qemu $1 size_kib $(( $(stat -c %s "$img") / 1024 ))"
  echo "SNAP qemu $1 boot_ms $(val 'mark snap')"
  echo "SNAP qemu $1 save_wall_ms $(awk -v a="$(val 'mark snap')" -v b="$(echo "$out" | sed -n 's/^benchrun: exit [0-9]* \([0-9.]*\).*/\1/p')" 'BEGIN { printf "%.1f", b - a }')"
}
qemu_restore() {  # size rep
  img=/tmp/q-$1.mig log=log-qres-$1-$2
  [ -s "$img" ] || return
  out=$(./benchrun -t 60 $counters -i "$typed" -m tok=tok-42 -I "tok=$second" -m tik=tik-56 -q tik-56 -o "$log" -- \
    $(qemu_cmd "$1") -append "$append" -monitor none -incoming "exec:cat $img" 2>&1) ||
    { bad "qemu restore $1: $out"; return; }
  echo "SNAP qemu $1 output_ms $(val first-stdout)"
  echo "SNAP qemu $1 tok_ms $(val 'mark tok')"
  echo "SNAP qemu $1 first_cmd_ms $(cmd_ms "$(val first-stdout)" "$(val 'mark tok')")"
  echo "SNAP qemu $1 second_cmd_ms $(cmd_ms "$(val 'mark tok')" "$(val 'mark tik')")"
  counts qemu "$1"
}

for s in $sizes; do
  amber_save "$s" plain
  [ "$qemu" = 0 ] || qemu_save "$s"
  amber_save "$s" zstd --compress
  r=1
  while [ "$r" -le "$reps" ]; do
    amber_resume "$s" plain "$r"
    [ "$qemu" = 0 ] || qemu_restore "$s" "$r"
    # zstd: no record of the chunks touched first (it leaves one);
    # zstd-hot: the same image again, prefetching what zstd recorded.
    rm -rf "$XDG_CACHE_HOME/amber/hot"
    amber_resume "$s" zstd "$r"
    amber_resume "$s" zstd-hot "$r" zstd
    r=$((r + 1))
  done
  rm -f /tmp/a-"$s"-* /tmp/q-"$s".mig
done
exit $fail
EOF

nsizes=$(wc -w <<<"$sizes")
limit=$(( 60 + nsizes * (3 * 60 + reps * 4 * 20) ))
bench_log "snapshot benchmark, sizes $sizes MiB, $reps restores each (limit ${limit}s)"
rc=0
# shellcheck disable=SC2046  # one word per --carry argument
bench_sandbox --timeout "$limit" --mem 3072 --carry "$work" $([ "$qemu" = 0 ] || bench_qemu_carry) -- sh "$work/inner.sh" || rc=$?

get() {  # vmm size metric -> median
  awk -v v="$1" -v s="$2" -v m="$3" '$1 == "SNAP" && $2 == v && $3 == s && $4 == m && $5 != "-" { print $5 }' "$work.out" | median
}
echo
echo "Snapshot of an idle 1-vCPU guest at its shell (medians; save: 1 run, restore: $reps runs)"
printf '  %-14s %6s %9s %9s %10s %9s %10s %10s %10s\n' vmm guest "paused" "save" "allocated" "file" "to KVM_RUN" "to output" "to tok-42"
printf '  %-14s %6s %9s %9s %10s %9s %10s %10s %10s\n' "" "" ms ms MiB MiB ms ms ms
for s in $sizes; do
  for v in amber-plain amber-zstd amber-zstd-hot qemu; do
    a=$(get "$v" "$s" alloc_kib); f=$(get "$v" "$s" size_kib)
    a=$(awk -v x="$a" 'BEGIN { if (x == "-") print "-"; else printf "%.1f", x / 1024 }')
    f=$(awk -v x="$f" 'BEGIN { if (x == "-") print "-"; else printf "%.1f", x / 1024 }')
    printf '  %-14s %5sM %9s %9s %10s %9s %10s %10s %10s\n' "$v" "$s" "$(get "$v" "$s" pause_ms)" "$(get "$v" "$s" total_ms)" "$a" "$f" \
      "$(get "$v" "$s" kvmrun_ms)" "$(get "$v" "$s" output_ms)" "$(get "$v" "$s" tok_ms)"
  done
  echo "  ratios amber-plain/QEMU at ${s}M: paused $(ratio "$(get amber-plain "$s" pause_ms)" "$(get qemu "$s" pause_ms)")," \
    "save $(ratio "$(get amber-plain "$s" total_ms)" "$(get qemu "$s" total_ms)"),"  \
    "file allocated $(ratio "$(get amber-plain "$s" alloc_kib)" "$(get qemu "$s" alloc_kib)")," \
    "restore to output $(ratio "$(get amber-plain "$s" output_ms)" "$(get qemu "$s" output_ms)")," \
    "to tok-42 $(ratio "$(get amber-plain "$s" tok_ms)" "$(get qemu "$s" tok_ms)")"
  echo "  ratios amber-zstd/QEMU at ${s}M: file allocated $(ratio "$(get amber-zstd "$s" alloc_kib)" "$(get qemu "$s" alloc_kib)")," \
    "to tok-42 $(ratio "$(get amber-zstd "$s" tok_ms)" "$(get qemu "$s" tok_ms)")"
  echo "  ratios amber-zstd/amber-plain at ${s}M (goal: at most 2): to KVM_RUN $(ratio "$(get amber-zstd "$s" kvmrun_ms)" "$(get amber-plain "$s" kvmrun_ms)")," \
    "to output $(ratio "$(get amber-zstd "$s" output_ms)" "$(get amber-plain "$s" output_ms)")," \
    "to tok-42 $(ratio "$(get amber-zstd "$s" tok_ms)" "$(get amber-plain "$s" tok_ms)")"
  echo "  ratios amber-zstd-hot/amber-plain at ${s}M (prefetching the chunks the zstd run touched first): to KVM_RUN $(ratio "$(get amber-zstd-hot "$s" kvmrun_ms)" "$(get amber-plain "$s" kvmrun_ms)")," \
    "to output $(ratio "$(get amber-zstd-hot "$s" output_ms)" "$(get amber-plain "$s" output_ms)")," \
    "to tok-42 $(ratio "$(get amber-zstd-hot "$s" tok_ms)" "$(get amber-plain "$s" tok_ms)"); chunks prefetched $(get amber-zstd-hot "$s" prefetched)"
  # goal 4: first output -> first answer, against the next command's answer
  for v in amber-plain amber-zstd amber-zstd-hot qemu; do
    f=$(get "$v" "$s" first_cmd_ms) n=$(get "$v" "$s" second_cmd_ms)
    [ "$f" = - ] || echo "  $v at ${s}M: first command $f ms, second $n ms, first/second $(ratio "$f" "$n") (goal: at most 2)"
  done
  # Where the first command's extra time goes: nested-paging faults (L1 KVM
  # maps a guest page on its first access after the resume, at TCG speed).
  for v in amber-plain amber-zstd amber-zstd-hot qemu; do
    pf=$(get "$v" "$s" first_pf_fixed) ps=$(get "$v" "$s" second_pf_fixed)
    [ "$pf" = - ] && continue
    f=$(get "$v" "$s" first_cmd_ms) n=$(get "$v" "$s" second_cmd_ms)
    echo "  $v at ${s}M: nested-paging faults before the first output $(get "$v" "$s" output_pf_fixed), first command $pf" \
      "(exits $(get "$v" "$s" first_exits)), second $ps (exits $(get "$v" "$s" second_exits));" \
      "mappings at the end 4K $(get "$v" "$s" pages_4k) 2M $(get "$v" "$s" pages_2m);" \
      "extra time per extra fault $(awk -v f="$f" -v n="$n" -v a="$pf" -v b="$ps" 'BEGIN { if (f == "-" || n == "-" || a - b <= 0) print "-"; else printf "%.0f us", (f - n) * 1000 / (a - b) }')"
    line=
    for c in $phased; do line="$line $c $(get "$v" "$s" "first_$c")/$(get "$v" "$s" "second_$c")"; done
    echo "    first/second command, medians:$line"
  done
done
first=${sizes%% *} last=${sizes##* }
if [ "$first" != "$last" ]; then
  echo "  amber resume to KVM_RUN, ${last}M / ${first}M: plain $(ratio "$(get amber-plain "$last" kvmrun_ms)" "$(get amber-plain "$first" kvmrun_ms)")," \
    "zstd $(ratio "$(get amber-zstd "$last" kvmrun_ms)" "$(get amber-zstd "$first" kvmrun_ms)")"
fi
[ "$rc" = 0 ] || bench_die "sandbox run failed (status $rc)"
grep -q '^SNAP amber-plain .* kvmrun_ms [0-9]' "$work.out" || bench_die "no amber resume results"
[ "$qemu" = 0 ] || grep -q '^SNAP qemu .* tok_ms [0-9]' "$work.out" || bench_die "no QEMU restore results"
grep -q '^SNAP amber-zstd .* tok_ms [0-9]' "$work.out" || bench_die "no compressed-image resume results"
