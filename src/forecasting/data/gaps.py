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

from forecasting.core.periods import step_of

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


@dataclass(frozen=True, eq=False)
class GapReport:
    """Every gap of a snapshot: counted in full, the longest few described."""

    count: int
    missing_steps: int
    longest: tuple[Gap, ...]  # up to SHOWN_GAPS, longest first
    steps: np.ndarray  # missing steps of every gap: (count,) int64

    def __bool__(self) -> bool:
        return self.count > 0

    def longer_than(self, max_steps: int) -> int:
        """How many gaps miss more than ``max_steps`` steps."""
        return int(np.count_nonzero(self.steps > max_steps))

    def summary(self) -> str:
        """One line: how many, how much, and the longest."""
        if not self.count:
            return "no gaps"
        return (
            f"{self.count} gap(s), {self.missing_steps} missing step(s); longest: {self.longest[0]}"
        )

    def as_dict(self) -> dict[str, Any]:
        """For reports/validate/gaps.json: the counts and the longest gaps."""
        return {
            "gaps": self.count,
            "missing_steps": self.missing_steps,
            "longest_missing_steps": self.longest[0].missing_steps if self.longest else 0,
            "where": [
                {
                    "series_id": gap.series_id,
                    "after": gap.after.isoformat(),
                    "before": gap.before.isoformat(),
                    "missing_steps": gap.missing_steps,
                }
                for gap in self.longest
            ],
        }


def find_gaps(frame: pd.DataFrame, freq: str) -> GapReport:
    """The gaps of a canonical frame (sorted by series, then time) at frequency ``freq``.

    Counting is vectorised; only the longest ``SHOWN_GAPS`` become objects, so hourly data
    declared half-hourly (a gap every other row) costs no more than a clean file.
    """
    step = step_of(freq)
    previous = frame.groupby("series_id", sort=False)["timestamp"].shift()
    ratio = ((frame["timestamp"] - previous) / step).to_numpy(dtype=np.float64, na_value=np.nan)
    is_gap = (ratio > 1) & (np.floor(ratio) == ratio)
    where = np.flatnonzero(is_gap)
    steps = ratio[where].astype(np.int64) - 1
    # Longest first; among equals, the earlier row first (a stable sort on -steps).
    shown = where[np.argsort(-steps, kind="stable")[:SHOWN_GAPS]]
    longest = tuple(
        Gap(
            str(frame["series_id"].iat[row]),
            pd.Timestamp(previous.iat[row]),
            pd.Timestamp(frame["timestamp"].iat[row]),
            int(ratio[row]) - 1,
        )
        for row in shown
    )
    return GapReport(len(where), int(steps.sum()), longest, steps)


def fill_gaps(frame: pd.DataFrame, freq: str, max_steps: int) -> tuple[pd.DataFrame, int]:
    """Fill every gap of at most ``max_steps`` missing steps by linear interpolation.

    Returns:
        The frame on a regular grid per series, and how many observations were filled.

    Raises:
        GapError: naming the longest gap if any gap is longer than ``max_steps``.

    """
    report = find_gaps(frame, freq)
    if not report:
        return frame, 0
    too_long = report.longer_than(max_steps)
    if too_long:
        raise GapError(
            f"{too_long} gap(s) are longer than validate.max_fill_steps={max_steps}; the longest "
            f"is {report.longest[0]}. Fix the source, or raise the bound if interpolating that "
            "far is sound."
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
