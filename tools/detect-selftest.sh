#!/usr/bin/env bash
# tools/detect-selftest.sh AMBER - checks how amber and tools/kvm-sandbox.sh
# judge this machine's KVM, here and with /dev/kvm hidden, so that a change of
# machines cannot break the README commands silently (docs/testing.md).
#
#   here     `amber doctor --json` names the backend the kernel's modules show
#            (/sys/module/kvm_{intel,amd,pvm}); the sandbox places Linux and
#            bare-metal guests by its answer; `amber run --kernel` on a KVM that
#            cannot run Linux fails within 2 s with the reason and the advice,
#            and so does `amber resume` of a Linux guest's image; a multiboot
#            kernel (a bare-metal guest) is not refused there;
#            natively, a silent command is reported as a STALL and a long one
#            as a TIMEOUT (exit 124), never left hanging.
#   hidden   in a private mount namespace with /dev/null over /dev/kvm: the
#            doctor says "none", everything is placed in the QEMU-TCG sandbox,
#            `amber run` fails at once, and inside the sandbox the doctor finds
#            an AMD KVM that runs Linux (one L1 boot, ~20-60 s).
# Prints "N passed, N failed"; exits 1 if any check failed.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sandbox=$here/kvm-sandbox.sh
amber=${1:?usage: detect-selftest.sh AMBER_BINARY}
amber=$(realpath "$amber")
golden=$here/../src/snapshot/testdata/golden-1.0-raw.amber  # saved with a kernel command line
tmp=$(mktemp -d "${TMPDIR:-/tmp}/detect-selftest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# amber reads a kernel's header to tell a Linux kernel (refused where Linux
# cannot run) from a multiboot one, so the kernel must exist: the real one
# when it is built, else a file with a bzImage's "HdrS" magic at 0x202.
kernel=$(realpath "$here/../build/guest/bzImage" 2>/dev/null) || {
  kernel=$tmp/bzImage-header
  head -c 4096 /dev/zero >"$kernel"
  printf 'HdrS' | dd of="$kernel" bs=1 seek=514 conv=notrunc status=none
}
mbkernel=$(dirname "$amber")/../guest-tests/bare/mb32.elf  # a multiboot test kernel, if built
passed=0 failed=0

ok()   { passed=$((passed + 1)); echo "PASS $*"; }
bad()  { failed=$((failed + 1)); echo "FAIL $*"; }
field() { grep -o "\"$2\":\(\"[^\"]*\"\|true\|false\)" <<<"$1" | head -n1 | sed 's/^[^:]*://; s/"//g'; }

# What the kernel says, independently of amber.
# /dev/kvm is character device 10:232 (Documentation/admin-guide/devices.txt);
# anything else there (missing, or /dev/null bound over it) is no KVM.
if [ ! -c /dev/kvm ] || [ "$(stat -L -c '%t:%T' /dev/kvm)" != a:e8 ]; then want=none
elif [ -e /sys/module/kvm_pvm ] && [ ! -e /sys/module/kvm_intel ] && [ ! -e /sys/module/kvm_amd ]; then want=pvm
elif [ -e /sys/module/kvm_intel ] && [ ! -e /sys/module/kvm_amd ]; then want=intel
elif [ -e /sys/module/kvm_amd ] && [ ! -e /sys/module/kvm_intel ]; then want=amd
else want=unknown; fi
case $want in intel|amd) want_linux=true ;; *) want_linux=false ;; esac
echo "detect-selftest: the kernel's modules say: $want"

# check_machine LABEL WANT_BACKEND WANT_LINUX [COMMAND PREFIX...]
# Runs the doctor, the sandbox placement and `amber run --kernel` through the
# prefix (empty: here; `unshare ...`: with /dev/kvm hidden).
check_machine() {
  local label=$1 want_backend=$2 want_lx=$3; shift 3
  local j backend lx bare
  j=$("$@" "$amber" doctor --json 2>"$tmp/err")
  backend=$(field "$j" backend); lx=$(field "$j" linux_guests); bare=$(field "$j" bare_metal_guests)
  if [ "$backend" = "$want_backend" ] && [ "$lx" = "$want_lx" ]; then
    ok "$label: doctor says backend=$backend linux_guests=$lx bare_metal_guests=$bare"
  else
    bad "$label: doctor says backend='$backend' linux_guests='$lx', want $want_backend/$want_lx"
    echo "$j"; cat "$tmp/err"
  fi

  local line want_where
  line=$("$@" "$sandbox" --amber "$amber" --needs linux --placement 2>&1)
  if [ "$lx" = true ]; then want_where=natively; else want_where="in the QEMU-TCG sandbox"; fi
  if grep -q "placement: Linux guests run $want_where" <<<"$line"; then ok "$label: $line"
  else bad "$label: Linux placement is '$line', want $want_where"; fi
  line=$("$@" "$sandbox" --amber "$amber" --needs bare --placement 2>&1)
  if [ "$bare" = true ]; then want_where=natively; else want_where="in the QEMU-TCG sandbox"; fi
  if grep -q "placement: bare-metal guests run $want_where" <<<"$line"; then ok "$label: $line"
  else bad "$label: bare-metal placement is '$line', want $want_where"; fi

  if [ "$lx" = true ]; then
    echo "($label: Linux runs here; the refusal of amber run is not exercised)"
    return
  fi
  local t0 rc ms
  t0=${EPOCHREALTIME/./}
  "$@" timeout 10 "$amber" run --kernel "$kernel" </dev/null >"$tmp/out" 2>&1
  rc=$?
  ms=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
  if [ "$rc" = 1 ] && [ "$ms" -lt 2000 ] && grep -q "cannot run a Linux guest\|is not usable" "$tmp/out" &&
     grep -q "tools/kvm-sandbox.sh" "$tmp/out"; then
    ok "$label: amber run --kernel refused in ${ms} ms, exit 1: $(head -c 100 "$tmp/out")..."
  else
    bad "$label: amber run --kernel gave exit $rc after ${ms} ms, want exit 1 within 2000 ms with the reason"
    cat "$tmp/out"
  fi
  # amber exec boots Linux too: refused the same way, before anything else;
  # --force-kvm gets past the check (to the missing kernel, a different error).
  "$@" timeout 10 "$amber" exec --kernel "$kernel" -- true </dev/null >"$tmp/out" 2>&1
  rc=$?
  "$@" timeout 10 "$amber" exec --force-kvm --kernel "$tmp/no-such-kernel" -- true </dev/null >"$tmp/forced" 2>&1
  if [ "$rc" = 1 ] && grep -q "cannot run a Linux guest\|is not usable" "$tmp/out" &&
     ! grep -q "cannot run a Linux guest" "$tmp/forced" && grep -q "no-such-kernel" "$tmp/forced"; then
    ok "$label: amber exec refused, exit 1; --force-kvm passes the check"
  else
    bad "$label: amber exec gave exit $rc"; cat "$tmp/out" "$tmp/forced"
  fi
  # An image of a Linux guest (it has a kernel command line) is refused the
  # same way; --force-kvm gets past the check (this golden image then fails
  # on its test-only configuration, a different error).
  "$@" timeout 10 "$amber" resume "$golden" </dev/null >"$tmp/out" 2>&1
  rc=$?
  "$@" timeout 10 "$amber" resume "$golden" --force-kvm </dev/null >"$tmp/forced" 2>&1
  if [ "$rc" = 1 ] && grep -q "cannot run a Linux guest" "$tmp/out" && ! grep -q "cannot run a Linux guest" "$tmp/forced"; then
    ok "$label: amber resume of a Linux guest's image refused, exit 1; --force-kvm passes the check"
  else
    bad "$label: amber resume of a Linux image gave exit $rc"; cat "$tmp/out" "$tmp/forced"
  fi
  # A multiboot kernel is a bare-metal guest: no refusal where those run
  # (its checks pass: exit status (0x31 << 1) | 1 through --debug-exit).
  if [ "$bare" != true ] || [ ! -f "$mbkernel" ]; then
    echo "($label: no multiboot run: bare_metal_guests=$bare, kernel $mbkernel)"
    return
  fi
  printf 'amber-module: detect-selftest\n' >"$tmp/mod.txt"
  "$@" timeout 20 "$amber" run --kernel "$mbkernel" --initrd "$tmp/mod.txt" --cmdline a=b --debug-exit \
      </dev/null >"$tmp/out" 2>&1
  rc=$?
  if [ "$rc" = 99 ] && ! grep -q "cannot run a Linux guest" "$tmp/out"; then
    ok "$label: a multiboot kernel is not refused and ends with exit 99"
  else
    bad "$label: amber run of a multiboot kernel gave exit $rc, want 99"; cat "$tmp/out"
  fi
}

check_machine here "$want" "$want_linux"

# Natively, a command that hangs is reported, never left running.
if [ "$want" != none ]; then
  "$sandbox" --native --silence 2 -- sh -c 'echo started; sleep 30' </dev/null >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ "$rc" = 124 ] && grep -q '^started$' "$tmp/out" && grep -q 'STALL' "$tmp/err"; then ok "native: a silent command is a STALL (exit 124)"
  else bad "native: silent command gave exit $rc"; cat "$tmp/out" "$tmp/err"; fi
  "$sandbox" --native --timeout 2 -- sh -c 'while :; do echo tick; sleep 0.3; done' </dev/null >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ "$rc" = 124 ] && grep -q 'TIMEOUT' "$tmp/err"; then ok "native: a command past --timeout is a TIMEOUT (exit 124)"
  else bad "native: long command gave exit $rc"; cat "$tmp/err"; fi
fi

# Where the sandbox runs a command because there is no KVM here, the doctor
# inside must find a KVM that runs Linux (the sandbox's kvm_amd).
check_sandbox_doctor() {  # $@ = command prefix (hiding /dev/kvm, or nothing)
  local rc j
  "$@" "$sandbox" --amber "$amber" --needs bare --timeout 300 --carry "$amber" -- \
      "$amber" doctor --json </dev/null >"$tmp/out" 2>"$tmp/err"
  rc=$?
  j=$(grep -a '"backend"' "$tmp/out" | tail -n1)
  if [ "$rc" = 0 ] && [ "$(field "$j" backend)" = amd ] && [ "$(field "$j" linux_guests)" = true ] &&
     grep -q 'QEMU-TCG sandbox: no usable /dev/kvm' "$tmp/err"; then
    ok "sandbox: the sandbox ran the command; its doctor says backend=amd linux_guests=true"
  else
    bad "sandbox: sandbox run gave exit $rc, doctor '$j'"; tail -n 20 "$tmp/err"
  fi
}

# The same machine with /dev/kvm hidden.
hide=(unshare --mount --propagation private sh -c 'mount --bind /dev/null /dev/kvm && exec "$@"' hide)
if [ "$want" = none ]; then
  echo "(no usable /dev/kvm here: 'here' above was already the hidden case)"
  check_sandbox_doctor
elif ! "${hide[@]}" true 2>"$tmp/err"; then
  bad "hidden: cannot hide /dev/kvm in a mount namespace ($(cat "$tmp/err")); run as root"
else
  check_machine hidden none false "${hide[@]}"
  check_sandbox_doctor "${hide[@]}"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
