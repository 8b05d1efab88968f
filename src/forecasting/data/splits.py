"""Chronological splits of the validated series, as the validate stage writes them.

Pandas only (no PyTorch): the validate and package stages import this without paying for torch.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from forecasting.core.auto_settings import main_season

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Splits:
    """Chronological splits of every series (rows stay in time order; nothing is shuffled)."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame


def split_chronologically(frame: pd.DataFrame, val_fraction: float, test_fraction: float) -> Splits:
    """Cut each series into train / val / test by time: the last ``test_fraction`` is test.

    Raises:
        ValueError: if the fractions leave no training data.

    """
    if not 0 < val_fraction < 1 or not 0 < test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ValueError("val_fraction and test_fraction must be in (0, 1) and sum below 1")
    if not frame["series_id"].is_monotonic_increasing:
        frame = frame.sort_values("series_id", kind="stable")
    # Each series' rows are contiguous: cut them by per-series counts in one vectorised pass
    # (one int8 label per row), not a Python loop over series.
    rows = frame.groupby("series_id", sort=False).size().to_numpy()  # [series]
    test_rows = np.round(rows * test_fraction).astype(np.int64)  # half to even, as round()
    val_rows = np.round(rows * val_fraction).astype(np.int64)
    counts = np.stack([rows - val_rows - test_rows, val_rows, test_rows], axis=1)  # [series, 3]
    labels = np.repeat(np.tile(np.arange(3, dtype=np.int8), len(rows)), counts.ravel())
    return Splits(*(frame[labels == split].reset_index(drop=True) for split in range(3)))


def short_test_split(test: pd.DataFrame, freq: str) -> str | None:
    """A warning when some series' test split is shorter than its main season, else None.

    Evaluate's test MAE is what monitor holds each live day against: a test split without a
    whole season (a week of sub-daily data) leaves out days that are harder than the rest (a
    weekend and its transitions), and ordinary live days then read as decay.
    """
    if test.empty:
        return None
    return short_test_warning(int(test.groupby("series_id", sort=False).size().min()), freq)


def short_test_warning(shortest: int, freq: str) -> str | None:
    """``short_test_split``'s warning, from the shortest series' test rows."""
    season = main_season(freq)  # steps; 0 where the frequency has none
    if season <= 1 or shortest >= season:
        return None
    return (
        f"the test split holds {shortest} steps of a series, less than its {season}-step season: "
        "its test MAE leaves part of the season out, and monitor judges live days against it; "
        "raise validate.test_fraction or ingest more history"
    )


class SplitWriter:
    """The validated splits of a snapshot checked one chunk of whole series at a time.

    Each chunk's splits are appended to hidden files beside the targets; ``commit`` renames
    them into place, and leaving the block without it deletes them: nothing half-written and
    nothing from a snapshot that failed a later check is ever read as the validated data.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._created = not directory.exists()  # then removed again unless committed
        self._committed = False
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._seen: dict[str, tuple[int, pd.Timestamp | None, pd.Timestamp | None]] = {}

    def _staged(self, name: str) -> Path:
        return self.directory / f".{name}.parquet.partial"

    def append(self, splits: Splits) -> None:
        """Append one chunk's splits (series that no earlier chunk held)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for name in SPLITS:
            part = getattr(splits, name)
            table = pa.Table.from_pandas(part, preserve_index=False)
            if name not in self._writers:
                self._writers[name] = pq.ParquetWriter(self._staged(name), table.schema)
            self._writers[name].write_table(table)
            rows, first, last = self._seen.get(name, (0, None, None))
            if len(part):
                low, high = part["timestamp"].min(), part["timestamp"].max()
                first = low if first is None else min(first, low)
                last = high if last is None else max(last, high)
            self._seen[name] = (rows + len(part), first, last)

    def commit(self) -> None:
        """Move every split into place, and log its rows and time range."""
        self._close()
        for name in SPLITS:
            os.replace(self._staged(name), self.directory / f"{name}.parquet")
            rows, first, last = self._seen[name]
            logger.info("%-5s %5d rows  %s .. %s", name, rows, first, last)
        self._committed = True

    def _close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def __enter__(self) -> SplitWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close()
        for name in SPLITS:
            self._staged(name).unlink(missing_ok=True)
        unused = self._created and not self._committed and self.directory.is_dir()
        if unused and not any(self.directory.iterdir()):
            self.directory.rmdir()


def read_splits(directory: Path) -> Splits:
    """Read the validated splits written by the validate stage.

    Raises:
        FileNotFoundError: if a split is missing.

    """
    frames = []
    for name in SPLITS:
        path = directory / f"{name}.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run the validate stage first")
        frames.append(pd.read_parquet(path))
    return Splits(*frames)
