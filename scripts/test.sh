#!/usr/bin/env bash
# Builds kelvin and runs every test (C++, CLI, Python) with ctest.
# Usage: scripts/test.sh [preset]   (release by default; asan, debug, tsan)
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
scripts/install-deps.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j2
ctest --preset "$preset"
