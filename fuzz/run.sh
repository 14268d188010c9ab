#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz/ and runs each one
# for SECONDS (default 60) from the seed corpus in fuzz/corpus/. New inputs
# go to build-fuzz/corpus-TARGET (add the interesting ones to fuzz/corpus/),
# crashes to build-fuzz/artifacts/. Exits non-zero if a target fails.
# Usage: fuzz/run.sh [SECONDS] [TARGET...]   (targets: npy_header csv)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(npy_header csv); fi

build=build-fuzz
cmake -S fuzz -B "$build" -DCMAKE_CXX_COMPILER="${CXX_FUZZ:-clang++}" \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 >/dev/null

status=0
for t in "${targets[@]}"; do
  work="$build/corpus-$t"
  mkdir -p "$work" "$build/artifacts"
  log="$build/$t.log"
  echo "== fuzz $t: ${seconds}s"
  if ! "$build/${t}_fuzzer" "$work" "fuzz/corpus/$t" -dict="fuzz/$t.dict" \
      -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$build/artifacts/$t-" >"$log" 2>&1; then
    status=1
    tail -40 "$log"
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$log" | sed "s/^/  /" || true
  echo "  corpus: $(ls "$work" | wc -l) inputs in $work"
done
exit $status
