"""Drift of the served input windows against the champion's test-split profile, day by day.

Two views of the same windows:

* their **level**: each logged window mean against what the profiled data's level, daily and
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

from forecasting.core.periods import step_of
from forecasting.data.drift import ValueProfile, compare, seasonal_factor, seasonal_shape


@dataclass(frozen=True)
class InputDrift:
    """One day's served inputs against the champion's profile."""

    level: float  # mean window mean / training mean - 1
    psi: float | None  # None: the windows' values are not in the snapshot
    ks: float | None
    day_shape: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"level": self.level, "psi": self.psi, "ks": self.ks, "day_shape": self.day_shape}


def daily_input_drift(
    records: list[dict[str, Any]],
    snapshot: pd.DataFrame,
    profile: ValueProfile,
    freq: str,
) -> dict[pd.Timestamp, InputDrift]:
    """Per day of ``end``: the level of the served windows, and their values' drift.

    Records without an ``input`` summary (none are written so) are skipped.
    """
    mean = profile.mean()
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
