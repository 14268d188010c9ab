#!/usr/bin/env bash
# Builds kelvin and runs every test (C++, CLI, Python) with ctest.
# Usage: scripts/test.sh [preset]   (release by default; asan, debug, tsan)
# KELVIN_WERROR=ON in the environment turns every warning into an error.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
scripts/install-deps.sh
cmake --preset "$preset" -DKELVIN_WERROR="${KELVIN_WERROR:-OFF}" >/dev/null
cmake --build --preset "$preset" -j2
ctest --preset "$preset"
