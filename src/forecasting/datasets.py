"""Chronological splits and the forecast windows drawn from them.

Validation and test windows read their inputs from the data before their split (so the first
forecast of the test period starts right at its first point) while their targets stay inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecasting.periods import week_phase
from forecasting.windows import SeriesArrays, WindowDataset

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
    # One vectorised pass, not a loop over series: 10^4 series cost what one long one does.
    by_series = frame.groupby("series_id", sort=False)
    position = by_series.cumcount().to_numpy()
    rows = by_series["series_id"].transform("size").to_numpy()
    test_rows = np.round(rows * test_fraction)  # half to even, as Python's round()
    val_rows = np.round(rows * val_fraction)
    train_end = rows - val_rows - test_rows
    val_end = train_end + val_rows
    masks = (
        position < train_end,
        (position >= train_end) & (position < val_end),
        position >= val_end,
    )
    return Splits(*(frame[mask].reset_index(drop=True) for mask in masks))


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


def _arrays(frame: pd.DataFrame, freq: str) -> dict[str, SeriesArrays]:
    return {
        str(series_id): SeriesArrays(
            str(series_id),
            part["value"].to_numpy(dtype=np.float32),
            week_phase(part["timestamp"], freq),
        )
        for series_id, part in frame.groupby("series_id", sort=True)
    }


def _windows_through(
    splits: Splits, last: str, freq: str, input_length: int, horizon: int, stride: int
) -> WindowDataset:
    """Windows whose targets lie in split ``last``, inputs reaching back into earlier splits."""
    order = SPLITS[: SPLITS.index(last) + 1]
    history = pd.concat([getattr(splits, name) for name in order], ignore_index=True)
    target = _arrays(getattr(splits, last), freq)
    series = _arrays(history.sort_values(["series_id", "timestamp"], kind="stable"), freq)
    ids = sorted(series)
    first = [
        len(series[i].values) - len(target[i].values) - 1 if i in target else len(series[i].values)
        for i in ids
    ]
    return WindowDataset(
        [series[i] for i in ids], input_length, horizon, first_origins=first, stride=stride
    )


def training_windows(splits: Splits, freq: str, input_length: int, horizon: int) -> WindowDataset:
    """Every window whose inputs and targets lie in the training split."""
    return WindowDataset(list(_arrays(splits.train, freq).values()), input_length, horizon)


def validation_windows(splits: Splits, freq: str, input_length: int, horizon: int) -> WindowDataset:
    """Every window whose targets lie in the validation split."""
    return _windows_through(splits, "val", freq, input_length, horizon, stride=1)


def test_windows(
    splits: Splits, freq: str, input_length: int, horizon: int, origin_step: int
) -> WindowDataset:
    """Rolling-origin test windows, one every ``origin_step`` steps.

    The first window forecasts the test split's first ``horizon`` points.
    """
    return _windows_through(splits, "test", freq, input_length, horizon, stride=origin_step)
