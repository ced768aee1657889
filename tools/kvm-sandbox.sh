#!/usr/bin/env bash
# tools/kvm-sandbox.sh - run a command where a real /dev/kvm works.
#
# Natively when this machine has a usable /dev/kvm; otherwise inside a
# QEMU-TCG "L1" VM with an emulated AMD CPU (svm + npt) in which Debian's
# cloud kernel loads kvm_amd, so /dev/kvm works for real inside it.
# See docs/sandbox.md for the design, costs and the freeze watchdog; the facts
# cited as [env] below come from shared/docs/kvm-environments.md.
#
# Its parts: tools/sandbox/init.sh (PID 1 in L1), tools/sandbox/output-filter.awk
# (the host side of the output port).
#
# Layout of an L1 run (all per invocation, in a temp dir that is removed):
#   initramfs   busybox-static (at /.sandbox/busybox), the three KVM modules,
#               a generated /init, and the --carry'd paths (+ their shared
#               libraries) at their host absolute paths.
#   ttyS0       L1 kernel console (quiet) and SeaBIOS's serial console
#                                             -> file, shown only on failure
#   ttyS1       inner command stdout+stderr   -> file -> tail|awk -> our stdout
#   ttyS2       heartbeat line every 2 s      -> file whose growth we watch
# Keeping the three on separate UARTs means kernel messages and heartbeats can
# never interleave with the command's output.
#
# Exit status: the inner command's; 124 on --timeout; 125 for sandbox
# infrastructure failures (L1 froze on every try, never came up, kvm_amd did
# not load, QEMU failed); 2 for usage errors.

set -euo pipefail

usage() {
    cat <<'EOF'
Usage: tools/kvm-sandbox.sh [options] -- COMMAND [ARGS...]

Run COMMAND where a real /dev/kvm works: natively when /dev/kvm is usable,
otherwise inside a QEMU-TCG L1 VM (-accel tcg -cpu max: AMD svm+npt) running
Debian's cloud kernel with kvm_amd loaded.

  --carry PATH      copy PATH (file or directory, recursively) into L1 at the
                    SAME absolute path; repeatable. For each carried ELF
                    executable/shared object, its shared-library dependencies
                    (ldd) and the dynamic loader are copied too, at the same
                    paths.
  --env NAME=VALUE  set in the inner command's environment; repeatable
  --timeout SECS    wall-clock limit for the whole inner command (default 600);
                    on expiry kill L1 and exit 124
  --retries N       how many times to re-run the scenario in a fresh L1 after
                    an L1 freeze (default 2)
  --mem MB          L1 memory (default 2048)   --smp N (default 2)
  --needs linux|bare  what the command runs (default linux): decides where
                    it runs. Auto-detection asks `amber doctor --json`: natively
                    when this machine's KVM runs that kind of guest (bare-metal
                    guests run on any working KVM, PVM included; Linux guests
                    need VT-x/AMD-V), otherwise in the QEMU-TCG sandbox.
  --amber PATH      the amber binary whose doctor decides (default $AMBER_BIN,
                    else <repo>/build/tools/amber)
  --placement       print where the command would run and why, then exit 0
  --silence SECS    a command that prints nothing for SECS is stalled: kill
                    it and exit 124 (default 300; 0 = off)
  --native | --force-sandbox   override auto-detection
                    (also env AMBER_SANDBOX=native|qemu)
  --module NAME     also insmod NAME.ko (and its depends) from the L1 kernel,
                    e.g. tun, vhost_net; repeatable (sandbox only)
  -h, --help        this text

Inside L1 the command runs as root with cwd = the host cwd (carried or
created), stdin /dev/null, /proc, /sys, /dev (devtmpfs), /dev/pts, /dev/shm
and /tmp (tmpfs, half of L1 RAM) mounted, a clean environment (PATH with the
busybox applets, HOME=/root, TERM=dumb, AMBER_SANDBOX_L1=1, plus --env), and its
stdout+stderr streamed live to our stdout. Files carried under /tmp are kept.

Natively, the command runs in its own session with the same watchdog as in
L1: its output streams live, and --timeout or --silence ends it (the whole
process group) with a TIMEOUT or STALL line and exit 124. On a terminal it
runs in the foreground instead (Ctrl-C reaches it) with --timeout only.

Exit status: the inner command's; 124 timeout or stall; 125 sandbox failure
(L1 froze on every try, never came up, kvm_amd failed to load, QEMU failed);
2 usage.

Environment:
  AMBER_SANDBOX=native|qemu|auto     mode (default auto)
  AMBER_CACHE=DIR                    cache for the L1 kernel
                                     (default $HOME/.cache/amber)
  AMBER_SANDBOX_HEARTBEAT_TIMEOUT=S  freeze = no heartbeat for S s (default 20)
  AMBER_SANDBOX_BOOT_TIMEOUT=S       never-came-up limit (default 60)
  AMBER_SANDBOX_SILENCE_TIMEOUT=S    default for --silence (300)
  AMBER_SANDBOX_KVM_AMD_PARAMS=...   insmod parameters for kvm-amd (e.g. npt=0)
  AMBER_SANDBOX_CPU=MODEL            QEMU -cpu for L1 (default max)
  AMBER_SANDBOX_KEEP=1               keep the temp dir (initrd, logs)
  AMBER_SANDBOX_TEST_FREEZE=K        test hook: L1 simulates a freeze (stops
                                     heartbeating, never finishes) on tries
                                     1..K, to exercise the watchdog
EOF
}

log()   { printf '[kvm-sandbox] %s\n' "$*" >&2; }
die()   { log "ERROR: $*"; exit 125; }
usage_error() { log "usage error: $*"; echo "Try: $0 --help" >&2; exit 2; }
now_ms() { now=${EPOCHREALTIME//[!0-9]/}; now=$(( now / 1000 )); }  # sets $now, no fork
# POSIX-sh single-quoting, for the command/env script L1's busybox sh reads.
shquote() { local s=${1//\'/\'\\\'\'}; printf "'%s'" "$s"; }

# ---------------------------------------------------------------- options ---
carry=() envs=() modules_extra=()
timeout=600 retries=2 mem=2048 smp=2
mode=${AMBER_SANDBOX:-auto}
needs=linux placement_only=0
silence=${AMBER_SANDBOX_SILENCE_TIMEOUT:-300}
amber_bin=${AMBER_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/tools/amber}

need_arg() { [ $# -ge 2 ] || usage_error "$1 needs an argument"; }
while [ $# -gt 0 ]; do
    case $1 in
        --carry)   need_arg "$@"; carry+=("$2"); shift 2 ;;
        --carry=*) carry+=("${1#*=}"); shift ;;
        --env)     need_arg "$@"; envs+=("$2"); shift 2 ;;
        --env=*)   envs+=("${1#*=}"); shift ;;
        --timeout) need_arg "$@"; timeout=$2; shift 2 ;;
        --timeout=*) timeout=${1#*=}; shift ;;
        --retries) need_arg "$@"; retries=$2; shift 2 ;;
        --retries=*) retries=${1#*=}; shift ;;
        --mem)     need_arg "$@"; mem=$2; shift 2 ;;
        --mem=*)   mem=${1#*=}; shift ;;
        --smp)     need_arg "$@"; smp=$2; shift 2 ;;
        --smp=*)   smp=${1#*=}; shift ;;
        --module)  need_arg "$@"; modules_extra+=("$2"); shift 2 ;;
        --module=*) modules_extra+=("${1#*=}"); shift ;;
        --needs)   need_arg "$@"; needs=$2; shift 2 ;;
        --needs=*) needs=${1#*=}; shift ;;
        --amber)   need_arg "$@"; amber_bin=$2; shift 2 ;;
        --amber=*) amber_bin=${1#*=}; shift ;;
        --placement) placement_only=1; shift ;;
        --silence) need_arg "$@"; silence=$2; shift 2 ;;
        --silence=*) silence=${1#*=}; shift ;;
        --native)  mode=native; shift ;;
        --force-sandbox) mode=qemu; shift ;;
        -h|--help) usage; exit 0 ;;
        --)        shift; break ;;
        -*)        usage_error "unknown option $1" ;;
        *)         break ;;
    esac
done
[ $# -gt 0 ] || [ "$placement_only" = 1 ] || usage_error "no COMMAND given"
case $needs in linux|bare) ;; *) usage_error "--needs takes linux or bare, not '$needs'" ;; esac

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
is_uint "$timeout" && [ "$timeout" -gt 0 ] || usage_error "--timeout must be a positive integer"
is_uint "$retries" || usage_error "--retries must be a non-negative integer"
is_uint "$mem" && [ "$mem" -ge 256 ] || usage_error "--mem must be an integer >= 256 (MB)"
is_uint "$smp" && [ "$smp" -ge 1 ] || usage_error "--smp must be a positive integer"
is_uint "$silence" || usage_error "--silence must be a non-negative integer (seconds)"
for e in ${envs[@]+"${envs[@]}"}; do
    [[ $e =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || usage_error "--env wants NAME=VALUE, got '$e'"
done
hb_limit=${AMBER_SANDBOX_HEARTBEAT_TIMEOUT:-20}
# [env]: -cpu max gives svm + npt + xsave; qemu64,+svm,+npt, EPYC, EPYC-Rome
# also work; Opteron_G5 hangs L1; plain qemu64 has no npt and no XSAVE.
cpu=${AMBER_SANDBOX_CPU:-max}
boot_limit=${AMBER_SANDBOX_BOOT_TIMEOUT:-60}
test_freeze=${AMBER_SANDBOX_TEST_FREEZE:-0}
is_uint "$hb_limit" && is_uint "$boot_limit" && is_uint "$test_freeze" ||
    usage_error "AMBER_SANDBOX_HEARTBEAT_TIMEOUT/BOOT_TIMEOUT/TEST_FREEZE must be integers"

# ------------------------------------------------------------------ mode ---
# Where the command runs is decided by what this machine's KVM can run, as
# `amber doctor` reports it (the vendor module, capabilities and a probe
# guest), never by whether /dev/kvm opens: a PVM /dev/kvm opens fine, runs
# bare-metal guests, and spins silently on a Linux kernel ([env] section 2).
kvm_usable() { [ -c /dev/kvm ] && { : <>/dev/kvm; } 2>/dev/null; }
json_field() {  # $1 = JSON text, $2 = key: the first "key":value's value
    local v
    v=$(printf '%s' "$1" | grep -o "\"$2\":\(\"[^\"]*\"\|true\|false\)" | head -n1) || true
    v=${v#*:}; v=${v#\"}; printf '%s' "${v%\"}"
}
why=''
if [ "$needs" = linux ]; then kind=Linux; else kind=bare-metal; fi
case $mode in
    auto)
        if [ ! -x "$amber_bin" ]; then
            mode=qemu
            why="no amber binary at $amber_bin to ask (amber doctor); the sandbox is the safe choice"
        else
            doctor=$("$amber_bin" doctor --json 2>/dev/null) || doctor=''
            backend=$(json_field "$doctor" backend)
            if [ -z "$backend" ]; then
                mode=qemu; why="amber doctor gave no answer"
            elif [ "$needs" = linux ] && [ "$(json_field "$doctor" linux_guests)" = true ]; then
                mode=native; why="native KVM is $backend, which runs Linux guests"
            elif [ "$needs" = bare ] && [ "$(json_field "$doctor" bare_metal_guests)" = true ]; then
                mode=native; why="native KVM is $backend, which runs bare-metal guests"
            else
                mode=qemu
                if [ "$backend" = none ]; then why="no usable /dev/kvm here"
                else why="native KVM is $backend, which cannot run $kind guests"; fi
            fi
        fi ;;
    native) why="forced (--native or AMBER_SANDBOX=native)" ;;
    qemu)   why="forced (--force-sandbox or AMBER_SANDBOX=qemu)" ;;
    *) usage_error "AMBER_SANDBOX must be native, qemu or auto (got '$mode')" ;;
esac
if [ "$mode" = native ]; then where="natively"; else where="in the QEMU-TCG sandbox"; fi
log "placement: $kind guests run $where: $why"
[ "$placement_only" = 1 ] && exit 0

if [ "$mode" = native ]; then
    kvm_usable || log "WARNING: /dev/kvm is not usable here"
    if [ -t 0 ]; then
        # Interactive: the command owns the terminal (Ctrl-C reaches it);
        # only --timeout watches it.
        exec timeout --foreground --kill-after=10 "$timeout" env ${envs[@]+"${envs[@]}"} "$@"
    fi
    # The same watchdog as in L1: output streams live from a file whose
    # growth is watched; --timeout and --silence end the whole session.
    nwork=$(mktemp -d "${TMPDIR:-/tmp}/kvm-native.XXXXXX")
    out=$nwork/out
    : >"$out"
    exec {infd}<&0
    setsid env ${envs[@]+"${envs[@]}"} "$@" <&"$infd" >"$out" 2>&1 &
    cpid=$!
    tail -c +1 -f --pid="$cpid" -s 0.1 "$out" 2>/dev/null &
    tpid=$!
    kill_session() {
        kill -TERM -- "-$cpid" 2>/dev/null || true
        local i
        for i in $(seq 1 50); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL -- "-$cpid" 2>/dev/null || true
    }
    trap 'kill_session; rm -rf "$nwork"' EXIT
    trap 'log "interrupted: killing the command"; exit 130' INT
    trap 'log "terminated: killing the command"; exit 143' TERM
    now_ms; t0=$now; t_out=$now; size=0 verdict=''
    while kill -0 "$cpid" 2>/dev/null; do
        now_ms
        new=$(stat -c %s "$out" 2>/dev/null || echo "$size")
        if [ "$new" != "$size" ]; then size=$new; t_out=$now; fi
        if [ $(( now - t0 )) -gt $(( timeout * 1000 )) ]; then verdict=timeout; break; fi
        if [ "$silence" -gt 0 ] && [ $(( now - t_out )) -gt $(( silence * 1000 )) ]; then verdict=stall; break; fi
        sleep 0.5
    done
    if [ -n "$verdict" ]; then
        kill_session
        wait "$tpid" 2>/dev/null || true
        if [ "$verdict" = timeout ]; then
            log "TIMEOUT: the command still ran after ${timeout}s; killed it (exit 124)"
        else
            log "STALL: the command printed nothing for ${silence}s; killed it (exit 124)"
        fi
        exit 124
    fi
    rc=0; wait "$cpid" || rc=$?
    wait "$tpid" 2>/dev/null || true
    exit "$rc"
fi

# ================================================================ sandbox ===
cache=${AMBER_CACHE:-${HOME:-/tmp}/.cache/amber}
case $cache in /*) ;; *) cache=$PWD/$cache ;; esac

# --------------------------------------------------------------- packages ---
# [env]: qemu-system-x86, busybox-static, cpio. tools/setup.sh installs them
# (both README commands run it first, and it says what it installs); this
# script only checks, and never installs anything by itself.
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"
    else return 1; fi
}
missing=''
for p in qemu-system-x86 busybox-static cpio; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+="$p "
done
[ -z "$missing" ] || die "the sandbox needs packages that are not installed: ${missing% }; run tools/setup.sh"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found"
busybox=/bin/busybox
[ -x "$busybox" ] || die "$busybox (busybox-static) not found"

# ------------------------------------------------------------ L1 kernel -----
# [env]: the L1 kernel comes from Debian's linux-image-cloud-amd64: resolve the
# real package with apt-cache depends, apt-get download it and dpkg -x it (no
# install, ~27 MB). Cached as $cache/l1-kernel/<package>/ with a .complete mark.
kroot=$cache/l1-kernel
resolve_kernel_pkg() {
    apt-cache depends linux-image-cloud-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
fetch_kernel() {  # $1 = package name; extracts into $kroot/$1
    local pkg=$1 tmp deb
    tmp=$(mktemp -d "$kroot/.fetch.XXXXXX")
    log "fetching L1 kernel $pkg into $kroot (one time, ~27 MB)"
    if ! (cd "$tmp" && apt-get download -q "$pkg" >download.log 2>&1); then
        # Stale package lists (the mirror dropped that version): update, retry.
        log "apt-get download $pkg failed; refreshing apt's package lists (apt-get update) and retrying"
        as_root apt-get update -qq >/dev/null 2>&1 || true
        pkg=$(resolve_kernel_pkg)
        [ -n "$pkg" ] && (cd "$tmp" && apt-get download -q "$pkg" >download.log 2>&1) || {
            cat "$tmp/download.log" >&2; rm -rf "$tmp"; return 1; }
    fi
    deb=$(ls "$tmp"/*.deb)
    mkdir "$tmp/x"
    dpkg -x "$deb" "$tmp/x"
    rm -f "$deb"
    rm -rf "$tmp/x/usr/share/doc"
    local vmlinuz mods
    vmlinuz=$(ls "$tmp"/x/boot/vmlinuz-* | head -n1)
    mods=$(ls -d "$tmp"/x/lib/modules/*/kernel "$tmp"/x/usr/lib/modules/*/kernel 2>/dev/null | head -n1)
    [ -f "$vmlinuz" ] && [ -f "$mods/arch/x86/kvm/kvm-amd.ko" ] ||
        { rm -rf "$tmp"; die "unexpected layout in $pkg (no vmlinuz or kvm-amd.ko)"; }
    ln -s "${vmlinuz#"$tmp"/}" "$tmp/vmlinuz"
    ln -s "${mods#"$tmp"/}" "$tmp/modules"
    touch "$tmp/.complete"
    rm -rf "${kroot:?}/$pkg"
    mv "$tmp" "$kroot/$pkg"
    kpkg=$pkg
}
mkdir -p "$kroot"
exec {lockfd}>"$kroot/.lock"
flock "$lockfd"   # concurrent invocations must not fetch into the same place
# apt-cache depends costs ~1 s, so its answer is cached in $kroot/.resolved
# and reused until apt's package lists change.
kpkg=''
if [ -s "$kroot/.resolved" ] &&
   [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -newer "$kroot/.resolved" -print -quit 2>/dev/null)" ]; then
    kpkg=$(cat "$kroot/.resolved")
fi
[ -n "$kpkg" ] || kpkg=$(resolve_kernel_pkg || true)
if [ -z "$kpkg" ] && as_root true 2>/dev/null && ! ls "$kroot"/*/.complete >/dev/null 2>&1; then
    log "no apt package lists yet: running apt-get update to find the L1 kernel"
    as_root apt-get update -qq >/dev/null 2>&1 || true
    kpkg=$(resolve_kernel_pkg || true)
fi
if [ -n "$kpkg" ] && [ ! -f "$kroot/$kpkg/.complete" ]; then
    fetch_kernel "$kpkg" || { log "WARNING: could not fetch $kpkg"; kpkg=; }
fi
if [ -n "$kpkg" ] && [ -f "$kroot/$kpkg/.complete" ]; then
    [ "$(cat "$kroot/.resolved" 2>/dev/null)" = "$kpkg" ] || echo "$kpkg" >"$kroot/.resolved"
else
    # Offline / no apt lists: fall back to the newest cached kernel.
    kpkg=$(ls -t "$kroot"/*/.complete 2>/dev/null | head -n1 | xargs -r dirname | xargs -r basename)
    [ -n "$kpkg" ] || die "no L1 kernel: apt-cache depends linux-image-cloud-amd64 failed and $kroot is empty"
    log "using cached L1 kernel $kpkg"
fi
flock -u "$lockfd"; exec {lockfd}>&-
kdir=$kroot/$kpkg
vmlinuz=$kdir/vmlinuz
kmods=$kdir/modules

# Modules to load, in order. [env]: irqbypass, kvm, kvm-amd (checked with
# their depends= fields: nothing else is needed; no SEV, so no ccp).
# --module NAME adds NAME and, first, its depends= (recursively).
mod_path() {  # NAME -> path of NAME.ko ('-' and '_' are interchangeable)
    local n=$1 alt=${1//-/_} alt2=${1//_/-}
    find -H "$kmods/" \( -name "$n.ko" -o -name "$alt.ko" -o -name "$alt2.ko" \) -print -quit
}
mod_list=()
declare -A mod_seen=()
add_module() {
    local n=$1 p deps d
    [ -n "${mod_seen[${n//-/_}]:-}" ] && return 0
    p=$(mod_path "$n"); [ -n "$p" ] || die "module $n not found in $kpkg"
    deps=$(tr '\0' '\n' <"$p" | sed -n 's/^depends=//p' | head -n1)
    for d in ${deps//,/ }; do add_module "$d"; done
    mod_seen[${n//-/_}]=1
    mod_list+=("$p")
}
mod_list=("$kmods/virt/lib/irqbypass.ko" "$kmods/arch/x86/kvm/kvm.ko" "$kmods/arch/x86/kvm/kvm-amd.ko")
mod_seen=([irqbypass]=1 [kvm]=1 [kvm_amd]=1)
for m in ${modules_extra[@]+"${modules_extra[@]}"}; do add_module "$m"; done

# ------------------------------------------------------------ work dir ------
sandbox_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/sandbox
work=$(mktemp -d "${TMPDIR:-/tmp}/kvm-sandbox.XXXXXX")
qpid='' fpid=''
kill_qemu() {
    [ -n "$qpid" ] || return 0
    kill -TERM "$qpid" 2>/dev/null || true
    local i
    for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qpid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$qpid" 2>/dev/null || true
    wait "$qpid" 2>/dev/null || true
    qpid=''
}
cleanup() {
    kill_qemu
    [ -n "$fpid" ] && kill "$fpid" 2>/dev/null || true
    if [ "${AMBER_SANDBOX_KEEP:-0}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'log "interrupted: killing L1"; exit 130' INT
trap 'log "terminated: killing L1"; exit 143' TERM
trap 'exit 129' HUP

# ------------------------------------------------------------ initramfs -----
root=$work/root
mkdir -p "$root"/{proc,sys,dev,tmp,root,.sandbox/modules}
# Mirror the host's merged-/usr symlinks (/lib -> usr/lib, ...) so that paths
# printed by ldd and carried paths land where they would on the host.
for d in bin sbin lib lib32 lib64 libx32; do
    if [ -L "/$d" ]; then
        t=$(readlink "/$d")
        mkdir -p "$root/${t#/}"
        ln -s "$t" "$root/$d"
    fi
done
cp "$busybox" "$root/.sandbox/busybox"
i=0
for p in "${mod_list[@]}"; do
    i=$((i + 1))
    cp "$p" "$root/.sandbox/modules/$(printf '%02d' $i)-$(basename "$p")"
done

# --carry: copy each path (dereferencing a top-level symlink) to the same
# absolute path, then add the ldd dependencies of every ELF in it.
# [env]: the cloud kernel has no 9p, and dynamically linked binaries need
# their libraries and ld-linux-x86-64.so.2 copied along.
declare -A libs=()
add_elf_deps() {  # $1 = file; adds its ldd dependencies to libs[]
    local a b c rest
    while read -r a b c rest; do
        if [ "$b" = "=>" ]; then
            case $c in
                /*) libs[$c]=1 ;;
                not) log "WARNING: $1 needs $a, which ldd cannot find" ;;
            esac
        elif [[ $a == /* ]]; then
            libs[$a]=1                      # the dynamic loader
        fi
    done < <(ldd "$1" 2>/dev/null || true)
}
scan_elves() {  # $1 = carried path (file or directory)
    local f m
    while IFS= read -r -d '' f; do
        m=''
        LC_ALL=C read -r -n 4 m <"$f" 2>/dev/null || true
        if [ "$m" = $'\x7fELF' ]; then add_elf_deps "$f"; fi
    done < <(find -H "$1" -type f \( -perm /111 -o -name '*.so' -o -name '*.so.*' \) \
                  ! -name '*.o' ! -name '*.a' ! -name '*.ko' -print0)
}
for p in ${carry[@]+"${carry[@]}"}; do
    abs=$(realpath -s -- "$p")
    [ -e "$abs" ] || die "--carry $p: no such file or directory"
    case $abs in
        /|/proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/.sandbox|/.sandbox/*)
            die "--carry $p: cannot carry $abs" ;;
    esac
    mkdir -p "$root$(dirname -- "$abs")"
    cp -a -H -T -- "$abs" "$root$abs" || die "--carry $p: copy failed"
    scan_elves "$abs"
done
for l in "${!libs[@]}"; do
    [ -e "$root$l" ] && continue
    mkdir -p "$root$(dirname -- "$l")"
    cp -L -- "$l" "$root$l"
done

# The inner command as a POSIX sh script: cd, environment, exec.
{
    echo "mkdir -p $(shquote "$PWD") && cd $(shquote "$PWD") || exit 125"
    for e in ${envs[@]+"${envs[@]}"}; do echo "export $(shquote "$e")"; done
    printf 'exec'; for a in "$@"; do printf ' %s' "$(shquote "$a")"; done; echo
} >"$root/.sandbox/cmd"

# Unique end marker: the inner command cannot print it by accident.
marker="@@KVM-SANDBOX-EXIT-$(printf '%08x%08x' "$SRANDOM" "$SRANDOM")="
{
    echo "MARKER=$(shquote "$marker")"
    echo "KVM_AMD_PARAMS=$(shquote "${AMBER_SANDBOX_KVM_AMD_PARAMS:-}")"
    echo "TEST_FREEZE=$test_freeze"
} >"$root/.sandbox/config"

# /init: PID 1 in L1 (busybox sh). Output goes to ttyS1, heartbeats to ttyS2;
# the kernel console (console=ttyS0, shared with SeaBIOS) is separate.
cp "$sandbox_dir/init.sh" "$root/init"
chmod 755 "$root/init" "$root/.sandbox/busybox"

mkfifo "$work/pause"
exec {pausefd}<>"$work/pause"   # see run_try

initrd=$work/initrd.cpio
# Uncompressed newc: the kernel unpacks it fastest, and it is built per run.
(cd "$root" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) >"$initrd"
initrd_mb=$(( ($(stat -c %s "$initrd") + 524288) / 1048576 ))

# ------------------------------------------------------------ one L1 run ----
awk_opts=(); [[ $(awk -W version 2>&1) == mawk* ]] && awk_opts=(-W interactive)


# run_try K: boots L1 once. Sets $result to one of
#   done (inner_rc set) | timeout | stall | freeze | noboot | reset | died
run_try() {
    local k=$1 out=$work/out.$1 hbf=$work/hb.$1 klog=$work/klog.$1 rcf=$work/rc.$1
    : >"$out"; : >"$hbf"; : >"$klog"; rm -f "$rcf"
    # [env]: -cpu max gives svm + npt + xsave; -smp 2 works (MTTCG);
    # poweroff -f with -no-reboot ends QEMU; panic=-1 makes a panic do so too.
    qemu-system-x86_64 -nographic -nodefaults -no-user-config -no-reboot \
        -monitor none -accel tcg -cpu "$cpu" -m "$mem" -smp "$smp" \
        -kernel "$vmlinuz" -initrd "$initrd" \
        -append "console=ttyS0 quiet loglevel=4 panic=-1 rdinit=/init amber.try=$k" \
        -chardev file,id=klog,path="$klog" -serial chardev:klog \
        -chardev file,id=out,path="$out" -serial chardev:out \
        -chardev file,id=hb,path="$hbf" -serial chardev:hb \
        </dev/null >"$work/qemu.log" 2>&1 &
    qpid=$!
    tail -c +1 -f --pid="$qpid" -s 0.1 "$out" 2>/dev/null |
        awk ${awk_opts[@]+"${awk_opts[@]}"} -v marker="$marker" -v rcfile="$rcf" -f "$sandbox_dir/output-filter.awk" &
    fpid=$!

    # The watchdog loop forks nothing: heartbeats are read from an fd kept
    # open on the heartbeat file, and the 0.2 s pause is a read timeout on a
    # FIFO nobody writes.
    local t0 t_up='' t_hb=0 t_out=0 now hbfd outfd line got
    exec {hbfd}<"$hbf" {outfd}<"$out"
    now_ms; t0=$now
    result='' infra_line=''
    while :; do
        now_ms
        got=''
        while IFS= read -r -u "$hbfd" line || [ -n "$line" ]; do got=1; line=''; done
        if [ -n "$got" ]; then
            t_hb=$now
            if [ -z "$t_up" ]; then
                t_up=$now
                log "L1 up in $(( (now - t0) / 1000 )).$(( (now - t0) % 1000 / 100 ))s (kvm_amd loaded, /dev/kvm present)"
            fi
        fi
        got=''
        while IFS= read -r -u "$outfd" line || [ -n "$line" ]; do
            got=1
            # A process outliving SIGKILL wedges L1 (docs/testing.md): end the try now.
            case $line in AMBER-SANDBOX-INFRA:*) infra_line=$line ;; esac
            line=''
        done
        [ -n "$got" ] && t_out=$now
        if [ -n "$infra_line" ]; then result=infra; break; fi
        if [ -s "$rcf" ]; then result="done"; break; fi
        if ! kill -0 "$qpid" 2>/dev/null; then result=died; break; fi
        if [ -z "$t_up" ]; then
            [ $(( now - t0 )) -gt $(( boot_limit * 1000 )) ] && { result=noboot; break; }
        else
            [ $(( now - t_hb )) -gt $(( hb_limit * 1000 )) ] && { result=freeze; break; }
            [ $(( now - t_up )) -gt $(( timeout * 1000 )) ] && { result=timeout; break; }
            [ "$t_out" -lt "$t_up" ] && t_out=$t_up
            [ "$silence" -gt 0 ] && [ $(( now - t_out )) -gt $(( silence * 1000 )) ] && { result=stall; break; }
        fi
        read -r -t 0.2 -u "$pausefd" line || true
    done
    exec {hbfd}<&- {outfd}<&-

    if [ "$result" = "done" ]; then
        # L1 powers itself off right after the marker; don't wait long for it.
        local i
        for i in $(seq 1 25); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.2; done
    elif [ "$result" = died ]; then
        # QEMU exited on its own; the filter may still be draining the file.
        qemu_rc=0; wait "$qpid" 2>/dev/null || qemu_rc=$?; qpid=''
        wait "$fpid" 2>/dev/null || true; fpid=''
        # The filter may be gone (our stdout closed, e.g. `| head`): look
        # for the marker in the raw output file ourselves.
        [ -s "$rcf" ] || grep -a -o -- "${marker}[0-9]*@@" "$out" 2>/dev/null |
            tail -n1 | sed 's/.*=\([0-9]*\)@@/\1/' >"$rcf" || true
        if [ -s "$rcf" ]; then
            result="done"
        elif [ "$qemu_rc" = 0 ] && ! grep -qaE 'Kernel panic|BUG:|Oops' "$klog"; then
            # -no-reboot: QEMU exits 0 when L1 resets. With no panic, BUG
            # or oops in L1's kernel log this is the silent L1 reset seen
            # under load (docs/sandbox.md): infrastructure, retried.
            result=reset
        fi
    fi
    kill_qemu
    [ -n "$fpid" ] && { wait "$fpid" 2>/dev/null || true; fpid=''; }
    [ "$result" = "done" ] && inner_rc=$(cat "$rcf")
    return 0
}

show_tail() {  # $1 = file, $2 = title
    [ -s "$1" ] || return 0
    log "---- last lines of $2 ----"
    tail -n 15 "$1" | tr -d '\r' | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g; s/^/  | /' >&2
}

log "L1: $kpkg, -cpu $cpu, ${mem} MB, ${smp} vCPUs, initrd ${initrd_mb} MB"
tries=$(( retries + 1 ))
for (( k = 1; k <= tries; k++ )); do
    run_try "$k"
    # L1 boots with loglevel=4: what its kernel prints is an error (an RCU
    # stall, a soft lockup, a KVM warning). Shown after every try, whatever
    # the result, so a failure can be matched with it; the power-off line
    # and KVM's note on an MSR it ignores (every boot) are left out.
    if [ "$result" != noboot ] && [ "$result" != died ] &&
        kerr=$(tr -d '\r' <"$work/klog.$k" | grep -a -o '\[ *[0-9]*\.[0-9]*\] .*' |
            grep -av 'reboot: Power down\|Unhandled [WR][RD]MSR') && [ -n "$kerr" ]; then
        log "L1's kernel printed errors during try $k:"
        tail -n 40 <<<"$kerr" | sed 's/^/  | /' >&2
    fi
    # A failed command that reported a process outliving SIGKILL (a vCPU
    # thread that never comes back from L1's kernel; guest-tests/ci/
    # ci-inner.sh, guest-tests/linux_tests/process.cpp) failed because of
    # L1, not of what it tested: infrastructure, retried like a freeze.
    if [ "$result" = "done" ] && [ "$inner_rc" != 0 ] && [ "$k" -lt "$tries" ] &&
        infra_line=$(grep -a -m1 '^AMBER-SANDBOX-INFRA: ' "$work/out.$k"); then
        log "INFRA: ${infra_line#AMBER-SANDBOX-INFRA: }, retry $k/$retries"
        continue
    fi
    case $result in
        "done")
            exit "$inner_rc" ;;
        timeout)
            log "TIMEOUT: inner command still running after ${timeout}s; killed L1 (exit 124)"
            exit 124 ;;
        stall)
            log "STALL: the inner command printed nothing for ${silence}s (L1 kept its heartbeat); killed L1 (exit 124)"
            exit 124 ;;
        freeze|noboot|reset|infra)
            case $result in
                infra)  what=${infra_line#AMBER-SANDBOX-INFRA: } ;;
                freeze) what="L1 froze (no heartbeat for ${hb_limit}s)" ;;
                reset)  what="L1 reset itself (QEMU exited 0 without the command's status; no panic in L1's log)" ;;
                noboot)
                    what="L1 never came up (no heartbeat within ${boot_limit}s)"
                    show_tail "$work/klog.$k" "L1 kernel log"
                    show_tail "$work/qemu.log" "QEMU output" ;;
            esac
            if [ "$k" -lt "$tries" ]; then
                log "INFRA: $what, retry $k/$retries"
            else
                log "INFRA: $what on try $k/$tries; giving up: no result (exit 125)"
                exit 125
            fi ;;
        died)
            log "ERROR: L1 ended without reporting the command's status (QEMU exited, status ${qemu_rc:-?})"
            show_tail "$work/qemu.log" "QEMU output"
            # The first lines of the oops name what died and where; the
            # tail alone is the end of its stack dump.
            if grep -qaE 'Kernel panic|BUG:|Oops' "$work/klog.$k"; then
                log "---- L1 kernel log from its first BUG/Oops/panic line (40 lines) ----"
                tr -d '\r' <"$work/klog.$k" | sed -n '/BUG:\|Oops\|Kernel panic/,$p' | head -n 40 | sed 's/^/  | /' >&2
            fi
            show_tail "$work/klog.$k" "L1 kernel log"
            exit 125 ;;
    esac
done
