# Type stubs of kelvin.losses (issue 10): losses with temperature over NumPy
# arrays. grad=False returns the loss (a float, or an array for
# reduction="none"); grad=True a tuple: the loss, the gradient of the (summed)
# loss with respect to each array input in argument order, then with respect
# to the temperature-like scalar.
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

_Array = npt.NDArray[np.floating[Any]]
_Loss = float | _Array

@overload
def cross_entropy(logits: npt.ArrayLike, labels: npt.ArrayLike, temperature: float = 1.0,
                  reduction: Literal["mean", "sum"] = "mean", ignore_index: int = -100,
                  label_smoothing: float = 0.0, grad: Literal[False] = False) -> float: ...
@overload
def cross_entropy(logits: npt.ArrayLike, labels: npt.ArrayLike, temperature: float = 1.0, *,
                  reduction: Literal["none"], ignore_index: int = -100,
                  label_smoothing: float = 0.0, grad: Literal[False] = False) -> _Array: ...
@overload
def cross_entropy(logits: npt.ArrayLike, labels: npt.ArrayLike, temperature: float = 1.0,
                  reduction: Literal["mean", "sum", "none"] = "mean", ignore_index: int = -100,
                  label_smoothing: float = 0.0, *,
                  grad: Literal[True]) -> tuple[_Loss, _Array, float]: ...
@overload
def distillation(student: npt.ArrayLike, teacher: npt.ArrayLike,
                 labels: npt.ArrayLike | None = None, temperature: float = 4.0,
                 alpha: float = 0.5, grad: Literal[False] = False) -> float: ...
@overload
def distillation(student: npt.ArrayLike, teacher: npt.ArrayLike,
                 labels: npt.ArrayLike | None = None, temperature: float = 4.0,
                 alpha: float = 0.5, *, grad: Literal[True]) -> tuple[float, _Array, float]: ...
@overload
def info_nce(logits: npt.ArrayLike, temperature: float = 0.07,
             grad: Literal[False] = False) -> float: ...
@overload
def info_nce(logits: npt.ArrayLike, temperature: float = 0.07, *,
             grad: Literal[True]) -> tuple[float, _Array, float]: ...
@overload
def info_nce_embeddings(q: npt.ArrayLike, k: npt.ArrayLike, queue: npt.ArrayLike,
                        temperature: float = 0.07, normalize: bool = True,
                        grad: Literal[False] = False) -> float: ...
@overload
def info_nce_embeddings(q: npt.ArrayLike, k: npt.ArrayLike, queue: npt.ArrayLike,
                        temperature: float = 0.07, normalize: bool = True, *,
                        grad: Literal[True]) -> tuple[float, _Array, _Array, float]: ...
@overload
def clip(image_features: npt.ArrayLike, text_features: npt.ArrayLike, log_scale: float,
         grad: Literal[False] = False) -> float: ...
@overload
def clip(image_features: npt.ArrayLike, text_features: npt.ArrayLike, log_scale: float, *,
         grad: Literal[True]) -> tuple[float, _Array, _Array, float]: ...
@overload
def cosine_softmax(features: npt.ArrayLike, weights: npt.ArrayLike, labels: npt.ArrayLike,
                   scale: float = 30.0, margin: float = 0.0,
                   margin_type: Literal["none", "cosface", "arcface"] = "none",
                   grad: Literal[False] = False) -> float: ...
@overload
def cosine_softmax(features: npt.ArrayLike, weights: npt.ArrayLike, labels: npt.ArrayLike,
                   scale: float = 30.0, margin: float = 0.0,
                   margin_type: Literal["none", "cosface", "arcface"] = "none", *,
                   grad: Literal[True]) -> tuple[float, _Array, _Array, float]: ...
def softmax_backward(y: npt.ArrayLike, dy: npt.ArrayLike,
                     temperature: float = 1.0) -> tuple[_Array, _Array | float]: ...
def log_softmax_backward(z: npt.ArrayLike, dz: npt.ArrayLike,
                         temperature: float = 1.0) -> tuple[_Array, _Array | float]: ...
