# Type stubs of kelvin.mpi (issue 14): the softmax family, cross-entropy and
# sampling over logits sharded by class across the ranks of an mpi4py
# communicator; every rank calls with its own slice of the classes.
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt
from mpi4py import MPI

_Array = npt.NDArray[np.floating[Any]]

def sharded_log_partition(comm: MPI.Comm, local_logits: npt.ArrayLike,
                          temperature: float = 1.0) -> _Array | np.floating[Any]: ...
def sharded_softmax(comm: MPI.Comm, local_logits: npt.ArrayLike,
                    temperature: float = 1.0) -> _Array: ...
def sharded_log_softmax(comm: MPI.Comm, local_logits: npt.ArrayLike,
                        temperature: float = 1.0) -> _Array: ...
@overload
def sharded_cross_entropy(comm: MPI.Comm, local_logits: npt.ArrayLike, labels: npt.ArrayLike,
                          class_offset: int, temperature: float = 1.0,
                          reduction: Literal["mean", "sum", "none"] = "mean",
                          label_smoothing: float = 0.0, grad: Literal[False] = False, *,
                          ignore_index: int = -100) -> float | _Array: ...
@overload
def sharded_cross_entropy(comm: MPI.Comm, local_logits: npt.ArrayLike, labels: npt.ArrayLike,
                          class_offset: int, temperature: float = 1.0,
                          reduction: Literal["mean", "sum", "none"] = "mean",
                          label_smoothing: float = 0.0, *, grad: Literal[True],
                          ignore_index: int = -100) -> tuple[float | _Array, _Array, float]: ...
def sharded_sample(comm: MPI.Comm, local_logits: npt.ArrayLike, temperature: float = 1.0,
                   top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0, seed: int = 0,
                   step: int = 0,
                   row_ids: npt.ArrayLike | None = None) -> int | npt.NDArray[np.int64]: ...
