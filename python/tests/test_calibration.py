"""kelvin.calibration against independent references: the fitted T against
SciPy's minimize_scalar on a NumPy/SciPy NLL, the NLL against
scipy.special.log_softmax, every metric against a straightforward NumPy
implementation of its written definition (float64, to 1e-12), with
confidences exactly at bin edges, at 1.0 and tied."""

import math

import numpy as np
import pytest

import kelvin
import kelvin.calibration as kc

scipy_special = pytest.importorskip("scipy.special")
scipy_optimize = pytest.importorskip("scipy.optimize")


# --- data and references -------------------------------------------------------


def synthetic(rows, cols, scale, margin, agree, seed, dtype=np.float64):
    """Logits of a classifier whose true class gets +margin, all times scale
    (> 1 over-confident, < 1 under-confident); labels agree with the true
    class with probability `agree`."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, cols, rows)
    x = rng.normal(size=(rows, cols))
    x[np.arange(rows), truth] += margin
    labels = np.where(rng.random(rows) < agree, truth, rng.integers(0, cols, rows))
    return (scale * x).astype(dtype), labels


def ref_nll(x, y, t):
    x = np.asarray(x, dtype=np.float64)
    lp = scipy_special.log_softmax(x / t, axis=1)
    return -lp[np.arange(len(y)), y].mean()


def ref_temperature(x, y):
    """A direct 1-D minimisation of the NLL over log T (SciPy's bounded Brent)."""
    res = scipy_optimize.minimize_scalar(
        lambda u: ref_nll(x, y, math.exp(u)), bounds=(math.log(1e-3), math.log(1e3)),
        method="bounded", options={"xatol": 1e-11, "maxiter": 1000})
    assert res.success
    return math.exp(res.x)


def digits_logits():
    datasets = pytest.importorskip("sklearn.datasets")
    linear = pytest.importorskip("sklearn.linear_model")
    model_selection = pytest.importorskip("sklearn.model_selection")
    x, y = datasets.load_digits(return_X_y=True)
    xtr, xval, ytr, yval = model_selection.train_test_split(x / 16, y, test_size=0.5,
                                                            random_state=0)
    clf = linear.LogisticRegression(C=100, max_iter=3000).fit(xtr, ytr)
    return clf.decision_function(xval), yval


def confidences(p, y):
    p = np.asarray(p, dtype=np.float64)
    pred = np.argmax(p, axis=1)  # the first maximum
    return p[np.arange(len(y)), pred], (pred == y).astype(np.float64)


def ref_bins_uniform(conf, hit, bins):
    edges = np.arange(bins + 1) / bins
    # bins (e_b, e_b+1], bin 0 also holding 0
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, bins - 1)
    return idx


def ref_bins_quantile(conf, hit, bins):
    order = np.argsort(conf, kind="stable")
    n = len(conf)
    idx = np.empty(n, dtype=np.int64)
    for b in range(bins):
        idx[order[b * n // bins:(b + 1) * n // bins]] = b
    return idx


def ref_table(conf, hit, idx, bins):
    count = np.bincount(idx, minlength=bins).astype(np.float64)
    csum = np.bincount(idx, weights=conf, minlength=bins)
    asum = np.bincount(idx, weights=hit, minlength=bins)
    ok = count > 0
    return count, ok, np.where(ok, csum / np.maximum(count, 1), 0), np.where(
        ok, asum / np.maximum(count, 1), 0)


def ref_ece(conf, hit, bins, strategy="uniform"):
    f = ref_bins_uniform if strategy == "uniform" else ref_bins_quantile
    count, ok, c, a = ref_table(conf, hit, f(conf, hit, bins), bins)
    return np.sum(count[ok] / len(conf) * np.abs(a[ok] - c[ok]))


def ref_mce(conf, hit, bins):
    count, ok, c, a = ref_table(conf, hit, ref_bins_uniform(conf, hit, bins), bins)
    return np.max(np.abs(a[ok] - c[ok]))


def edge_probs(seed=0):
    """4-class probabilities whose confidences lie exactly on the bin edges
    k/B (B = 5, 10, 15, 20: the doubles nearest k/B, which are the edges),
    at 1.0, tied between rows, and random."""
    rng = np.random.default_rng(seed)
    tops = [k / b for b in (5, 10, 15, 20) for k in range(b + 1) if k / b >= 0.25] * 3
    tops += [1.0] * 5 + list(0.25 + 0.75 * rng.random(400))
    tops = np.array(tops)
    n = len(tops)
    at = rng.integers(0, 4, n)
    p = np.repeat(((1 - tops) / 3)[:, None], 4, axis=1)
    p[np.arange(n), at] = tops
    y = np.where(rng.random(n) < tops, at, rng.integers(0, 4, n))
    return p, y


# --- fit_temperature -----------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale,margin,agree", [(4.0, 1.5, 0.8), (0.3, 5.0, 0.95),
                                                (2.0, 3.0, 0.6)])
def test_fit_matches_minimize_scalar(dtype, scale, margin, agree):
    x, y = synthetic(2000, 10, scale, margin, agree, seed=int(scale * 10), dtype=dtype)
    r = kc.fit_temperature(x, y)
    assert r.converged and r.outcome == "optimum"
    t = ref_temperature(x, y)
    assert r.temperature == pytest.approx(t, rel=1e-6)
    assert r.nll_before == pytest.approx(ref_nll(x, y, 1.0), rel=1e-8)
    assert r.nll_after == pytest.approx(ref_nll(x, y, r.temperature), rel=1e-8)
    assert r.nll_after <= ref_nll(x, y, t) + 1e-9
    assert 1 <= r.passes <= 12 and r.iterations >= 1


def test_fit_on_digits():
    x, y = digits_logits()
    r = kc.fit_temperature(x, y)
    assert r.converged
    assert r.temperature == pytest.approx(ref_temperature(x, y), rel=1e-6)
    assert r.nll_after < r.nll_before


def test_fit_over_confident_1000_classes_float32():
    x, y = synthetic(400, 1000, 2.0, 6.0, 0.7, seed=5, dtype=np.float32)
    r = kc.fit_temperature(x, y)
    assert r.temperature == pytest.approx(ref_temperature(x, y), rel=1e-6)


def test_degenerate_cases():
    # Every label its row's max by a margin: T -> 0, the hardmax limit.
    x, _ = synthetic(50, 5, 1.0, 0.0, 1.0, seed=1)
    r = kc.fit_temperature(x, x.argmax(1))
    assert (r.temperature, r.outcome, r.nll_after, r.converged) == (0.0, "zero_temperature",
                                                                    0.0, True)
    assert kc.nll(x, x.argmax(1), temperature=0) == 0.0
    # Constant logits, and a single class: flat, T = 1.
    r = kc.fit_temperature(np.full((10, 4), 3.0), np.arange(10) % 4)
    assert (r.temperature, r.outcome) == (1.0, "flat")
    assert r.nll_after == pytest.approx(math.log(4), rel=1e-12)
    r = kc.fit_temperature(np.zeros((7, 1), np.float32), np.zeros(7, np.int64))
    assert (r.temperature, r.outcome, r.nll_after) == (1.0, "flat", 0.0)
    # Labels at the rows' minima: T -> inf.
    x, _ = synthetic(50, 5, 1.0, 0.0, 1.0, seed=2)
    r = kc.fit_temperature(x, x.argmin(1))
    assert (r.temperature, r.outcome) == (math.inf, "infinite_temperature")
    assert r.nll_after == pytest.approx(math.log(5), rel=1e-15)


def test_fit_errors():
    x, y = synthetic(20, 3, 1.0, 1.0, 0.8, seed=3)
    with pytest.raises(ValueError, match=r"labels\[4\]"):
        kc.fit_temperature(x, np.where(np.arange(20) == 4, 3, y))
    with pytest.raises(ValueError, match=r"labels\[0\]"):
        kc.fit_temperature(x, np.where(np.arange(20) == 0, -1, y))
    bad = x.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"logits\[2, 1\]"):
        kc.fit_temperature(bad, y)
    with pytest.raises(ValueError, match="NaN"):
        kc.nll(bad, y)
    bad[2, 1] = np.inf
    with pytest.raises(ValueError, match="finite"):
        kc.fit_temperature(bad, y)
    with pytest.raises(TypeError):
        kc.fit_temperature(x, y.astype(np.float64))
    with pytest.raises(TypeError):
        kc.fit_temperature(x.astype(str), y)
    with pytest.raises(ValueError, match="2-D"):
        kc.fit_temperature(x[0], y[:1])
    with pytest.raises(ValueError, match="shape"):
        kc.fit_temperature(x, y[:-1])
    with pytest.raises(ValueError):
        kc.nll(x, y, temperature=-1.0)


# --- nll -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("t", [0.01, 0.5, 1.0, 3.0, 1e3])
def test_nll_matches_scipy(dtype, t):
    x, y = synthetic(500, 17, 3.0, 2.0, 0.8, seed=4, dtype=dtype)
    assert kc.nll(x, y, temperature=t) == pytest.approx(ref_nll(x, y, t), rel=1e-12)
    assert kc.nll(x, y, t) == kc.nll(x.tolist(), y.tolist(), t) or dtype == np.float32


def test_nll_limits():
    x = np.array([[1.0, 5, 5], [2, 0, 1]])
    assert kc.nll(x, [1, 0], temperature=0) == pytest.approx(math.log(2) / 2, rel=1e-15)
    assert kc.nll(x, [0, 0], temperature=0) == math.inf
    assert kc.nll(x, [0, 1], temperature=math.inf) == pytest.approx(math.log(3), rel=1e-15)


# --- metrics ---------------------------------------------------------------------


@pytest.mark.parametrize("bins", [1, 5, 10, 15, 20, 37])
def test_ece_mce_match_numpy_with_edges_and_ties(bins):
    p, y = edge_probs()
    conf, hit = confidences(p, y)
    assert kc.expected_calibration_error(p, y, bins=bins) == pytest.approx(
        ref_ece(conf, hit, bins), rel=1e-12, abs=1e-15)
    assert kc.expected_calibration_error(p, y, bins=bins, strategy="quantile") == pytest.approx(
        ref_ece(conf, hit, bins, "quantile"), rel=1e-12, abs=1e-15)
    assert kc.maximum_calibration_error(p, y, bins=bins) == pytest.approx(
        ref_mce(conf, hit, bins), rel=1e-12, abs=1e-15)
    r = kc.reliability(p, y, bins=bins)
    count, ok, c, a = ref_table(conf, hit, ref_bins_uniform(conf, hit, bins), bins)
    np.testing.assert_array_equal(r["count"], count)
    np.testing.assert_allclose(r["confidence"], c, rtol=1e-12, atol=0)
    np.testing.assert_allclose(r["accuracy"], a, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(r["upper"], np.arange(1, bins + 1) / bins)


def test_bin_edge_conventions():
    # One row per case, 2 classes: confidence exactly 0.6 (an edge of 5 bins:
    # bin (0.4, 0.6], index 2), exactly 1.0 (last bin), just above 0.6 (bin 3).
    p = np.array([[0.6, 0.4], [1.0, 0.0], [np.nextafter(0.6, 1), 1 - np.nextafter(0.6, 1)]])
    r = kc.reliability(p, [0, 0, 0], bins=5)
    np.testing.assert_array_equal(r["count"], [0, 0, 1, 1, 1])
    # float32 confidences are compared as their exact double values:
    # float32(0.6) > 0.6, so it lands in bin 3.
    r32 = kc.reliability(p.astype(np.float32), [0, 0, 0], bins=5)
    np.testing.assert_array_equal(r32["count"], [0, 0, 0, 2, 1])


def test_float32_probs_match_numpy_on_their_float64_values():
    p, y = edge_probs(seed=3)
    p32 = p.astype(np.float32)
    conf, hit = confidences(p32, y)
    for bins in (5, 15):
        assert kc.expected_calibration_error(p32, y, bins=bins) == pytest.approx(
            ref_ece(conf, hit, bins), rel=1e-12, abs=1e-15)


def test_brier_accuracy_classwise():
    p, y = edge_probs(seed=1)
    onehot = np.eye(4)[y]
    assert kc.brier_score(p, y) == pytest.approx(((p - onehot) ** 2).sum(1).mean(), rel=1e-12)
    conf, hit = confidences(p, y)
    assert kc.accuracy(p, y) == hit.mean()
    for strategy in ("uniform", "quantile"):
        ref = np.mean([ref_ece(p[:, j], (y == j).astype(np.float64), 15, strategy)
                       for j in range(4)])
        assert kc.classwise_calibration_error(p, y, strategy=strategy) == pytest.approx(
            ref, rel=1e-12, abs=1e-15)


def test_metric_errors():
    p, y = edge_probs()
    with pytest.raises(ValueError, match="bins"):
        kc.expected_calibration_error(p, y, bins=0)
    with pytest.raises(TypeError):
        kc.expected_calibration_error(p, y, bins=2.5)
    with pytest.raises(ValueError, match="strategy"):
        kc.expected_calibration_error(p, y, strategy="equal")
    bad = p.copy()
    bad[3, 2] = 1.5
    with pytest.raises(ValueError, match=r"probs\[3, 2\]"):
        kc.brier_score(bad, y)
    bad[3, 2] = np.nan
    with pytest.raises(ValueError):
        kc.maximum_calibration_error(bad, y)
    with pytest.raises(ValueError, match="labels"):
        kc.brier_score(p, np.full(len(y), 4))


def test_temperature_scaling_improves_calibration_end_to_end():
    x, y = synthetic(4000, 10, 4.0, 1.5, 0.8, seed=9)
    r = kc.fit_temperature(x[:2000], y[:2000])
    before = kelvin.softmax(x[2000:])
    after = kelvin.softmax(x[2000:], temperature=r.temperature)
    assert kc.expected_calibration_error(after, y[2000:]) < 0.5 * kc.expected_calibration_error(
        before, y[2000:])


def test_reliability_diagram_draws():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p, y = edge_probs()
    fig, ax = plt.subplots()
    out = kc.reliability_diagram(p, y, bins=10, ax=ax)
    assert out is ax
    assert len(ax.patches) >= 10  # the accuracy bars, then the gaps
    assert "ECE" in ax.get_title()
    plt.close(fig)
    ax = kc.reliability_diagram(p, y)
    plt.close(ax.figure)
