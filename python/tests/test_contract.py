"""The edge cases of kelvin's numeric contract (docs/contract.md), through
the Python module, and what SciPy and PyTorch return for the same rows when
given x / T as their users do.

Where the peers return NaN and kelvin returns the limit (recorded by
test_peers_return_nan_where_kelvin_returns_the_limit, measured with SciPy 1.10
and PyTorch 1.13):

| row, T                          | kelvin softmax          | SciPy / PyTorch softmax(x / T) |
| ------------------------------- | ----------------------- | ------------------------------ |
| [1, 3, 3, 2], T = 0             | [0, .5, .5, 0] (hardmax)| NaN everywhere                 |
| [-inf, 3, 3, 2], T = inf        | [0, 1/3, 1/3, 1/3]      | NaN everywhere (-inf / inf)    |
| [1, inf, inf, 2], T = 1         | [0, .5, .5, 0]          | NaN everywhere (inf - inf)     |
| float32 [FLT_MAX, -FLT_MAX, 0], T = 0.5 | [1, 0, 0]       | NaN everywhere (x / T overflows) |
| float32 [1, 2, 2, 0], T = 1e-40 | [0, .5, .5, 0]          | NaN everywhere (x / T overflows) |

log_softmax follows (SciPy's log_softmax gives NaN or a mix of NaN and -inf),
and logsumexp(x / T) is NaN for the masked row at T = inf where kelvin's
log_partition gives log 3. The rows where every entry is -inf are NaN for all
three by default; kelvin's empty_row="zero" gives probabilities 0 instead.
"""

import math

import numpy as np
import pytest

import kelvin
from kelvin_testing import DTYPES, FAMILIES

INF = math.inf
NAN = math.nan
LOG2, LOG3, LOG4 = math.log(2), math.log(3), math.log(4)

# (name, x, T, {family: expected}); for float32 and float64 alike.
CASES = [
    ("T=0 ties split", [1, 3, 3, 2], 0.0, {
        "softmax": [0, .5, .5, 0], "log_softmax": [-INF, -LOG2, -LOG2, -INF],
        "log_partition": INF, "smooth_max": 3}),
    ("T=0 max < 0", [-1, -3, -3, -2], 0.0, {
        "softmax": [1, 0, 0, 0], "log_softmax": [0, -INF, -INF, -INF],
        "log_partition": -INF, "smooth_max": -1}),
    ("T=0 max == 0", [0, -1, 0], 0.0, {
        "softmax": [.5, 0, .5], "log_softmax": [-LOG2, -INF, -LOG2],
        "log_partition": LOG2, "smooth_max": 0}),
    ("T=inf uniform", [1, 3, 3, 2], INF, {
        "softmax": [.25] * 4, "log_softmax": [-LOG4] * 4,
        "log_partition": LOG4, "smooth_max": INF}),
    ("T=inf masked", [-INF, 3, 3, 2], INF, {
        "softmax": [0, 1 / 3, 1 / 3, 1 / 3], "log_softmax": [-INF, -LOG3, -LOG3, -LOG3],
        "log_partition": LOG3, "smooth_max": INF}),
    ("T=inf one live entry", [-INF, 5, -INF], INF, {
        "softmax": [0, 1, 0], "log_softmax": [-INF, 0, -INF],
        "log_partition": 0, "smooth_max": 5}),
    ("+inf entries share", [1, INF, INF, 2], 1.0, {
        "softmax": [0, .5, .5, 0], "log_softmax": [-INF, -LOG2, -LOG2, -INF],
        "log_partition": INF, "smooth_max": INF}),
    ("+inf entry at T=0", [1, INF, 2], 0.0, {
        "softmax": [0, 1, 0], "log_softmax": [-INF, 0, -INF],
        "log_partition": INF, "smooth_max": INF}),
    ("-inf masks", [-INF, 0, 0, -INF], 1.0, {
        "softmax": [0, .5, .5, 0], "log_softmax": [-INF, -LOG2, -LOG2, -INF],
        "log_partition": LOG2, "smooth_max": LOG2}),
    ("NaN poisons the row", [1, NAN, 2], 1.0, {
        "softmax": [NAN] * 3, "log_softmax": [NAN] * 3,
        "log_partition": NAN, "smooth_max": NAN}),
    ("NaN beats T=0", [1, NAN, 2], 0.0, {
        "softmax": [NAN] * 3, "log_softmax": [NAN] * 3,
        "log_partition": NAN, "smooth_max": NAN}),
    ("all -inf (nan policy)", [-INF, -INF], 1.0, {
        "softmax": [NAN] * 2, "log_softmax": [NAN] * 2,
        "log_partition": -INF, "smooth_max": -INF}),
    ("tiny T ties", [1, 2, 2, 0], 1e-30, {
        "softmax": [0, .5, .5, 0], "smooth_max": 2}),
    ("T=1e-300", [1, 2, 2, 0], 1e-300, {
        "softmax": [0, .5, .5, 0], "smooth_max": 2}),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_contract_cases(case, dtype):
    _, x, t, expected = case
    x = np.array(x, dtype=dtype)
    for family, want in expected.items():
        got = getattr(kelvin, family)(x, t)
        if np.all(np.isfinite(want)):
            np.testing.assert_array_max_ulp(np.asarray(got), np.asarray(want, dtype=np.float64).astype(dtype), maxulp=1)
        else:
            np.testing.assert_array_equal(got, np.asarray(want, dtype=np.float64).astype(dtype))
        assert np.asarray(got).dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_empty_row_policy(dtype):
    x = np.array([[-INF, -INF, -INF], [0, -INF, 0]], dtype=dtype)
    np.testing.assert_array_equal(kelvin.softmax(x), [[NAN] * 3, [.5, 0, .5]])
    np.testing.assert_array_equal(kelvin.softmax(x, empty_row="zero"), [[0] * 3, [.5, 0, .5]])
    np.testing.assert_array_equal(kelvin.log_softmax(x, empty_row="zero")[0], [-INF] * 3)
    np.testing.assert_array_equal(kelvin.log_softmax(x, empty_row="nan")[0], [NAN] * 3)
    for policy in ("nan", "zero"):  # reductions give -inf either way
        np.testing.assert_array_equal(kelvin.log_partition(x, empty_row=policy),
                                      np.array([-INF, LOG2], dtype=dtype))
        np.testing.assert_array_equal(kelvin.smooth_max(x, empty_row=policy)[0], -INF)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_rows_without_entries(dtype):
    x = np.zeros((3, 0), dtype=dtype)
    assert kelvin.softmax(x).shape == (3, 0)
    np.testing.assert_array_equal(kelvin.log_partition(x), [-INF] * 3)
    np.testing.assert_array_equal(kelvin.smooth_max(x, 0.5), [-INF] * 3)
    assert kelvin.log_partition(np.zeros((0, 4), dtype=dtype)).shape == (0,)
    assert kelvin.softmax(np.zeros((0, 4), dtype=dtype), [1.0]).shape == (0, 4)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_rows_are_independent(dtype):
    """Special rows next to ordinary ones, with per-row temperatures 0 and inf."""
    x = np.array([[1, 2, 3], [1, NAN, 3], [-INF, -INF, -INF], [1, INF, 3], [3, 1, 3], [1, 2, -INF]],
                 dtype=dtype)
    t = np.array([1, 1, 1, 1, 0, INF])
    got = kelvin.softmax(x, t)
    e = np.exp(np.array([1, 2, 3]) - 3.0)
    np.testing.assert_array_max_ulp(got[0], (e / e.sum()).astype(dtype), maxulp=2)
    np.testing.assert_array_equal(got[1:], np.array(
        [[NAN] * 3, [NAN] * 3, [0, 1, 0], [.5, 0, .5], [.5, .5, 0]], dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_huge_values_do_not_overflow(dtype):
    big = float(np.finfo(dtype).max)
    x = np.array([big, -big, 0], dtype=dtype)
    for t in (1.0, 0.5, 2.0, 1e-20, 1e20):
        np.testing.assert_array_equal(kelvin.softmax(x, t), [1, 0, 0])
        assert kelvin.smooth_max(x, t) == np.asarray(big, dtype=dtype)
    x = np.array([big, big, big / 2], dtype=dtype)
    np.testing.assert_array_equal(kelvin.softmax(x, 0.25), [.5, .5, 0])
    # log_partition at T = 0.5 is 2 * FLT_MAX: inf in float32, finite in float64.
    lz = kelvin.log_partition(np.array([big, 0], dtype=dtype), 0.5)
    assert lz == (INF if dtype == np.float32 else 2 * big)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_subnormal_temperatures_and_inputs(dtype):
    x = np.array([1, 2, 2, 0], dtype=dtype)
    for t in (1e-30, 1e-40, 5e-324):
        np.testing.assert_array_equal(kelvin.softmax(x, t), [0, .5, .5, 0])
        assert kelvin.smooth_max(x, t) == 2
    tiny = np.array([np.finfo(dtype).smallest_subnormal, 0], dtype=dtype)
    np.testing.assert_array_equal(kelvin.softmax(tiny, 0.0), [1, 0])
    got = kelvin.softmax(tiny, np.finfo(dtype).smallest_subnormal)  # x / T = [1, 0]
    e = math.e
    np.testing.assert_array_max_ulp(got, np.array([e / (e + 1), 1 / (e + 1)], dtype=dtype), maxulp=2)


# ---- the peers -------------------------------------------------------------

PEER_NAN = [  # (name, x, T, dtype): rows where SciPy and PyTorch give NaN
    ("T=0", [1, 3, 3, 2], 0.0, np.float64, [0, .5, .5, 0]),
    ("T=inf masked", [-INF, 3, 3, 2], INF, np.float64, [0, 1 / 3, 1 / 3, 1 / 3]),
    ("+inf entries", [1, INF, INF, 2], 1.0, np.float64, [0, .5, .5, 0]),
    ("float32 FLT_MAX at T=0.5", [3.4028234663852886e38, -3.4028234663852886e38, 0], 0.5,
     np.float32, [1, 0, 0]),
    ("float32 T=1e-40", [1, 2, 2, 0], 1e-40, np.float32, [0, .5, .5, 0]),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("case", PEER_NAN, ids=lambda c: c[0])
def test_peers_return_nan_where_kelvin_returns_the_limit(case):
    _, x, t, dtype, limit = case
    x = np.array(x, dtype=dtype)
    np.testing.assert_array_max_ulp(kelvin.softmax(x, t), np.array(limit, dtype=dtype), maxulp=1)
    assert np.all(np.isfinite(kelvin.log_softmax(x, t)) | (np.array(limit) == 0))
    sp = pytest.importorskip("scipy.special")
    z = x / dtype(t)
    assert np.all(np.isnan(sp.softmax(z)))
    assert np.any(np.isnan(sp.log_softmax(z)))
    torch = pytest.importorskip("torch")
    zt = torch.from_numpy(x) / t
    assert torch.isnan(torch.softmax(zt, -1)).all()
    assert torch.isnan(torch.log_softmax(zt, -1)).all()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_peers_logsumexp_masked_row_at_infinite_temperature():
    sp = pytest.importorskip("scipy.special")
    x = np.array([-INF, 3, 3, 2])
    assert np.isnan(sp.logsumexp(x / INF))
    assert kelvin.log_partition(x, INF) == pytest.approx(LOG3, rel=1e-15)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_peers_agree_on_all_masked_rows():
    """Every entry -inf: NaN for all three by default; kelvin can give zeros."""
    sp = pytest.importorskip("scipy.special")
    x = np.full(3, -INF)
    assert np.all(np.isnan(sp.softmax(x)))
    assert np.all(np.isnan(kelvin.softmax(x)))
    np.testing.assert_array_equal(kelvin.softmax(x, empty_row="zero"), [0, 0, 0])


def test_every_family_listed():
    assert {f for c in CASES[:12] for f in c[3]} == set(FAMILIES)
