"""Chronological splits of the validated series, and forecast requests drawn from them.

Pandas only (no PyTorch): the validate and package stages import this without paying for torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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


def latest_request(frame: pd.DataFrame, input_length: int) -> dict[str, Any]:
    """A forecast request from the end of ``frame``, as the service and the pyfunc take it.

    The first series' last ``input_length`` values (oldest first) and the time of the last one.
    """
    return recent_requests(frame, input_length, count=1)[0]


def recent_requests(
    frame: pd.DataFrame, input_length: int, count: int, stride: int = 1
) -> list[dict[str, Any]]:
    """Up to ``count`` requests from the end of ``frame``, newest first.

    The latest window of each series in turn, then windows ending ``stride``, ``2 * stride``,
    ... steps earlier.
    """
    series = [group.sort_values("timestamp") for _, group in frame.groupby("series_id", sort=True)]
    requests: list[dict[str, Any]] = []
    shift = 0
    while len(requests) < count:
        added = False
        for rows in series:
            end = len(rows) - shift
            if end < input_length or len(requests) == count:
                continue
            window = rows.iloc[end - input_length : end]
            requests.append(
                {
                    "values": window["value"].astype(float).tolist(),
                    "end": pd.Timestamp(window["timestamp"].iloc[-1]).isoformat(),
                }
            )
            added = True
        if not added:
            break
        shift += stride
    return requests


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
