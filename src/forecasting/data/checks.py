"""Every check of the validate stage, run on a snapshot one chunk of whole series at a time.

Gaps, missing values, the bounded fill, the data contract and the chronological split all
hold within a series, so a chunk of whole series is checked exactly as the whole snapshot
would be, and the chunks' reports add up to the snapshot's. Memory is bounded by the chunk
(``validate.rows_per_chunk``), not the snapshot: what outlives a chunk is its counts, the few
series the overview plot draws, and what the drift check reads of the training split: its
values (8 bytes a row) and each series' seasonal shape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.core.plots import SHOWN_SERIES
from forecasting.data.contract import Contract, ContractResult, ContractSettings
from forecasting.data.drift import TrainingValues, mean_shape, per_series_shapes
from forecasting.data.gaps import Gap, GapReport, fill_runs, find_gaps, find_missing_values
from forecasting.data.splits import SplitWriter, split_chronologically

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckSettings:
    """``validate`` in ``params.yaml``, as the checks read it."""

    contract: ContractSettings
    fill: tuple[bool, bool]  # whether missing timestamps, and missing values, may be filled
    max_fill_steps: int
    val_fraction: float
    test_fraction: float


@dataclass
class SnapshotCheck:
    """What the checks found; the passing chunks' splits wait in the ``SplitWriter``."""

    rows: int = 0  # after any fill
    chunks: int = 0
    gaps: GapReport = field(default_factory=lambda: GapReport.combined([]))
    missing: GapReport = field(default_factory=lambda: GapReport.combined([], "value"))
    filled_cells: int = 0  # timestamps and values together
    fill_applied: tuple[bool, bool] = (False, False)  # (timestamps, values) were filled
    too_long: list[Gap] = field(default_factory=list)  # runs the fill may not bridge
    contract: ContractResult | None = None  # None: a run too long to fill stopped the checks
    overview: pd.DataFrame = field(default_factory=pd.DataFrame)  # the first series, as read
    train: TrainingValues | None = None  # None: no chunk passed the contract
    series: list[str] = field(default_factory=list)  # of the training split, in order
    shortest_test: int = 0  # rows in the shortest series' test split

    @property
    def filled_steps(self) -> int:
        return self.gaps.missing_steps if self.fill_applied[0] else 0

    @property
    def filled_values(self) -> int:
        return self.filled_cells - self.filled_steps


class _Accumulator:
    """The state carried from chunk to chunk."""

    def __init__(self, settings: CheckSettings) -> None:
        self.settings = settings
        self.gaps: list[GapReport] = []
        self.missing: list[GapReport] = []
        self.overview: list[pd.DataFrame] = []
        self.drawn: list[object] = []
        self.values: list[np.ndarray] = []  # [rows] of each chunk's training split
        self.day_shapes: list[np.ndarray] = []  # [series, steps_per_day] of each chunk
        self.week_shapes: list[np.ndarray] = []  # [series, 7]
        self.names: list[str] = []
        self.shortest_test: int | None = None

    def draw(self, chunk: pd.DataFrame) -> None:
        """Keep the rows of the first ``SHOWN_SERIES`` series for the overview plot."""
        if len(self.drawn) >= SHOWN_SERIES:
            return
        for name in pd.unique(chunk["series_id"])[: SHOWN_SERIES - len(self.drawn)]:
            self.drawn.append(name)
        self.overview.append(chunk[chunk["series_id"].isin(self.drawn)])

    def keep_train(self, train: pd.DataFrame, test: pd.DataFrame) -> None:
        self.values.append(train["value"].to_numpy(dtype=np.float64))
        day, week = per_series_shapes(train, self.settings.contract.freq)
        self.day_shapes.append(day)
        self.week_shapes.append(week)
        self.names += [str(name) for name in pd.unique(train["series_id"])]
        if len(test):
            shortest = int(test.groupby("series_id", sort=False).size().min())
            self.shortest_test = min(shortest, self.shortest_test or shortest)

    def train(self) -> TrainingValues | None:
        """The training split's values and shape, exactly ``TrainingValues.of`` the split's."""
        if not self.values:
            return None
        values = np.concatenate(self.values)
        self.values.clear()
        shape = mean_shape(np.concatenate(self.day_shapes), np.concatenate(self.week_shapes))
        return TrainingValues(values, shape)


def check_snapshot(
    chunks: Iterable[pd.DataFrame],
    settings: CheckSettings,
    splits: SplitWriter,
    docs_dir: Path | None = None,
) -> SnapshotCheck:
    """Check each chunk of whole series and append its splits to ``splits`` while all pass.

    Args:
        chunks: the snapshot in frames of whole series (``series_chunks``), in order; at
            least one (an empty snapshot is one empty frame).
        settings: the contract, the fill policy and the split fractions.
        splits: where the passing chunks' splits wait for ``SplitWriter.commit``.
        docs_dir: where Great Expectations writes its Data Docs (one page per chunk).

    Returns:
        What was found. It never raises on a failed check: read ``too_long`` and ``contract``.

    """
    freq, (steps, values) = settings.contract.freq, settings.fill
    contract = Contract(settings.contract, docs_dir)
    state = _Accumulator(settings)
    check = SnapshotCheck()
    for chunk in chunks:
        check.chunks += 1
        state.draw(chunk)
        gaps, missing = find_gaps(chunk, freq), find_missing_values(chunk)
        state.gaps.append(gaps)
        state.missing.append(missing)
        if (gaps and steps) or (missing and values):
            chunk, filled, too_long = fill_runs(
                chunk, freq, settings.max_fill_steps, steps, values
            )
            check.filled_cells += filled
            check.too_long += too_long
        if check.too_long:  # the stage fails on the gaps: the rest is only counted
            continue
        check.rows += len(chunk)
        contract.check(chunk)
        if contract.passed:
            parts = split_chronologically(chunk, settings.val_fraction, settings.test_fraction)
            splits.append(parts)
            state.keep_train(parts.train, parts.test)
        logger.info("checked chunk %d: %d rows", check.chunks, len(chunk))
    check.gaps = GapReport.combined(state.gaps)
    check.missing = GapReport.combined(state.missing, "value")
    check.fill_applied = (bool(check.gaps) and steps, bool(check.missing) and values)
    if not check.too_long:
        check.contract = contract.result()
    if state.overview:
        check.overview = pd.concat(state.overview, ignore_index=True)
    check.train, check.series = state.train(), state.names
    check.shortest_test = state.shortest_test or 0
    return check
