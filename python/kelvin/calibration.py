"""Temperature scaling for calibration, and the metrics that judge it.

    >>> import kelvin.calibration as kc
    >>> r = kc.fit_temperature(val_logits, val_labels)
    >>> r.temperature, r.nll_before, r.nll_after
    >>> p = kelvin.softmax(test_logits, temperature=r.temperature)
    >>> kc.expected_calibration_error(p, test_labels)

fit_temperature minimises the mean NLL over T > 0 with a safeguarded Newton
method in beta = 1 / T (the NLL is convex in beta), one fused pass over the
logits per step: exact to its tolerance in a handful of passes. The metrics
take probabilities; docs/calibration.md has every convention (bin edges,
ties, the limits T = 0 and T = inf).

logits / probs: N x C float32 or float64 (other real dtypes are converted to
float64); labels: N integers in [0, C). Bad values raise ValueError, bad
types TypeError.
"""

from dataclasses import dataclass

import numpy as _np

from . import _kelvin

_raw = _kelvin._calibration

__all__ = [
    "FitResult",
    "accuracy",
    "brier_score",
    "classwise_calibration_error",
    "expected_calibration_error",
    "fit_temperature",
    "maximum_calibration_error",
    "nll",
    "reliability",
    "reliability_diagram",
]


@dataclass(frozen=True)
class FitResult:
    """The result of fit_temperature.

    temperature: the fitted T > 0; 0.0 when every label is its row's largest
        logit (the NLL falls as T -> 0: kelvin's T = 0 is that hardmax limit),
        inf when the NLL falls as T -> inf, 1.0 when it does not depend on T.
    nll_before, nll_after: mean NLL at T = 1 and at temperature.
    iterations, passes: Newton/bracketing steps, and passes over the logits.
    converged: whether the step fell below the tolerance.
    outcome: 'optimum', 'zero_temperature', 'infinite_temperature' or 'flat'.
    """

    temperature: float
    nll_before: float
    nll_after: float
    iterations: int
    passes: int
    converged: bool
    outcome: str


def _matrix(x, name):
    a = _np.asarray(x)
    if a.dtype not in (_np.float32, _np.float64):
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be a real array (got dtype {a.dtype})")
        a = a.astype(_np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N x C) (got shape {a.shape})")
    return _np.ascontiguousarray(a)


def _labels(y, rows):
    a = _np.asarray(y)
    if a.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers (got dtype {a.dtype})")
    if a.ndim != 1 or a.shape[0] != rows:
        raise ValueError(f"labels must have shape ({rows},) (got {a.shape})")
    if a.dtype.kind == "u" and a.size and a.max() > _np.iinfo(_np.int64).max:
        raise ValueError(f"labels[{int(a.argmax())}] is out of range (got {int(a.max())})")
    return _np.ascontiguousarray(a, dtype=_np.int64)


def _bins(bins):
    if isinstance(bins, bool) or not isinstance(bins, (int, _np.integer)):
        raise TypeError(f"bins must be an int (got {type(bins).__name__})")
    if bins < 1 or bins > 2**31 - 1:
        raise ValueError(f"bins must be >= 1 (got {bins})")
    return int(bins)


def _strategy(strategy):
    if strategy not in ("uniform", "quantile"):
        raise ValueError(f"strategy must be 'uniform' or 'quantile' (got {strategy!r})")
    return strategy


def fit_temperature(logits, labels, *, tolerance=1e-8, max_iterations=100):
    """The T > 0 minimising the mean NLL of softmax(logits / T) at labels."""
    x = _matrix(logits, "logits")
    y = _labels(labels, x.shape[0])
    if not tolerance > 0:
        raise ValueError(f"tolerance must be > 0 (got {tolerance})")
    return FitResult(*_raw.fit_temperature(x, y, float(tolerance), int(max_iterations)))


def nll(logits, labels, temperature=1.0):
    """Mean negative log-likelihood -mean log softmax(logits, T)[labels] (exact;
    T = 0 is the hardmax limit, T = inf the uniform one)."""
    x = _matrix(logits, "logits")
    return _raw.nll(x, _labels(labels, x.shape[0]), float(temperature))


def accuracy(probs, labels):
    """The fraction of rows whose largest probability (first on ties) is the label."""
    p = _matrix(probs, "probs")
    return _raw.accuracy(p, _labels(labels, p.shape[0]))


def brier_score(probs, labels):
    """mean over rows of sum over classes of (p - onehot(label))^2."""
    p = _matrix(probs, "probs")
    return _raw.brier_score(p, _labels(labels, p.shape[0]))


def expected_calibration_error(probs, labels, bins=15, strategy="uniform"):
    """sum over bins of count/N * |accuracy - mean confidence|.

    strategy 'uniform': equal-width bins (b/B, (b+1)/B] (bin 0 also holds 0;
    a confidence exactly at an edge goes to the bin below it, 1.0 to the
    last bin); 'quantile': equal-mass bins of the confidences sorted stably.
    """
    p = _matrix(probs, "probs")
    return _raw.expected_calibration_error(
        p, _labels(labels, p.shape[0]), _bins(bins), _strategy(strategy))


def maximum_calibration_error(probs, labels, bins=15):
    """max over non-empty equal-width bins of |accuracy - mean confidence|."""
    p = _matrix(probs, "probs")
    return _raw.maximum_calibration_error(p, _labels(labels, p.shape[0]), _bins(bins), "uniform")


def classwise_calibration_error(probs, labels, bins=15, strategy="uniform"):
    """The mean over classes j of the ECE of p[:, j] against labels == j."""
    p = _matrix(probs, "probs")
    return _raw.classwise_calibration_error(
        p, _labels(labels, p.shape[0]), _bins(bins), _strategy(strategy))


def reliability(probs, labels, bins=15, strategy="uniform"):
    """The data of a reliability diagram: a dict of arrays over the bins,
    'lower', 'upper' (edges; quantile bins: their smallest and largest
    confidence), 'count', 'confidence' (mean) and 'accuracy' (0 when empty)."""
    p = _matrix(probs, "probs")
    lower, upper, count, conf, acc = _raw.reliability(
        p, _labels(labels, p.shape[0]), _bins(bins), _strategy(strategy))
    return {"lower": lower, "upper": upper, "count": count, "confidence": conf,
            "accuracy": acc}


def reliability_diagram(probs, labels, bins=15, ax=None):
    """Draws a reliability diagram with matplotlib and returns the Axes.

    Bars: each equal-width bin's accuracy; hatched red: its gap to the mean
    confidence; dashed: the diagonal of perfect calibration; grey, along the
    bottom: the histogram of confidences (fraction of rows per bin, on its own
    scale at the right). The title carries the ECE and the accuracy.
    """
    import matplotlib.pyplot as plt

    r = reliability(probs, labels, bins)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    lower, upper = r["lower"], r["upper"]
    width = upper - lower
    centres = (lower + upper) / 2
    filled = r["count"] > 0
    acc = _np.where(filled, r["accuracy"], 0.0)
    conf = _np.where(filled, r["confidence"], 0.0)
    ax.bar(centres, acc, width=width, edgecolor="black", color="tab:blue", label="accuracy")
    ax.bar(centres[filled], (conf - acc)[filled], bottom=acc[filled], width=width[filled],
           edgecolor="tab:red", color="tab:red", alpha=0.3, hatch="//", label="gap")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    hist = ax.twinx()
    n = max(int(r["count"].sum()), 1)
    hist.bar(centres, r["count"] / n, width=width, color="black", alpha=0.3, edgecolor="black",
             linewidth=0.5, label="confidence histogram")
    hist.set_ylim(0, 4)  # keeps the histogram in the bottom quarter
    hist.set_yticks([])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ece = float(_np.sum(r["count"] / n * _np.abs(acc - conf)))
    ax.set_title(f"ECE {100 * ece:.2f}%  accuracy {100 * float(_np.sum(r['count'] * acc) / n):.1f}%")
    handles = ax.get_legend_handles_labels()
    extra = hist.get_legend_handles_labels()
    ax.legend(handles[0] + extra[0], handles[1] + extra[1], loc="upper left", fontsize="small")
    return ax
