#!/bin/sh
# bench-disk: sequential direct-I/O throughput of /dev/vda, for tools/bench/disk.sh.
# Parameters (all optional): amber.mib=N (MiB per pass, default 64; capped to the disk),
#   amber.rounds=R (default 3).
# Each round writes N MiB of zeros to the raw /dev/vda with `dd bs=1M oflag=direct
# conv=fsync` (so the final flush is included), then reads them back with
# `dd bs=1M iflag=direct`. Timed with /proc/uptime (guest clock, 10 ms steps).
# Output: AMBER-READY, AMBER-RESULT mib=N, then per round
#   AMBER-RESULT write_cs_<r>=<centiseconds>   AMBER-RESULT read_cs_<r>=<centiseconds>
# (or AMBER-RESULT error=<what>), AMBER-DONE and reboot. The disk's content is destroyed.
# shellcheck source=lib.sh
. /lib.sh
amber_mount_basics
amber_marker AMBER-READY
mib=$(amber_param amber.mib) || mib=64
rounds=$(amber_param amber.rounds) || rounds=3
if ! amber_wait_dev /dev/vda; then
  amber_result error no /dev/vda
  amber_done
fi
disk_mib=$(($(cat /sys/block/vda/size) / 2048))
[ "$mib" -le "$disk_mib" ] || mib=$disk_mib
amber_result mib "$mib"
r=1
while [ "$r" -le "$rounds" ]; do
  t0=$(amber_uptime_cs)
  if ! dd if=/dev/zero of=/dev/vda bs=1M count="$mib" oflag=direct conv=fsync 2>/tmp/dd.err; then
    amber_result error write: "$(tail -n 1 /tmp/dd.err)"
    break
  fi
  t1=$(amber_uptime_cs)
  amber_result "write_cs_$r" $((t1 - t0))
  echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
  t0=$(amber_uptime_cs)
  if ! dd if=/dev/vda of=/dev/null bs=1M count="$mib" iflag=direct 2>/tmp/dd.err; then
    amber_result error read: "$(tail -n 1 /tmp/dd.err)"
    break
  fi
  t1=$(amber_uptime_cs)
  amber_result "read_cs_$r" $((t1 - t0))
  r=$((r + 1))
done
amber_done
