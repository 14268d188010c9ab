# Type stubs of kelvin.calibration: temperature scaling and calibration
# metrics. logits/probs: N x C float32 or float64; labels: integers in [0, C).
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

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

_Strategy = Literal["uniform", "quantile"]

@dataclass(frozen=True)
class FitResult:
    temperature: float
    nll_before: float
    nll_after: float
    iterations: int
    passes: int
    converged: bool
    # 'optimum', 'zero_temperature', 'infinite_temperature' or 'flat'.
    outcome: str

def fit_temperature(logits: npt.ArrayLike, labels: npt.ArrayLike, *, tolerance: float = 1e-8,
                    max_iterations: int = 100) -> FitResult: ...
def nll(logits: npt.ArrayLike, labels: npt.ArrayLike, temperature: float = 1.0) -> float: ...
def accuracy(probs: npt.ArrayLike, labels: npt.ArrayLike) -> float: ...
def brier_score(probs: npt.ArrayLike, labels: npt.ArrayLike) -> float: ...
def expected_calibration_error(probs: npt.ArrayLike, labels: npt.ArrayLike, bins: int = 15,
                               strategy: _Strategy = "uniform") -> float: ...
def maximum_calibration_error(probs: npt.ArrayLike, labels: npt.ArrayLike,
                              bins: int = 15) -> float: ...
def classwise_calibration_error(probs: npt.ArrayLike, labels: npt.ArrayLike, bins: int = 15,
                                strategy: _Strategy = "uniform") -> float: ...
# Arrays over the bins: 'lower', 'upper', 'count', 'confidence', 'accuracy'.
def reliability(probs: npt.ArrayLike, labels: npt.ArrayLike, bins: int = 15,
                strategy: _Strategy = "uniform") -> dict[str, npt.NDArray[Any]]: ...
# Draws on a matplotlib Axes (a new figure's when ax is None) and returns it.
def reliability_diagram(probs: npt.ArrayLike, labels: npt.ArrayLike, bins: int = 15,
                        ax: Any = None) -> Any: ...
