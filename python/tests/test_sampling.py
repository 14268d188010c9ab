"""kelvin.sample and kelvin.sampling_distribution: return types, kept sets
against a sort-based NumPy reference (float64), PyTorch's softmax for the
plain distribution, chi-square fits of the draws (SciPy), reproducibility
across batches, logprobs, and every error path."""

import math

import numpy as np
import pytest
import scipy.special
import scipy.stats

import kelvin


def rng(seed):
    return np.random.default_rng(seed)


# ---- the sort-based reference (docs/sampling.md's chain) -----------------------

def _weights(x, t):
    m = x.max()
    return np.ones_like(x) if math.isinf(t) else np.exp((x - m) / t)


def _dynamic(x, c):
    if c["dynamic_range"] <= 0 or x.size <= 1:
        return c["temperature"]
    w = _weights(x, 1.0)
    p = w / w.sum()
    nz = p > 0
    h = -(p[nz] * ((x[nz] - x.max()) - math.log(w.sum()))).sum()
    hn = min(max(h / math.log(x.size), 0.0), 1.0)
    lo, hi = max(0.0, c["temperature"] - c["dynamic_range"]), c["temperature"] + c["dynamic_range"]
    return lo + (hi - lo) * hn ** c["dynamic_exponent"]


def _prefix(w, mass, min_keep):
    cum = np.cumsum(w)
    ok = np.nonzero((cum >= mass * w.sum()) & (np.arange(1, w.size + 1) >= min_keep))[0]
    return ok[0] + 1 if ok.size else w.size


def reference(logits, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, typical_p=1.0,
              min_keep=1, order="temperature_last", dynamic_range=0.0, dynamic_exponent=1.0):
    c = dict(temperature=temperature, dynamic_range=dynamic_range,
             dynamic_exponent=dynamic_exponent)
    x = np.asarray(logits, dtype=np.float32).astype(np.float64)
    n = x.size
    out = np.zeros(n)
    if np.isposinf(x).any():
        x = np.where(np.isposinf(x), 0.0, -np.inf)
    idx = np.nonzero(x > -np.inf)[0]
    idx = idx[np.lexsort((idx, -x[idx]))]  # logit descending, ties by index
    if temperature == 0:
        out[idx[0]] = 1
        return out
    mk = max(1, min_keep)
    first = order == "temperature_first"
    tau = _dynamic(x[idx], c) if first else 1.0
    if tau == 0:
        out[idx[0]] = 1
        return out
    if top_k > 0:
        idx = idx[:max(top_k, min_keep)]
    if typical_p < 1:
        xs = x[idx]
        w = _weights(xs, tau)
        s = w.sum()
        logp = (-math.log(s) * np.ones_like(xs)) if math.isinf(tau) else (xs - xs.max()) / tau - math.log(s)
        p = w / s
        h = -(p[p > 0] * logp[p > 0]).sum()
        key = np.where(w > 0, np.abs(-logp - h), np.inf)
        o = np.lexsort((idx, key))
        idx = idx[o][:_prefix(w[o], typical_p, mk)]
        idx = idx[np.lexsort((idx, -x[idx]))]
    if top_p < 1:
        idx = idx[:_prefix(_weights(x[idx], tau), top_p, mk)]
    if min_p > 0:
        keep = _weights(x[idx], tau) >= min_p
        idx = idx[keep] if keep.sum() >= mk else idx[:mk]
    t = tau if first else _dynamic(x[idx], c)
    if t == 0:
        out[idx[0]] = 1
        return out
    w = _weights(x[idx], t)
    out[idx] = w / w.sum()
    return out


MODES = [
    dict(temperature=0.8),
    dict(temperature=0.8, top_k=40),
    dict(temperature=1.3, top_p=0.9),
    dict(temperature=0.6, top_p=0.3, min_keep=4),
    dict(temperature=1.5, min_p=0.05),
    dict(temperature=1.0, typical_p=0.7),
    dict(temperature=0.8, top_k=40, top_p=0.95, min_p=0.05),
    dict(temperature=0.8, top_k=40, top_p=0.95, min_p=0.05, order="temperature_first"),
    dict(temperature=0.5, top_p=0.8, typical_p=0.9, order="temperature_first"),
    dict(temperature=1.0, dynamic_range=0.5),
    dict(temperature=0.7, top_k=30, dynamic_range=0.4, dynamic_exponent=2.0),
    dict(temperature=math.inf, top_k=7),
]


def assert_within_weight_bound(p, r):
    """docs/sampling.md's bound on the dense plan's probabilities (float-lane
    weights): relative e(t_i) + sum_j r_j e(t_j), e(t) = |t| (3 * 2^-24 +
    2.8e-9) + 2e-7, t_i = log(r_i / r_max) the tempered logit less the max.
    Candidate lists (double std::exp) are far inside it."""
    live = r > 0
    t = np.zeros_like(r)
    t[live] = np.log(r[live] / r.max())
    e = np.abs(t) * (3 * 2.0**-24 + 2.8e-9) + 2e-7
    bound = (e + np.sum(r[live] * e[live])) * r + 1e-40
    worst = np.argmax(np.abs(p - r) - bound)
    assert np.all(np.abs(p - r) <= bound), (worst, p[worst], r[worst], bound[worst])


@pytest.mark.parametrize("mode", MODES, ids=lambda m: ",".join(f"{k}={v}" for k, v in m.items()))
@pytest.mark.parametrize("kind", ["normal", "ties", "masked", "dominant"])
def test_distribution_matches_the_sort_based_reference(mode, kind):
    g = rng(3)
    if kind == "normal":
        x = g.normal(0, 3, 3000)
    elif kind == "ties":
        x = -g.integers(0, 5, 700).astype(float)
    elif kind == "masked":
        x = g.normal(0, 3, 800)
        x[::3] = -np.inf
    else:
        x = g.normal(0, 1, 500)
        x[77] = 50
    p = kelvin.sampling_distribution(x, **mode)
    r = reference(x, **mode)
    assert p.dtype == np.float64 and p.shape == x.shape
    sig = r > 1e-40
    np.testing.assert_array_equal(p[sig] > 0, True)
    np.testing.assert_array_equal(p[~sig] <= 1e-40, True)
    assert_within_weight_bound(p, r)
    assert abs(p.sum() - 1) < 1e-12


def test_plain_distribution_is_pytorch_softmax_in_float64():
    torch = pytest.importorskip("torch")
    x = rng(4).normal(0, 3, 32000).astype(np.float32)
    for t in (0.3, 0.8, 2.0):
        want = torch.softmax(torch.tensor(x, dtype=torch.float64) / t, -1).numpy()
        assert_within_weight_bound(kelvin.sampling_distribution(x, temperature=t), want)


def test_return_types():
    x = rng(5).normal(0, 1, 100)
    t = kelvin.sample(x)
    assert type(t) is int and 0 <= t < 100
    b = kelvin.sample(np.stack([x, x, x]))
    assert isinstance(b, np.ndarray) and b.dtype == np.int64 and b.shape == (3,)
    tok, lp, raw = kelvin.sample(x, return_logprobs=True)
    assert type(tok) is int and type(lp) is float and type(raw) is float
    toks, lps, raws = kelvin.sample(np.stack([x, x]), return_logprobs=True)
    assert toks.shape == lps.shape == raws.shape == (2,)
    assert kelvin.sampling_distribution(np.stack([x, x])).shape == (2, 100)
    assert kelvin.sample(np.float16([1, 2, 3]), temperature=0) == 2
    assert kelvin.sample([1, 5, 3], temperature=0) == 1


def test_greedy_ties_go_to_the_lowest_index():
    assert kelvin.sample([1.0, 3.0, -np.inf, 3.0], temperature=0) == 1
    np.testing.assert_array_equal(kelvin.sampling_distribution([1.0, 3.0, 3.0], temperature=0),
                                  [0, 1, 0])


def test_orders_keep_different_sets():
    x = [2.0, 1.0, 0.0]
    last = kelvin.sampling_distribution(x, temperature=0.5, top_p=0.7)
    first = kelvin.sampling_distribution(x, temperature=0.5, top_p=0.7, order="temperature_first")
    assert (last > 0).tolist() == [True, True, False]
    assert (first > 0).tolist() == [True, False, False]


@pytest.mark.parametrize("mode", MODES[:10], ids=str)
def test_draws_fit_the_distribution(mode):
    x = rng(6).normal(0, 3, 48)
    rows, steps = 1000, 100  # 10^5 draws (the C++ suite runs 10^6 per mode)
    batch = np.tile(x, (rows, 1))
    counts = np.zeros(x.size)
    for s in range(steps):
        np.add.at(counts, kelvin.sample(batch, seed=11, step=s, **mode), 1)
    p = kelvin.sampling_distribution(x, **mode)
    assert counts[p == 0].sum() == 0
    e = p[p > 0] * rows * steps
    o = counts[p > 0]
    big = e >= 5
    e = np.append(e[big], e[~big].sum())
    o = np.append(o[big], o[~big].sum())
    if e[-1] == 0:
        e, o = e[:-1], o[:-1]
    if e.size > 1:
        assert scipy.stats.chisquare(o, e).pvalue > 1e-6


def test_reproducible_across_batches_and_row_order():
    g = rng(7)
    x = g.normal(0, 3, (20, 5000))
    temps = np.linspace(0.3, 2.0, 20)
    ids = np.arange(100, 120)
    base = kelvin.sample(x, temperature=temps, top_k=[0, 40] * 10, seed=9, step=4, row_ids=ids)
    for r in range(20):
        assert kelvin.sample(x[r], temperature=temps[r], top_k=[0, 40][r % 2], seed=9, step=4,
                             row_ids=[ids[r]]) == base[r]
    perm = g.permutation(20)
    shuffled = kelvin.sample(x[perm], temperature=temps[perm], top_k=np.array([0, 40] * 10)[perm],
                             seed=9, step=4, row_ids=ids[perm])
    np.testing.assert_array_equal(shuffled, base[perm])
    kelvin.set_num_threads(1)
    try:
        np.testing.assert_array_equal(
            kelvin.sample(x, temperature=temps, top_k=[0, 40] * 10, seed=9, step=4, row_ids=ids),
            base)
    finally:
        kelvin.set_num_threads(0)
    other = kelvin.sample(x, temperature=temps, top_k=[0, 40] * 10, seed=9, step=5, row_ids=ids)
    assert (other != base).any()


def test_logprobs():
    x = rng(8).normal(0, 3, 1000)
    x32 = x.astype(np.float32).astype(np.float64)
    for mode in (dict(temperature=0.8), dict(temperature=0.8, top_k=40, top_p=0.95)):
        p = kelvin.sampling_distribution(x, **mode)
        for s in range(20):
            tok, lp, raw = kelvin.sample(x, step=s, return_logprobs=True, **mode)
            assert p[tok] > 0
            assert lp == pytest.approx(math.log(p[tok]), abs=1e-9)
            assert raw == pytest.approx(x32[tok] - scipy.special.logsumexp(x32), abs=1e-8)


@pytest.mark.parametrize("kwargs, match", [
    (dict(temperature=-1.0), "temperature"),
    (dict(temperature=float("nan")), "temperature"),
    (dict(top_k=-1), "top_k"),
    (dict(top_p=0.0), "top_p"),
    (dict(top_p=1.5), "top_p"),
    (dict(min_p=-0.5), "min_p"),
    (dict(min_p=2.0), "min_p"),
    (dict(typical_p=0.0), "typical_p"),
    (dict(min_keep=-1), "min_keep"),
    (dict(dynamic_range=-1.0), "dynamic_range"),
    (dict(order="sideways"), "order"),
    (dict(seed=-1), "seed"),
    (dict(step=-1), "step"),
])
def test_bad_values_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kelvin.sample([1.0, 2.0, 3.0], **kwargs)


def test_bad_rows_raise_value_error():
    with pytest.raises(ValueError, match="NaN"):
        kelvin.sample([1.0, float("nan")])
    with pytest.raises(ValueError, match="all masked"):
        kelvin.sample([-np.inf, -np.inf])
    with pytest.raises(ValueError, match="all masked"):
        kelvin.sampling_distribution(np.zeros(0))
    with pytest.raises(ValueError, match="row 1"):
        kelvin.sample([[1.0, 2.0], [np.nan, 1.0]])
    with pytest.raises(ValueError, match="1-D"):
        kelvin.sample(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="one entry per row"):
        kelvin.sample(np.zeros((3, 4)), temperature=[1.0, 2.0])


@pytest.mark.parametrize("kwargs", [
    dict(logits=["a", "b"]),
    dict(logits=np.array([1j, 2j])),
    dict(logits=[1.0, 2.0], temperature="hot"),
    dict(logits=[1.0, 2.0], top_k=1.5),
    dict(logits=[1.0, 2.0], step=1.0),
    dict(logits=[1.0, 2.0], order=3),
])
def test_bad_types_raise_type_error(kwargs):
    with pytest.raises(TypeError):
        kelvin.sample(**kwargs)
