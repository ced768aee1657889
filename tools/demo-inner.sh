#!/bin/sh
# The demo's steps, run where /dev/kvm works (tools/demo.sh starts it).
set -e
amber=$1 guest=$2 bare=$3
work=$(mktemp -d /tmp/amber-demo.XXXXXX)
step() { printf '\n\033[1m>>> %s\033[0m\n' "$*"; }

step "a bare-metal guest: $amber run --bare hello.bin"
"$amber" run --bare "$bare/hello.bin"

step "boot Linux with a disk; save the VM when its init is ready"
cp "$guest/bzImage" "$guest/snap.cpio.gz" "$guest/disk.img" "$work/"
token="demo-$$"
"$amber" run --kernel "$work/bzImage" --initrd "$work/snap.cpio.gz" --disk "$work/disk.img" \
  --cmdline "amber.token=$token" --save-on-serial AMBER-SNAP-HERE --save "$work/vm.amber" --timings </dev/null

step "the image: one file with vCPUs, devices, RAM and the disk"
ls -ls "$work/vm.amber"
"$amber" inspect "$work/vm.amber" | grep -v '^    run\|^    extent' | head -40
"$amber" verify "$work/vm.amber"

step "delete the kernel, initrd and disk it booted from"
rm "$work/bzImage" "$work/snap.cpio.gz" "$work/disk.img"
ls "$work"

step "resume the image and type into the guest's shell"
{
  sleep 1
  echo 'cat /tmp/token   # kept in RAM (tmpfs) before the save'
  sleep 1
  echo 'cat /mnt/token /mnt/hello.txt   # on the embedded disk'
  sleep 1
  echo 'echo resumed-ok-$((6*7))'
  sleep 1
  echo 'exit'
} | "$amber" resume "$work/vm.amber" --timings
echo "amber resume exited with status $?"
rm -rf "$work"
