#!/bin/sh
# bench: boot-time benchmark. AMBER-READY is the very first thing /init does (no mounts,
# no lib.sh), so the host measures VMM start -> first userspace output; then reboot -f
# so the host also sees the end of the run.
echo AMBER-READY
exec /sbin/reboot -f
