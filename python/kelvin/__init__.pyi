# Type stubs of the package kelvin: the softmax family and the runtime
# controls (from the extension kelvin._kelvin). python/tests/test_stubs.py
# checks every stub against the module it describes.
from typing import Any, Literal, Sequence, TypeVar, overload

import numpy as np
import numpy.typing as npt

# The families built on the core are submodules (kelvin.losses, ...); these
# two live at the top level.
from .sampling import sample as sample
from .sampling import sampling_distribution as sampling_distribution

__version__: str

# A result has x's float dtype: float16, float32 or float64 (anything else,
# lists included, becomes float64).
_Float = TypeVar("_Float", np.float16, np.float32, np.float64)
# An int (negative counts from the end), a tuple of ints, or None (all axes).
_Axis = int | Sequence[int] | None
# A number >= 0 (0 and inf included) or an array of one temperature per row.
_Temperature = float | npt.ArrayLike
_EmptyRow = Literal["nan", "zero"]

@overload
def softmax(x: npt.NDArray[_Float], temperature: _Temperature = 1.0, axis: _Axis = -1,
            out: npt.NDArray[_Float] | None = None,
            empty_row: _EmptyRow = "nan") -> npt.NDArray[_Float]: ...
@overload
def softmax(x: npt.ArrayLike, temperature: _Temperature = 1.0, axis: _Axis = -1,
            out: npt.NDArray[np.floating[Any]] | None = None,
            empty_row: _EmptyRow = "nan") -> npt.NDArray[np.floating[Any]]: ...
@overload
def log_softmax(x: npt.NDArray[_Float], temperature: _Temperature = 1.0, axis: _Axis = -1,
                out: npt.NDArray[_Float] | None = None,
                empty_row: _EmptyRow = "nan") -> npt.NDArray[_Float]: ...
@overload
def log_softmax(x: npt.ArrayLike, temperature: _Temperature = 1.0, axis: _Axis = -1,
                out: npt.NDArray[np.floating[Any]] | None = None,
                empty_row: _EmptyRow = "nan") -> npt.NDArray[np.floating[Any]]: ...
# log_partition and smooth_max drop the reduced axes: a NumPy scalar when
# none is left.
@overload
def log_partition(x: npt.NDArray[_Float], temperature: _Temperature = 1.0, axis: _Axis = -1,
                  out: npt.NDArray[_Float] | None = None,
                  empty_row: _EmptyRow = "nan") -> npt.NDArray[_Float] | _Float: ...
@overload
def log_partition(x: npt.ArrayLike, temperature: _Temperature = 1.0, axis: _Axis = -1,
                  out: npt.NDArray[np.floating[Any]] | None = None,
                  empty_row: _EmptyRow = "nan") -> npt.NDArray[np.floating[Any]] | np.floating[Any]: ...
@overload
def smooth_max(x: npt.NDArray[_Float], temperature: _Temperature = 1.0, axis: _Axis = -1,
               out: npt.NDArray[_Float] | None = None,
               empty_row: _EmptyRow = "nan") -> npt.NDArray[_Float] | _Float: ...
@overload
def smooth_max(x: npt.ArrayLike, temperature: _Temperature = 1.0, axis: _Axis = -1,
               out: npt.NDArray[np.floating[Any]] | None = None,
               empty_row: _EmptyRow = "nan") -> npt.NDArray[np.floating[Any]] | np.floating[Any]: ...

def active_target() -> str: ...
def compiled_targets() -> list[str]: ...
def supported_targets() -> list[str]: ...
def set_target(name: str) -> None: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
