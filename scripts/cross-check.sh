#!/usr/bin/env bash
# Compiles the library's sources for aarch64 (Debian's g++-aarch64-linux-gnu,
# installed if missing): Highway builds the NEON, SVE, SVE2, SVE_256 and
# SVE2_128 kernels from the same code as the x86 ones. Compile only: there is
# no Arm machine to run them on. Usage: scripts/cross-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cxx=aarch64-linux-gnu-g++
if ! command -v "$cxx" >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    g++-aarch64-linux-gnu >/dev/null
fi
out=build/cross-aarch64
mkdir -p "$out/include/kelvin" "$out/hwy"
# Highway's headers without the rest of the host's /usr/include.
ln -sfn /usr/include/hwy "$out/hwy/hwy"
version=$(sed -n 's/^project(kelvin VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
IFS=. read -r major minor patch <<< "$version"
sed -e "s/@PROJECT_VERSION_MAJOR@/$major/" -e "s/@PROJECT_VERSION_MINOR@/$minor/" \
    -e "s/@PROJECT_VERSION_PATCH@/$patch/" -e "s/@PROJECT_VERSION@/$version/" \
    cmake/version.hpp.in > "$out/include/kelvin/version.hpp"
status=0
for f in src/*.cpp src/kernels/*.cpp; do
  # kelvin::mpi (optional, no kernels of its own) needs an aarch64 MPI.
  case "$f" in src/mpi*.cpp) continue ;; esac
  obj="$out/$(echo "$f" | tr / _).o"
  if ! "$cxx" -std=c++20 -O2 -Wall -Wextra -Werror -fopenmp -Iinclude -I"$out/include" -I. \
      -isystem "$out/hwy" -c "$f" -o "$obj"; then
    status=1
  fi
done
targets=$(aarch64-linux-gnu-nm -C "$out/src_kernels_softmax.cpp.o" | grep -o 'kelvin::N_[A-Z0-9_]*' |
          sed 's/kelvin::N_//' | sort -u | tr '\n' ' ')
echo "aarch64: compiled $(ls "$out"/*.o | wc -l) sources; kernel targets: $targets"
exit $status
