#!/usr/bin/env bash
# Times kelvin against oneDNN, XNNPACK and libtorch (and memcpy) in one run of
# the shared peer harness (../shared/peers), at T = 0.07 and T = 1, with 1 and
# 2 threads, and writes a markdown table of ratios.
# Usage: scripts/bench-peers.sh [OUT_DIR] [extra harness args, e.g. --shapes 1x32000]
# Takes ~35 minutes on a quiet 2-core machine (the harness re-measures under foreign
# load); run it with nothing else busy.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-$root/build/peers-results/$(date +%Y%m%d-%H%M%S)}
[ $# -gt 0 ] && shift
peers=$root/../shared/peers
[ -d "$peers" ] || { echo "bench-peers: $peers not found" >&2; exit 2; }

# ocl-icd-opencl-dev: oneDNN's CMake package looks for the OpenCL headers.
scripts/install-deps.sh libdnnl-dev ocl-icd-opencl-dev libxnnpack-dev libpthreadpool-dev libeigen3-dev libtorch-dev libsleef-dev

cmake --preset release >/dev/null
cmake --build --preset release -j2 --target kelvin >/dev/null
bin=$("$peers/build.sh" "$root/build/peers" -DKELVIN_ROOT="$root" \
      -DKELVIN_LIB="$root/build/release/libkelvin.so")

mkdir -p "$out"
"$bin" --info > "$out/info.txt" 2>&1 || true
lscpu | grep -E 'Model name|^CPU\(s\)|L2|L3' >> "$out/info.txt"
for T in 0.07 1; do
  if [ "$T" = 1 ]; then
    impls=memcpy,kelvin_softmax_T,kelvin_logsoftmax,onednn_softmax,onednn_logsoftmax,xnnpack_softmax,torch_softmax_out
  else
    impls=memcpy,kelvin_softmax_T,onednn_scale+softmax,xnnpack_scale+softmax,torch_softmax_T_out
  fi
  for t in 1 2; do
    echo "[$(date +%T)] T=$T threads=$t" >&2
    OMP_NUM_THREADS=$t "$bin" --threads "$t" --T "$T" --impl "$impls" --csv "$out/softmax.csv" \
      --tag "T=$T" "$@" > "$out/softmax_T${T}_t$t.txt"
  done
done
/usr/bin/python3 bench/peers_report.py "$out/softmax.csv" "$out/info.txt" > "$out/ratios.md"
echo "$out/ratios.md" >&2
cat "$out/ratios.md"
