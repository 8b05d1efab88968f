"""Gaps in a regular series: where they are, how long, and (within a bound) filling them.

A gap is a step from one timestamp to the next that is a whole number (> 1) of the series'
frequency, on its calendar (a month after January is February, whatever its length):
observations are missing in between. Steps that are not whole multiples (irregular timestamps)
are not gaps; the data contract refuses those. Missing *values* (NaN cells at timestamps that
are present) are reported the same way, as runs of consecutive missing cells, and filled under
the same bound when ``validate.on_missing: fill``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecasting.core.periods import grid_between, is_fixed, steps_between

logger = logging.getLogger(__name__)

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
    what: str = "step"  # step: missing timestamps | value: NaN cells at present timestamps

    def __str__(self) -> str:
        missing = f"{self.series_id}: {self.missing_steps} missing {self.what}(s)"
        if pd.isna(self.after):
            return f"{missing} at the start, before {self.before.isoformat()}"
        if pd.isna(self.before):
            return f"{missing} at the end, after {self.after.isoformat()}"
        return f"{missing} between {self.after.isoformat()} and {self.before.isoformat()}"


@dataclass(frozen=True, eq=False)
class GapReport:
    """Every gap of a snapshot: counted in full, the longest few described."""

    count: int
    missing_steps: int
    longest: tuple[Gap, ...]  # up to SHOWN_GAPS, longest first
    steps: np.ndarray  # missing steps of every gap: (count,) int64
    what: str = "step"  # step: gaps of missing timestamps | value: runs of NaN cells

    def __bool__(self) -> bool:
        return self.count > 0

    @classmethod
    def combined(cls, reports: Sequence[GapReport], what: str = "step") -> GapReport:
        """The reports of consecutive chunks of whole series as one report of them all."""
        gaps = [gap for report in reports for gap in report.longest]
        # Longest first; among equals, the earlier chunk first (a stable sort, as within one).
        longest = tuple(sorted(gaps, key=lambda gap: -gap.missing_steps)[:SHOWN_GAPS])
        steps = [report.steps for report in reports]
        return cls(
            sum(report.count for report in reports),
            sum(report.missing_steps for report in reports),
            longest,
            np.concatenate(steps) if steps else np.zeros(0, dtype=np.int64),
            what,
        )

    def longer_than(self, max_steps: int) -> int:
        """How many gaps miss more than ``max_steps`` steps."""
        return int(np.count_nonzero(self.steps > max_steps))

    def summary(self) -> str:
        """One line: how many, how much, and the longest."""
        runs = "gap" if self.what == "step" else "run"
        if not self.count:
            return f"no {runs}s"
        return (
            f"{self.count} {runs}(s), {self.missing_steps} missing {self.what}(s); longest: "
            f"{self.longest[0]}"
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
                    "after": None if pd.isna(gap.after) else gap.after.isoformat(),
                    "before": None if pd.isna(gap.before) else gap.before.isoformat(),
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
    previous = frame.groupby("series_id", sort=False)["timestamp"].shift()
    ratio = steps_between(
        previous.to_numpy(dtype="datetime64[ns]"),
        frame["timestamp"].to_numpy(dtype="datetime64[ns]"),
        freq,
    )
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


def find_missing_values(frame: pd.DataFrame) -> GapReport:
    """Runs of NaN values in a canonical frame (sorted by series, then time), as gaps of values.

    A run at the start or end of a series has no observation on one side (``after`` or
    ``before`` is NaT): it cannot be interpolated.
    """
    missing = frame["value"].isna().to_numpy()
    codes = pd.factorize(frame["series_id"])[0]
    new_series = np.r_[True, codes[1:] != codes[:-1]]  # [rows] first row of a series
    last_of_series = np.r_[new_series[1:], True]
    starts = np.flatnonzero(missing & (new_series | ~np.r_[False, missing[:-1]]))
    ends = np.flatnonzero(missing & (last_of_series | ~np.r_[missing[1:], False]))
    steps = (ends - starts + 1).astype(np.int64)  # [runs]
    shown = np.argsort(-steps, kind="stable")[:SHOWN_GAPS]
    stamps = frame["timestamp"]
    longest = tuple(
        Gap(
            str(frame["series_id"].iat[starts[run]]),
            pd.NaT if new_series[starts[run]] else pd.Timestamp(stamps.iat[starts[run] - 1]),
            pd.NaT if last_of_series[ends[run]] else pd.Timestamp(stamps.iat[ends[run] + 1]),
            int(steps[run]),
            "value",
        )
        for run in shown
    )
    return GapReport(len(steps), int(steps.sum()), longest, steps, "value")


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last index of each run of True in a 1-D mask: two int arrays [runs]."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1


def _fill_series(
    rows: pd.DataFrame, freq: str, steps: bool, values: bool
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """One series, filled: (the rows, on its full grid with ``steps``; the cells filled [rows];
    which of those were missing timestamps [rows]).
    """
    indexed = rows.set_index("timestamp")["value"]
    if steps:
        grid = grid_between(indexed.index[0], indexed.index[-1], freq)
        inserted = ~grid.isin(indexed.index)
        indexed = indexed.reindex(grid)
    else:
        inserted = np.zeros(len(indexed), dtype=bool)
    fill = inserted | (indexed.isna().to_numpy() & ~inserted & values)
    # Calendar steps are equally spaced in steps, not in time (a business week's weekend).
    method = "time" if is_fixed(freq) else "linear"
    interpolated = indexed.interpolate(method=method, limit_area="inside")
    part = pd.DataFrame(
        {
            "series_id": rows["series_id"].iat[0],
            "timestamp": indexed.index,
            "value": indexed.where(~fill, interpolated).to_numpy(),
        }
    )
    return part, fill, inserted


def fill_runs(
    frame: pd.DataFrame, freq: str, max_steps: int, steps: bool = True, values: bool = False
) -> tuple[pd.DataFrame, int, list[Gap]]:
    """Fill missing timestamps (``steps``) and/or NaN cells (``values``) by linear interpolation.

    A run of consecutive missing observations (timestamps, cells, or both when both are
    filled) may be at most ``max_steps`` long. NaN cells at a series' start or end have nothing
    to interpolate from: those rows are dropped (logged by the caller from the report).

    Returns:
        The frame (on a regular grid per series with ``steps``), how many cells were filled,
        and the runs longer than ``max_steps`` (``too_long_error`` says it in words).

    """
    parts, filled, too_long, changed = [], 0, [], False
    for series_id, rows in frame.groupby("series_id", sort=False):
        part, fill, inserted = _fill_series(rows, freq, steps, values)
        first, last = _runs(fill)
        at_edge = (first == 0) | (last == len(fill) - 1)
        for a, b in zip(first[~at_edge], last[~at_edge], strict=True):
            if b - a + 1 > max_steps:
                what = "step" if inserted[a : b + 1].any() else "value"
                stamps = part["timestamp"]
                too_long.append(
                    Gap(str(series_id), stamps.iat[a - 1], stamps.iat[b + 1], int(b - a + 1), what)
                )
        keep = np.ones(len(part), dtype=bool)
        for a, b in zip(first[at_edge], last[at_edge], strict=True):
            keep[a : b + 1] = False
        filled += int(fill[keep].sum())
        changed |= bool(fill.any() or not keep.all())
        parts.append(part[keep])
    if too_long or not changed:
        return frame, 0, too_long
    result = pd.concat(parts, ignore_index=True)
    result["timestamp"] = result["timestamp"].astype("datetime64[ns]")
    return result, filled, too_long


def too_long_error(too_long: Sequence[Gap], max_steps: int) -> GapError:
    """The error for runs longer than ``validate.max_fill_steps``, naming the longest."""
    longest = max(too_long, key=lambda gap: gap.missing_steps)
    return GapError(
        f"{len(too_long)} gap(s) are longer than validate.max_fill_steps={max_steps}; the "
        f"longest is {longest}. Fix the source, or raise the bound if interpolating that "
        "far is sound."
    )


def fill_missing(
    frame: pd.DataFrame, freq: str, max_steps: int, steps: bool = True, values: bool = False
) -> tuple[pd.DataFrame, int]:
    """``fill_runs``, raising on a run too long to fill.

    Returns:
        The frame (on a regular grid per series with ``steps``), and how many cells were filled.

    Raises:
        GapError: naming the longest run if any run is longer than ``max_steps``.

    """
    filled_frame, filled, too_long = fill_runs(frame, freq, max_steps, steps, values)
    if too_long:
        raise too_long_error(too_long, max_steps)
    return filled_frame, filled


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
    return fill_missing(frame, freq, max_steps, steps=True, values=False)


def gap_report(
    gaps: GapReport, missing: GapReport, filled_steps: int = 0, filled_values: int = 0
) -> dict[str, Any]:
    """``reports/validate/gaps.json``: missing timestamps and missing values, and what was filled."""
    values = {**missing.as_dict(), "filled_values": filled_values}
    return {**gaps.as_dict(), "filled_steps": filled_steps, "missing_values": values}


def log_gaps_and_fill(
    gaps: GapReport, missing: GapReport, filled_steps: int, filled_values: int
) -> None:
    """A warning for the gaps and for the missing values found, and one for what was filled."""
    for seen, what in ((gaps, "gaps"), (missing, "missing values")):
        if seen:
            logger.warning("%s in the snapshot: %s", what, seen.summary())
    if filled_steps or filled_values:
        logger.warning(
            "filled %d missing step(s) and %d missing value(s) by linear interpolation",
            filled_steps,
            filled_values,
        )


def fill_hint(gaps: GapReport, missing: GapReport, values_fill: bool, report: str) -> str:
    """The lines a failed contract adds about gaps and missing values, naming the fill keys."""
    hint = ""
    if gaps:
        hint += (
            f"\nGaps: {gaps.summary()} (validate.on_gap: fill interpolates gaps of up to "
            f"validate.max_fill_steps steps; report: {report})"
        )
    if missing and not values_fill:
        hint += (
            f"\nMissing values: {missing.summary()} (validate.on_missing: fill interpolates runs "
            f"of up to validate.max_fill_steps values; report: {report})"
        )
    return hint
