#!/bin/sh
# ticks: a guest that keeps running, for snapshot/restore tests.
#   amber.token=XYZ   stored in /tmp/token (tmpfs, i.e. guest RAM) and, when /dev/vda
#                     holds a mountable ext4, in /mnt/token on that disk
# Prints AMBER-RESULT token=<token> (when given) and AMBER-READY, then forever
#   AMBER-TICK <n>    n = 1, 2, 3, ... every 200 ms (guest time)
# A restored guest continues the sequence where the snapshot left it.
# shellcheck source=lib.sh
. /lib.sh
amber_mount_basics
mounted=0
if [ -b /dev/vda ] && mount -t ext4 /dev/vda /mnt 2>/dev/null; then
  mounted=1
  amber_result disk mounted
fi
if token=$(amber_param amber.token); then
  echo "$token" >/tmp/token
  if [ "$mounted" = 1 ]; then echo "$token" >/mnt/token; sync; fi
  amber_result token "$token"
fi
amber_marker AMBER-READY
n=0
while :; do
  n=$((n + 1))
  echo "AMBER-TICK $n"
  usleep 200000
done
