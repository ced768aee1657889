#!/usr/bin/env bash
# tools/bench/boot.sh [N] - boot time, amber vs QEMU microvm (-accel kvm).
#
# Boots the test kernel with the `bench` initramfs (its /init prints
# AMBER-READY as its very first action, then reboots) N times (default 5) per
# configuration, alternating amber and QEMU inside ONE kvm-sandbox run:
#   amber-bz   amber run --kernel bzImage
#   qemu-bz    qemu-system-x86_64 -M microvm,acpi=off -accel kvm -kernel bzImage
#   amber-pvh  amber run --kernel vmlinux     (PVH entry)
#   qemu-pvh   qemu-system-x86_64 -M microvm,acpi=off -accel kvm -kernel vmlinux
# Same guest for both: 1 vCPU, 256 MiB, no disk, command line
# "console=ttyS0 reboot=k panic=-1 quiet" (quiet: otherwise the boot log's
# ~10k UART exits, ~0.1 ms each in the sandbox, dominate both VMMs' times).
#
# "ready" = ms from fork() of the VMM to the AMBER-READY line on its console
# (benchrun.c); "exit" = to the process's exit after the guest's reboot.
# Prints every run, the medians and the ratios amber/QEMU; exits non-zero when
# any run failed or the sandbox did.
#
# Environment: AMBER_BENCH_CONFIGS (default "amber-bz qemu-bz amber-pvh
# qemu-pvh"), AMBER_BENCH_CMDLINE (default "quiet"), AMBER_BENCH_KEEP=1.
set -euo pipefail
# shellcheck source=tools/bench/common.sh disable=SC2154
. "$(dirname "$0")/common.sh"

n=${1:-5}
[[ $n =~ ^[1-9][0-9]*$ ]] || bench_die "usage: $0 [N]"
configs=${AMBER_BENCH_CONFIGS:-amber-bz qemu-bz amber-pvh qemu-pvh}
extra=${AMBER_BENCH_CMDLINE-quiet}

bench_setup
cp "$build/guest/bench.cpio.gz" "$work/"

bench_inner n="$n" extra="$extra" <<'EOF'
# Runs inside the sandbox (L1). One line per run:
#   BOOT <config> <i> <ready_ms> <exit_ms> <status>
cd "$w" || exit 1
one() {  # config: one boot under benchrun; prints benchrun's lines
  case $1 in *-bz) k=bzImage ;; *-pvh) k=vmlinux ;; esac
  case $1 in
    amber-*)
      ./benchrun -t 60 -m ready=AMBER-READY -o "log-$c-$i" -- \
        ./amber run --kernel "$k" --initrd bench.cpio.gz --mem 256M --cpus 1 --timings --cmdline "$extra" ;;
    qemu-*)
      ./benchrun -t 60 -m ready=AMBER-READY -o "log-$c-$i" -- \
        qemu-system-x86_64 -M microvm,acpi=off -accel kvm -cpu host -m 256 -smp 1 \
        -device i8042 -nographic -no-reboot -nodefaults -no-user-config -serial stdio \
        -kernel "$k" -initrd bench.cpio.gz -append "console=ttyS0 reboot=k panic=-1 $extra" ;;
  esac
}
fail=0
i=1
while [ "$i" -le "$n" ]; do
  for c in CONFIGS; do
    out=$(one "$c" 2>&1)
    rc=$?
    ready=$(echo "$out" | sed -n 's/^benchrun: mark ready //p')
    ex=$(echo "$out" | sed -n 's/^benchrun: exit \([0-9]*\) \([0-9.]*\).*/\2 \1/p')
    echo "BOOT $c $i ${ready:--} ${ex:-- -}"
    if [ "$rc" != 0 ] || [ -z "$ready" ] || [ "${ex#* }" != 0 ]; then
      fail=1
      echo "--- $c run $i failed (benchrun $rc); its console:"
      tail -c 2000 "log-$c-$i"; echo
    fi
  done
  i=$((i + 1))
done
exit $fail
EOF
sed -i "s/CONFIGS/$configs/" "$work/inner.sh"
n_runs=$(( n * $(wc -w <<<"$configs") ))
limit=$(( 60 + n_runs * 30 ))
bench_log "$n_runs boots in one sandbox run (limit ${limit}s)"
rc=0
# shellcheck disable=SC2046  # one word per --carry argument
bench_sandbox --timeout "$limit" --carry "$work" $(bench_qemu_carry) -- sh "$work/inner.sh" || rc=$?

echo
echo "Boot to AMBER-READY (ms from VMM process start; median of $n, min-max):"
printf '  %-10s %10s %16s %10s\n' config ready range exit
declare -A med
for c in $configs; do
  r=$(awk -v c="$c" '$1 == "BOOT" && $2 == c && $4 != "-" { print $4 }' "$work.out" | median)
  rr=$(awk -v c="$c" '$1 == "BOOT" && $2 == c && $4 != "-" { print $4 }' "$work.out" | minmax)
  e=$(awk -v c="$c" '$1 == "BOOT" && $2 == c && $5 != "-" { print $5 }' "$work.out" | median)
  med[$c]=$r
  printf '  %-10s %10s %16s %10s\n' "$c" "$r" "$rr" "$e"
done
for k in bz pvh; do
  if [ -n "${med[amber-$k]:-}" ] && [ -n "${med[qemu-$k]:-}" ]; then
    echo "  ratio amber/QEMU ($k): $(ratio "${med[amber-$k]}" "${med[qemu-$k]}")"
  fi
done
[ "$rc" = 0 ] || bench_die "sandbox run failed (status $rc)"
grep -q '^BOOT ' "$work.out" || bench_die "no results"
