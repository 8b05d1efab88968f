"""Drift of new training data against the data the current champion was trained on.

The train stage stores a ``ValueProfile`` (101 quantiles of the training values) on its MLflow
run; validate compares the next training split with the champion's profile:

* PSI (population stability index) over the champion's deciles: each bin expected to hold
  10 %; 0.1 is the usual "look at it" level, 0.25 "it has moved";
* KS, the largest gap between the two distribution functions, read at the champion's quantiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

PROFILE_ARTIFACT = "data/profile.json"
_EPS = 1e-4  # an empty bin would make PSI infinite


@dataclass(frozen=True)
class ValueProfile:
    """A distribution summary small enough for a run artifact."""

    quantiles: tuple[float, ...]  # at 0, 1, ..., 100 %
    rows: int

    @classmethod
    def of(cls, values: np.ndarray) -> ValueProfile:
        """Profile of a 1-D array of finite values."""
        levels = np.linspace(0, 1, 101)
        return cls(tuple(float(q) for q in np.quantile(values, levels)), len(values))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"quantiles": list(self.quantiles), "rows": self.rows}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValueProfile:
        """Inverse of ``as_dict``."""
        return cls(tuple(float(q) for q in data["quantiles"]), int(data["rows"]))


@dataclass(frozen=True)
class DriftReport:
    """How far new values moved from a reference profile."""

    psi: float
    ks: float
    rows: int
    reference_rows: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "psi": self.psi,
            "ks": self.ks,
            "rows": self.rows,
            "reference_rows": self.reference_rows,
        }


def compare(reference: ValueProfile, values: np.ndarray) -> DriftReport:
    """PSI over the reference's deciles and KS at its quantiles, for ``values`` [N]."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    quantiles = np.asarray(reference.quantiles)
    edges = quantiles[10:100:10]  # 9 inner decile edges -> 10 bins of 10 % each
    expected = np.full(10, 0.1)
    counts = np.diff(np.searchsorted(ordered, edges, side="right"), prepend=0, append=len(ordered))
    actual = counts / max(len(ordered), 1)
    expected, actual = np.clip(expected, _EPS, None), np.clip(actual, _EPS, None)
    psi = float(np.sum((actual - expected) * np.log(actual / expected)))
    below = np.searchsorted(ordered, quantiles, side="right") / max(len(ordered), 1)
    ks = float(np.max(np.abs(below - np.linspace(0, 1, 101))))
    return DriftReport(psi=psi, ks=ks, rows=len(ordered), reference_rows=reference.rows)
