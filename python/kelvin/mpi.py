"""kelvin.mpi: softmax, log-partition and cross-entropy of rows whose classes are
split by columns across the ranks of an mpi4py communicator.

Rank r passes its columns of every row (`local_logits`, rows x cols_r); every
rank passes the same rows, options and labels. Each call is collective; the
softmax family and the cross-entropy cost one MPI_Allreduce of one (max,
scaled sum) element per row. sharded_sample draws the token kelvin.sample
draws from the concatenated row (the vocabulary is the shards in rank order). A rank with
bad or inconsistent arguments makes every rank raise the same ValueError.

    # mpirun -np 4 python3 script.py
    from mpi4py import MPI
    import numpy as np, kelvin.mpi
    comm = MPI.COMM_WORLD
    local = np.random.default_rng(comm.rank).normal(size=(8, 250_000)).astype(np.float32)
    lz = kelvin.mpi.sharded_log_partition(comm, local, temperature=0.7)   # 8 values, every rank
    p = kelvin.mpi.sharded_softmax(comm, local, temperature=0.7)          # this rank's columns

See docs/mpi.md.
"""

import numpy as _np
from mpi4py import MPI as _MPI  # initialises MPI and loads libmpi before the extension

from . import _kelvin_mpi

__all__ = [
    "sharded_log_partition",
    "sharded_softmax",
    "sharded_log_softmax",
    "sharded_cross_entropy",
    "sharded_sample",
]


def _handle(comm):
    return comm.py2f()


def _rows(local_logits):
    """(raw bindings for the dtype, 2-D array, whether the input was one row, dtype)."""
    x = _np.asarray(local_logits)
    if x.dtype == _np.float32 or x.dtype == _np.float16:
        raw, dtype = _kelvin_mpi.f32, x.dtype
    elif x.dtype.kind in "fiub":
        raw, dtype = _kelvin_mpi.f64, _np.dtype(_np.float64)
    else:
        raise TypeError(f"local_logits must hold real numbers, got dtype {x.dtype}")
    if x.ndim not in (1, 2):
        raise ValueError(f"local_logits must be 1-D (one row) or 2-D (rows), got {x.ndim}-D")
    one = x.ndim == 1
    x = _np.ascontiguousarray(x.reshape(1, -1) if one else x,
                              dtype=_np.float32 if raw is _kelvin_mpi.f32 else _np.float64)
    return raw, x, one, dtype


def _collectively(comm, prepare):
    """prepare() on every rank; when it raises on any rank, every rank raises the same
    error (so that no rank waits alone in the C++ call's collectives)."""
    if not isinstance(comm, _MPI.Comm):
        raise TypeError(f"comm must be an mpi4py.MPI.Comm, got {type(comm).__name__}")
    if comm == _MPI.COMM_NULL:
        raise ValueError("comm is MPI.COMM_NULL")
    failure = None
    try:
        result = prepare()
    except (TypeError, ValueError) as e:
        failure = e
    flag = _np.array([0 if failure is None else 1], dtype=_np.int32)
    comm.Allreduce(_MPI.IN_PLACE, flag, op=_MPI.MAX)
    if flag[0] == 0:
        return result
    every = comm.allgather(None if failure is None else (type(failure).__name__, str(failure)))
    for rank, f in enumerate(every):
        if f is not None:
            kind = TypeError if f[0] == "TypeError" else ValueError
            raise kind(f"rank {rank}: {f[1]}")
    raise AssertionError("unreachable")


def _temperature(t):
    try:
        return float(t)
    except TypeError:
        raise TypeError(f"temperature must be a real number, got {type(t).__name__}") from None


def sharded_log_partition(comm, local_logits, temperature=1.0):
    """log sum_j exp(x_j / T) of every global row (every rank gets every row's value).

    A float for a 1-D `local_logits`, else an array of one value per row."""
    raw, x, one, dtype, t = _collectively(
        comm, lambda: _rows(local_logits) + (_temperature(temperature),))
    out = raw.log_partition(_handle(comm), x, t).astype(dtype, copy=False)
    return out[0].item() if one else out


def sharded_softmax(comm, local_logits, temperature=1.0):
    """This rank's columns of softmax(x / T) of the global rows (local_logits' shape)."""
    raw, x, one, dtype, t = _collectively(
        comm, lambda: _rows(local_logits) + (_temperature(temperature),))
    y = raw.softmax(_handle(comm), x, t, False).astype(dtype, copy=False)
    return y[0] if one else y


def sharded_log_softmax(comm, local_logits, temperature=1.0):
    """This rank's columns of log_softmax(x / T) of the global rows."""
    raw, x, one, dtype, t = _collectively(
        comm, lambda: _rows(local_logits) + (_temperature(temperature),))
    y = raw.softmax(_handle(comm), x, t, True).astype(dtype, copy=False)
    return y[0] if one else y


def sharded_cross_entropy(comm, local_logits, labels, class_offset, temperature=1.0,
                          reduction="mean", label_smoothing=0.0, grad=False, *,
                          ignore_index=-100):
    """PyTorch's F.cross_entropy(x / T, labels, reduction, label_smoothing, ignore_index)
    of the global rows x, this rank holding columns [class_offset, class_offset + cols).

    `labels`: global class ids, one per row, the same on every rank. Returns the loss
    (a float; an array of per-row losses for reduction="none"), the same on every rank.
    With grad=True: (loss, d loss / d local_logits, d loss / d temperature), the
    gradients of the summed loss for "none".
    """
    def prepare():
        raw, x, one, dtype = _rows(local_logits)
        lab = _np.asarray(labels)
        if lab.dtype.kind not in "iu":
            raise TypeError(f"labels must be integers, got dtype {lab.dtype}")
        lab = lab.reshape(1) if one else lab
        if not isinstance(reduction, str):
            raise TypeError(f"reduction must be a str, got {type(reduction).__name__}")
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        if int(class_offset) < 0:
            raise ValueError(f"class_offset must be >= 0, got {class_offset}")
        return (raw, x, one, dtype, lab.astype(_np.int64, copy=False), int(class_offset),
                _temperature(temperature), float(label_smoothing), int(ignore_index))

    raw, x, one, dtype, lab, offset, t, eps, ignore = _collectively(comm, prepare)
    loss, losses, g, dt = raw.cross_entropy(_handle(comm), x, lab, offset, t, reduction, eps,
                                            ignore, bool(grad))
    value = losses.astype(dtype, copy=False) if reduction == "none" else loss
    if reduction == "none" and one:
        value = value[0].item()
    if not grad:
        return value
    g = g.astype(dtype, copy=False)
    return value, (g[0] if one else g), dt


def _nonneg_int(v, name):
    if isinstance(v, (bool, _np.bool_)) or not isinstance(v, (int, _np.integer)):
        raise TypeError(f"{name} must be an int, got {v!r}")
    if int(v) < 0:
        raise ValueError(f"{name} must be >= 0, got {v!r}")
    return int(v)


def sharded_sample(comm, local_logits, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=0,
                   step=0, row_ids=None):
    """kelvin.sample over a vocabulary split across the ranks (rank r holds tokens
    cols_0 + ... + cols_{r-1} onwards): the same token as kelvin.sample on the
    concatenated logits for the same config, seed, row id and step, on every rank.

    An int for 1-D `local_logits`, else an int64 array (one token per row). Logits are
    sampled as float32, as kelvin.sample does."""
    def prepare():
        x = _np.asarray(local_logits)
        if x.dtype.kind not in "fiu" or x.dtype == _np.longdouble:
            raise TypeError(f"local_logits has dtype {x.dtype}; sharded_sample takes float16, "
                            "float32, float64 or integer logits")
        if x.ndim not in (1, 2):
            raise ValueError(f"local_logits must be 1-D (one row) or 2-D (rows), got {x.ndim}-D")
        one = x.ndim == 1
        x = _np.ascontiguousarray(x.reshape(1, -1) if one else x, dtype=_np.float32)
        if row_ids is None:
            ids = _np.arange(x.shape[0], dtype=_np.uint64)
        else:
            ids = _np.asarray(row_ids)
            if ids.dtype.kind not in "iu":
                raise TypeError(f"row_ids must be integers, got dtype {ids.dtype}")
            if _np.any(ids < 0):
                raise ValueError("row_ids must be >= 0")
            ids = ids.reshape(-1).astype(_np.uint64)
        return (x, one, ids, _temperature(temperature), _nonneg_int(top_k, "top_k"),
                float(top_p), float(min_p), _nonneg_int(seed, "seed"), _nonneg_int(step, "step"))

    x, one, ids, t, k, tp, mp, sd, st = _collectively(comm, prepare)
    tokens = _kelvin_mpi.sample(_handle(comm), x, t, k, tp, mp, sd, st, ids)
    return int(tokens[0]) if one else tokens
