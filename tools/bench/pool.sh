#!/usr/bin/env bash
# tools/bench/pool.sh [RESUMES] - resume through a warm pool against a plain
# resume (issue 12 goal 2, docs/pool.md), in one run on the same KVM:
# natively where `amber doctor --json` says bare_metal_guests is true, else
# in the QEMU-TCG sandbox (one kvm-sandbox run).
#
# guest-tests/bare/savequit.S asks for its save at once and then reboots, so
# a resume of its image ends right after its first instruction. Saved at
# 256 MiB and 1 GiB (on tmpfs; the sandbox's L1 has 2 GB), each image is resumed RESUMES times (default
# 30) plainly (`amber resume IMG --timings`) and through a pool (`amber pool
# SOCK --size 4 --like IMG`, then `amber resume IMG --pool SOCK --timings`),
# alternating, under benchrun. After each pooled resume the script waits
# until the pool has 4 warm workers again, and as long before each plain
# one, so both start on a settled machine. Reported, median p90 p99 (nearest
# rank) and the ratio pool/plain of the medians:
#   to KVM_RUN   --timings' total: from the start of the amber command (the
#                client's, for a pooled one) to the vCPUs started
#   create VM    the phase that builds the VM (a warm VM: only the devices)
#   from request pooled only: the worker holding the request to KVM_RUN
#   hand-over    pooled only: client start to the worker holding the request
#   wall         benchrun: fork() of the amber client to its exit
# As root (the sandbox), the 256 MiB image is also resumed with --jail: a
# plain `amber resume /IMG --jail DIR` and one through `amber pool --jail
# DIR`, whose workers jailed themselves ahead (issue 17: the jail's start
# cost off the resume path).
# Exits non-zero when any run fails.
set -euo pipefail
# shellcheck source=tools/bench/common.sh disable=SC2154
. "$(dirname "$0")/common.sh"

resumes=${1:-30}
[[ $resumes =~ ^[1-9][0-9]*$ ]] || bench_die "usage: $0 [RESUMES=30]"
started=$SECONDS

targets=(guest-tests/bare/savequit.bin)
[ -n "${AMBER_BENCH_AMBER:-}" ] || targets+=(tools/amber)
ninja -C "$build" "${targets[@]}" >/dev/null || bench_die "ninja -C $build ${targets[*]} failed"
mkdir -p "$build/bench"
if [ ! -x "$build/bench/benchrun" ] || [ "$bench_here/benchrun.c" -nt "$build/bench/benchrun" ]; then
  "${CC:-cc}" -O2 -Wall -o "$build/bench/benchrun" "$bench_here/benchrun.c" || bench_die "cannot compile benchrun.c"
fi
work=$(mktemp -d /tmp/amber-bench.XXXXXX)
if [ "${AMBER_BENCH_KEEP:-0}" = 1 ]; then trap 'bench_log "kept $work"' EXIT; else trap 'rm -rf "$work" "$work.out"' EXIT; fi
cp "${AMBER_BENCH_AMBER:-$build/tools/amber}" "$build/bench/benchrun" "$build/guest-tests/bare/savequit.bin" "$work/"

cat >"$work/inner.sh" <<EOF
#!/bin/bash
w=$work
resumes=$resumes
EOF
cat >>"$work/inner.sh" <<'EOF'
cd "$w" || exit 1
shm=$(mktemp -d /dev/shm/amber-pool.XXXXXX) || exit 1
pools=()
trap 'for p in "${pools[@]}"; do kill "$p" 2>/dev/null; done; wait; rm -rf "$shm"' EXIT
fail=0
echo "HOST $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
# the number of children of pid $1 (one read: no process per /proc entry,
# which at TCG speed would load L1 right before each measured run)
kids() { local c; c=$(cat "/proc/$1/task/$1/children" 2>/dev/null) || { echo 0; return; }; set -- $c; echo $#; }
settle() {  # until pool $1 has 4 warm workers (at most 20 s)
  local i; for ((i = 0; i < 400; i++)); do [ "$(kids "$1")" -ge 4 ] && return 0; sleep 0.05; done; return 1; }
for mib in 256 1024; do
  ./amber run --bare savequit.bin --mem "${mib}M" --save "$shm/q$mib.amber" >/dev/null 2>&1 </dev/null ||
    { echo "FAILED: saving the $mib MiB image"; exit 1; }
done
# Images are usually older than a second; a fresh one is not vouched for
# by the pool's check (its ctime could still change unseen: checked_images.h).
sleep 1.2
start_pool() {  # name, then amber pool's options after the socket
  local name=$1; shift
  ./amber pool "$shm/$name.sock" --size 4 "$@" 2>"$shm/$name.log" &
  pools+=($!)
  eval "pid_$name=$!"
}
start_pool p256 --like "$shm/q256.amber"
start_pool p1024 --like "$shm/q1024.amber"
names=(p256 p1024)
modes256=(plain pool)
# As root, also with --jail (issue 17): a plain jailed resume against one
# handed to a pool whose workers jailed themselves ahead.
jd=$shm/jail
if [ "$(id -u)" = 0 ]; then
  # A hard link, as Firecracker's jailer setups place files: a copy made by
  # cp may allocate other blocks than amber wrote, which makes every resume
  # prove its holes zero by reading (snapshot/image_reader.cpp, map_ram).
  mkdir -p "$jd" && chown 65534:65534 "$jd" && chmod 755 "$jd" && ln "$shm/q256.amber" "$jd/q256.amber" || exit 1
  sleep 1.2
  start_pool pj256 --like "$jd/q256.amber" --jail "$jd"
  names+=(pj256)
  modes256+=(jail pooljail)
fi
for n in "${names[@]}"; do
  for ((i = 0; i < 1200; i++)); do grep -q ready "$shm/$n.log" && break; sleep 0.05; done
  grep -q ready "$shm/$n.log" || { echo "FAILED: pool $n not ready"; cat "$shm/$n.log"; exit 1; }
done
settle_all() { local n p; for n in "${names[@]}"; do eval "p=\$pid_$n"; settle "$p" || return 1; done; }
one() {  # mode mib i
  local mode=$1 mib=$2 i=$3 log out wall tl args
  settle_all || { echo "FAILED: a pool did not refill"; fail=1; return; }
  log=$shm/log-$mode-$mib-$i
  case $mode in
    plain) args=("$shm/q$mib.amber") ;;
    pool) args=("$shm/q$mib.amber" --pool "$shm/p$mib.sock") ;;
    jail) args=(/q$mib.amber --jail "$jd") ;;
    pooljail) args=(/q$mib.amber --pool "$shm/pj$mib.sock") ;;
  esac
  out=$(./benchrun -t 60 -o "$log" -- ./amber resume "${args[@]}" --timings 2>&1) ||
    { echo "FAILED: $mode $mib #$i: $out"; fail=1; return; }
  wall=$(echo "$out" | sed -n 's/^benchrun: exit 0 \([0-9.]*\)$/\1/p')
  tl=$(tr -d '\r' <"$log" | sed -n 's/^amber: timings: //p' | head -n 1)
  [ -n "$wall" ] && [ -n "$tl" ] || { echo "FAILED: $mode $mib #$i: no exit 0 or no timings: $out"; cat "$log"; fail=1; return; }
  grep -q "does not fit" "$log" && { echo "FAILED: $mode $mib #$i: the warm VM was not used"; fail=1; }
  echo "RUN $mode $mib #$i: $tl; wall $wall ms"
  echo "DATA $mode $mib wall $wall"
  echo "DATA $mode $mib to_KVM_RUN $(echo "$tl" | sed -n 's/.*; total \([0-9.]*\) ms.*/\1/p')"
  echo "DATA $mode $mib create_VM $(echo "$tl" | sed -n 's/.*create VM \([0-9.]*\) ms.*/\1/p')"
  case $mode in pool*)
    ho=$(echo "$tl" | sed -n 's/.*pool hand-over \([0-9.]*\) ms.*/\1/p')
    echo "DATA $mode $mib hand-over $ho"
    echo "DATA $mode $mib from_request $(awk -v t="$(echo "$tl" | sed -n 's/.*; total \([0-9.]*\) ms.*/\1/p')" -v h="$ho" 'BEGIN { printf "%.2f", t - h }')"
  esac
  return 0
}
for ((i = 1; i <= resumes; i++)); do
  # the modes in turn, each iteration starting one further along
  for mib in 256 1024; do
    if [ "$mib" = 256 ]; then ms=("${modes256[@]}"); else ms=(plain pool); fi
    for ((k = 0; k < ${#ms[@]}; k++)); do one "${ms[(i + k) % ${#ms[@]}]}" "$mib" "$i"; done
  done
done
exit $fail
EOF

if "${AMBER_BENCH_AMBER:-$build/tools/amber}" doctor --json --no-probe 2>/dev/null | grep -q '"bare_metal_guests":true'; then
  where="native KVM"
  bench_log "native KVM: $resumes plain and $resumes pooled resumes at 256 MiB and 1 GiB"
  rc=0
  bash "$work/inner.sh" | tee "$work.out" || rc=$?
else
  where="QEMU-TCG sandbox"
  limit=$((180 + resumes * 4 * 20))
  bench_log "no native KVM for bare-metal guests: in the sandbox, $resumes plain and $resumes pooled resumes at 256 MiB and 1 GiB (limit ${limit}s)"
  rc=0
  # L1 has a busybox sh; the inner script is bash (arrays, C-style loops).
  bench_sandbox --needs bare --timeout "$limit" --carry "$work" --carry /usr/bin/bash -- /usr/bin/bash "$work/inner.sh" || rc=$?
fi

# median p90 p99 (nearest rank) of the numbers on stdin
pstats() {
  sort -g | awk 'NF { a[++n] = $1 } END { if (n == 0) { print "- - -"; exit }
    m = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    k = int(0.9 * n); if (k < 0.9 * n) k++; j = int(0.99 * n); if (j < 0.99 * n) j++
    printf "%.2f %.2f %.2f\n", m, a[k], a[j] }'
}
col() { awk -v m="$1" -v s="$2" -v k="$3" '$1 == "DATA" && $2 == m && $3 == s && $4 == k { print $5 }' "$work.out"; }
echo
echo "== resume of a bare-metal image, plain vs through a warm pool ($where), ms, $resumes each =="
printf '%-9s %-12s %-26s %-26s %s\n' RAM metric "plain: median p90 p99" "pool: median p90 p99" "pool/plain"
for mib in 256 1024; do
  for k in to_KVM_RUN from_request create_VM hand-over wall; do
    read -r a1 a2 a3 < <(col plain "$mib" "$k" | pstats)
    read -r b1 b2 b3 < <(col pool "$mib" "$k" | pstats)
    printf '%-9s %-12s %-26s %-26s %s\n' "$mib MiB" "${k//_/ }" "$a1 $a2 $a3" "$b1 $b2 $b3" "$(ratio "$b1" "$a1")"
  done
done
if grep -q '^DATA jail ' "$work.out"; then
  echo
  echo "== the same with --jail (256 MiB): a plain jailed resume, and one through a pool of jailed workers =="
  printf '%-12s %-26s %-26s %-26s %s\n' metric "plain: median p90 p99" "jail: median p90 p99" "pool+jail: median p90 p99" "jail/plain pool+jail/plain"
  for k in to_KVM_RUN wall; do
    read -r a1 a2 a3 < <(col plain 256 "$k" | pstats)
    read -r b1 b2 b3 < <(col jail 256 "$k" | pstats)
    read -r c1 c2 c3 < <(col pooljail 256 "$k" | pstats)
    printf '%-12s %-26s %-26s %-26s %s %s\n' "${k//_/ }" "$a1 $a2 $a3" "$b1 $b2 $b3" "$c1 $c2 $c3" "$(ratio "$b1" "$a1")" "$(ratio "$c1" "$a1")"
  done
  echo "(a jailed resume's --timings start after the jail is entered: its wall time shows the jail's cost)"
fi
echo "pool.sh took $((SECONDS - started)) s"
[ "$rc" = 0 ] || { bench_log "some runs failed (exit $rc)"; exit 1; }
