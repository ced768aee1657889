#!/usr/bin/env bash
# check-qemu.sh [WORKDIR]
#
# Smoke test of the guest artifacts with QEMU instead of amber: builds kernel, initramfs
# images and disks into WORKDIR (default: a temporary directory), boots the ready, disk
# and shell scenarios on `-M microvm` and checks their markers. Validates the guest side
# independently of the VMM (and the QEMU side of the boot benchmark).
#   ACCEL=tcg (default) or ACCEL=kvm (inside the KVM sandbox)
# Exit status 0 when every check passes. Guest consoles are kept in WORKDIR/*.log.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
accel=${ACCEL:-tcg}
if [[ $# -ge 1 ]]; then
  work=$1
  mkdir -p "$work"
else
  work=$(mktemp -d)
fi
dpkg -s qemu-system-x86 >/dev/null 2>&1 ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends qemu-system-x86 >&2

"$here/kernel.sh" "$work" >/dev/null
"$here/initramfs.sh" "$work" ready disk shell >/dev/null
"$here/mkdisk.sh" "$work/disk.img" 64 >/dev/null
"$here/mkdisk.sh" "$work/ro.img" 16 >/dev/null

# The verified command line (see README.md). acpi=off makes QEMU append the
# virtio_mmio.device= entries to the kernel command line; -device i8042 gives
# `reboot -f` with reboot=k a keyboard controller to reset through.
qemu() { # initrd append [extra qemu args...]
  local initrd=$1 append=$2
  shift 2
  timeout 120 qemu-system-x86_64 -M microvm,acpi=off -accel "$accel" -cpu max -m 256 -smp 2 \
    -device i8042 -kernel "$work/bzImage" -initrd "$work/$initrd" \
    -append "console=ttyS0 reboot=k panic=-1 $append" \
    -nographic -no-reboot -nodefaults -serial stdio "$@"
}

fail=0
expect() { # log line...
  local log=$1 l
  shift
  for l in "$@"; do
    if grep -qxF "$l" <(tr -d '\r' <"$log"); then
      echo "ok   $(basename "$log"): $l"
    else
      echo "FAIL $(basename "$log"): missing '$l'"
      fail=1
    fi
  done
}

qemu ready.cpio.gz "amber.x=1" </dev/null >"$work/ready.log" 2>&1 || fail=1
expect "$work/ready.log" "AMBER-RESULT cpus=2" "AMBER-READY" "AMBER-DONE"

qemu disk.cpio.gz "amber.token=T0K3N amber.stress=8" </dev/null >"$work/disk.log" 2>&1 \
  -drive id=d0,file="$work/disk.img",format=raw,if=none -device virtio-blk-device,drive=d0 \
  -drive id=d1,file="$work/ro.img",format=raw,if=none,readonly=on -device virtio-blk-device,drive=d1 ||
  fail=1
expect "$work/disk.log" "AMBER-RESULT mount=ok" "AMBER-RESULT read=hello-from-amber-disk" \
  "AMBER-RESULT written=T0K3N" "AMBER-RESULT ro_write=fail" "AMBER-RESULT ro_changed=no" \
  "AMBER-RESULT stress=ok" "AMBER-DONE"

# Type into the shell once it is up (input sent before the tty is open is lost), and
# make the expected output differ from the echoed command line.
# shellcheck disable=SC2016
{ sleep 15; printf 'echo shell-$((6*7))\n'; sleep 2; printf 'exit\n'; sleep 10; } |
  qemu shell.cpio.gz "" >"$work/shell.log" 2>&1 || fail=1
expect "$work/shell.log" "AMBER-READY" "shell-42" "AMBER-DONE"

[[ $fail -eq 0 ]] && echo "all checks passed ($work)" || echo "some checks FAILED ($work)"
exit $fail
