"""float16 arrays: within 2 float16 ulp of the exact result (docs/contract.md).
softmax, log_softmax and log_partition run in float lanes (float argument and
exponential); smooth_max is the float32 result rounded once to float16.
Checked against SciPy in float64 on the same (exactly widened) values, rounded
to float16, within 2 float16 ulp; against kelvin's own float32 result (smooth_max:
the same bits once rounded; softmax at most one float16 step from it rounded; the
log families within 1 float16 ulp of max(|r|, 1) of it); and the contract's
limits. bfloat16 has no NumPy dtype: it is C/C++ only."""

import numpy as np
import pytest

import kelvin
from kelvin_testing import (
    FAMILIES,
    LAYOUTS,
    TEMPERATURES,
    assert_within,
    make_layout,
    reduced_shape,
    rng,
    scipy_family,
    ulp,
)

sp = pytest.importorskip("scipy.special")

CASES = [  # (shape, axis)
    ((37,), -1),
    ((6, 33), -1),
    ((6, 33), 0),
    ((3, 5, 7), 1),
    ((3, 5, 7), (0, 2)),
    ((2, 3, 4, 5), None),
]


def data(shape, temperature, seed):
    """x / T spread over about +-12 (every output matters), and x ~ N(0, 3)
    whatever T; both within float16's range."""
    g = rng(seed)
    scaled = temperature * (4 * g.standard_normal(shape) + 10)
    plain = 3 * g.standard_normal(shape)
    return [scaled.astype(np.float16), plain.astype(np.float16)]


def reference(family, x, temperature, axis):
    """SciPy in float64 on x's exact values, rounded to float16."""
    wide = x.astype(np.float32).astype(np.float64)
    return np.asarray(scipy_family(family, wide, temperature, axis)).astype(np.float16)


def tolerance(family, want):
    """2 float16 ulp (of max(|want|, 1) for the log families); below float16's
    smallest normal, 2 * 2^-24."""
    w = np.asarray(want, dtype=np.float64)
    if family != "softmax":
        w = np.maximum(np.abs(w), 1)
    return 2 * ulp(w, np.float16)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("temperature", TEMPERATURES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-axis{c[1]}")
def test_float16_against_scipy(family, temperature, case):
    shape, axis = case
    fn = getattr(kelvin, family)
    for base in data(shape, temperature, seed=len(shape) * 7):
        want = reference(family, base, temperature, axis)
        tol = tolerance(family, want)
        same = fn(base.astype(np.float32), temperature, axis=axis)
        for layout in LAYOUTS:
            x = make_layout(base, layout)
            got = fn(x, temperature, axis=axis)
            assert np.asarray(got).dtype == np.float16
            assert np.shape(got) == (
                shape if family in ("softmax", "log_softmax") else reduced_shape(shape, axis))
            assert_within(got, want, tol, f"{family} {layout} vs scipy")
            rounded = np.asarray(same).astype(np.float16)
            if family == "softmax":  # float lanes: at most one float16 step away
                steps = np.abs(np.asarray(got).view(np.int16).astype(np.int32)
                               - rounded.view(np.int16).astype(np.int32))
                assert steps.max(initial=0) <= 1, f"{layout}: {steps.max()} steps"
            elif family == "smooth_max":  # the float32 result rounded once: the same bits
                np.testing.assert_array_equal(got, rounded)
            else:  # float lanes: within 1 float16 ulp of max(|r|, 1) of the float32 result
                assert_within(got, rounded, tolerance(family, rounded) / 2,
                              f"{family} {layout} vs float32")


def test_float16_limits():
    x = np.array([1, 3, 3, 2], np.float16)
    np.testing.assert_array_equal(kelvin.softmax(x, 0), np.array([0, 0.5, 0.5, 0], np.float16))
    assert kelvin.smooth_max(x, 0) == np.float16(3)
    m = np.array([1, -np.inf, 7, 2], np.float16)
    np.testing.assert_array_equal(kelvin.softmax(m, np.inf), np.float16([1 / 3, 0, 1 / 3, 1 / 3]))
    assert kelvin.log_partition(m, np.inf) == np.float16(np.log(3))
    assert np.all(np.isnan(kelvin.softmax(np.array([1, np.nan, 2], np.float16))))
    inf = np.array([1, np.inf, 2, np.inf], np.float16)
    np.testing.assert_array_equal(kelvin.softmax(inf, 0.5), np.float16([0, 0.5, 0, 0.5]))
    masked = np.full((2, 3), -np.inf, np.float16)
    assert np.all(kelvin.softmax(masked, empty_row="zero") == 0)
    assert np.all(np.isnan(kelvin.softmax(masked)))
    assert np.all(kelvin.log_partition(masked) == -np.inf)


def test_float16_subnormal_outputs_are_not_flushed():
    x = np.array([0, -12, -6], np.float16)
    got = kelvin.softmax(x)
    want = reference("softmax", x, 1.0, -1)
    assert 0 < got[1] < np.finfo(np.float16).tiny
    assert_within(got, want, tolerance("softmax", want), "subnormal float16 softmax")


def test_float16_out_in_place_per_row_temperatures_and_byte_order():
    g = rng(3)
    x = (4 * g.standard_normal((5, 300))).astype(np.float16)
    t = np.array([0.0, 0.07, 1.0, 30.0, np.inf])
    want = kelvin.softmax(x, t)
    assert want.dtype == np.float16
    for r in range(5):
        np.testing.assert_array_equal(want[r], kelvin.softmax(x[r], t[r]))
    out = np.empty_like(x)
    assert kelvin.softmax(x, t, out=out) is out
    np.testing.assert_array_equal(out, want)
    y = x.copy()
    kelvin.softmax(y, t, out=y)
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(kelvin.softmax(x.astype(">f2"), t), want)
    lz = kelvin.log_partition(x, t[:, None])
    assert lz.dtype == np.float16 and lz.shape == (5,)
    with pytest.raises(TypeError, match=r"^out has dtype float32 but the result is float16"):
        kelvin.softmax(x, out=np.empty(x.shape, np.float32))


def test_float16_long_rows():
    """Rows longer than kelvin's 65536-entry chunks run chunk by chunk."""
    x = (4 * rng(9).standard_normal((2, 70001))).astype(np.float16)
    for family in FAMILIES:
        got = getattr(kelvin, family)(x, 0.3)
        same = getattr(kelvin, family)(x.astype(np.float32), 0.3).astype(np.float16)
        if family == "smooth_max":
            np.testing.assert_array_equal(got, same)
        want = reference(family, x, 0.3, -1)
        assert_within(got, want, tolerance(family, want), f"long rows {family}")
