#!/usr/bin/env bash
# tools/fuzz-long.sh [RUNS [BUILD_DIR]]  -- issue 11's long fuzz run: the image
# reader (image_fuzz), virtio-blk (blk_fuzz) and the control socket's JSON
# parser (json_fuzz), and issue 14's gdb remote-protocol stub (gdb_fuzz),
# RUNS executions each (default 1,000,000; FUZZ_TARGETS="image gdb" picks), under
# libFuzzer with ASan and UBSan, starting from the seed corpora in the tree
# (copied: the run's new inputs do not land in it). Prints, per target, the
# executions, seconds, peak RSS and crashes, and exits 1 if any target
# crashed, leaked or went past the RSS limit (2048 MB, libFuzzer's
# -rss_limit_mb). Not part of CI (it takes minutes to hours); results are in
# docs/testing.md. Needs clang (tools/setup.sh installs it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-1000000}
b=${2:-$root/build-fuzz}
if [ ! -f "$b/build.ninja" ]; then
  CXX=clang++ CC=clang meson setup "$b" "$root" -Dfuzzers=enabled -Dbenchmarks=disabled >/dev/null
fi
all="src/snapshot/image_fuzz:src/snapshot/corpus devices/virtio/fuzz/blk_fuzz:devices/virtio/fuzz/corpus
     src/api/json_fuzz:src/api/corpus src/gdb/gdb_fuzz:src/gdb/corpus"
targets=""
for t in $all; do
  name=$(basename "${t%%:*}")
  case " ${FUZZ_TARGETS:-image blk json gdb} " in *" ${name%_fuzz} "*) targets="$targets $t" ;; esac
done
[ -n "$targets" ] || { echo "fuzz-long.sh: FUZZ_TARGETS names none of: image blk json gdb" >&2; exit 2; }
ninja -C "$b" $(for t in $targets; do echo "${t%%:*}"; done) >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-long.XXXXXX")
trap 'rm -rf "$work"' EXIT
bad=0
printf '%-10s %10s %8s %8s %s\n' target execs seconds peak_mb result
for t in $targets; do
  bin=$b/${t%%:*} name=$(basename "${t%%:*}")
  mkdir -p "$work/$name"
  cp -r "$root/${t#*:}/." "$work/$name/"
  t0=$(date +%s.%N)
  rc=0
  "$bin" -runs="$runs" -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/$name-" \
    "$work/$name" >"$work/$name.log" 2>&1 || rc=$?
  secs=$(echo "$(date +%s.%N) - $t0" | bc)
  execs=$(grep -a -o 'stat::number_of_executed_units: *[0-9]*' "$work/$name.log" | grep -o '[0-9]*$' || echo '?')
  peak=$(grep -a -o 'stat::peak_rss_mb: *[0-9]*' "$work/$name.log" | grep -o '[0-9]*$' || echo '?')
  if [ "$rc" -eq 0 ]; then result=ok; else result="FAILED (exit $rc)"; bad=1; fi
  printf '%-10s %10s %8.0f %8s %s\n' "${name%_fuzz}" "$execs" "$secs" "$peak" "$result"
  if [ "$rc" -ne 0 ]; then tail -n 30 "$work/$name.log"; cp "$work/$name-"* "$root/" 2>/dev/null || true; fi
done
exit $bad
