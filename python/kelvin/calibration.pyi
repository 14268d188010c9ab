# Type stubs of kelvin.calibration (issue 12): temperature scaling and
# calibration metrics. logits/probs: N x C float32 or float64; labels:
# integers in [0, C).
from typing import Any, Literal

import numpy.typing as npt

class _TemperatureFit:
    """What fit_temperature returns."""

    temperature: float
    nll_before: float
    nll_after: float
    iterations: int
    passes: int
    converged: bool

def fit_temperature(logits: npt.ArrayLike, labels: npt.ArrayLike) -> _TemperatureFit: ...
def nll(logits: npt.ArrayLike, labels: npt.ArrayLike, temperature: float = 1.0) -> float: ...
def expected_calibration_error(probs: npt.ArrayLike, labels: npt.ArrayLike, bins: int = 15,
                               strategy: Literal["uniform", "quantile"] = "uniform") -> float: ...
def maximum_calibration_error(probs: npt.ArrayLike, labels: npt.ArrayLike,
                              bins: int = 15) -> float: ...
def brier_score(probs: npt.ArrayLike, labels: npt.ArrayLike) -> float: ...
# Draws on a matplotlib Axes (a new figure's when ax is None).
def reliability_diagram(probs: npt.ArrayLike, labels: npt.ArrayLike, bins: int = 15,
                        ax: Any = None) -> Any: ...
