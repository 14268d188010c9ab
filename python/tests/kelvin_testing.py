"""Shared helpers of kelvin's pytest suite: an extended-precision oracle,
ulp distances, and the error bounds of peers that compute softmax(x / T)."""

import math

import numpy as np

FAMILIES = ("softmax", "log_softmax", "log_partition", "smooth_max")
REDUCTIONS = ("log_partition", "smooth_max")
DTYPES = (np.float32, np.float64)
TEMPERATURES = (1e-3, 0.07, 1.0, 10.0, 1e3)


def rng(seed=0):
    return np.random.default_rng(seed)


def reduced_axes(axis, ndim):
    """axis (int, tuple or None) as a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(sorted(a % ndim for a in axis))


def reduced_shape(shape, axis):
    axes = reduced_axes(axis, len(shape))
    return tuple(n for d, n in enumerate(shape) if d not in axes)


def expand(t, axes):
    """A per-row temperature of the reduced shape, broadcastable against x."""
    t = np.asarray(t)
    return np.expand_dims(t, axes) if t.ndim else t


def oracle(family, x, temperature, axis):
    """The family in long double (64-bit significand on x86), for finite x and
    0 < T < inf. Returns (result, the oracle's own error bound: relative for
    softmax, absolute otherwise). Each argument a_i = (x_i - max) / T carries
    about 2^-64 |a_i|, and log S the p-weighted mean of those."""
    z = np.asarray(x, dtype=np.longdouble)
    axes = reduced_axes(axis, z.ndim)
    t = expand(np.asarray(temperature, dtype=np.longdouble), axes)
    m = np.max(z, axis=axes, keepdims=True)
    a = (z - m) / t
    e = np.exp(a)
    s = np.sum(e, axis=axes, keepdims=True)
    u = np.longdouble(2.0**-62)
    w = np.sum(e / s * np.abs(a), axis=axes, keepdims=True) + 4
    if family == "softmax":
        return e / s, u * (np.abs(a) + w)
    if family == "log_softmax":
        r = a - np.log(s)
        return r, u * (np.abs(a) + w + np.abs(r))
    if family == "log_partition":
        r = np.squeeze(m / t + np.log(s), axis=axes)
    else:
        r = np.squeeze(m + t * np.log(s), axis=axes)
    return r, u * (np.squeeze(w, axis=axes) + np.abs(r))


def ulp(r, dtype):
    """The spacing of dtype at |r| (r exact), never below the smallest subnormal."""
    fi = np.finfo(dtype)
    a = np.maximum(np.abs(np.asarray(r, dtype=np.longdouble)), np.longdouble(fi.tiny))
    e = np.floor(np.log2(a))
    return np.exp2(e - fi.nmant)


def assert_within(got, want, tol, what):
    """|got - want| <= tol elementwise (inf == inf, NaN where NaN); the message
    gives the worst entry in units of tol."""
    got = np.asarray(got, dtype=np.longdouble)
    want = np.asarray(want, dtype=np.longdouble)
    tol = np.broadcast_to(np.asarray(tol, dtype=np.longdouble), want.shape)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    err = np.where(same, 0, np.abs(got - want))
    err = np.where(np.isnan(err), np.inf, err)
    ratio = err / tol
    worst = np.unravel_index(np.argmax(ratio), ratio.shape) if ratio.size else ()
    assert not ratio.size or ratio[worst] <= 1, (
        f"{what}: |got - want| = {float(err[worst]):.3g} at {worst} is {float(ratio[worst]):.3g}x "
        f"the tolerance {float(tol[worst]):.3g} (got {float(got[worst])!r}, want {float(want[worst])!r})"
    )


def kelvin_tolerance(family, want, oracle_err, dtype):
    """kelvin's contract (docs/contract.md): softmax within 2 ulp (absolute
    2 * 2^-149 below FLT_MIN for float32), log_softmax and log_partition within 2
    ulp of max(|result|, 1). smooth_max = T * log_partition gets the same 2 ulp
    of max(|result|, 1) (the contract states no separate bound). Plus the
    oracle's own error."""
    if family == "softmax":
        return 2 * ulp(want, dtype) + np.abs(want) * oracle_err
    return 2 * ulp(np.maximum(np.abs(want), 1), dtype) + oracle_err


def peer_tolerance(family, x, temperature, axis, dtype, want):
    """The error of a peer that computes softmax(x / T) in dtype: rounding
    z = x / T costs eps * |z| in every argument, x - max again, exp and the
    sum a few eps more. Relative for softmax, absolute for the others."""
    eps = float(np.finfo(dtype).eps)
    axes = reduced_axes(axis, np.ndim(x))
    t = expand(np.asarray(temperature, dtype=np.float64), axes)
    z = np.abs(np.asarray(x, dtype=np.float64) / t)
    zmax = np.max(z, axis=axes, keepdims=True) if z.size else z
    n = max(1, math.prod(np.shape(x)[d] for d in axes))
    slack = 8 + 2 * math.log2(n)
    tiny = 8 * float(np.finfo(dtype).smallest_subnormal)
    if family == "softmax":
        return np.abs(want) * eps * (6 * zmax + slack) + tiny
    if family == "log_softmax":
        return eps * (6 * zmax + slack + 2 * np.abs(want))
    lz = eps * (4 * np.squeeze(zmax, axis=axes) + slack)
    if family == "log_partition":
        return lz + eps * np.abs(want)
    t_rows = np.squeeze(t, axis=axes) if np.ndim(t) else t
    return t_rows * lz + eps * np.abs(want)


def scipy_family(family, x, temperature, axis):
    """SciPy's way, in x's dtype: softmax(x / T), log_softmax(x / T),
    logsumexp(x / T) and T * logsumexp(x / T)."""
    import scipy.special as sp

    axes = reduced_axes(axis, np.ndim(x))
    t = np.asarray(temperature, dtype=x.dtype)
    z = x / expand(t, axes)
    if family == "softmax":
        return sp.softmax(z, axis=axis)
    if family == "log_softmax":
        return sp.log_softmax(z, axis=axis)
    lz = sp.logsumexp(z, axis=axis)
    return lz if family == "log_partition" else t * lz


def make_layout(base, layout):
    """A view of `base`'s values with another memory layout (same shape)."""
    if layout == "C":
        return np.ascontiguousarray(base)
    if layout == "F":
        return np.asfortranarray(base)
    if layout == "reversed":  # negative strides on every axis
        flip = np.ascontiguousarray(base[(slice(None, None, -1),) * base.ndim])
        return flip[(slice(None, None, -1),) * base.ndim]
    if layout == "gapped":  # every other element of a bigger array
        big = np.zeros(tuple(2 * n for n in base.shape), dtype=base.dtype)
        view = big[(slice(None, None, 2),) * base.ndim]
        view[...] = base
        return view
    if layout == "transposed":  # a transpose of a C-contiguous array
        perm = tuple(reversed(range(base.ndim)))
        return np.ascontiguousarray(base.transpose(perm)).transpose(perm)
    raise ValueError(layout)


LAYOUTS = ("C", "F", "reversed", "gapped", "transposed")
