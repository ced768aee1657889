#!/bin/sh
# ready: smallest functional check. Mounts the basics, reports what the guest sees,
# and reboots.
#   AMBER-RESULT cpus=<online CPUs>      (nproc)
#   AMBER-RESULT cmdline=<kernel command line>
#   AMBER-RESULT uptime_cs=<guest uptime at that point, centiseconds>
#   AMBER-READY, AMBER-DONE, then reboot -f
# shellcheck source=lib.sh
. /lib.sh
amber_mount_basics
amber_result cpus "$(nproc)"
amber_result cmdline "$(cat /proc/cmdline)"
amber_result uptime_cs "$(amber_uptime_cs)"
amber_marker AMBER-READY
amber_done
