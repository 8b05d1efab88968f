"""Paired comparisons of two forecasters over the same forecast origins.

Twelve daily origins are too few for a single MAE to settle which model is better: one odd day
can flip it. The paired bootstrap resamples origins (keeping each origin's two errors together,
since both models faced the same day) and reports the mean MAE difference with a confidence
interval and the share of resamples in which the candidate is better.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

TEST_NAME = "paired bootstrap over forecast origins"


@dataclass(frozen=True)
class PairedComparison:
    """Candidate minus reference, in MAE units: negative means the candidate is better."""

    reference: str
    candidate_mae: float
    reference_mae: float
    mean_difference: float
    ci_low: float
    ci_high: float
    confidence: float
    probability_better: float  # share of resamples with a negative mean difference
    origins: int
    resamples: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the test's name."""
        # one-sided bootstrap p-value of "the candidate is not better"
        return {"test": TEST_NAME, **asdict(self), "p_value": 1.0 - self.probability_better}


def origin_errors(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """Mean absolute error of each origin: ``[origins, horizon]`` x2 -> ``[origins]``."""
    errors = np.abs(np.asarray(forecast, np.float64) - np.asarray(actual, np.float64))
    return np.asarray(errors.mean(axis=1), dtype=np.float64)


def paired_bootstrap(
    candidate: np.ndarray,
    reference: np.ndarray,
    reference_name: str,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedComparison:
    """Compare per-origin errors ``[origins]`` of a candidate and a reference.

    Raises:
        ValueError: if the two error arrays do not pair up or are empty.

    """
    if candidate.shape != reference.shape or candidate.ndim != 1 or len(candidate) == 0:
        raise ValueError("paired comparison needs two equal-length, non-empty per-origin arrays")
    difference = candidate - reference  # [origins]
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(difference), size=(resamples, len(difference)))
    means = difference[picks].mean(axis=1)  # [resamples]
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return PairedComparison(
        reference=reference_name,
        candidate_mae=float(candidate.mean()),
        reference_mae=float(reference.mean()),
        mean_difference=float(difference.mean()),
        ci_low=float(low),
        ci_high=float(high),
        confidence=confidence,
        probability_better=float((means < 0).mean()),
        origins=len(difference),
        resamples=resamples,
    )
