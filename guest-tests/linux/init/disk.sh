#!/bin/sh
# disk: virtio-blk checks. Command-line parameters (all optional):
#   amber.token=XYZ        written to /mnt/written.txt on /dev/vda
#   amber.stress=MiB       stress: write MiB of random data, sync, drop caches, read back
#   amber.stressdev=vdX    stress a raw disk (/dev/vdX) instead of a file on /mnt
# Results, in this order:
#   AMBER-RESULT mount=ok|fail             /dev/vda (ext4) mounted at /mnt
#   AMBER-RESULT read=<first line of /mnt/hello.txt>
#   AMBER-RESULT written=<token>           only with amber.token=
#   AMBER-RESULT ro_write=fail|ok          only when /dev/vdb exists: a 512-byte write at
#                                          offset 0 of vdb with fsync failed / succeeded
#   AMBER-RESULT ro_changed=yes|no         ... and whether sector 0 reads back changed
#                                          (after dropping the page cache)
#   AMBER-RESULT stress=ok|mismatch|error  only with amber.stress=; error = setup/write failed
#   AMBER-RESULT stress_cs=<centiseconds>  time the stress round took
# then AMBER-DONE and reboot -f.
# shellcheck source=lib.sh
. /lib.sh
amber_mount_basics
amber_marker AMBER-READY

drop_caches() {
  sync
  echo 3 >/proc/sys/vm/drop_caches
}

mounted=0
if amber_wait_dev /dev/vda && mount -t ext4 /dev/vda /mnt; then
  mounted=1
  amber_result mount ok
  amber_result read "$(head -n 1 /mnt/hello.txt 2>/dev/null)"
  if token=$(amber_param amber.token); then
    echo "$token" >/mnt/written.txt
    sync
    amber_result written "$token"
  fi
else
  amber_result mount fail
fi

# The second disk is meant to be read-only: the kernel refuses the write (EPERM on a
# disk with VIRTIO_BLK_F_RO) or the device fails it (error at fsync). Sector 0 is outside
# any ext4 structure (the superblock starts at 1024), so a write that gets through does
# not damage a file system there.
if [ -b /dev/vdb ]; then
  before=$(dd if=/dev/vdb bs=512 count=1 2>/dev/null | md5sum)
  if echo "AMBER-RO-PROBE" | dd of=/dev/vdb bs=512 count=1 conv=sync,fsync 2>/dev/null; then
    amber_result ro_write ok
  else
    amber_result ro_write fail
  fi
  echo 3 >/proc/sys/vm/drop_caches
  after=$(dd if=/dev/vdb bs=512 count=1 2>/dev/null | md5sum)
  if [ "$before" = "$after" ]; then amber_result ro_changed no; else amber_result ro_changed yes; fi
fi

if mib=$(amber_param amber.stress); then
  t0=$(amber_uptime_cs)
  status=error
  target=
  if dev=$(amber_param amber.stressdev); then
    dev=/dev/${dev#/dev/}
    if [ "$dev" = /dev/vda ] && [ "$mounted" = 1 ]; then
      echo "amber: refusing raw stress on the mounted /dev/vda" >&2
    elif [ -b "$dev" ]; then
      sectors=$(cat "/sys/block/${dev#/dev/}/size")
      if [ $((sectors / 2048)) -ge "$mib" ]; then target=$dev; else
        echo "amber: $dev has $((sectors / 2048)) MiB < $mib MiB" >&2
      fi
    else
      echo "amber: no block device $dev" >&2
    fi
  elif [ "$mounted" = 1 ]; then
    target=/mnt/stress.bin
  fi
  if [ -n "$target" ]; then
    # The data goes to the disk and through md5sum in one pass, so nothing has to be
    # kept in guest memory; the read-back after drop_caches must come from the device.
    want=$(dd if=/dev/urandom bs=1048576 count="$mib" iflag=fullblock 2>/dev/null |
      tee "$target" | md5sum)
    if [ -b "$target" ] || [ "$(stat -c %s "$target")" -eq $((mib * 1048576)) ]; then
      drop_caches
      got=$(dd if="$target" bs=1048576 count="$mib" 2>/dev/null | md5sum)
      if [ "$want" = "$got" ]; then status=ok; else status=mismatch; fi
    fi
    [ -f "$target" ] && rm -f "$target"
  fi
  amber_result stress "$status"
  amber_result stress_cs $(($(amber_uptime_cs) - t0))
fi

[ "$mounted" = 1 ] && umount /mnt
amber_done
