#!/usr/bin/env bash
# Builds kelvin (release) and runs `kelvin demo`: the seed's temperature table
# for [1, 5, 7, 10] and its bar charts.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j2 --target kelvin_cli >/dev/null
build/release/tools/kelvin/kelvin demo
