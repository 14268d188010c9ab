#!/bin/sh
# kelvin::mpi's benchmark with 1, 2, 3 and 4 ranks in one run (bench/mpi_bench.cpp).
#   bench/mpi_bench.sh [build dir] [classes...]
set -eu
build=${1:-build/release}
[ $# -gt 0 ] && shift
lscpu | grep 'Model name' || true
for np in 1 2 3 4; do
  mpirun --oversubscribe --allow-run-as-root -np "$np" "$build/bench/mpi_bench" "$@"
done
