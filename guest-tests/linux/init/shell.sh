#!/bin/sh
# shell: interactive busybox shell on the serial console (prompt "amber# ").
# Prints AMBER-READY when the shell is about to start; when the shell exits
# (exit / Ctrl-D), prints AMBER-DONE and reboots.
# shellcheck source=lib.sh
. /lib.sh
amber_mount_basics
amber_marker AMBER-READY
amber_shell
amber_done
