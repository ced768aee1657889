# shellcheck shell=bash disable=SC2034
# tools/bench/common.sh - shared by tools/bench/*.sh (bash; sourced, not run).
#
# bench_setup          builds amber, the guest artifacts and benchrun; makes $work
#                      (a temp dir under /tmp that is carried into the sandbox and
#                      removed on exit) holding amber, benchrun and the guest files.
# bench_qemu_carry     --carry arguments for qemu-system-x86_64 and its firmware
# bench_inner N=V.. <<'EOF' writes $work/inner.sh, the script the sandbox runs:
#                      "#!/bin/sh", w=$work and each N='V', then the body (stdin)
# bench_sandbox ARGS.. runs tools/kvm-sandbox.sh with ARGS, output to $work.out too
#                      (only the last try's, when L1 had to be retried)
# median / ratio       arithmetic on the host (awk)
# bench_plot NAME DATA  draws NAME.svg with gnuplot (script on stdin)
#
# Environment: AMBER_BENCH_KEEP=1 keeps $work; AMBER_BENCH_BUILD=DIR picks the
# meson build directory (default <repo>/build); AMBER_BENCH_AMBER=FILE benchmarks
# that amber binary instead of building $build/tools/amber.

set -euo pipefail
bench_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$bench_here/../.." && pwd)
build=${AMBER_BENCH_BUILD:-$repo/build}

bench_log() { printf '[bench] %s\n' "$*" >&2; }
bench_die() { bench_log "ERROR: $*"; exit 1; }

bench_setup() {
  if [ -n "${AMBER_BENCH_AMBER:-}" ]; then
    bench_log "using the amber binary $AMBER_BENCH_AMBER (AMBER_BENCH_AMBER; not rebuilt)"
  else
    bench_log "building amber (ninja -C $build tools/amber)"
    ninja -C "$build" tools/amber >/dev/null || bench_die "ninja -C $build tools/amber failed"
  fi
  bench_log "preparing guest artifacts in $build/guest"
  "$repo/guest-tests/linux/prepare.sh" "$build/guest" || bench_die "guest-tests/linux/prepare.sh failed"
  mkdir -p "$build/bench"
  local cc=${CC:-cc}
  if [ ! -x "$build/bench/benchrun" ] || [ "$bench_here/benchrun.c" -nt "$build/bench/benchrun" ]; then
    "$cc" -O2 -Wall -o "$build/bench/benchrun" "$bench_here/benchrun.c" || bench_die "cannot compile benchrun.c"
  fi
  work=$(mktemp -d /tmp/amber-bench.XXXXXX)
  if [ "${AMBER_BENCH_KEEP:-0}" = 1 ]; then
    trap 'bench_log "kept $work"' EXIT
  else
    trap 'rm -rf "$work" "$work.out"' EXIT
  fi
  cp "${AMBER_BENCH_AMBER:-$build/tools/amber}" "$build/bench/benchrun" "$work/"
  cp "$build/guest/bzImage" "$build/guest/vmlinux" "$work/"
}

# qemu-system-x86_64 plus the firmware files -M microvm needs (qboot as
# bios-microvm.bin, pvh.bin / linuxboot_dma.bin for -kernel) and the two
# files QEMU reads at start; its libraries come along automatically.
bench_qemu_carry() {
  local f
  echo --carry /usr/bin/qemu-system-x86_64
  for f in bios-microvm.bin qboot.rom pvh.bin linuxboot_dma.bin linuxboot.bin kvmvapic.bin; do
    [ -e "/usr/share/qemu/$f" ] && echo --carry "/usr/share/qemu/$f"
  done
  return 0
}

bench_inner() {  # NAME=VALUE...; the script body comes from stdin
  local kv v
  {
    echo '#!/bin/sh'
    echo "w=$work"
    for kv in "$@"; do
      v=${kv#*=}
      printf "%s='%s'\n" "${kv%%=*}" "${v//\'/\'\\\'\'}"
    done
    cat
  } >"$work/inner.sh"
}

bench_sandbox() {  # kvm-sandbox.sh args...; stdout also saved to $work.out
  local rc=0 tries
  "$repo/tools/kvm-sandbox.sh" "$@" | tee "$work.out.all" || rc=${PIPESTATUS[0]}
  # An L1 that froze or reset is retried in a fresh one (docs/sandbox.md);
  # the tables count only the last try, whose L1 ran the whole script.
  tries=$(grep -c '^\[kvm-sandbox\] INFRA:' "$work.out.all" || true)
  awk '/^\[kvm-sandbox\] INFRA:/ { buf = ""; next } { buf = buf $0 "\n" } END { printf "%s", buf }' \
    "$work.out.all" >"$work.out"
  rm -f "$work.out.all"
  [ "$tries" = 0 ] || bench_log "!!! L1 was retried $tries time(s) (INFRA): the tables count only the last try"
  return "$rc"
}

# median of the numbers on stdin (one per line); "-" when there are none
median() {
  sort -g | awk 'NF { a[++n] = $1 } END { if (n == 0) { print "-"; exit }
    if (n % 2) printf "%.2f\n", a[(n + 1) / 2]; else printf "%.2f\n", (a[n / 2] + a[n / 2 + 1]) / 2 }'
}

# ratio A B -> A/B with 2 decimals ("-" when either is missing or B is 0)
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f\n", a / b }'
}

# min / max of the numbers on stdin
minmax() { sort -g | awk 'NF { if (!n++) lo = $1; hi = $1 } END { if (n) printf "%s-%s\n", lo, hi; else print "-" }'; }

# bench_plot NAME DATA <<'EOF' (a gnuplot script): draws $plot_dir/NAME.svg from the
# data file DATA (the script refers to it as `data` and to the output as `out`).
# Plots land in AMBER_BENCH_PLOTS (default $build/bench/plots; docs/plots holds the
# ones docs/performance.md shows). Without gnuplot (Debian: gnuplot-nox) it says so
# loudly and draws nothing; the numbers are printed either way.
bench_plot() {
  local name=$1 data=$2 dir=${AMBER_BENCH_PLOTS:-$build/bench/plots}
  if ! command -v gnuplot >/dev/null; then
    cat >/dev/null
    bench_log "!!! no plot $name.svg: gnuplot is not installed (apt-get install gnuplot-nox)"
    return 0
  fi
  mkdir -p "$dir"
  { printf "data = '%s'\nout = '%s'\n" "$data" "$dir/$name.svg"
    echo "set terminal svg size 640,400 dynamic noenhanced font 'sans,12' background rgb 'white'"
    echo "set output out"
    echo "set grid; set key top left"
    cat
  } | gnuplot || { bench_log "!!! gnuplot failed on $name"; return 0; }
  bench_log "plot: $dir/$name.svg"
}
