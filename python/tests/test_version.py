"""One version everywhere: CMakeLists.txt's project(VERSION) is what the
extension reports (kelvin.__version__, from kelvin/version.hpp) and, for an
installed wheel, what the distribution's metadata says (setup.py reads it)."""

import importlib.metadata
import re
from pathlib import Path

import pytest

import kelvin

CMAKELISTS = Path(__file__).resolve().parents[2] / "CMakeLists.txt"


def test_version_is_the_cmake_project_version():
    match = re.search(r"project\(\s*kelvin\s+VERSION\s+([0-9.]+)", CMAKELISTS.read_text())
    assert match, CMAKELISTS
    assert kelvin.__version__ == match.group(1)


def test_installed_distribution_has_the_same_version():
    try:
        dist = importlib.metadata.distribution("kelvin")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("kelvin is imported from a build tree, not an installed wheel")
    package = Path(kelvin.__file__).resolve().parent
    files = {Path(dist.locate_file(f)).resolve() for f in dist.files or ()}
    if package / "__init__.py" not in files:
        pytest.skip(f"the installed kelvin distribution is not the imported {package}")
    assert dist.version == kelvin.__version__
    # The wheel carries the stubs and the library the extension loads.
    for name in ("__init__.pyi", "py.typed"):
        assert package / name in files, name
    assert any(f.name.startswith("libkelvin.so") for f in files)
