"""Chronological splits of the validated series, as the validate stage writes them.

Pandas only (no PyTorch): the validate and package stages import this without paying for torch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.core.auto_settings import main_season
from forecasting.core.files import write_atomically

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
    season = main_season(freq)  # steps; 0 where the frequency has none
    if season <= 1 or test.empty:
        return None
    shortest = int(test.groupby("series_id", sort=False).size().min())
    if shortest >= season:
        return None
    return (
        f"the test split holds {shortest} steps of a series, less than its {season}-step season: "
        "its test MAE leaves part of the season out, and monitor judges live days against it; "
        "raise validate.test_fraction or ingest more history"
    )


def write_splits(splits: Splits, directory: Path) -> None:
    """Write ``train``/``val``/``test.parquet`` into ``directory``, each atomically; log each."""
    for name in SPLITS:
        part = getattr(splits, name)
        write_atomically(directory / f"{name}.parquet", partial(part.to_parquet, index=False))
        first, last = part["timestamp"].min(), part["timestamp"].max()
        logger.info("%-5s %5d rows  %s .. %s", name, len(part), first, last)


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
