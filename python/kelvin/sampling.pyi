# Type stubs of kelvin.sampling (issue 11), whose two functions the package
# re-exports: kelvin.sample and kelvin.sampling_distribution. top_k=0,
# top_p=1, min_p=0, typical_p=1 mean off.
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

# 1-D logits (one row) give an int, 2-D logits (rows) an int64 array.
_Tokens = int | npt.NDArray[np.int64]

@overload
def sample(logits: npt.ArrayLike, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
           min_p: float = 0.0, typical_p: float = 1.0, min_keep: int = 1,
           order: str = "temperature_last", dynamic_range: float = 0.0,
           dynamic_exponent: float = 1.0, seed: int = 0, step: int = 0,
           row_ids: npt.ArrayLike | None = None,
           return_logprobs: Literal[False] = False) -> _Tokens: ...
@overload
def sample(logits: npt.ArrayLike, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
           min_p: float = 0.0, typical_p: float = 1.0, min_keep: int = 1,
           order: str = "temperature_last", dynamic_range: float = 0.0,
           dynamic_exponent: float = 1.0, seed: int = 0, step: int = 0,
           row_ids: npt.ArrayLike | None = None, *,
           return_logprobs: Literal[True]) -> tuple[Any, ...]: ...
def sampling_distribution(logits: npt.ArrayLike, temperature: float = 1.0, top_k: int = 0,
                          top_p: float = 1.0, min_p: float = 0.0, typical_p: float = 1.0,
                          min_keep: int = 1, order: str = "temperature_last",
                          dynamic_range: float = 0.0,
                          dynamic_exponent: float = 1.0) -> npt.NDArray[np.floating[Any]]: ...
