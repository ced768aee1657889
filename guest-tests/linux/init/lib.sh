# lib.sh - helpers shared by the amber test-guest /init scripts (busybox ash, POSIX sh).
# initramfs.sh copies this file to /lib.sh in every image; scenarios `. /lib.sh`.
#
# Console protocol (see guest-tests/linux/README.md): every marker is one whole line
#   AMBER-READY                 userspace is up (the scenario decides when)
#   AMBER-RESULT key=value      one result; the value runs to the end of the line
#   AMBER-DONE                  the scenario finished; a reboot follows
# and the guest then leaves with `reboot -f` (with reboot=k on the command line the kernel
# resets through the i8042, port 0x64 <- 0xFE, which the VMM sees as the end of the run).

PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PATH

amber_marker() { # NAME [text...]: print a marker line on the console
  echo "$*"
}

amber_result() { # KEY VALUE...: AMBER-RESULT KEY=VALUE
  _k=$1
  shift
  echo "AMBER-RESULT $_k=$*"
}

# Mount the pseudo filesystems. With an initramfs the kernel does not mount devtmpfs
# itself (CONFIG_DEVTMPFS_MOUNT only applies to a disk root), so we do.
amber_mount_basics() {
  mount -t proc proc /proc
  mount -t sysfs sysfs /sys
  mount -t devtmpfs devtmpfs /dev
  mount -t tmpfs -o mode=1777 tmpfs /tmp
}

# amber_param NAME: print the value of NAME=value from /proc/cmdline (last one wins);
# for a bare flag NAME prints nothing. Returns 1 when NAME is absent.
# (The kernel does not pass dotted parameters such as amber.token= to init's
# environment, so /proc/cmdline is the place to read them.)
amber_param() {
  _found=1
  _val=
  set -f # split /proc/cmdline into words without globbing them
  # shellcheck disable=SC2013
  for _w in $(cat /proc/cmdline); do
    case "$_w" in
      "$1") _found=0; _val= ;;
      "$1"=*) _found=0; _val=${_w#*=} ;;
    esac
  done
  set +f
  [ "$_found" = 0 ] || return 1
  printf '%s' "$_val"
}

# amber_wait_dev PATH [tenths]: wait for a device node to appear (virtio probing is
# done before /init runs, so this normally returns at once). Default 2 s.
amber_wait_dev() {
  _n=${2:-20}
  while [ ! -e "$1" ] && [ "$_n" -gt 0 ]; do
    usleep 100000
    _n=$((_n - 1))
  done
  [ -e "$1" ]
}

# amber_uptime_cs: guest uptime in centiseconds (from /proc/uptime).
amber_uptime_cs() {
  _u=$(cut -d' ' -f1 /proc/uptime)
  echo "${_u%.*}${_u#*.}" | sed 's/^0*//; s/^$/0/'
}

# amber_reboot: leave the VM. sync first (disk scenarios), then reboot -f, which with
# reboot=k resets through the keyboard controller. Should reboot return (the VMM ignored
# the reset), the loop keeps /init from exiting, which would panic the kernel.
amber_reboot() {
  sync
  reboot -f
  while :; do sleep 1; done
}

amber_done() { # print AMBER-DONE and reboot
  echo "AMBER-DONE"
  amber_reboot
}

# amber_shell: interactive shell on the console with job control. cttyhack opens the real
# console device (/dev/ttyS0, found via /sys/class/tty/console/active) as the controlling
# terminal of a new session; /dev/console cannot be one. Returns when the shell exits.
amber_shell() {
  PS1='amber# '
  HOME=/root
  export PS1 HOME
  setsid cttyhack sh
}

# Mounts /dev/vda (ext4) at /mnt when there is one; sets mounted=1|0 and
# reports AMBER-RESULT disk=mounted.
amber_mount_disk() {
  mounted=0
  if [ -b /dev/vda ] && mount -t ext4 /dev/vda /mnt 2>/dev/null; then
    mounted=1
    amber_result disk mounted
  fi
}

# Keeps amber.token= (when given) in /tmp/token (tmpfs: guest RAM) and, after
# amber_mount_disk found a disk, in /mnt/token; reports AMBER-RESULT token=.
amber_keep_token() {
  if token=$(amber_param amber.token); then
    echo "$token" >/tmp/token
    if [ "$mounted" = 1 ]; then echo "$token" >/mnt/token; sync; fi
    amber_result token "$token"
  fi
}
