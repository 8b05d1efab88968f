"""Behavioural tests of a trained forecaster: properties any sane demand model should have.

The model is trained for real (seconds) on a synthetic series with a daily cycle and weekends
15 % below weekdays, then probed with inputs built to isolate one behaviour each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from forecasting.core.periods import week_phase
from forecasting.data.splits import split_chronologically
from forecasting.model.datasets import training_windows, validation_windows
from forecasting.model.network import RecurrentForecaster
from forecasting.training.loop import train_model
from tests.conftest import cpu_run, fit_config, synthetic_series, tiny_model_config

pytestmark = pytest.mark.slow
CONFIG = tiny_model_config(hidden_size=16, lag_mixture=True)


@pytest.fixture(scope="module")
def trained() -> RecurrentForecaster:
    frame = synthetic_series(days=35).assign(series_id="demand")
    splits = split_chronologically(frame, 0.15, 0.15)
    train = training_windows(splits, "30min", CONFIG.input_length, CONFIG.horizon)
    val = validation_windows(splits, "30min", CONFIG.input_length, CONFIG.horizon)
    fit = fit_config(epochs=20, batch_size=32, learning_rate=0.01, patience=20)
    return train_model(CONFIG, fit, cpu_run(), train, val).model


def _forecast(model: RecurrentForecaster, values: np.ndarray, end: str) -> np.ndarray:
    phase = week_phase(pd.DatetimeIndex([pd.Timestamp(end)]), "30min")
    with torch.inference_mode():
        out = model(torch.tensor(values, dtype=torch.float32)[None, :], torch.from_numpy(phase))
    return out[0].numpy().astype(np.float64)


def _window(end: str) -> np.ndarray:
    frame = synthetic_series(days=35)
    stop = int(np.flatnonzero(frame["timestamp"] == pd.Timestamp(end))[0]) + 1
    return frame["value"].to_numpy()[stop - CONFIG.input_length : stop]


def test_a_constant_series_forecasts_a_near_constant(trained):
    forecast = _forecast(trained, np.full(CONFIG.input_length, 25_000.0), "2024-01-10T11:30:00")
    assert np.all(np.abs(forecast - 25_000.0) < 0.01 * 25_000.0)


def test_scaling_and_shifting_the_input_scales_and_shifts_the_forecast(trained):
    window = _window("2024-01-10T11:30:00")
    base = _forecast(trained, window, "2024-01-10T11:30:00")
    scaled = _forecast(trained, 2.0 * window + 1_000.0, "2024-01-10T11:30:00")
    np.testing.assert_allclose(scaled, 2.0 * base + 1_000.0, rtol=1e-4)


def test_the_same_window_forecasts_a_lower_weekend_than_weekday(trained):
    """Only the calendar differs: the days ahead are a Saturday in one case, a Tuesday in the other."""
    window = _window("2024-01-12T23:30:00")  # Thursday and Friday (weekdays) up to Friday 23:30
    saturday = _forecast(trained, window, "2024-01-12T23:30:00")
    tuesday = _forecast(trained, window, "2024-01-15T23:30:00")  # same values, Monday 23:30
    assert saturday.mean() < 0.95 * tuesday.mean()


def test_a_weekend_shift_moves_with_the_day_of_week_and_tracks_the_truth(trained):
    """Forecasting real windows: the model follows the weekday/weekend profile it learned."""
    frame = synthetic_series(days=35)
    for end in (
        "2024-01-26T23:30:00",
        "2024-01-28T23:30:00",
    ):  # Friday -> Saturday, Sunday -> Monday
        stop = int(np.flatnonzero(frame["timestamp"] == pd.Timestamp(end))[0]) + 1
        actual = frame["value"].to_numpy()[stop : stop + CONFIG.horizon]
        forecast = _forecast(trained, _window(end), end)
        assert np.abs(forecast - actual).mean() < 0.03 * actual.mean(), end
