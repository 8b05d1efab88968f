"""Conformal intervals: calibrated on one stretch of a series, they cover another at their level."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forecasting.core.levels import LevelError, check_levels
from forecasting.model.intervals import (
    LEVEL_GRID,
    ROW_CACHE,
    calibrate,
    interval_bounds,
    load_calibration,
    save_calibration,
    window_scale,
)
from forecasting.model.network import RecurrentForecaster
from forecasting.model.windows import SeriesArrays, WindowDataset
from tests.conftest import tiny_model_config

CONFIG = tiny_model_config()


def _series(days: int, seed: int, level: float = 1000.0) -> SeriesArrays:
    """A daily cycle with noise: windows far apart are exchangeable, so conformal holds."""
    rng = np.random.default_rng(seed)
    steps = np.arange(days * 48)
    values = level * (1 + 0.2 * np.sin(2 * np.pi * steps / 48)) + rng.normal(
        0, 0.05 * level, len(steps)
    )
    return SeriesArrays("a", values.astype(np.float32), (steps % 336).astype(np.int64))


def _coverage(model, calibration, windows: WindowDataset, level: float) -> np.ndarray:
    batch = windows.gather(torch.arange(len(windows)))
    with torch.inference_mode():
        forecast = model(batch.inputs, batch.end_phase).numpy()
    ((lower, upper),) = interval_bounds(
        calibration, batch.inputs.numpy(), forecast, [level]
    ).values()
    targets = batch.targets.numpy()
    assert np.all(lower <= forecast) and np.all(forecast <= upper)
    return ((lower <= targets) & (targets <= upper)).mean(axis=0)  # [H] by lead


@pytest.mark.parametrize("level", [80.0, 95.0])
def test_intervals_cover_new_windows_at_their_level_at_every_lead(level):
    torch.manual_seed(0)
    model = RecurrentForecaster(CONFIG).eval()  # untrained: conformal needs no good model
    calibration = calibrate(model, WindowDataset([_series(60, seed=1)], 96, 24, stride=1))
    # another stretch, and a series at ten times the level: the scaled scores carry over
    for held_out in (_series(60, seed=2), _series(60, seed=3, level=10_000.0)):
        by_lead = _coverage(model, calibration, WindowDataset([held_out], 96, 24, stride=1), level)
        assert abs(by_lead.mean() - level / 100) < 0.03, by_lead.mean()
        assert by_lead.min() > level / 100 - 0.08, by_lead


def test_wider_levels_give_wider_intervals_and_the_file_round_trips(tmp_path):
    model = RecurrentForecaster(CONFIG).eval()
    calibration = calibrate(model, WindowDataset([_series(20, seed=1)], 96, 24, stride=1))
    widths = [calibration.half_widths(level).mean() for level in (50, 80, 95, 99.5)]
    assert widths == sorted(widths) and widths[0] > 0
    # between grid points the half-width is interpolated, not snapped
    assert calibration.half_widths(80.2).mean() >= calibration.half_widths(80).mean()
    save_calibration(calibration, tmp_path)
    assert load_calibration(tmp_path).model_dump() == calibration.model_dump()
    assert load_calibration(tmp_path / "nothing") is None  # a model from before intervals
    assert calibration.levels == list(LEVEL_GRID) and len(calibration.quantiles) == 24


def test_kept_half_width_rows_are_the_levels_own_read_only_and_bounded_in_number():
    calibration = calibrate(
        RecurrentForecaster(CONFIG).eval(), WindowDataset([_series(20, seed=1)], 96, 24, stride=1)
    )
    rows = calibration.half_width_rows([95.0, 80.0], 10)
    assert rows.shape == (2, 10) and not rows.flags.writeable
    assert np.array_equal(rows[0], calibration.half_widths(95.0)[:10])
    assert calibration.half_width_rows([95.0, 80.0], 10) is rows  # built once
    # a client may ask for any level in the range: past ROW_CACHE combinations none is kept
    for step in range(2 * ROW_CACHE):
        calibration.half_width_rows([50.0 + step * 0.25], 24)
    assert len(calibration._rows) == ROW_CACHE
    fresh = calibration.half_width_rows([99.4], 24)
    assert np.array_equal(fresh[0], calibration.half_widths(99.4))


def test_the_scale_is_the_networks_own_and_never_zero():
    flat = np.full((2, 96), 500.0, dtype=np.float32)
    assert np.all(window_scale(flat) > 0)
    values = torch.randn(3, 96) * 40 + 900
    _, scale = RecurrentForecaster.normalise(values)
    assert np.allclose(window_scale(values.numpy()), scale[:, 0].numpy(), rtol=1e-5)


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ([40], "between 50 and 99.5"),
        ([100], "between 50 and 99.5"),
        ([float("nan")], "between 50 and 99.5"),
        ([80, 80], "repeats"),
        ([60, 70, 80, 90, 95], "at most 4"),
    ],
)
def test_unservable_levels_are_refused_naming_the_rule(levels, message):
    with pytest.raises(LevelError, match=message):
        check_levels(levels)
    assert check_levels([80, 97.5]) == [80.0, 97.5]
