#!/usr/bin/env bash
# tools/bench/exec.sh [N] - `amber exec` vs QEMU microvm with a 9p root doing the same.
#
# The kernel developer's loop (docs/exec.md): boot the test kernel over the
# host's root, run `sh -c 'cat in.txt; exit 7'` in a directory holding
# in.txt, end with status 7. N runs (default 5) per configuration,
# alternating, inside ONE kvm-sandbox run (the "host" root is the sandbox's
# busybox initramfs):
#   amber   amber exec --kernel bzImage -- sh -c 'cat in.txt; exit 7'
#   qemu    qemu-system-x86_64 -M microvm,acpi=off -accel kvm -kernel bzImage with
#           the same initramfs amber exec writes (amber-init and its config,
#           built here with cpio from build/src/exec/amber-init), the host's /
#           read-only as virtio-9p-device tag amber-root, a status directory as
#           amber-status, isa-debug-exit at 0xf4, -no-reboot
# Same guest for both: 1 vCPU, 256 MiB, "console=ttyS0 reboot=k panic=-1
# quiet rdinit=/init" (+ virtio_mmio.device= entries, added by each VMM), the
# same amber-init, the same mounts, the same command.
#
# "output" = ms from fork() of the VMM to the first line of in.txt on its
# console (benchrun.c); "exit" = to the process's exit. Each run must show
# status 7 (amber's exit status; for QEMU, amber-init's status file).
# Prints every run, the medians and the ratios amber/QEMU; exits non-zero when
# any run failed or the sandbox did. virtme-ng is not packaged here (Debian 12
# has no virtme-ng package), so it is not compared.
#
# Environment: AMBER_BENCH_CONFIGS (default "amber qemu"), AMBER_BENCH_KEEP=1.
set -euo pipefail
# shellcheck source=tools/bench/common.sh disable=SC2154
. "$(dirname "$0")/common.sh"

n=${1:-5}
[[ $n =~ ^[1-9][0-9]*$ ]] || bench_die "usage: $0 [N]"
configs=${AMBER_BENCH_CONFIGS:-amber qemu}

bench_setup
ninja -C "$build" src/exec/amber-init >/dev/null || bench_die "ninja -C $build src/exec/amber-init failed"
mkdir -p "$work/cwd" "$work/status" "$work/rootfs/dev"
printf 'AMBER-EXEC-OUTPUT from in.txt\nsecond line\n' >"$work/cwd/in.txt"

# QEMU's initramfs: what src/exec/initramfs.cpp writes for this command
# (format: src/exec/exec_config.h), made with cpio.
cp "$build/src/exec/amber-init" "$work/rootfs/init"
kv() { printf '%s\0%s\0' "$1" "$2"; }
{
  printf 'amber-exec 1\0'
  kv root amber-root; kv status_tag amber-status; kv status_port 244; kv cwd "$work/cwd"
  kv verbose 0; kv tty_raw_out 1; kv tty_noecho 1
  # The variables amber exec passes, as they are in the sandbox (tools/sandbox/init.sh).
  kv env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; kv env HOME=/root; kv env TERM=dumb
  kv arg sh; kv arg -c; kv arg 'cat in.txt; exit 7'
} >"$work/rootfs/amber-exec.conf"
(cd "$work/rootfs" && { echo init; echo amber-exec.conf; } | cpio -o -H newc --quiet >"$work/exec-initramfs.cpio") ||
  bench_die "cpio failed"

bench_inner n="$n" <<'EOF'
# Runs inside the sandbox (L1). One line per run:
#   EXEC <config> <i> <output_ms> <exit_ms> <status>
cd "$w/cwd" || exit 1
one() {  # config: one run under benchrun; prints benchrun's lines
  case $1 in
    amber)
      "$w/benchrun" -t 120 -m out=AMBER-EXEC-OUTPUT -o "$w/log-$c-$i" -- \
        "$w/amber" exec --kernel "$w/bzImage" --mem 256M --cpus 1 -- sh -c 'cat in.txt; exit 7' ;;
    qemu)
      rm -f "$w/status/status"
      "$w/benchrun" -t 120 -m out=AMBER-EXEC-OUTPUT -o "$w/log-$c-$i" -- \
        qemu-system-x86_64 -M microvm,acpi=off -accel kvm -cpu host -m 256 -smp 1 \
        -device i8042 -nographic -no-reboot -nodefaults -no-user-config -serial stdio \
        -device isa-debug-exit,iobase=0xf4,iosize=4 \
        -fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap \
        -device virtio-9p-device,fsdev=root,mount_tag=amber-root \
        -fsdev local,id=status,path="$w/status",security_model=none \
        -device virtio-9p-device,fsdev=status,mount_tag=amber-status \
        -kernel "$w/bzImage" -initrd "$w/exec-initramfs.cpio" \
        -append "console=ttyS0 reboot=k panic=-1 quiet rdinit=/init" ;;
  esac
}
fail=0
i=1
while [ "$i" -le "$n" ]; do
  for c in CONFIGS; do
    out=$(one "$c" 2>&1)
    rc=$?
    mark=$(echo "$out" | sed -n 's/^benchrun: mark out //p')
    ex=$(echo "$out" | sed -n 's/^benchrun: exit \([0-9]*\) \([0-9.]*\).*/\2 \1/p')
    st=${ex#* }
    # QEMU exits 0 on the guest's reboot: the command's status is in the file.
    [ "$c" = qemu ] && st=$(cat "$w/status/status" 2>/dev/null || echo -)
    echo "EXEC $c $i ${mark:--} ${ex%% *} ${st:--}"
    if [ "$rc" != 0 ] || [ -z "$mark" ] || [ "$st" != 7 ]; then
      fail=1
      echo "--- $c run $i failed (benchrun $rc, status ${st:--}); its console:"
      tail -c 2000 "$w/log-$c-$i"; echo
    fi
  done
  i=$((i + 1))
done
exit $fail
EOF
sed -i "s/CONFIGS/$configs/" "$work/inner.sh"
n_runs=$(( n * $(wc -w <<<"$configs") ))
limit=$(( 60 + n_runs * 40 ))
bench_log "$n_runs runs in one sandbox run (limit ${limit}s)"
rc=0
# shellcheck disable=SC2046  # one word per --carry argument
bench_sandbox --timeout "$limit" --carry "$work" $(bench_qemu_carry) -- sh "$work/inner.sh" || rc=$?

echo
echo "amber exec vs QEMU microvm + 9p root: ms from VMM process start (median of $n, min-max)"
printf '  %-8s %10s %16s %10s %16s\n' config output range exit range
declare -A mo me
for c in $configs; do
  o=$(awk -v c="$c" '$1 == "EXEC" && $2 == c && $4 != "-" { print $4 }' "$work.out" | median)
  orr=$(awk -v c="$c" '$1 == "EXEC" && $2 == c && $4 != "-" { print $4 }' "$work.out" | minmax)
  e=$(awk -v c="$c" '$1 == "EXEC" && $2 == c && $5 != "-" { print $5 }' "$work.out" | median)
  er=$(awk -v c="$c" '$1 == "EXEC" && $2 == c && $5 != "-" { print $5 }' "$work.out" | minmax)
  mo[$c]=$o
  me[$c]=$e
  printf '  %-8s %10s %16s %10s %16s\n' "$c" "$o" "$orr" "$e" "$er"
done
if [ -n "${mo[amber]:-}" ] && [ -n "${mo[qemu]:-}" ]; then
  echo "  ratio amber/QEMU: output $(ratio "${mo[amber]}" "${mo[qemu]}"), exit $(ratio "${me[amber]}" "${me[qemu]}")"
fi
[ "$rc" = 0 ] || bench_die "sandbox run failed (status $rc)"
grep -q '^EXEC ' "$work.out" || bench_die "no results"
