"""Gaps in a regular series: where they are, how long, and (within a bound) filling them.

A gap is a step from one timestamp to the next that is a whole number (> 1) of the series'
frequency: observations are missing in between. Steps that are not whole multiples (irregular
timestamps) are not gaps; the data contract refuses those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecasting.periods import step_of

SHOWN_GAPS = 20  # gaps listed in the report; the counts cover all of them


class GapError(ValueError):
    """A gap is too long to fill; the message says where and what to change."""


@dataclass(frozen=True)
class Gap:
    """Missing observations between two consecutive timestamps of one series."""

    series_id: str
    after: pd.Timestamp  # the last observation before the gap
    before: pd.Timestamp  # the first observation after it
    missing_steps: int

    def __str__(self) -> str:
        return (
            f"{self.series_id}: {self.missing_steps} missing step(s) between "
            f"{self.after.isoformat()} and {self.before.isoformat()}"
        )


@dataclass(frozen=True)
class GapReport:
    """Every gap of a snapshot, longest first."""

    gaps: tuple[Gap, ...]

    @property
    def missing_steps(self) -> int:
        """Observations missing over all gaps."""
        return sum(gap.missing_steps for gap in self.gaps)

    def summary(self) -> str:
        """One line: how many, how much, and the longest."""
        if not self.gaps:
            return "no gaps"
        return (
            f"{len(self.gaps)} gap(s), {self.missing_steps} missing step(s); "
            f"longest: {self.gaps[0]}"
        )

    def as_dict(self) -> dict[str, Any]:
        """For reports/validate/gaps.json: the counts and the longest gaps."""
        return {
            "gaps": len(self.gaps),
            "missing_steps": self.missing_steps,
            "longest_missing_steps": self.gaps[0].missing_steps if self.gaps else 0,
            "where": [
                {
                    "series_id": gap.series_id,
                    "after": gap.after.isoformat(),
                    "before": gap.before.isoformat(),
                    "missing_steps": gap.missing_steps,
                }
                for gap in self.gaps[:SHOWN_GAPS]
            ],
        }


def find_gaps(frame: pd.DataFrame, freq: str) -> GapReport:
    """The gaps of a canonical frame (sorted by series, then time) at frequency ``freq``."""
    step = step_of(freq)
    previous = frame.groupby("series_id", sort=False)["timestamp"].shift()
    delta = frame["timestamp"] - previous
    ratio = delta / step
    is_gap = (ratio > 1) & (np.floor(ratio) == ratio)
    rows = frame.loc[is_gap]
    gaps = [
        Gap(str(series_id), pd.Timestamp(after), pd.Timestamp(before), int(steps) - 1)
        for series_id, after, before, steps in zip(
            rows["series_id"], previous[is_gap], rows["timestamp"], ratio[is_gap], strict=True
        )
    ]
    return GapReport(tuple(sorted(gaps, key=lambda gap: -gap.missing_steps)))


def fill_gaps(frame: pd.DataFrame, freq: str, max_steps: int) -> tuple[pd.DataFrame, int]:
    """Fill every gap of at most ``max_steps`` missing steps by linear interpolation.

    Returns:
        The frame on a regular grid per series, and how many observations were filled.

    Raises:
        GapError: naming the longest gap if any gap is longer than ``max_steps``.

    """
    report = find_gaps(frame, freq)
    if not report.gaps:
        return frame, 0
    longest = report.gaps[0]
    if longest.missing_steps > max_steps:
        too_long = sum(gap.missing_steps > max_steps for gap in report.gaps)
        raise GapError(
            f"{too_long} gap(s) are longer than validate.max_fill_steps={max_steps}; the longest "
            f"is {longest}. Fix the source, or raise the bound if interpolating that far is sound."
        )
    step = step_of(freq)
    filled = []
    for series_id, rows in frame.groupby("series_id", sort=False):
        indexed = rows.set_index("timestamp")["value"]
        grid = pd.date_range(indexed.index[0], indexed.index[-1], freq=step)
        values = indexed.reindex(grid).interpolate(method="time", limit_area="inside")
        filled.append(
            pd.DataFrame({"series_id": series_id, "timestamp": grid, "value": values.to_numpy()})
        )
    result = pd.concat(filled, ignore_index=True)
    result["timestamp"] = result["timestamp"].astype("datetime64[ns]")
    return result, report.missing_steps
