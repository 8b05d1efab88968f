"""Drift of the served input windows against the champion's training profile, day by day.

Two views of the same windows:

* their **level**: each logged window mean against what the training data's level, daily and
  weekly shape expect of a window over those same steps (so a window of two weekend days is not
  "10 % low"), as a share of it: a +15 % level shift reads 0.15, from the log alone;
* their **distribution and daily shape**: the values the day's windows covered, read back from
  the raw snapshot, against the profile with ``data.drift.compare`` (PSI, KS, the largest change
  of the daily shape), once the windows span a week at least: a shorter span holds a part of
  the weekly cycle, whose values differ from a whole week's without any drift. The weekly shape
  itself is left out: one window holds one sample of each weekday, which is noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecasting.core.periods import step_of, steps_per_day, week_phase
from forecasting.data.drift import ValueProfile, compare, seasonal_shape


@dataclass(frozen=True)
class InputDrift:
    """One day's served inputs against the training profile."""

    level: float  # mean window mean / training mean - 1
    psi: float | None  # None: the windows' values are not in the snapshot
    ks: float | None
    day_shape: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"level": self.level, "psi": self.psi, "ks": self.ks, "day_shape": self.day_shape}


def profile_mean(profile: ValueProfile) -> float:
    """The training values' mean, from their 101 quantiles (the trapezoid between them)."""
    quantiles = np.asarray(profile.quantiles, dtype=np.float64)
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


def daily_input_drift(
    records: list[dict[str, Any]],
    snapshot: pd.DataFrame,
    profile: ValueProfile,
    freq: str,
) -> dict[pd.Timestamp, InputDrift]:
    """Per day of ``end``: the level of the served windows, and their values' drift.

    Records without an ``input`` summary (none are written so) are skipped.
    """
    mean = profile_mean(profile)
    step = step_of(freq)
    stamps = snapshot["timestamp"]
    by_day: dict[pd.Timestamp, list[dict[str, Any]]] = {}
    for record in records:
        if isinstance(record.get("input"), dict):
            by_day.setdefault(pd.Timestamp(record["end"]).normalize(), []).append(record)
    drift: dict[pd.Timestamp, InputDrift] = {}
    for day, served in sorted(by_day.items()):
        levels = []
        covered = np.zeros(len(snapshot), dtype=bool)
        for record in served:
            end = pd.Timestamp(record["end"])
            length = int(record["input"]["length"])
            start = end - step * (length - 1)
            expected = mean * seasonal_factor(pd.date_range(start, end, freq=freq), profile, freq)
            levels.append(float(record["input"]["mean"]) / expected - 1)
            covered |= ((stamps >= start) & (stamps <= end)).to_numpy()
        level = float(np.mean(levels))
        window = snapshot[covered]
        span = window["timestamp"].max() - window["timestamp"].min() if len(window) else None
        if span is None or span < pd.Timedelta(days=7) - step:
            drift[day] = InputDrift(level, None, None, None)
            continue
        day_shape, _ = seasonal_shape(window, freq)
        reference_week = np.asarray(profile.week_shape) if profile.week_shape else np.zeros(7)
        report = compare(profile, window["value"].to_numpy(), (day_shape, reference_week))
        drift[day] = InputDrift(level, report.psi, report.ks, report.day_shape)
    return drift
