#!/bin/sh
# snap: a guest to snapshot at an interactive prompt. Same token handling as ticks
# (amber.token= -> /tmp/token, and /mnt/token when /dev/vda is mountable), then
#   AMBER-READY, AMBER-SNAP-HERE
# and an interactive shell (prompt "amber# ") on the console. The test snapshots after
# AMBER-SNAP-HERE, resumes, and types commands such as `cat /tmp/token`. When the shell
# exits: AMBER-DONE and reboot -f. amber.dirty=MIB first fills that much of /tmp (tmpfs)
# with non-zero data, so that a save has that much more RAM to write
# (tools/bench/bgsave.sh's dirty-RAM sweep).
# shellcheck source=lib.sh
. /lib.sh
amber_mount_basics
amber_mount_disk
amber_keep_token
if dirty=$(amber_param amber.dirty) && [ -n "$dirty" ]; then
  yes amber-dirty-page | head -c $((dirty * 1048576)) >/tmp/dirty
fi
amber_marker AMBER-READY
amber_marker AMBER-SNAP-HERE
amber_shell
[ "$mounted" = 1 ] && umount /mnt
amber_done
