#!/usr/bin/env bash
# tools/bench/seccomp.sh [PAIRS] - what the seccomp filters cost (issue 17):
# amber --seccomp=on against --seccomp=off, PAIRS times each (default 5),
# alternating which goes first, in one kvm-sandbox run. Measured, per run:
#   bare    `amber run --bare hello.bin` from fork to exit (a guest that
#           prints a line and reboots: process start, VM creation, filters)
#   linux   `amber run --kernel bzImage --initrd ready.cpio.gz` to AMBER-READY
#   resume  `amber resume` of a bare-metal image to its first line
#   disk    the bench-disk scenario (guest-tests/linux/init/bench-disk.sh):
#           dd of AMBER_BENCH_MIB (default 32) MiB, bs=1M, O_DIRECT, to and
#           from a raw disk on L1's tmpfs; MiB/s
# Prints the medians per mode and the ratios on/off (> 1 for times: on is
# slower; < 1 for MiB/s: on is slower). docs/performance.md has results.
set -euo pipefail
# shellcheck source=tools/bench/common.sh disable=SC2154
. "$(dirname "$0")/common.sh"

pairs=${1:-5}
[[ $pairs =~ ^[1-9][0-9]*$ ]] || bench_die "usage: $0 [PAIRS]"
mib=${AMBER_BENCH_MIB:-32}

bench_setup
cp "$build/guest/ready.cpio.gz" "$build/guest/bench-disk.cpio.gz" "$work/"
ninja -C "$build" guest-tests/bare/hello.bin guest-tests/bare/idle.bin >/dev/null
cp "$build/guest-tests/bare/hello.bin" "$build/guest-tests/bare/idle.bin" "$work/"

bench_inner pairs="$pairs" mib="$mib" <<'EOF'
cd "$w" || exit 1
dd if=/dev/zero of=/tmp/disk.raw bs=1M count="$((mib + 32))" 2>/dev/null || exit 1
./amber run --bare idle.bin --save /tmp/idle.amber --seccomp=off >/dev/null 2>&1 </dev/null || { echo "cannot save idle.amber"; exit 1; }
fail=0
ms() { sed -n "s/^benchrun: $1 \([0-9.]*\)$/\1/p; s/^benchrun: $1 \([0-9]*\) \([0-9.]*\)$/\2/p" | tail -1; }
one() {  # mode
  local m=$1 out
  out=$(./benchrun -t 60 -- ./amber run --bare hello.bin --seccomp="$m" 2>&1) || fail=1
  echo "DATA bare $m $(echo "$out" | ms exit)"
  out=$(./benchrun -t 120 -m ready=AMBER-READY -q AMBER-READY -- ./amber run --kernel bzImage \
        --initrd ready.cpio.gz --cmdline quiet --seccomp="$m" 2>&1) || fail=1
  echo "DATA linux $m $(echo "$out" | sed -n 's/^benchrun: mark ready \([0-9.]*\)$/\1/p')"
  out=$(./benchrun -t 60 -m up='resumed and idle' -q 'resumed and idle' -- ./amber resume /tmp/idle.amber --seccomp="$m" 2>&1) || fail=1
  echo "DATA resume $m $(echo "$out" | sed -n 's/^benchrun: mark up \([0-9.]*\)$/\1/p')"
  ./benchrun -t 240 -m done=AMBER-DONE -o "log-disk-$m" -- ./amber run --kernel bzImage --initrd bench-disk.cpio.gz \
    --mem 256M --disk /tmp/disk.raw --cmdline "quiet amber.mib=$mib amber.rounds=1" --seccomp="$m" >/dev/null 2>&1 || fail=1
  tr -d '\r' <"log-disk-$m" | sed -n "s/^AMBER-RESULT \(write\|read\)_cs_1=\([0-9]*\)/DATA \1 $m \2/p"
}
i=1
while [ "$i" -le "$pairs" ]; do
  if [ $((i % 2)) = 1 ]; then one on; one off; else one off; one on; fi
  i=$((i + 1))
done
exit $fail
EOF

limit=$(( 120 + pairs * 2 * 90 ))
bench_log "$pairs pairs (on, off) of bare boot, Linux boot, resume and a $mib MiB disk pass in one sandbox run (limit ${limit}s)"
rc=0
bench_sandbox --timeout "$limit" --carry "$work" -- sh "$work/inner.sh" || rc=$?

echo
echo "seccomp on vs off, median of $pairs each (min-max):"
printf '  %-8s %16s %16s %8s\n' what on off on/off
for what in bare linux resume write read; do
  declare -A med rng
  for m in on off; do
    vals=$(awk -v w="$what" -v m="$m" -v mib="$mib" '$1 == "DATA" && $2 == w && $3 == m && $4 != "" {
      if (w == "write" || w == "read") printf "%.1f\n", mib * 100 / $4; else print $4 }' "$work.out")
    med[$m]=$(median <<<"$vals"); rng[$m]=$(minmax <<<"$vals")
  done
  unit=ms; case $what in write|read) unit=MiB/s ;; esac
  printf '  %-8s %16s %16s %8s\n' "$what ($unit)" "${med[on]} (${rng[on]})" "${med[off]} (${rng[off]})" "$(ratio "${med[on]}" "${med[off]}")"
done
[ "$rc" = 0 ] || bench_die "sandbox run failed (status $rc)"
