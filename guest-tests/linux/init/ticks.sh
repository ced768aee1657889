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
amber_mount_disk
amber_keep_token
amber_marker AMBER-READY
n=0
while :; do
  n=$((n + 1))
  echo "AMBER-TICK $n"
  usleep 200000
done
