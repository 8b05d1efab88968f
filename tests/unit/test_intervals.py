"""Conformal intervals: calibrated on one stretch of a series, they cover another at their level."""

from __future__ import annotations

import json

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


def _bounds(model, calibration, windows: WindowDataset, level: float):
    """Every window's batch, and the ``level`` % bounds ``[B, H]`` around its forecast."""
    batch = windows.gather(torch.arange(len(windows)))
    with torch.inference_mode():
        forecast = model(batch.inputs, batch.end_phase).numpy()
    ((lower, upper),) = interval_bounds(
        calibration, batch.inputs.numpy(), batch.end_phase.numpy(), forecast, [level]
    ).values()
    assert np.all(lower <= forecast) and np.all(forecast <= upper)
    return batch, lower, upper


def _coverage(model, calibration, windows: WindowDataset, level: float) -> np.ndarray:
    batch, lower, upper = _bounds(model, calibration, windows, level)
    targets = batch.targets.numpy()
    return ((lower <= targets) & (targets <= upper)).mean(axis=0)  # [H] by lead


@pytest.mark.parametrize("level", [80.0, 95.0])
def test_intervals_cover_new_windows_at_their_level_at_every_lead(level):
    torch.manual_seed(0)
    model = RecurrentForecaster(CONFIG).eval()  # untrained: conformal needs no good model
    calibration = calibrate(model, WindowDataset([_series(60, seed=1)], 96, 24, stride=1), 0.0)
    # another stretch, and a series at ten times the level: the scaled scores carry over
    for held_out in (_series(60, seed=2), _series(60, seed=3, level=10_000.0)):
        by_lead = _coverage(model, calibration, WindowDataset([held_out], 96, 24, stride=1), level)
        assert abs(by_lead.mean() - level / 100) < 0.03, by_lead.mean()
        assert by_lead.min() > level / 100 - 0.08, by_lead


def test_wider_levels_give_wider_intervals_and_the_file_round_trips(tmp_path):
    model = RecurrentForecaster(CONFIG).eval()
    calibration = calibrate(model, WindowDataset([_series(20, seed=1)], 96, 24, stride=1), 0.0)
    widths = [calibration.half_widths(level).mean() for level in (50, 80, 95, 99.5)]
    assert widths == sorted(widths) and widths[0] > 0
    # between grid points the half-width is interpolated, not snapped
    assert calibration.half_widths(80.2).mean() >= calibration.half_widths(80).mean()
    save_calibration(calibration, tmp_path)
    assert load_calibration(tmp_path).model_dump() == calibration.model_dump()
    assert load_calibration(tmp_path / "nothing") is None  # a model from before intervals
    assert calibration.levels == list(LEVEL_GRID) and len(calibration.quantiles) == 24


def test_kept_half_width_rows_are_the_levels_own_read_only_and_bounded_in_number():
    model = RecurrentForecaster(CONFIG).eval()
    calibration = calibrate(model, WindowDataset([_series(20, seed=1)], 96, 24, stride=1), 0.0)
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


def _evening_noise(days: int, seed: int) -> SeriesArrays:
    """The daily cycle with four times the noise from 16:00 to 24:00 (steps 32-47 of the day)."""
    rng = np.random.default_rng(seed)
    steps = np.arange(days * 48)
    noise = np.where(steps % 48 >= 32, 200.0, 50.0) * rng.normal(size=len(steps))
    values = 1000.0 * (1 + 0.2 * np.sin(2 * np.pi * steps / 48)) + noise
    return SeriesArrays("a", values.astype(np.float32), (steps % 336).astype(np.int64))


def _coverage_by_time_of_day(model, calibration, series: SeriesArrays, level: float):
    batch, lower, upper = _bounds(
        model, calibration, WindowDataset([series], 96, 24, stride=1), level
    )
    inside = (lower <= batch.targets.numpy()) & (batch.targets.numpy() <= upper)
    evening = (batch.end_phase.numpy()[:, None] + np.arange(1, 25)) % 48 >= 32  # [B, H]
    return inside[evening].mean(), inside[~evening].mean(), (upper - lower)[evening].mean()


def test_time_of_day_factors_widen_the_noisy_hours_and_narrow_the_calm_ones():
    torch.manual_seed(0)
    model = RecurrentForecaster(CONFIG).eval()
    calibrating = WindowDataset([_evening_noise(60, seed=1)], 96, 24, stride=1)
    by_lead, half, full = (calibrate(model, calibrating, power) for power in (0.0, 0.5, 1.0))
    assert by_lead.factors is None and len(full.factors) == 48  # one row per step of the day
    held_out = _evening_noise(60, seed=2)
    lead = _coverage_by_time_of_day(model, by_lead, held_out, 80.0)
    shrunk = _coverage_by_time_of_day(model, half, held_out, 80.0)
    whole = _coverage_by_time_of_day(model, full, held_out, 80.0)
    # by lead alone: too narrow in the noisy evening, too wide in the calm day
    assert lead[0] < 0.7 and lead[1] > 0.9
    # the full factor holds the level in both; half of it lies between
    assert abs(whole[0] - 0.8) < 0.04 and abs(whole[1] - 0.8) < 0.04
    assert lead[0] < shrunk[0] < whole[0] and lead[1] > shrunk[1] > whole[1]
    assert lead[2] < shrunk[2] < whole[2]  # evening widths grow with the power


def test_a_calibration_without_factors_reads_and_bounds_by_lead(tmp_path):
    model = RecurrentForecaster(CONFIG).eval()
    calibration = calibrate(model, WindowDataset([_evening_noise(20, seed=1)], 96, 24), 0.5)
    assert calibration.factors is not None
    save_calibration(calibration, tmp_path)
    assert load_calibration(tmp_path).model_dump() == calibration.model_dump()
    # a calibration.json of a model from before the factors: no steps_per_day, no factors
    older = calibration.model_dump(exclude={"steps_per_day", "time_of_day", "factors"})
    (tmp_path / "calibration.json").write_text(json.dumps(older))
    read = load_calibration(tmp_path)
    assert read.factors is None
    windows, forecast = np.full((2, 96), 900.0, np.float32) + np.arange(96), np.zeros((2, 24))
    ((lower, upper),) = interval_bounds(read, windows, np.array([0, 7]), forecast, [80]).values()
    expected = read.half_widths(80)[None, :] * window_scale(windows)[:, None]
    assert np.allclose(upper, expected) and np.allclose(lower, -expected)


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
