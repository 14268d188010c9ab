"""Temperature sampling for decoding: greedy, top-k, top-p, min-p, typical and
dynamic temperature, exact and reproducible.

    >>> import numpy as np, kelvin
    >>> logits = np.array([2.0, 1.0, 0.0, -1.0])
    >>> kelvin.sample(logits, temperature=0.8, top_k=3, seed=7)
    2
    >>> kelvin.sampling_distribution(logits, temperature=0.5, top_p=0.7)
    array([0.88079708, 0.11920292, 0.        , 0.        ])

A row's token depends only on its logits, its config, the seed, its row id
and the step (Philox4x32-10 keyed by the seed, counter (step, row id)), never
on the batch around it or the thread count. `sampling_distribution` returns
the exact probabilities `sample` draws from. Logits are sampled as float32
(float64 inputs are rounded to float32 first). docs/sampling.md has the chain,
its ties and both orders.
"""

import numbers

import numpy as np

from . import _kelvin

__all__ = ["sample", "sampling_distribution"]

_ORDERS = {"temperature_first": 0, "temperature_last": 1}
_raw = _kelvin._sampling


_F32 = np.dtype(np.float32)


def _logits(logits):
    if type(logits) is np.ndarray and logits.dtype is _F32 and logits.ndim in (1, 2) \
            and logits.flags.c_contiguous:  # the common case, without copies
        return (logits.reshape(1, -1) if logits.ndim == 1 else logits), logits.ndim == 1
    if isinstance(logits, np.ma.MaskedArray):
        raise TypeError("logits is a numpy.ma.MaskedArray; mask with -inf instead")
    a = np.asarray(logits)
    if a.dtype.kind not in "fiu" or a.dtype == np.longdouble:
        raise TypeError(
            f"logits has dtype {a.dtype}; kelvin.sample takes float16, float32, float64 "
            "or integer logits")
    if a.ndim not in (1, 2):
        raise ValueError(f"logits must be 1-D (one row) or 2-D (rows), got shape {a.shape}")
    one = a.ndim == 1
    a = np.ascontiguousarray(a.reshape(1, -1) if one else a, dtype=np.float32)
    return a, one


def _per_row(value, name, rows, kind):
    """value as an array of `rows` entries: a scalar, or (2-D logits) one per row."""
    arr = np.asarray(value)
    if arr.dtype == object or arr.dtype.kind not in ("biuf" if kind == "float" else "iu"):
        if kind == "int" and arr.dtype.kind == "f" and np.all(np.isfinite(arr)) \
                and np.all(arr == np.floor(arr)):
            arr = arr.astype(np.int64)
        else:
            want = "an int" if kind == "int" else "a real number"
            raise TypeError(f"{name} must be {want} or one per row (got {value!r})")
    if arr.dtype.kind == "b" and kind == "float":
        raise TypeError(f"{name} must be a real number (got {value!r})")
    if arr.ndim == 0:
        return np.full(rows, arr, dtype=np.float64 if kind == "float" else np.int64)
    if arr.shape != (rows,):
        raise ValueError(f"{name} must be a scalar or have one entry per row ({rows}), "
                         f"got shape {arr.shape}")
    return arr.astype(np.float64 if kind == "float" else np.int64)


def _uint64(value, name, rows):
    arr = np.asarray(value)
    if arr.dtype == object or arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be a non-negative int (got {value!r})")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0 (got {value!r})")
    if arr.ndim == 0:
        return np.full(rows, arr, dtype=np.uint64)
    if arr.shape != (rows,):
        raise ValueError(f"{name} must be a scalar or have one entry per row ({rows}), "
                         f"got shape {arr.shape}")
    return arr.astype(np.uint64)


def _order(order, rows):
    items = [order] if isinstance(order, str) else list(np.asarray(order).ravel()) \
        if not isinstance(order, str) and np.ndim(order) == 1 else None
    if items is None:
        raise TypeError(f"order must be 'temperature_first' or 'temperature_last' (got {order!r})")
    codes = []
    for o in items:
        if str(o) not in _ORDERS:
            raise ValueError(
                f"order must be 'temperature_first' or 'temperature_last' (got {o!r})")
        codes.append(_ORDERS[str(o)])
    if len(codes) == 1:
        return np.full(rows, codes[0], dtype=np.uint8)
    if len(codes) != rows:
        raise ValueError(f"order must be one string or one per row ({rows}), got {len(codes)}")
    return np.array(codes, dtype=np.uint8)


def _configs(rows, temperature, top_k, top_p, min_p, typical_p, min_keep, order, dynamic_range,
             dynamic_exponent, seed):
    return _raw.Configs(
        _per_row(temperature, "temperature", rows, "float"),
        _per_row(top_k, "top_k", rows, "int"),
        _per_row(top_p, "top_p", rows, "float"),
        _per_row(min_p, "min_p", rows, "float"),
        _per_row(typical_p, "typical_p", rows, "float"),
        _per_row(min_keep, "min_keep", rows, "int"),
        _order(order, rows),
        _per_row(dynamic_range, "dynamic_range", rows, "float"),
        _per_row(dynamic_exponent, "dynamic_exponent", rows, "float"),
        _uint64(seed, "seed", rows),
    )


# The exact scalar types of the fast path (type(v) in a set: one lookup,
# where isinstance against tuples and the bool exclusions cost 1 us a call);
# anything else, subclasses and bools included, takes the general path.
_INTS = frozenset((int, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                   np.uint64, np.longlong, np.ulonglong))
_REALS = _INTS | frozenset((float, np.float16, np.float32, np.float64))


def _scalar_config(temperature, top_k, top_p, min_p, typical_p, min_keep, order, dynamic_range,
                   dynamic_exponent, seed, step):
    """The config as checked scalars for sample_one_config, or None when some
    value is not a scalar (the general path then checks and broadcasts)."""
    reals, ints = _REALS, _INTS
    if not (type(temperature) in reals and type(top_p) in reals and type(min_p) in reals
            and type(typical_p) in reals and type(dynamic_range) in reals
            and type(dynamic_exponent) in reals and type(top_k) in ints
            and type(min_keep) in ints and type(seed) in ints):
        return None
    if type(order) is not str or order not in _ORDERS:
        return None
    if not 0 <= seed < 2**64 or not -2**63 <= top_k < 2**63 or not -2**63 <= min_keep < 2**63:
        return None
    return (float(temperature), int(top_k), float(top_p), float(min_p), float(typical_p),
            int(min_keep), _ORDERS[order], float(dynamic_range), float(dynamic_exponent),
            int(seed), int(step))


def sample(logits, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, typical_p=1.0, min_keep=1,
           order="temperature_last", dynamic_range=0.0, dynamic_exponent=1.0, seed=0, step=0,
           row_ids=None, return_logprobs=False):
    """Draws the next token from logits.

    logits: 1-D (one row; returns an int) or 2-D (rows; returns an int64 array).
    Every config argument is a scalar or (2-D logits) one value per row.
    temperature: T >= 0; 0 is greedy (the argmax, ties to the lowest index).
    top_k=0, top_p=1, min_p=0, typical_p=1 mean off; min_keep is honoured by every
    truncation; order: 'temperature_last' (llama.cpp: truncations see the raw
    logits) or 'temperature_first' (transformers: they see the tempered ones).
    dynamic_range, dynamic_exponent: llama.cpp's dynamic temperature.
    seed, step, row_ids (default arange(rows)): the generator's key and counter.
    return_logprobs: also return the token's log-probability under the final
    distribution and under the raw logits (log_softmax at T = 1):
    (token, logprob, raw_logprob).
    """
    x, one = _logits(logits)
    rows = x.shape[0]
    if type(step) is not int and (isinstance(step, (bool, np.bool_))
                                  or not isinstance(step, numbers.Integral)):
        raise TypeError(f"step must be a non-negative int (got {step!r})")
    if step < 0 or step >= 2**64:
        raise ValueError(f"step must be in [0, 2**64) (got {step!r})")
    fast = _scalar_config(temperature, top_k, top_p, min_p, typical_p, min_keep, order,
                          dynamic_range, dynamic_exponent, seed, step)
    if fast is not None and (row_ids is None or np.ndim(row_ids) == 1):
        ids = None if row_ids is None else _uint64(row_ids, "row_ids", rows)
        r = _raw.sample_one_config(x, *fast, ids, bool(return_logprobs), one)
        if not one:
            return r
        if return_logprobs:
            return int(r[0][0]), float(r[1][0]), float(r[2][0])
        return r
    configs = _configs(rows, temperature, top_k, top_p, min_p, typical_p, min_keep, order,
                       dynamic_range, dynamic_exponent, seed)
    ids = np.arange(rows, dtype=np.uint64) if row_ids is None else _uint64(row_ids, "row_ids", rows)
    if row_ids is not None and np.ndim(row_ids) == 0 and rows > 1:
        raise ValueError("row_ids must have one entry per row")
    tokens, lp, raw = _raw.sample(x, configs, int(step), ids, bool(return_logprobs))
    if one:
        if return_logprobs:
            return int(tokens[0]), float(lp[0]), float(raw[0])
        return int(tokens[0])
    if return_logprobs:
        return tokens, lp, raw
    return tokens


def sampling_distribution(logits, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, typical_p=1.0,
                          min_keep=1, order="temperature_last", dynamic_range=0.0,
                          dynamic_exponent=1.0):
    """The exact probabilities `sample` draws from: float64, the shape of
    logits, zeros outside the kept set (one-hot for temperature 0)."""
    x, one = _logits(logits)
    configs = _configs(x.shape[0], temperature, top_k, top_p, min_p, typical_p, min_keep, order,
                       dynamic_range, dynamic_exponent, 0)
    p = _raw.sampling_distribution(x, configs)
    return p[0] if one else p
