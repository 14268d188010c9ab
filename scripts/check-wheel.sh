#!/usr/bin/env bash
# Builds the wheel as a user would, offline with Debian's tools
# (python3 -m build --wheel --no-isolation), installs it into a fresh virtual
# environment that sees Debian's numpy, SciPy, PyTorch and mypy
# (--system-site-packages), and runs the pytest suite there, against the
# installed package, not the build tree; then checks that
# `pip install --no-build-isolation .` installs a working package too.
# Usage: scripts/check-wheel.sh   (with ccache, set CMAKE_CXX_COMPILER_LAUNCHER)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh python3-build python3-venv python3-pip python3-setuptools python3-wheel \
  python3-mypy
root="$PWD"
work="$root/build/wheel-check"
rm -rf "$work"
mkdir -p "$work"
py=/usr/bin/python3

echo "== python3 -m build --wheel --no-isolation"
$py -m build --wheel --no-isolation --outdir "$work/dist" . >"$work/build.log" 2>&1 ||
  { tail -40 "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/kelvin-*.whl)
echo "$wheel"
$py -m zipfile -l "$wheel" | grep -E 'kelvin/' | sed 's/^/  /'

echo "== pytest against the wheel in a fresh venv"
$py -m venv --system-site-packages "$work/venv"
"$work/venv/bin/python" -m pip install --no-index --quiet "$wheel"
# From an empty folder, so that nothing in the source tree can be imported.
cd "$work"
"$work/venv/bin/python" - <<'PY'
import sys, kelvin
assert kelvin.__file__.startswith(sys.prefix), kelvin.__file__
print(f"kelvin {kelvin.__version__} from {kelvin.__file__}, on {kelvin.active_target()}")
PY
# mypy's cache (numpy's stubs, mostly) is shared with the release build's
# python.pytest where there is one.
cache="$root/build/mypy-cache"
[ -d "$root/build/release/python" ] && cache="$root/build/release/python/mypy-cache"
MPLBACKEND=Agg PYTHONDONTWRITEBYTECODE=1 KELVIN_MYPY_CACHE_DIR="$cache" \
  "$work/venv/bin/python" -m pytest -q -p no:cacheprovider "$root/python/tests"

echo "== pip install --no-build-isolation . (another fresh venv)"
cd "$root"
$py -m venv --system-site-packages "$work/venv-pip"
"$work/venv-pip/bin/python" -m pip install --no-index --no-build-isolation --quiet . \
  >"$work/pip.log" 2>&1 || { tail -40 "$work/pip.log"; exit 1; }
cd "$work"
"$work/venv-pip/bin/python" -c "import sys, kelvin; assert kelvin.__file__.startswith(sys.prefix); \
print('pip install .:', kelvin.__version__, kelvin.softmax([1, 5, 7, 10], temperature=10))"
