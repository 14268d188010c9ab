#!/usr/bin/env bash
# Times kelvin against libtorch and oneDNN where the shared peer harness (../shared/peers, float32
# rows only) cannot: float64 row softmax, and softmax over the middle axis of a 3-d array
# (float32, and float64 at 64x1000x64), and bfloat16 / float16 rows (with kelvin's float32 on the
# same inputs), at T = 1 and T = 0.07 with 1 and 2 threads (bench/peers_extra.cpp), and writes OUT_DIR/ratios-extra.md (median of 3 repetitions,
# kelvin / fastest peer) next to the raw peers_extra.json.
# The 16-bit rows run interleaved (peers_extra --half, HALF_REPS samples of each implementation in
# turn, default 21; the machine's other load falls on all of them alike) into peers_half.json.
# Usage: scripts/bench-extra.sh [OUT_DIR] [extra peers_extra args, e.g. --benchmark_filter=axis/]
# OUT_DIR defaults to build-extra/results; MIN_TIME (seconds per repetition, default 0.25);
# PARTS: which runs, "gbench half" by default ("half" alone: the 16-bit case; HALF=bf16 or f16
# for one type).
# Takes ~5 minutes on a quiet 2-core machine (build included); run it with nothing else busy.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=$root/build-extra
out=${1:-$build/results}
[ $# -gt 0 ] && shift

scripts/install-deps.sh libtorch-dev libdnnl-dev

mkdir -p "$out"
echo "[$(date +%T)] building peers_extra in $build" >&2
{ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DKELVIN_BENCH_PEERS=ON &&
  cmake --build "$build" -j2 --target peers_extra; } >"$out/build.log" 2>&1 ||
  { tail -n 30 "$out/build.log" >&2; exit 1; }

{ echo "kelvin tree: $(git describe --always --dirty 2>/dev/null || echo unknown)"
  lscpu | grep -E 'Model name|^CPU\(s\)|L2|L3'; } > "$out/info.txt"
parts=${PARTS:-gbench half}
jsons=()
rm -f "$out/peers_extra.json" "$out/peers_half.json"
if [[ " $parts " == *" gbench "* ]]; then
  echo "[$(date +%T)] running peers_extra (log: $out/peers_extra.log)" >&2
  "$build/bench/peers_extra" --benchmark_format=json --benchmark_repetitions=3 \
    --benchmark_report_aggregates_only=true --benchmark_min_time="${MIN_TIME:-0.25}" "$@" \
    > "$out/peers_extra.json" 2> "$out/peers_extra.log" ||
    { tail -n 20 "$out/peers_extra.log" >&2; exit 1; }
  jsons+=("$out/peers_extra.json")
fi
if [[ " $parts " == *" half "* ]]; then
  echo "[$(date +%T)] running peers_extra --half (log: $out/peers_half.log)" >&2
  "$build/bench/peers_extra" --half="${HALF:-all}" --half_reps="${HALF_REPS:-21}" \
    > "$out/peers_half.json" 2> "$out/peers_half.log" ||
    { tail -n 20 "$out/peers_half.log" >&2; exit 1; }
  jsons+=("$out/peers_half.json")
fi
/usr/bin/python3 bench/peers_extra_report.py "${jsons[@]}" "$out/info.txt" > "$out/ratios-extra.md"
echo "[$(date +%T)] $out/ratios-extra.md" >&2
cat "$out/ratios-extra.md"
