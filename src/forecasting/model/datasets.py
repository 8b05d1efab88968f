"""The forecast windows drawn from the chronological splits (``forecasting.data.splits``).

Validation and test windows read their inputs from the data before their split (so the first
forecast of the test period starts right at its first point) while their targets stay inside it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.core.periods import week_phase
from forecasting.data.splits import SPLITS, Splits
from forecasting.model.windows import SeriesArrays, WindowDataset


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
