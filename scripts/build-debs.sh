#!/usr/bin/env bash
# Builds the Debian packages (libkelvin0, libkelvin-dev, kelvin, python3-kelvin)
# with CPack into build/deb/packages, checks them with lintian (no errors
# allowed), then extracts them (dpkg -x) into build/deb/root and, against that
# tree only, builds and runs the find_package consumer, runs the CLI and
# imports the Python package.
# Usage: scripts/build-debs.sh   (with ccache, set CMAKE_CXX_COMPILER_LAUNCHER)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh lintian help2man dpkg-dev file
build=build/deb
# kelvin::mpi is not packaged yet (it would be its own libkelvin-mpi0 with an
# MPI dependency): the packages are built without it.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DKELVIN_DEBIAN=ON \
  -DKELVIN_BUILD_TESTS=OFF -DKELVIN_BUILD_BENCH=OFF -DKELVIN_BUILD_TOOLS=ON -DKELVIN_BUILD_PYTHON=ON \
  -DKELVIN_BUILD_MPI=OFF ${KELVIN_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j2
rm -rf "$build/packages" "$build/root"
(cd "$build" && cpack -B "$PWD/packages" >/dev/null)
rm -rf "$build/packages/_CPack_Packages"
ls -l "$build"/packages/*.deb
for deb in "$build"/packages/*.deb; do
  dpkg-deb --field "$deb" Package Version Depends | sed 's/^/  /'
done

echo "== lintian"
# Errors fail the build; warnings are printed.
lintian --fail-on error --no-tag-display-limit "$build"/packages/*.deb

echo "== consumers against the extracted packages"
root="$PWD/$build/root"
for deb in "$build"/packages/*.deb; do dpkg -x "$deb" "$root"; done
libdir=$(dirname "$(find "$root/usr/lib" -name 'libkelvin.so.*' -type f | head -1)")
cmake -S tests/install/consumer -B "$build/consumer" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$root/usr" -DKELVIN_EXPECTED_PREFIX="$root/usr" >/dev/null
cmake --build "$build/consumer"
LD_LIBRARY_PATH="$libdir" "$build/consumer/consumer"
LD_LIBRARY_PATH="$libdir" "$build/consumer/consumer_c"
# pkg-config: the .pc says prefix=/usr; PKG_CONFIG_SYSROOT_DIR moves it under the tree.
pc_flags=$(PKG_CONFIG_LIBDIR="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root" \
           PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 pkg-config --cflags --libs kelvin)
cc -o "$build/pkg_config_consumer" tests/install/consumer/main.c $pc_flags
LD_LIBRARY_PATH="$libdir" "$build/pkg_config_consumer"
LD_LIBRARY_PATH="$libdir" "$root/usr/bin/kelvin" softmax -t 10 -- 1 5 7 10
zcat "$root/usr/share/man/man1/kelvin.1.gz" | grep -q "^.SH COMMANDS"
(cd /tmp && LD_LIBRARY_PATH="$libdir" PYTHONPATH="$root/usr/lib/python3/dist-packages" \
   /usr/bin/python3 -c "import kelvin, sys; assert kelvin.__file__.startswith('$root'), kelvin.__file__; \
print('python3-kelvin', kelvin.__version__, kelvin.softmax([1, 5, 7, 10], temperature=10))")
echo "debs: OK"
