"""Builds the wheel of the Python package kelvin with CMake.

setuptools copies python/kelvin (the pure-Python modules and the type stubs);
the extension kelvin._kelvin and libkelvin come from the project's own CMake
build (-DKELVIN_PYTHON_WHEEL=ON), so the wheel holds the same optimised
library, with the same run-time SIMD dispatch, as `cmake --build`.

Environment: KELVIN_CMAKE_ARGS (extra configure arguments), CMAKE_BUILD_PARALLEL_LEVEL
(jobs, default: all cores), CMAKE_C/CXX_COMPILER_LAUNCHER (e.g. ccache).
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


def cmake_project_version():
    """The one version: project(kelvin VERSION x.y.z) in CMakeLists.txt."""
    text = (ROOT / "CMakeLists.txt").read_text()
    match = re.search(r"project\(\s*kelvin\s+VERSION\s+([0-9]+\.[0-9]+\.[0-9]+)", text)
    if not match:
        raise RuntimeError("CMakeLists.txt: no project(kelvin VERSION x.y.z)")
    return match.group(1)


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        if shutil.which("cmake") is None:
            raise RuntimeError("kelvin builds with CMake >= 3.25 (Debian: apt-get install cmake)")
        # build/wheel: a sibling of the presets' build/<preset> folders, so
        # that with ccache (CCACHE_BASEDIR = the source tree) the compile
        # commands match theirs and the wheel reuses their objects.
        build_dir = ROOT / "build" / "wheel"
        env = dict(os.environ)
        basedir = env.get("CCACHE_BASEDIR")
        if not basedir or not ROOT.is_relative_to(Path(basedir).resolve()):
            env["CCACHE_BASEDIR"] = str(ROOT)
        env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
        configure = [
            "cmake", "-S", str(ROOT), "-B", str(build_dir),
            "-DCMAKE_BUILD_TYPE=Release",
            "-DKELVIN_BUILD_TESTS=OFF", "-DKELVIN_BUILD_BENCH=OFF", "-DKELVIN_BUILD_TOOLS=OFF",
            "-DKELVIN_BUILD_PYTHON=ON", "-DKELVIN_PYTHON_WHEEL=ON",
            # kelvin.mpi needs the system's MPI and libkelvin_mpi beside it:
            # it comes with the CMake build and the Debian packages, not the wheel.
            "-DKELVIN_BUILD_MPI=OFF",
            f"-DPython3_EXECUTABLE={sys.executable}",
        ] + shlex.split(env.get("KELVIN_CMAKE_ARGS", ""))
        subprocess.run(configure, check=True, env=env)
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "kelvin_python"],
                       check=True, env=env)
        # The python component holds the package as the wheel lays it out;
        # build_py has copied the .py and .pyi files already: take the
        # binaries (the extension, libkelvin) from it.
        package_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        package_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as staging:
            subprocess.run(["cmake", "--install", str(build_dir), "--component", "python",
                            "--prefix", staging, "--strip"], check=True, env=env)
            binaries = [p for p in (Path(staging) / "kelvin").iterdir() if ".so" in p.name]
            if not any(p.name.startswith("_kelvin.") for p in binaries):
                raise RuntimeError(f"cmake --install gave no extension: {binaries}")
            for path in binaries:
                shutil.copy2(path, package_dir / path.name)


setup(
    version=cmake_project_version(),
    ext_modules=[CMakeExtension("kelvin._kelvin")],
    cmdclass={"build_ext": CMakeBuild},
)
