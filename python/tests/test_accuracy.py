"""kelvin against an extended-precision oracle and against SciPy, on seeded
random data: float32 and float64, several shapes, axes and memory layouts,
temperatures 1e-3 .. 1e3.

kelvin is held to its contract (2 ulp, docs/contract.md). SciPy is given
x / T as its users do, so it is held only to its own error, which grows with
|x / T| (float32: about 1000 ulp at T = 1e-3); for float32 data SciPy is also
run in float64, which is then accurate enough to check kelvin's 2 ulp."""

import numpy as np
import pytest

import kelvin
from kelvin_testing import (
    DTYPES,
    FAMILIES,
    LAYOUTS,
    TEMPERATURES,
    assert_within,
    kelvin_tolerance,
    make_layout,
    oracle,
    peer_tolerance,
    reduced_shape,
    rng,
    scipy_family,
)

sp = pytest.importorskip("scipy.special")

CASES = [  # (shape, axis)
    ((37,), -1),
    ((6, 33), -1),
    ((6, 33), 0),
    ((3, 5, 7), 1),
    ((3, 5, 7), (0, 2)),
    ((2, 3, 4, 5), (1, 2)),
    ((2, 3, 4, 5), None),
    ((4, 9), ()),
]


def data(shape, dtype, temperature, seed):
    """Two inputs: x / T spread over about +-12 around an offset (every output
    matters), and x ~ N(0, 3) whatever T (outputs underflow at small T and
    flatten at large T)."""
    g = rng(seed)
    scaled = temperature * (4 * g.standard_normal(shape) + 50)
    plain = 3 * g.standard_normal(shape)
    return [scaled.astype(dtype), plain.astype(dtype)]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("temperature", TEMPERATURES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-axis{c[1]}")
def test_against_oracle_and_scipy(family, dtype, temperature, case):
    shape, axis = case
    fn = getattr(kelvin, family)
    for base in data(shape, dtype, temperature, seed=len(shape) * 7):
        want, err = oracle(family, base, temperature, axis)
        tol = kelvin_tolerance(family, want, err, dtype)
        for layout in LAYOUTS:
            x = make_layout(base, layout)
            got = fn(x, temperature, axis=axis)
            assert np.asarray(got).dtype == dtype
            assert np.shape(got) == (shape if family in ("softmax", "log_softmax") else reduced_shape(shape, axis))
            assert_within(got, want, tol, f"{family} {layout} vs oracle")
        # SciPy in x's dtype, within SciPy's error plus kelvin's.
        peer = scipy_family(family, base, temperature, axis)
        assert np.asarray(peer).dtype == dtype
        assert_within(got, peer, tol + peer_tolerance(family, base, temperature, axis, dtype, want),
                      f"{family} vs scipy {dtype.__name__}")
        if dtype == np.float32:
            # SciPy in float64: accurate enough to check kelvin's float32 2 ulp.
            peer64 = scipy_family(family, base.astype(np.float64), temperature, axis)
            assert_within(got, peer64,
                          tol + peer_tolerance(family, base, temperature, axis, np.float64, want),
                          f"{family} vs scipy float64")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_per_row_temperatures_against_scipy(dtype):
    g = rng(11)
    x = (5 * g.standard_normal((6, 40))).astype(dtype)
    t = 10.0 ** g.uniform(-3, 3, size=6)
    got = kelvin.softmax(x, t)
    want, err = oracle("softmax", x, t, -1)
    assert_within(got, want, kelvin_tolerance("softmax", want, err, dtype), "per-row softmax")
    for family in FAMILIES:
        want, err = oracle(family, x, t, -1)
        got = getattr(kelvin, family)(x, t[:, None])  # keepdims form
        peer = scipy_family(family, x.astype(np.float64), t, -1)
        assert_within(got, peer, peer_tolerance(family, x, t, -1, np.float64, want)
                      + kelvin_tolerance(family, want, err, dtype), f"per-row {family} vs scipy")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_overflowing_inputs(dtype):
    """x in [90, 100]: exp(x) overflows float32, so code that skips the max
    subtraction breaks; kelvin and SciPy both subtract it."""
    x = np.linspace(90, 100, 50, dtype=dtype)
    for family in FAMILIES:
        got = getattr(kelvin, family)(x)
        want, err = oracle(family, x, 1.0, -1)
        assert_within(got, want, kelvin_tolerance(family, want, err, dtype), family)
        assert np.all(np.isfinite(got))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_subnormal_outputs_are_not_flushed(dtype):
    """Outputs below the smallest normal are computed (within 2 * the smallest
    subnormal), not flushed to zero."""
    gap = 100.0 if dtype == np.float32 else 740.0
    x = np.array([0.0, -gap, -gap / 2], dtype=dtype)
    got = kelvin.softmax(x)
    want, err = oracle("softmax", x, 1.0, -1)
    assert got[1] > 0 and got[1] < np.finfo(dtype).tiny
    assert_within(got, want, kelvin_tolerance("softmax", want, err, dtype), "subnormal softmax")


def test_rows_sum_to_one():
    g = rng(5)
    for dtype in DTYPES:
        x = (4 * g.standard_normal((8, 3000))).astype(dtype)
        s = kelvin.softmax(x, 0.3).astype(np.longdouble).sum(axis=-1)
        assert np.all(np.abs(s - 1) <= 3 * np.finfo(dtype).eps)
