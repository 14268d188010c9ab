# Type stubs of kelvin.sampling, whose two functions the package re-exports:
# kelvin.sample and kelvin.sampling_distribution. Every config argument is a
# scalar or (2-D logits) one value per row; top_k=0, top_p=1, min_p=0,
# typical_p=1 mean off.
from typing import Literal, overload

import numpy as np
import numpy.typing as npt

__all__ = ["sample", "sampling_distribution"]

_Float = float | npt.ArrayLike
_Int = int | npt.ArrayLike
_Order = Literal["temperature_last", "temperature_first"] | npt.ArrayLike
# 1-D logits (one row) give an int, 2-D logits (rows) an int64 array.
_Tokens = int | npt.NDArray[np.int64]
_Logprobs = float | npt.NDArray[np.float64]

@overload
def sample(logits: npt.ArrayLike, temperature: _Float = 1.0, top_k: _Int = 0, top_p: _Float = 1.0,
           min_p: _Float = 0.0, typical_p: _Float = 1.0, min_keep: _Int = 1,
           order: _Order = "temperature_last", dynamic_range: _Float = 0.0,
           dynamic_exponent: _Float = 1.0, seed: _Int = 0, step: int = 0,
           row_ids: npt.ArrayLike | None = None,
           return_logprobs: Literal[False] = False) -> _Tokens: ...
# (token, logprob under the final distribution, logprob under the raw logits).
@overload
def sample(logits: npt.ArrayLike, temperature: _Float = 1.0, top_k: _Int = 0, top_p: _Float = 1.0,
           min_p: _Float = 0.0, typical_p: _Float = 1.0, min_keep: _Int = 1,
           order: _Order = "temperature_last", dynamic_range: _Float = 0.0,
           dynamic_exponent: _Float = 1.0, seed: _Int = 0, step: int = 0,
           row_ids: npt.ArrayLike | None = None, *,
           return_logprobs: Literal[True]) -> tuple[_Tokens, _Logprobs, _Logprobs]: ...
def sampling_distribution(logits: npt.ArrayLike, temperature: _Float = 1.0, top_k: _Int = 0,
                          top_p: _Float = 1.0, min_p: _Float = 0.0, typical_p: _Float = 1.0,
                          min_keep: _Int = 1, order: _Order = "temperature_last",
                          dynamic_range: _Float = 0.0,
                          dynamic_exponent: _Float = 1.0) -> npt.NDArray[np.float64]: ...
