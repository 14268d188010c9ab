"""Losses with a temperature and their gradients, over NumPy arrays.

    >>> import numpy as np, kelvin.losses as L
    >>> x = np.full((1, 1025), -1.0); x[:, 0] = 1.0      # MoCo: K = 1024
    >>> L.info_nce(x, temperature=0.07)
    3.9983995314390973e-10

Every function computes in float64 (float32 arrays stay float32 in memory;
other dtypes are converted to float64) on kelvin's exact softmax, over rows
in parallel. With ``grad=False`` it returns the loss: a Python float, or an
array for ``reduction="none"``. With ``grad=True`` it returns a tuple: the
loss, the gradient of the (summed, for "none") loss with respect to each
array input that has one, in argument order, then its derivative with respect
to the temperature-like scalar (temperature, log_scale or scale).

Formulas, limits (T = 0, T = inf, masks, NaN) and errors: docs/loss.md.
Bad arguments raise ValueError (values, shapes) or TypeError (types).
"""

import numbers

import numpy as np

from . import _kelvin

_raw = _kelvin._loss

__all__ = [
    "clip",
    "cosine_softmax",
    "cross_entropy",
    "distillation",
    "info_nce",
    "info_nce_embeddings",
    "log_softmax_backward",
    "softmax_backward",
]


def _dtype_of(*arrays):
    """float32 when every floating input is float32, else float64."""
    kinds = [a.dtype for a in arrays]
    if kinds and all(k == np.float32 for k in kinds):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _array(a, name):
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers (got dtype {a.dtype})")
    return a


def _rows(a, name, dtype, ndim=2):
    a = np.ascontiguousarray(a, dtype=dtype)
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D (got shape {a.shape})")
    return a


def _scalar(v, name):
    if isinstance(v, (bool, np.bool_)) or isinstance(v, (str, bytes)):
        raise TypeError(f"{name} must be a real number (got {type(v).__name__})")
    if isinstance(v, numbers.Real):
        return float(v)
    a = np.asarray(v)
    if a.ndim != 0 or a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real number (got {type(v).__name__})")
    return float(a)


def _int(v, name):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an int (got {type(v).__name__})")
    return int(v)


def _labels(labels, rows):
    y = np.asarray(labels)
    if y.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers (got dtype {y.dtype})")
    y = np.ascontiguousarray(y, dtype=np.int64).reshape(-1)
    if y.shape[0] != rows:
        raise ValueError(f"labels has {y.shape[0]} entries but there are {rows} rows")
    return y


def _flag(grad):
    if not isinstance(grad, (bool, np.bool_)):
        raise TypeError(f"grad must be a bool (got {type(grad).__name__})")
    return bool(grad)


def cross_entropy(logits, labels, temperature=1.0, reduction="mean", ignore_index=-100,
                  label_smoothing=0.0, grad=False):
    """F.cross_entropy(logits / temperature, labels, ...) with PyTorch 1.13's semantics.

    logits: (N, C) or (C,). labels: N integer class indices (ignore_index rows
    count for nothing; "mean" divides by the others), or class probabilities
    of logits' shape. label_smoothing as PyTorch defines it. Returns the loss,
    or (loss, dL/dlogits, dL/dtemperature) with grad=True.
    """
    grad = _flag(grad)
    x = _array(logits, "logits")
    y = np.asarray(labels)
    probs = y.dtype.kind == "f"
    dtype = _dtype_of(x, y) if probs else _dtype_of(x)
    one_row = x.ndim == 1
    shape = x.shape
    x = _rows(x.reshape(1, -1) if one_row else x, "logits", dtype)
    if not isinstance(reduction, str):
        raise TypeError(f"reduction must be a str (got {type(reduction).__name__})")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none' (got {reduction!r})")
    t = _scalar(temperature, "temperature")
    eps = _scalar(label_smoothing, "label_smoothing")
    ignore = _int(ignore_index, "ignore_index")
    targets = lab = None
    if probs:
        if y.shape != shape:
            raise ValueError(f"probability targets have shape {y.shape} but logits {shape}")
        targets = np.ascontiguousarray(y.reshape(x.shape), dtype=dtype)
    else:
        lab = _labels(y, x.shape[0])
    g = np.empty_like(x) if grad else None
    losses = np.empty(x.shape[0], dtype) if reduction == "none" else None
    loss, dt = _raw.cross_entropy(x, lab, targets, t, reduction, ignore, eps, g, losses)
    if reduction == "none":
        loss = losses.reshape(()) if one_row else losses
    if not grad:
        return loss
    return loss, (g.reshape(-1) if one_row else g), dt


def distillation(student, teacher, labels=None, temperature=4.0, alpha=0.5, grad=False):
    """alpha * CE(student, labels) + (1 - alpha) * T^2 * KL(softmax(teacher/T) || softmax(student/T)).

    The hard term is at T = 1, mean over rows; KL is summed over classes and
    averaged over rows ("batchmean"). labels=None needs alpha=0. The teacher
    is a constant. Returns the loss, or (loss, dL/dstudent, dL/dtemperature).
    """
    grad = _flag(grad)
    s, u = _array(student, "student"), _array(teacher, "teacher")
    dtype = _dtype_of(s, u)
    s, u = _rows(s, "student", dtype), _rows(u, "teacher", dtype)
    lab = None if labels is None else _labels(labels, s.shape[0])
    g = np.empty_like(s) if grad else None
    loss, dt = _raw.distillation(s, u, lab, _scalar(temperature, "temperature"),
                                 _scalar(alpha, "alpha"), g)
    return (loss, g, dt) if grad else loss


def info_nce(logits, temperature=0.07, grad=False):
    """MoCo's InfoNCE: N x (1 + K) logits, the positive in column 0, mean over rows.

    Returns the loss, or (loss, dL/dlogits, dL/dtemperature).
    """
    grad = _flag(grad)
    x = _array(logits, "logits")
    x = _rows(x, "logits", _dtype_of(x))
    g = np.empty_like(x) if grad else None
    loss, dt = _raw.info_nce(x, _scalar(temperature, "temperature"), g)
    return (loss, g, dt) if grad else loss


def info_nce_embeddings(q, k, queue, temperature=0.07, normalize=True, grad=False):
    """InfoNCE from embeddings: logits = [q.k, q.queue^T] / T, never materialised.

    q, k: (N, D); queue: (K, D), a constant (used as given: MoCo keeps
    normalised keys). normalize=True L2-normalises q and k first. Returns the
    loss, or (loss, dL/dq, dL/dk, dL/dtemperature).
    """
    grad = _flag(grad)
    if not isinstance(normalize, (bool, np.bool_)):
        raise TypeError(f"normalize must be a bool (got {type(normalize).__name__})")
    arrs = [_array(a, n) for a, n in ((q, "q"), (k, "k"), (queue, "queue"))]
    dtype = _dtype_of(*arrs)
    q, k, queue = (_rows(a, n, dtype) for a, n in zip(arrs, ("q", "k", "queue")))
    gq = np.empty_like(q) if grad else None
    gk = np.empty_like(k) if grad else None
    loss, dt = _raw.info_nce_embeddings(q, k, queue, _scalar(temperature, "temperature"),
                                        bool(normalize), gq, gk)
    return (loss, gq, gk, dt) if grad else loss


def clip(image_features, text_features, log_scale, grad=False):
    """CLIP's symmetric loss over the N x N similarities of L2-normalised features.

    scale = min(exp(log_scale), 100). Returns the loss, or (loss, dL/dimage,
    dL/dtext, dL/dlog_scale); the last is 0 while the clamp holds.
    """
    grad = _flag(grad)
    a, b = _array(image_features, "image_features"), _array(text_features, "text_features")
    dtype = _dtype_of(a, b)
    a, b = _rows(a, "image_features", dtype), _rows(b, "text_features", dtype)
    ga = np.empty_like(a) if grad else None
    gb = np.empty_like(b) if grad else None
    loss, dls = _raw.clip(a, b, _scalar(log_scale, "log_scale"), ga, gb)
    return (loss, ga, gb, dls) if grad else loss


def cosine_softmax(features, weights, labels, scale=30.0, margin=0.0, margin_type="none",
                   grad=False):
    """NormFace / CosFace / ArcFace: cross-entropy of scale * cos(features, weights).

    features (N, D) and weights (C, D) are L2-normalised; the target class's
    cosine becomes cos - margin (cosface) or cos(theta + margin) (arcface,
    with InsightFace's fallback cos - margin * sin(margin) once theta + margin
    > pi). Returns the loss, or (loss, dL/dfeatures, dL/dweights, dL/dscale).
    """
    grad = _flag(grad)
    if not isinstance(margin_type, str):
        raise TypeError(f"margin_type must be a str (got {type(margin_type).__name__})")
    f, w = _array(features, "features"), _array(weights, "weights")
    dtype = _dtype_of(f, w)
    f, w = _rows(f, "features", dtype), _rows(w, "weights", dtype)
    lab = _labels(labels, f.shape[0])
    gf = np.empty_like(f) if grad else None
    gw = np.empty_like(w) if grad else None
    loss, ds = _raw.cosine_softmax(f, w, lab, _scalar(scale, "scale"), _scalar(margin, "margin"),
                                   margin_type, gf, gw)
    return (loss, gf, gw, ds) if grad else loss


def _backward(fn, y, dy, temperature, names):
    y, dy = _array(y, names[0]), _array(dy, names[1])
    dtype = _dtype_of(y, dy)
    one_row = y.ndim == 1
    y = _rows(y.reshape(1, -1) if one_row else y, names[0], dtype)
    dy = _rows(dy.reshape(1, -1) if one_row else dy, names[1], dtype)
    dx = np.empty_like(y)
    dt = np.empty(y.shape[0])
    fn(y, dy, dx, dt, _scalar(temperature, "temperature"))
    return (dx.reshape(-1), dt[0]) if one_row else (dx, dt)


def softmax_backward(y, dy, temperature=1.0):
    """Given y = softmax(x / T) over the last axis and dy = dL/dy: (dL/dx, dL/dT per row)."""
    return _backward(_raw.softmax_backward, y, dy, temperature, ("y", "dy"))


def log_softmax_backward(z, dz, temperature=1.0):
    """Given z = log_softmax(x / T) over the last axis and dz = dL/dz: (dL/dx, dL/dT per row)."""
    return _backward(_raw.log_softmax_backward, z, dz, temperature, ("z", "dz"))
