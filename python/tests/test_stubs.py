"""The type stubs (kelvin/*.pyi, py.typed) against the package they describe.

- mypy.stubtest: every public name of every kelvin module that exists has a
  stub with the same parameters and defaults, and every stub names something
  real (modules whose stubs wait for their family to land are left out);
- every function in a stub, each overload included, has the runtime's
  parameter names in order and its defaults (stubtest cannot tell for
  overloads, nor for the extension's builtins);
- mypy --strict accepts python/examples/typed.py and rejects misuse at the
  expected lines, so the stubs are seen and are not Any.

mypy comes from Debian (python3-mypy); KELVIN_MYPY_CACHE_DIR keeps its cache
between runs.
"""

import ast
import importlib
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy", reason="mypy is not installed (Debian: python3-mypy)")

import kelvin  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "typed.py"
PACKAGE_DIR = Path(kelvin.__file__).resolve().parent
# The submodules that have stubs; those of families not merged yet are skipped.
SUBMODULES = sorted(p.stem for p in PACKAGE_DIR.glob("*.pyi") if p.stem != "__init__")


def present(module):
    """Whether kelvin.<module> is in this build and imports: kelvin.mpi is a
    module of every package but needs its extension (the CMake build with MPI,
    not the wheel) and mpi4py."""
    if importlib.util.find_spec(f"kelvin.{module}") is None:
        return False
    try:
        importlib.import_module(f"kelvin.{module}")
    except ImportError:
        return False
    return True


def mypy_env(tmp_path):
    env = dict(os.environ)
    # Installed (site-packages), mypy finds the package itself (PEP 561); in a
    # build tree it needs the folder on MYPYPATH.
    if not any(part in ("site-packages", "dist-packages") for part in PACKAGE_DIR.parts):
        env["MYPYPATH"] = str(PACKAGE_DIR.parent)
    config = tmp_path / "mypy.ini"
    cache = os.environ.get("KELVIN_MYPY_CACHE_DIR", str(tmp_path / "mypy-cache"))
    config.write_text(f"[mypy]\ncache_dir = {cache}\n")
    return env, config


def run(args, env):
    return subprocess.run([sys.executable, "-m", *args], env=env, capture_output=True, text=True,
                          timeout=600)


def test_every_stub_has_a_module_or_awaits_one():
    assert (PACKAGE_DIR / "py.typed").exists()
    assert (PACKAGE_DIR / "__init__.pyi").exists()
    for module in SUBMODULES:
        if present(module):
            assert (PACKAGE_DIR / f"{module}.py").exists(), module


def test_stubs_match_runtime(tmp_path):
    env, config = mypy_env(tmp_path)
    allow = []
    for module in SUBMODULES:
        if not present(module):
            allow += [f"kelvin.{module}", rf"kelvin\.{module}\..*"]
    if not present("sampling"):
        allow += ["kelvin.sample", "kelvin.sampling_distribution"]
    allowlist = tmp_path / "allowlist.txt"
    allowlist.write_text("\n".join(allow) + "\n")
    r = run(["mypy.stubtest", "--mypy-config-file", str(config), "--allowlist", str(allowlist),
             "--ignore-unused-allowlist", "kelvin"], env)
    assert r.returncode == 0, r.stdout + r.stderr


def stub_functions(module):
    path = PACKAGE_DIR / ("__init__.pyi" if module == "kelvin" else f"{module}.pyi")
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef):
            yield node


def stub_parameters(node):
    """[(name, default or inspect.Parameter.empty)] of one stub function."""
    args = node.args
    positional = args.posonlyargs + args.args
    defaults = [inspect.Parameter.empty] * (len(positional) - len(args.defaults)) + args.defaults
    pairs = list(zip(positional, defaults)) + list(zip(args.kwonlyargs, args.kw_defaults))
    return [(a.arg, inspect.Parameter.empty if d in (None, inspect.Parameter.empty)
             else ast.literal_eval(d)) for a, d in pairs]


@pytest.mark.parametrize("module", ["kelvin"] + [m for m in SUBMODULES if present(m)])
def test_stub_signatures_match_runtime(module):
    runtime_module = kelvin if module == "kelvin" else importlib.import_module(f"kelvin.{module}")
    for node in stub_functions(module):
        try:
            runtime = inspect.signature(getattr(runtime_module, node.name))
        except ValueError:
            continue  # a builtin without a signature line (active_target(), ...)
        stub = stub_parameters(node)
        assert [n for n, _ in stub] == list(runtime.parameters), f"{module}.{node.name}"
        for name, default in stub:
            # An overload may leave out a default to pick a Literal (grad=True).
            if default is not inspect.Parameter.empty:
                assert default == runtime.parameters[name].default, f"{module}.{node.name}({name})"


MISUSE = """\
import numpy as np
import numpy.typing as npt
import kelvin
kelvin.set_num_threads("4")
kelvin.softmax(np.zeros(3), empty_row="inf")
n: str = kelvin.get_num_threads()
kelvin.log_partition(np.zeros((2, 3)), axis=1.5)
ok: npt.NDArray[np.float32] = kelvin.softmax(np.zeros(3, np.float32), temperature=0)
"""


def test_mypy_accepts_the_example_and_rejects_misuse(tmp_path):
    env, config = mypy_env(tmp_path)
    misuse = tmp_path / "misuse.py"
    misuse.write_text(MISUSE)
    r = run(["mypy", "--strict", "--config-file", str(config), str(EXAMPLE), str(misuse)], env)
    errors = [line for line in r.stdout.splitlines() if ": error:" in line]
    assert not [e for e in errors if "typed.py" in e], r.stdout + r.stderr
    lines = sorted({int(m.group(1)) for e in errors if (m := re.search(r"misuse\.py:(\d+):", e))})
    assert lines == [4, 5, 6, 7], r.stdout + r.stderr


def test_example_runs():
    r = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"kelvin {kelvin.__version__}" in r.stdout
    assert "[0. 0. 0. 1.]" in r.stdout  # the hardmax of [1, 5, 7, 10]
