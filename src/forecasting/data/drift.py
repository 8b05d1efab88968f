"""Drift of new training data against the data the current champion was trained on.

The train stage stores a ``ValueProfile`` (101 quantiles of the training values) on its MLflow
run; validate compares the next training split with the champion's profile:

* PSI (population stability index) over the champion's deciles: each bin expected to hold
  10 %; 0.1 is the usual "look at it" level, 0.25 "it has moved";
* KS, the largest gap between the two distribution functions, read at the champion's quantiles;
* the seasonal shape: each series' mean at every step of the day and on every day of the week,
  as a share of that series' own mean (so a level change alone does not count), averaged over
  series. ``day_shape`` / ``week_shape`` are the largest change at any step or day. A daily peak
  moved by a few hours leaves the value distribution, and so PSI and KS, nearly unchanged,
  but a forecaster trained on the old shape is wrong at both ends.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecasting.core.periods import steps_per_day, week_phase

PROFILE_ARTIFACT = "data/profile.json"
# What monitor holds a champion's served inputs against (``served_profile``): the data its
# test MAE was measured on, the most recent regime it was shown to forecast.
SERVED_PROFILE_ARTIFACT = "data/served_profile.json"
_EPS = 1e-4  # an empty bin would make PSI infinite


def per_series_shapes(frame: pd.DataFrame, freq: str) -> tuple[np.ndarray, np.ndarray]:
    """Each series' daily and weekly shape: (``[series, steps_per_day]``, ``[series, 7]``).

    The mean value at each step of the day and on each day of the week, as a share of the
    series' own mean (NaN where a series has no row). Counted with ``bincount`` over integer
    codes, not a group-by on series names: linear, and ~10x faster on 10^7 rows.
    """
    per_day = steps_per_day(freq)
    codes, names = pd.factorize(frame["series_id"])  # [rows], series in order of appearance
    series = len(names)
    values = frame["value"].to_numpy(dtype=np.float64)
    rows_per_series = np.bincount(codes, minlength=series)
    means = np.bincount(codes, weights=values, minlength=series) / np.maximum(rows_per_series, 1)
    relative = values / means[codes]  # [rows]
    phase = week_phase(frame["timestamp"], freq)  # [rows] step within the week

    def shape_of(slot: np.ndarray, slots: int) -> np.ndarray:
        key = codes * slots + slot  # one bin per (series, slot)
        sums = np.bincount(key, weights=relative, minlength=series * slots)
        counts = np.bincount(key, minlength=series * slots)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (sums / counts).reshape(series, slots)

    return shape_of(phase % per_day, per_day), shape_of((phase // per_day) % 7, 7)


def mean_shape(day: np.ndarray, week: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The shapes of ``per_series_shapes`` averaged over series: (``[steps_per_day]``, ``[7]``)."""

    def mean(per_series: np.ndarray) -> np.ndarray:
        if not len(per_series):
            return np.full(per_series.shape[1], np.nan)
        with warnings.catch_warnings():  # a slot no series has: NaN, as intended
            warnings.simplefilter("ignore", RuntimeWarning)
            averaged: np.ndarray = np.nanmean(per_series, axis=0)
            return averaged

    return mean(day), mean(week)


def seasonal_shape(frame: pd.DataFrame, freq: str) -> tuple[np.ndarray, np.ndarray]:
    """The daily and weekly shape of a canonical ``frame``: (``[steps_per_day]``, ``[7]``).

    Each series' shape (``per_series_shapes``), averaged over series.
    """
    return mean_shape(*per_series_shapes(frame, freq))


@dataclass(frozen=True)
class TrainingValues:
    """What the drift check reads of a training split: its values and its seasonal shape."""

    values: np.ndarray  # [rows]
    shape: tuple[np.ndarray, np.ndarray]  # ([steps_per_day], [7]), as ``seasonal_shape``

    @classmethod
    def of(cls, frame: pd.DataFrame, freq: str) -> TrainingValues:
        return cls(frame["value"].to_numpy(dtype=np.float64), seasonal_shape(frame, freq))


@dataclass(frozen=True)
class ValueProfile:
    """A distribution and seasonal-shape summary small enough for a run artifact."""

    quantiles: tuple[float, ...]  # at 0, 1, ..., 100 %
    rows: int
    day_shape: tuple[float, ...] = ()  # share of the mean at each step of the day
    week_shape: tuple[float, ...] = ()  # ... on each day of the week, Monday first
    level: float | None = None  # the level served windows are held against (None: the mean)

    @classmethod
    def of(
        cls, values: np.ndarray, frame: pd.DataFrame | None = None, freq: str = ""
    ) -> ValueProfile:
        """Profile of a 1-D array of finite values, with the shape of ``frame`` when given."""
        levels = np.linspace(0, 1, 101)
        quantiles = tuple(float(q) for q in np.quantile(values, levels))
        if frame is None:
            return cls(quantiles, len(values))
        day, week = seasonal_shape(frame, freq)
        return cls(quantiles, len(values), _rounded(day), _rounded(week))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "quantiles": list(self.quantiles),
            "rows": self.rows,
            "day_shape": list(self.day_shape),
            "week_shape": list(self.week_shape),
            "level": self.level,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValueProfile:
        """Inverse of ``as_dict`` (profiles logged before shapes existed have none)."""
        return cls(
            tuple(float(q) for q in data["quantiles"]),
            int(data["rows"]),
            tuple(float(v) for v in data.get("day_shape", ())),
            tuple(float(v) for v in data.get("week_shape", ())),
            None if data.get("level") is None else float(data["level"]),
        )

    def mean(self) -> float:
        """The level: ``level`` when set, else the values' mean from their 101 quantiles."""
        if self.level is not None:
            return self.level
        quantiles = np.asarray(self.quantiles, dtype=np.float64)
        return float(((quantiles[1:] + quantiles[:-1]) / 2).mean())


def seasonal_factor(steps: pd.DatetimeIndex, profile: ValueProfile, freq: str) -> float:
    """The level the profile's daily and weekly shapes expect over ``steps``, as a share.

    The mean over ``steps`` of day shape x week shape (1.0 when the profile has no shapes).
    """
    factor = np.ones(len(steps))
    if profile.day_shape:
        per_day = steps_per_day(freq)
        factor *= np.asarray(profile.day_shape)[week_phase(steps, freq) % per_day]
    if len(profile.week_shape) == 7:
        factor *= np.asarray(profile.week_shape)[steps.dayofweek]
    return float(factor.mean()) if len(steps) else 1.0


def served_profile(
    test: pd.DataFrame, trained: ValueProfile, freq: str, input_length: int
) -> ValueProfile:
    """What monitor holds a champion's served inputs against: its test split (``test``).

    Its values' quantiles; the daily and weekly shapes of the training split (``trained``),
    since a split that holds a level shift part-way folds the shift into its weekday shares;
    and as its level the last test input window of each series (``input_length`` steps, the
    inputs of the last origin it was scored at), divided by what those shapes expect there.
    """
    values = test["value"].to_numpy()
    shaped = ValueProfile(tuple(float(q) for q in np.quantile(values, np.linspace(0, 1, 101))),
                          len(values), trained.day_shape, trained.week_shape)  # fmt: skip
    levels = []
    for _, rows in test.groupby("series_id", sort=False, observed=True):
        tail = rows.sort_values("timestamp").tail(input_length)
        steps = pd.DatetimeIndex(tail["timestamp"])
        levels.append(float(tail["value"].mean()) / seasonal_factor(steps, shaped, freq))
    level = float(np.mean(levels)) if levels else None
    return ValueProfile(shaped.quantiles, shaped.rows, shaped.day_shape, shaped.week_shape, level)


def _rounded(shape: np.ndarray) -> tuple[float, ...]:
    return tuple(round(float(v), 6) for v in shape)


def _largest_change(reference: tuple[float, ...], new: np.ndarray) -> float | None:
    if not reference or len(reference) != len(new):
        return None  # no stored shape, or a different frequency: nothing comparable
    return float(np.nanmax(np.abs(np.asarray(reference) - new)))


@dataclass(frozen=True)
class DriftReport:
    """How far new values moved from a reference profile."""

    psi: float
    ks: float
    rows: int
    reference_rows: int
    day_shape: float | None = None  # largest change at a step of the day, share of the mean
    week_shape: float | None = None  # ... on a day of the week

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "psi": self.psi,
            "ks": self.ks,
            "day_shape": self.day_shape,
            "week_shape": self.week_shape,
            "rows": self.rows,
            "reference_rows": self.reference_rows,
        }

    @property
    def shape(self) -> float | None:
        """The larger of the day and week shape changes (None when not compared)."""
        changes = [c for c in (self.day_shape, self.week_shape) if c is not None]
        return max(changes) if changes else None


def compare(
    reference: ValueProfile,
    values: np.ndarray,
    shape: tuple[np.ndarray, np.ndarray] | None = None,
) -> DriftReport:
    """PSI over the reference's deciles and KS at its quantiles, for ``values`` [N].

    With ``shape`` (:func:`seasonal_shape` of the rows behind ``values``), the change of
    seasonal shape too.
    """
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
    day_change = week_change = None
    if shape is not None:
        day_change = _largest_change(reference.day_shape, shape[0])
        week_change = _largest_change(reference.week_shape, shape[1])
    return DriftReport(psi, ks, len(ordered), reference.rows, day_change, week_change)


@dataclass(frozen=True)
class DriftLimits:
    """The ``validate.drift_*`` limits: PSI, KS and the largest seasonal-shape change."""

    psi: float
    ks: float
    shape: float


@dataclass(frozen=True)
class DriftVerdict:
    """Whether new training values drifted past the limits, in one line and as ``drift.json``."""

    drifted: bool
    line: str
    record: dict[str, Any]


def judge_drift(report: DriftReport, version: str, limits: DriftLimits) -> DriftVerdict:
    """Hold ``report`` (new values against champion ``version``'s) against ``limits``."""
    shape_over = report.shape is not None and report.shape > limits.shape
    over = report.psi > limits.psi or report.ks > limits.ks or shape_over
    line = (
        f"training values vs champion v{version}'s: PSI {report.psi:.3f} (limit "
        f"{limits.psi}), KS {report.ks:.3f} (limit {limits.ks})"
    )
    if report.shape is not None:
        # Either shape may be missing (a champion trained on another frequency): quote what is.
        parts = [
            f"{name} {change:.1%}"
            for name, change in (("day", report.day_shape), ("week", report.week_shape))
            if change is not None
        ]
        line += (
            f", seasonal shape moved by {report.shape:.1%} of the mean at most "
            f"({', '.join(parts)}; limit {limits.shape:.0%})"
        )
    record = {"checked": True, "champion_version": version, "drifted": over} | report.as_dict()
    return DriftVerdict(over, line, record)


def check_against(
    train: TrainingValues,
    reference: tuple[str, ValueProfile] | None,
    limits: DriftLimits,
    reports: Path,
    skipped: str = "no champion yet",
) -> DriftVerdict | None:
    """Drift of ``train`` against a champion's profile; writes ``drift.png`` and ``drift.json``.

    Args:
        train: the new training split's values and seasonal shape.
        reference: (champion version, its training-data profile), or None to compare nothing.
        limits: the ``validate.drift_*`` limits.
        reports: validate's report folder.
        skipped: why there is no reference, for ``drift.json`` when ``reference`` is None.

    Returns:
        The verdict, or None when nothing was compared.

    """
    from forecasting.core.files import write_json
    from forecasting.core.plots import seasonal_shapes

    shape = train.shape
    seasonal_shapes(
        shape,
        None if reference is None else (reference[1].day_shape, reference[1].week_shape),
        f"Seasonal shape of the training split vs champion v{reference[0]}'s"
        if reference
        else "Seasonal shape of the training split (no champion yet)",
        reports / "drift.png",
    )
    if reference is None:
        write_json(reports / "drift.json", {"checked": False, "reason": skipped})
        return None
    version, profile = reference
    verdict = judge_drift(compare(profile, train.values, shape), version, limits)
    write_json(reports / "drift.json", verdict.record)
    return verdict
