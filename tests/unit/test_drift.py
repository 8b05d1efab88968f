"""PSI and KS against a stored profile, on known distributions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.data.drift import ValueProfile, compare, seasonal_shape


def test_the_same_distribution_does_not_drift_and_a_shift_does():
    rng = np.random.default_rng(0)
    reference = ValueProfile.of(rng.normal(30_000, 3_000, 5_000))
    same = compare(reference, rng.normal(30_000, 3_000, 5_000))
    assert same.psi < 0.02 and same.ks < 0.03
    shifted = compare(reference, rng.normal(33_000, 3_000, 5_000))  # one standard deviation
    assert shifted.psi > 0.25 and shifted.ks > 0.3
    wider = compare(reference, rng.normal(30_000, 6_000, 5_000))
    assert wider.psi > same.psi * 10


def test_a_profile_survives_its_json_round_trip():
    profile = ValueProfile.of(np.arange(1_000, dtype=float))
    assert ValueProfile.from_dict(profile.as_dict()) == profile
    assert profile.quantiles[0] == 0 and profile.quantiles[-1] == 999 and profile.rows == 1_000


def _demand(days: int, peak_hour: float, level: float = 30_000.0, seed: int = 0) -> pd.DataFrame:
    steps = pd.date_range("2024-01-01", periods=days * 48, freq="30min")
    hour = steps.hour + steps.minute / 60
    rng = np.random.default_rng(seed)
    values = level * (1 + 0.25 * np.cos(2 * np.pi * (hour - peak_hour) / 24))
    values = values * np.where(steps.dayofweek < 5, 1.0, 0.85) + rng.normal(0, 300, len(steps))
    return pd.DataFrame({"series_id": "s", "timestamp": steps, "value": values})


def test_a_moved_daily_peak_is_caught_by_the_shape_though_the_values_did_not_move():
    before = _demand(28, peak_hour=18)
    reference = ValueProfile.of(before["value"].to_numpy(), before, "30min")
    assert len(reference.day_shape) == 48 and len(reference.week_shape) == 7
    assert reference.week_shape[5] < reference.week_shape[0]  # weekends are lower

    same = _demand(28, peak_hour=18, seed=1)
    unchanged = compare(reference, same["value"].to_numpy(), seasonal_shape(same, "30min"))
    assert unchanged.shape is not None and unchanged.shape < 0.02

    moved = _demand(28, peak_hour=12, seed=1)  # the evening peak now comes at noon
    drift = compare(reference, moved["value"].to_numpy(), seasonal_shape(moved, "30min"))
    assert drift.psi < 0.05 and drift.ks < 0.05  # the same values, at other times
    assert drift.day_shape is not None and drift.day_shape > 0.3
    assert drift.week_shape is not None and drift.week_shape < 0.02


def test_a_level_change_alone_is_no_shape_change_and_old_profiles_compare_values_only():
    before = _demand(28, peak_hour=18)
    reference = ValueProfile.of(before["value"].to_numpy(), before, "30min")
    higher = _demand(28, peak_hour=18, level=36_000, seed=1)
    drift = compare(reference, higher["value"].to_numpy(), seasonal_shape(higher, "30min"))
    assert drift.psi > 0.25 and drift.shape is not None and drift.shape < 0.02
    assert ValueProfile.from_dict(reference.as_dict()) == reference

    legacy = ValueProfile.from_dict({"quantiles": list(reference.quantiles), "rows": 1})
    assert (
        compare(legacy, higher["value"].to_numpy(), seasonal_shape(higher, "30min")).shape is None
    )
