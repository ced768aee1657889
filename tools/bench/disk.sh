#!/usr/bin/env bash
# tools/bench/disk.sh [ROUNDS] - sequential disk throughput, amber vs QEMU microvm.
#
# One kvm-sandbox run. Inside it, a raw 96 MiB disk file (zeros, fully
# allocated, on L1's tmpfs) is given to the guest as /dev/vda, by
#   amber run --disk disk.raw
#   qemu-system-x86_64 -M microvm,acpi=off -accel kvm ... -drive file=disk.raw,
#       format=raw,if=none,id=d0 -device virtio-blk-device,drive=d0
#       (QEMU's defaults: cache=writeback, aio=threads)
# and the guest's bench-disk scenario (guest-tests/linux/init/bench-disk.sh)
# writes and reads 64 MiB with dd bs=1M oflag=direct conv=fsync / iflag=direct,
# ROUNDS times per boot (default 3). The VMMs boot alternately, 3 boots each (AMBER_BENCH_BOOTS)
# (amber, QEMU, amber, QEMU, ...). Prints MB/s (MiB/s really: 2^20 bytes) per
# round, the medians and the ratios amber/QEMU (> 1: amber faster).
# Guest: 1 vCPU, 256 MiB, "quiet". Exits non-zero when any run fails.
set -euo pipefail
# shellcheck source=tools/bench/common.sh disable=SC2154
. "$(dirname "$0")/common.sh"

rounds=${1:-3}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || bench_die "usage: $0 [ROUNDS]"
boots=${AMBER_BENCH_BOOTS:-3}
mib=${AMBER_BENCH_MIB:-64}

bench_setup
cp "$build/guest/bench-disk.cpio.gz" "$work/" || bench_die "no bench-disk.cpio.gz (guest-tests/linux/init/bench-disk.sh missing?)"

bench_inner boots="$boots" params="amber.mib=$mib amber.rounds=$rounds" disk_mib="$((mib + 32))" <<'EOF'
cd "$w" || exit 1
dd if=/dev/zero of=/tmp/disk.raw bs=1M count="$disk_mib" 2>/dev/null || exit 1
one() {  # amber|qemu -> benchrun output; console in log-$1-$i
  case $1 in
    amber)
      ./benchrun -t 240 -m ready=AMBER-READY -m done=AMBER-DONE -o "log-$1-$i" -- \
        ./amber run --kernel bzImage --initrd bench-disk.cpio.gz --mem 256M --cpus 1 \
        --disk /tmp/disk.raw --cmdline "quiet $params" ;;
    qemu)
      ./benchrun -t 240 -m ready=AMBER-READY -m done=AMBER-DONE -o "log-$1-$i" -- \
        qemu-system-x86_64 -M microvm,acpi=off -accel kvm -cpu host -m 256 -smp 1 \
        -device i8042 -nographic -no-reboot -nodefaults -no-user-config -serial stdio \
        -drive id=d0,file=/tmp/disk.raw,format=raw,if=none -device virtio-blk-device,drive=d0 \
        -kernel bzImage -initrd bench-disk.cpio.gz -append "console=ttyS0 reboot=k panic=-1 quiet $params" ;;
  esac
}
fail=0
i=1
while [ "$i" -le "$boots" ]; do
  for v in amber qemu; do
    out=$(one "$v" 2>&1); rc=$?
    tr -d '\r' <"log-$v-$i" | sed -n "s/^AMBER-RESULT \([a-z_0-9]*\)=\(.*\)/DISK $v $i \1 \2/p"
    if [ "$rc" != 0 ] || grep -q 'AMBER-RESULT error=' "log-$v-$i"; then
      fail=1
      echo "--- $v boot $i failed (benchrun $rc): $out"
      tail -c 2000 "log-$v-$i"; echo
    fi
  done
  i=$((i + 1))
done
exit $fail
EOF

limit=$(( 90 + boots * 2 * (40 + rounds * 30) ))
bench_log "$((boots * 2)) boots x $rounds rounds of $mib MiB in one sandbox run (limit ${limit}s)"
rc=0
# shellcheck disable=SC2046  # one word per --carry argument
bench_sandbox --timeout "$limit" --carry "$work" $(bench_qemu_carry) -- sh "$work/inner.sh" || rc=$?

echo
echo "Sequential direct I/O, $mib MiB per pass, bs=1M (MiB/s; median over all rounds, min-max):"
printf '  %-6s %10s %14s %10s %14s\n' vmm write range read range
declare -A med
for v in amber qemu; do
  for op in write read; do
    vals=$(awk -v v="$v" -v op="$op" -v mib="$mib" '$1 == "DISK" && $2 == v && $4 ~ "^" op "_cs_" && $5 > 0 { printf "%.1f\n", mib * 100 / $5 }' "$work.out")
    med[$v-$op]=$(median <<<"$vals")
    med[$v-$op-r]=$(minmax <<<"$vals")
  done
  printf '  %-6s %10s %14s %10s %14s\n' "$v" "${med[$v-write]}" "${med[$v-write-r]}" "${med[$v-read]}" "${med[$v-read-r]}"
done
echo "  ratio amber/QEMU: write $(ratio "${med[amber-write]}" "${med[qemu-write]}"), read $(ratio "${med[amber-read]}" "${med[qemu-read]}")"
[ "$rc" = 0 ] || bench_die "sandbox run failed (status $rc)"
[ "${med[amber-write]}" != - ] && [ "${med[qemu-write]}" != - ] || bench_die "no results"
