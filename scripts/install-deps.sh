#!/usr/bin/env bash
# Installs the Debian packages kelvin builds and tests with, skipping those
# already present, plus any packages named as arguments (the benchmark scripts
# add the peers'). Needs root (or sudo). Usage: scripts/install-deps.sh [PACKAGE...]
set -euo pipefail

packages=(
  cmake g++ make pkg-config
  libhwy-dev libgtest-dev libbenchmark-dev libmpfr-dev libcli11-dev librandom123-dev
  pybind11-dev python3-dev python3-numpy python3-scipy python3-pytest python3-matplotlib
  python3-torch
  help2man python3-mypy
  libopenblas-dev python3-mpmath python3-sklearn
  libopenmpi-dev openmpi-bin python3-mpi4py
  clang libclang-rt-14-dev time
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "kelvin: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
