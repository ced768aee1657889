#!/.sandbox/busybox sh
# PID 1 of the sandbox's L1 VM (tools/kvm-sandbox.sh copies it to /init of
# the initramfs it builds; docs/sandbox.md "How it works"). It mounts the file
# systems, loads kvm_amd, starts the heartbeat on ttyS2, runs the command
# (/.sandbox/cmd) with its output on ttyS1, then prints the end marker with
# the command's status and powers L1 off. Settings come from /.sandbox/config.
B=/.sandbox/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
# debugfs: L1's KVM counts each VM's exits there (a stall report reads them).
$B mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
$B --install -s                  # applets into /bin, /usr/bin, ...; never over carried files
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb AMBER_SANDBOX_L1=1
. /.sandbox/config
exec 0</dev/null 3>/dev/ttyS1 4>/dev/ttyS2
stty -opost <&3                  # no \n -> \r\n on the output port
# /tmp: tmpfs of half of L1 RAM, keeping whatever was carried under /tmp.
if [ -n "$(ls -A /tmp)" ]; then mv /tmp /.sandbox/tmp-carried; mkdir /tmp; fi
mount -t tmpfs -o size=50%,mode=1777 tmpfs /tmp
if [ -d /.sandbox/tmp-carried ]; then cp -a /.sandbox/tmp-carried/. /tmp/; rm -rf /.sandbox/tmp-carried; fi
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
# Loopback only (L1 has no network): local servers such as amber's gdb stub
# on 127.0.0.1 are reachable inside the sandbox.
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up

finish() {  # $1 = status: end marker on the output port, drain, power off
    printf '%s%d@@\n' "$MARKER" "$1" >&3
    stty -opost <&3              # tcsetattr(TCSADRAIN): waits until sent
    poweroff -f
    sleep 1000
}
fatal() {
    echo "[kvm-sandbox] L1: $*" >&3
    dmesg | grep -iE 'kvm|svm' | tail -n 4 >&3
    finish 125
}

# [env]: busybox insmod loads irqbypass, kvm, kvm-amd in that order (~0.5 s).
for m in /.sandbox/modules/*.ko; do
    params=
    case $m in */??-kvm-amd.ko|*/??-kvm_amd.ko) params=$KVM_AMD_PARAMS ;; esac
    err=$(insmod "$m" $params 2>&1) || {
        case $m in
            *kvm-amd*|*kvm_amd*) fatal "kvm_amd failed to load ($err); no /dev/kvm (does the L1 CPU model have svm? see AMBER_SANDBOX_CPU)" ;;
            *) fatal "insmod ${m##*/} failed: $err" ;;
        esac
    }
done
[ -c /dev/kvm ] || fatal "/dev/kvm does not exist although kvm_amd loaded"

try=$(sed -n 's/.*amber\.try=\([0-9]*\).*/\1/p' /proc/cmdline)
if [ "${try:-1}" -le "$TEST_FREEZE" ]; then
    # Test hook (AMBER_SANDBOX_TEST_FREEZE): act like a frozen L1: one
    # heartbeat so the host sees L1 come up, then silence forever.
    echo "HB freeze-test" >&4
    while :; do sleep 1000; done
fi

# Heartbeat: the host's watchdog kills L1 when these stop for 20 s ([env]:
# when QEMU 7.2's TCG SVM emulation freezes L1, L1 time stops too, so only
# the host can notice).
( while :; do echo "HB $(cut -d' ' -f1 /proc/uptime)"; sleep 2; done ) >&4 2>/dev/null &
hb=$!

sh /.sandbox/cmd </dev/null >&3 2>&3
rc=$?
kill $hb 2>/dev/null
finish $rc
