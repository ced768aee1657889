#!/usr/bin/env bash
# tools/bench/jail.sh [PAIRS] - what `--jail` costs a start (issue 17): PAIRS
# (default 40) pairs of `amber run --bare hello.bin` without and with
# `--jail DIR`, alternating which goes first, each timed from fork to exit.
# Natively: as root, on this machine's /dev/kvm. Where there is no KVM both
# end at the /dev/kvm open, so the difference is the jail's own setup and
# teardown (namespaces, mounts, the kvm node, pivot_root, uid drop,
# Landlock, and the pid and network namespaces going away at exit).
# Prints medians and the difference. docs/performance.md has results.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
amber=$root/build/tools/amber
pairs=${1:-40}
[ "$(id -u)" = 0 ] || { echo "jail.sh: --jail needs root" >&2; exit 2; }
[ -x "$amber" ] || { echo "jail.sh: build first (tools/test.sh --unit-only)" >&2; exit 2; }
ninja -C "$root/build" guest-tests/bare/hello.bin >/dev/null
dir=$(mktemp -d "${TMPDIR:-/tmp}/jail-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cp "$root/build/guest-tests/bare/hello.bin" "$dir/"
chmod 755 "$dir"
now_us() { echo $(( $(date +%s%N) / 1000 )); }
plain=() jailed=()
for (( i = 0; i < pairs; i++ )); do
  for mode in $([ $((i % 2)) = 0 ] && echo "plain jail" || echo "jail plain"); do
    t0=$(now_us)
    if [ "$mode" = plain ]; then
      "$amber" run --bare "$dir/hello.bin" >/dev/null 2>&1 </dev/null || true
      plain+=($(( $(now_us) - t0 )))
    else
      "$amber" run --jail "$dir" --bare /hello.bin >/dev/null 2>&1 </dev/null || true
      jailed+=($(( $(now_us) - t0 )))
    fi
  done
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.2f", m / 1000}'; }
mp=$(median "${plain[@]}") mj=$(median "${jailed[@]}")
if [ -e /dev/kvm ]; then what="a bare-metal guest run to its exit"; else what="no KVM here: both end at the /dev/kvm open"; fi
echo "amber run, fork to exit, median of $pairs ($what):"
echo "  without --jail  $mp ms"
echo "  with --jail     $mj ms"
awk -v a="$mp" -v b="$mj" 'BEGIN { printf "  difference      %.2f ms (ratio %.2f)\n", b - a, b / a }'
