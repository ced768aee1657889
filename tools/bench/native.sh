#!/usr/bin/env bash
# tools/bench/native.sh [RESUMES] [SAVES] - resume and save timings on this
# machine's own /dev/kvm (no sandbox), with bare-metal guests.
#
# Refuses (exit 2) unless `amber doctor --json` says bare_metal_guests is true:
# on a PVM /dev/kvm only bare-metal guests run (docs/performance.md, "Native
# KVM (PVM)"); elsewhere use the sandbox scripts (boot.sh, snapshot.sh, ...).
#
# 1. Resume. guest-tests/bare/savequit.S asks for its save at once (32-bit
#    "SAVE" to port 0x5a0) and then reboots through the i8042. Saved once with
#    `amber run --bare savequit.bin --mem 256M|4G --save IMG` (image on
#    tmpfs), each image is resumed RESUMES times (default 20), the two sizes
#    alternating: `amber resume IMG --timings` under benchrun. The resumed
#    guest reboots at its first instruction, so amber exits right away.
#    Reported per phase of "amber: timings: ..." (main() to the vCPUs
#    started; the total is "to first KVM_RUN") and "wall" = fork() to exit
#    of the amber process (benchrun's exit time): median, p90, min, max.
#    For scale, "exec only" is the wall time of `amber --help` (exec, dynamic
#    linking, exit; no VM), as many times.
# 2. Save pause. guest-tests/bare/dirty32.S writes a pattern over 32 MiB
#    (16..48 MiB), then asks for its save and reboots. `amber run --bare
#    dirty32.bin --mem 256M --save DIR/img` SAVES times (default 5) with DIR
#    on tmpfs (/dev/shm) and on disk (/var/tmp, the root file system),
#    alternating. The figure is "paused X ms" of amber's "amber: saved ..."
#    line: from pausing the vCPUs to the image written and synced. The fill
#    is slow where first touches of guest pages are (PVM: tens of seconds per
#    run), so SAVES sets most of the script's run time.
# Prints every measurement, then the tables with medians and the ratios
# 4 GiB / 256 MiB (resume) and disk / tmpfs (save), and the run time.
# Exits non-zero when any run fails.
#
# Environment: AMBER_BENCH_BUILD=DIR (meson build dir, default <repo>/build;
# amber and the bare guests are built there), AMBER_BENCH_AMBER=FILE (use that
# amber, not rebuilt; the guests are still built), AMBER_BENCH_KEEP=1 (keep
# the work directories), AMBER_BENCH_DISKDIR=DIR (where the "disk" saves go,
# default /var/tmp).
set -euo pipefail
# shellcheck source=tools/bench/common.sh
. "$(dirname "$0")/common.sh"

resumes=${1:-20}
saves=${2:-15}
[[ $resumes =~ ^[1-9][0-9]*$ && $saves =~ ^[1-9][0-9]*$ ]] || bench_die "usage: $0 [RESUMES=20] [SAVES=15]"
started=$SECONDS

# --- build -------------------------------------------------------------------
targets=(guest-tests/bare/savequit.bin guest-tests/bare/dirty32.bin)
[ -n "${AMBER_BENCH_AMBER:-}" ] || targets+=(tools/amber)
bench_log "building ${targets[*]} in $build"
ninja -C "$build" "${targets[@]}" >/dev/null || bench_die "ninja -C $build ${targets[*]} failed"
amber=${AMBER_BENCH_AMBER:-$build/tools/amber}
mkdir -p "$build/bench"
if [ ! -x "$build/bench/benchrun" ] || [ "$bench_here/benchrun.c" -nt "$build/bench/benchrun" ]; then
  "${CC:-cc}" -O2 -Wall -o "$build/bench/benchrun" "$bench_here/benchrun.c" || bench_die "cannot compile benchrun.c"
fi
benchrun=$build/bench/benchrun

# --- native KVM only ---------------------------------------------------------
doctor=$("$amber" doctor --json) || bench_die "amber doctor --json failed"
jbool() { echo "$doctor" | grep -o "\"$1\":\(true\|false\)" | head -n 1 | cut -d: -f2; }
backend=$(echo "$doctor" | sed -n 's/.*"backend":"\([a-z]*\)".*/\1/p')
if [ "$(jbool bare_metal_guests)" != true ]; then
  bench_log "REFUSED: this machine's /dev/kvm cannot run bare-metal guests natively (amber doctor: backend '${backend:-?}', bare_metal_guests $(jbool bare_metal_guests))."
  bench_log "native.sh measures the native KVM only; use the sandbox benchmarks (tools/bench/snapshot.sh, clones.sh) here."
  exit 2
fi
kernel=$(uname -r)
bench_log "KVM backend: $backend (kernel $kernel), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

# --- work directories ----------------------------------------------------------
shm=$(mktemp -d /dev/shm/amber-native.XXXXXX)
diskdir=$(mktemp -d "${AMBER_BENCH_DISKDIR:-/var/tmp}/amber-native.XXXXXX")
if [ "${AMBER_BENCH_KEEP:-0}" = 1 ]; then
  trap 'bench_log "kept $shm $diskdir"' EXIT
else
  trap 'rm -rf "$shm" "$diskdir"' EXIT
fi
fstype() { df --output=fstype "$1" | tail -n 1; }
bench_log "tmpfs dir $shm ($(fstype "$shm")), disk dir $diskdir ($(fstype "$diskdir") on $(df --output=source "$diskdir" | tail -n 1))"
[ "$(fstype "$shm")" = tmpfs ] || bench_die "$shm is not on tmpfs"
[ "$(fstype "$diskdir")" != tmpfs ] || bench_die "$diskdir is on tmpfs; set AMBER_BENCH_DISKDIR to a disk-backed directory"

# statistics of the numbers on stdin: "median p90 min max" (p90 nearest rank)
stats() {
  sort -g | awk 'NF { a[++n] = $1 } END { if (n == 0) { print "- - - -"; exit }
    m = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    k = int(0.9 * n); if (k < 0.9 * n) k++
    printf "%.2f %.2f %.2f %.2f\n", m, a[k], a[1], a[n] }'
}
results=$shm/results   # lines: KIND SIZE/TARGET METRIC VALUE
: >"$results"
fail=0
bad() { bench_log "FAILED: $*"; [ -f "${log:-}" ] && tr -d '\r' <"$log" | tail -c 1500 >&2; fail=1; }

# amber's "amber: saved PATH: ... paused X ms" line of a log
save_line() { tr -d '\r' <"$1" | grep '^amber: saved ' | tail -n 1; }
paused_ms() { sed -n 's/.* paused \([0-9.]*\) ms.*/\1/p'; }

# --- 1. resume -----------------------------------------------------------------
guest=$build/guest-tests/bare
sizes=(256 4096)
for mib in "${sizes[@]}"; do
  img=$shm/savequit-$mib.amber log=$shm/save-$mib.log
  t0=$SECONDS
  "$benchrun" -t 300 -o "$log" -- "$amber" run --bare "$guest/savequit.bin" --mem "${mib}M" --save "$img" >/dev/null ||
    { bad "saving the $mib MiB image"; continue; }
  line=$(save_line "$log")
  if [ ! -f "$img" ] || [ -z "$line" ]; then bad "no $mib MiB image"; continue; fi
  echo "SAVE savequit-$mib: ${line#amber: saved } (run $((SECONDS - t0)) s)"
done
[ "$fail" = 0 ] || exit 1

for ((i = 1; i <= resumes; i++)); do
  for mib in "${sizes[@]}"; do
    img=$shm/savequit-$mib.amber log=$shm/resume-$mib-$i.log
    out=$("$benchrun" -t 60 -o "$log" -- "$amber" resume "$img" --timings 2>&1) || { bad "resume $mib #$i: $out"; continue; }
    wall=$(echo "$out" | sed -n 's/^benchrun: exit \([0-9-]*\) \([0-9.]*\)$/\2/p')
    st=$(echo "$out" | sed -n 's/^benchrun: exit \([0-9-]*\) .*/\1/p')
    tl=$(tr -d '\r' <"$log" | sed -n 's/^amber: timings: //p' | head -n 1)
    if [ -z "$tl" ] || [ -z "$wall" ]; then bad "resume $mib #$i: no timings line or exit time"; continue; fi
    [ "$st" = 0 ] || { bad "resume $mib #$i: amber exited $st"; continue; }
    echo "RESUME $mib #$i: $tl; wall $wall ms"
    # "open image 0.21 ms, map RAM 0.05 ms, ...; total 7.1 ms" -> one line per phase
    echo "$tl" | sed 's/; /, /' | tr ',' '\n' | sed -n 's/^ *\(.*[^ ]\) \([0-9.]*\) ms$/\1|\2/p' |
      while IFS='|' read -r phase ms; do echo "RES $mib ${phase// /_} $ms"; done >>"$results"
    echo "RES $mib wall $wall" >>"$results"
  done
  out=$("$benchrun" -t 60 -- "$amber" --help 2>&1) || { bad "amber --help: $out"; continue; }
  echo "EXE exec_only wall $(echo "$out" | sed -n 's/^benchrun: exit [0-9-]* \([0-9.]*\)$/\1/p')" >>"$results"
done

# --- 2. save pause with 32 MiB of guest data -----------------------------------
targets=(tmpfs disk)
dir_of() { if [ "$1" = tmpfs ]; then echo "$shm"; else echo "$diskdir"; fi; }
for ((i = 1; i <= saves; i++)); do
  for tg in "${targets[@]}"; do
    img=$(dir_of "$tg")/dirty32.amber log=$shm/dirty-$tg-$i.log
    rm -f "$img"
    out=$("$benchrun" -t 300 -o "$log" -- "$amber" run --bare "$guest/dirty32.bin" --mem 256M --save "$img" 2>&1) ||
      { bad "dirty32 save to $tg #$i: $out"; continue; }
    wall=$(echo "$out" | sed -n 's/^benchrun: exit [0-9-]* \([0-9.]*\)$/\1/p')
    line=$(save_line "$log")
    p=$(echo "$line" | paused_ms)
    if [ ! -f "$img" ] || [ -z "$p" ]; then bad "dirty32 save to $tg #$i: no image or no 'paused' figure"; continue; fi
    echo "SAVE dirty32 $tg #$i: ${line#amber: saved } (run $(awk -v w="$wall" 'BEGIN { printf "%.1f", w / 1000 }') s)"
    echo "SAV $tg paused $p" >>"$results"
    echo "SAV $tg run_s $(awk -v w="$wall" 'BEGIN { printf "%.1f", w / 1000 }')" >>"$results"
  done
done

# --- tables --------------------------------------------------------------------
col() { awk -v k="$1" -v s="$2" -v m="$3" '$1 == k && $2 == s && $3 == m { print $4 }' "$results"; }
echo
echo "== native KVM ($backend, kernel $kernel, $(nproc) CPUs): resume of a bare-metal image, ms ($resumes each) =="
printf '%-16s %-28s %-28s %s\n' phase "256 MiB: median p90 min max" "4 GiB: median p90 min max" "4G/256M"
phases=$(awk '$1 == "RES" && $2 == 256 { print $3 }' "$results" | awk '!seen[$0]++')
for ph in $phases; do
  read -r a1 a2 a3 a4 < <(col RES 256 "$ph" | stats)
  read -r b1 b2 b3 b4 < <(col RES 4096 "$ph" | stats)
  printf '%-16s %-28s %-28s %s\n' "${ph//_/ }" "$a1 $a2 $a3 $a4" "$b1 $b2 $b3 $b4" "$(ratio "$b1" "$a1")"
done
read -r e1 e2 e3 e4 < <(col EXE exec_only wall | stats)
printf '%-16s %-28s\n' "exec only" "$e1 $e2 $e3 $e4"
echo
echo "== save pause with 32 MiB of guest data (256 MiB guest), ms ($saves each) =="
printf '%-8s %-28s %s\n' target "paused: median p90 min max" "run s (median)"
for tg in "${targets[@]}"; do
  read -r s1 s2 s3 s4 < <(col SAV "$tg" paused | stats)
  printf '%-8s %-28s %s\n' "$tg" "$s1 $s2 $s3 $s4" "$(col SAV "$tg" run_s | median)"
done
echo "disk/tmpfs (median paused): $(ratio "$(col SAV disk paused | median)" "$(col SAV tmpfs paused | median)")"
echo
echo "native.sh took $((SECONDS - started)) s"
[ "$fail" = 0 ] || { bench_log "some runs failed"; exit 1; }
