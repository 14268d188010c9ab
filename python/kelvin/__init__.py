"""kelvin: softmax with temperature, exact for every T >= 0, over NumPy arrays.

    >>> import kelvin
    >>> kelvin.softmax([1, 5, 7, 10], temperature=10)
    array([0.14763315, 0.22024277, 0.26900513, 0.36311895])

The softmax family (softmax, log_softmax, log_partition, smooth_max) and the
runtime controls live here; the families built on it are submodules, imported
on first use: kelvin.losses, kelvin.calibration, kelvin.torch (PyTorch
autograd), kelvin.mpi (mpi4py).
"""

import importlib as _importlib

from . import _kelvin
from ._kelvin import (
    __version__,
    active_target,
    compiled_targets,
    get_num_threads,
    log_partition,
    log_softmax,
    set_num_threads,
    set_target,
    smooth_max,
    softmax,
    supported_targets,
)

__doc__ = _kelvin.__doc__

# Submodules imported on first attribute access (PEP 562), so that
# `import kelvin` never pays for PyTorch or MPI.
_SUBMODULES = ("losses", "sampling", "calibration", "torch", "mpi")

__all__ = [
    "__version__",
    "active_target",
    "compiled_targets",
    "get_num_threads",
    "log_partition",
    "log_softmax",
    "set_num_threads",
    "set_target",
    "smooth_max",
    "softmax",
    "supported_targets",
]


# Functions of submodules re-exported here, imported on first use too.
_REEXPORTS = {"sample": "sampling", "sampling_distribution": "sampling"}


def __getattr__(name):
    if name in _REEXPORTS:
        # Bound here once: module __getattr__ runs on every access of a name
        # the module lacks (2 us per kelvin.sample call, a third of its cost
        # on a short row).
        value = getattr(_importlib.import_module("." + _REEXPORTS[name], __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return _importlib.import_module("." + name, __name__)
    raise AttributeError(f"module 'kelvin' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES) | set(_REEXPORTS))
