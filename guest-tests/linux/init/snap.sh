#!/bin/sh
# snap: a guest to snapshot at an interactive prompt. Same token handling as ticks
# (amber.token= -> /tmp/token, and /mnt/token when /dev/vda is mountable), then
#   AMBER-READY, AMBER-SNAP-HERE
# and an interactive shell (prompt "amber# ") on the console. The test snapshots after
# AMBER-SNAP-HERE, resumes, and types commands such as `cat /tmp/token`. When the shell
# exits: AMBER-DONE and reboot -f.
# shellcheck source=lib.sh
. /lib.sh
amber_mount_basics
amber_mount_disk
amber_keep_token
amber_marker AMBER-READY
amber_marker AMBER-SNAP-HERE
amber_shell
[ "$mounted" = 1 ] && umount /mnt
amber_done
