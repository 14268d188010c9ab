"""kelvin under a type checker (the softmax family, calibration, sampling):
`python3 -m mypy --strict python/examples/typed.py`
passes with the package's stubs (kelvin/*.pyi, py.typed), and the script runs.

    python3 python/examples/typed.py
"""

import numpy as np
import numpy.typing as npt

import kelvin
import kelvin.calibration


def hardmax_then_uniform(logits: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
    """softmax at T = 0 (the hardmax, ties split), 1 and inf (uniform)."""
    return [kelvin.softmax(logits, temperature=t) for t in (0.0, 1.0, float("inf"))]


def per_row_log_partition(batch: npt.NDArray[np.float64], temperatures: list[float]) -> float:
    """The sum over rows of log Z, one temperature per row."""
    log_z = kelvin.log_partition(batch, temperature=np.asarray(temperatures), axis=-1)
    return float(np.sum(log_z))


def calibrated(logits: npt.NDArray[np.float64], labels: npt.NDArray[np.int64]) -> float:
    """The temperature that minimises the NLL of softmax(logits / T) at labels."""
    fit: kelvin.calibration.FitResult = kelvin.calibration.fit_temperature(logits, labels)
    assert fit.nll_after <= fit.nll_before
    return fit.temperature


def next_tokens(logits: npt.NDArray[np.float32], step: int) -> list[int]:
    """One token per row: top-k 2 at T = 0.8, and the greedy token at T = 0."""
    tokens = kelvin.sample(logits, temperature=0.8, top_k=2, seed=7, step=step)
    greedy = kelvin.sample(logits[0], temperature=0)
    return [int(t) for t in np.atleast_1d(tokens)] + [int(greedy)]


def main() -> None:
    print(f"kelvin {kelvin.__version__} on {kelvin.active_target()} "
          f"(compiled: {', '.join(kelvin.compiled_targets())})")
    x = np.array([1, 5, 7, 10], np.float32)
    for p in hardmax_then_uniform(x):
        print(p)
    out = np.empty(4, np.float64)
    kelvin.log_softmax([1.0, 5.0, 7.0, 10.0], temperature=10, out=out, empty_row="zero")
    print("log_softmax:", out)
    batch = np.array([[1.0, 2.0, 3.0], [-np.inf, 0.0, 0.0]])
    print("sum of log Z:", per_row_log_partition(batch, [0.5, float("inf")]))
    threads: int = kelvin.get_num_threads()
    kelvin.set_num_threads(threads)
    smooth = kelvin.smooth_max(x, temperature=0.5)
    print("smooth max:", float(smooth))
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 5)) * 3
    labels = np.array([rng.choice(5, p=p) for p in kelvin.softmax(logits, temperature=2.0)])
    print("fitted T:", round(calibrated(logits, labels), 2))
    rows = np.array([[1, 5, 7, 10], [10, 7, 5, 1]], np.float32)
    print("tokens:", next_tokens(rows, step=0))
    kept = kelvin.sampling_distribution(rows, top_k=2)
    print("kept per row:", (kept > 0).sum(axis=1))


if __name__ == "__main__":
    main()
