"""Frequencies x train settings: each combination either builds a model that forecasts, or is
refused by the params check in one line that names the key to change (never torch's IndexError).

The settings are set by hand here; what they leave out is `auto` (tests/unit/test_auto_settings.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from forecasting.core.periods import week_phase
from forecasting.model.network import RecurrentForecaster
from pipelines.params import ParamsError, load_params
from pipelines.train import model_config
from tests.conftest import REPO_ROOT

FREQUENCIES = ["15min", "30min", "h", "D", "B", "7D", "W-SAT", "W-SUN", "MS", "ME", "QS", "QE"]
FREQUENCIES += ["YS", "YE", "M", "7min", "nonsense"]
SETTINGS = {
    "default": {},
    "two_days": dict(
        input_length=96, horizon=24, patch_length=24, seasonal_lag=48, weekly_trend=False
    ),
    "two_days_trend": dict(input_length=96, horizon=24, patch_length=24, seasonal_lag=48),
    "a_year_of_weeks": dict(
        input_length=104, horizon=13, patch_length=13, seasonal_lag=52, weekly_trend=False
    ),
    "weekly_with_trend": dict(
        input_length=104, horizon=13, patch_length=13, seasonal_lag=52, weekly_trend=True
    ),
    "two_years_of_months": dict(
        input_length=24, horizon=12, patch_length=6, seasonal_lag=12, weekly_trend=False
    ),
    "patch_not_dividing": dict(input_length=24, horizon=6, patch_length=5, weekly_trend=False),
    "lag_beyond_window": dict(input_length=24, horizon=6, patch_length=6, seasonal_lag=48),
    "lag_inside_horizon": dict(input_length=24, horizon=12, patch_length=6, seasonal_lag=6),
    "plain": dict(
        input_length=12,
        horizon=4,
        patch_length=3,
        seasonal_lag=0,
        lag_mixture=False,
        weekly_trend=False,
    ),
}


def _params(tmp_path, freq: str, settings: dict) -> object:
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    raw["base"]["freq"] = freq
    raw["train"].update(hidden_size=4, **settings)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_params(path)


@pytest.mark.parametrize("name", sorted(SETTINGS))
@pytest.mark.parametrize("freq", FREQUENCIES)
def test_a_combination_forecasts_or_is_refused_naming_a_key(tmp_path, freq, name):
    try:
        params = _params(tmp_path, freq, SETTINGS[name])
    except ParamsError as err:
        message = str(err)
        assert "\n" not in message
        assert any(key in message for key in ("base.freq", "train.")), message
        return
    model = RecurrentForecaster(model_config(params)).eval()  # type: ignore[arg-type]
    length, horizon = model.config.input_length, model.config.horizon
    ends = pd.date_range("2001-01-01", periods=3, freq=freq)
    values = torch.from_numpy(np.random.default_rng(0).normal(size=(3, length)).astype("f4"))
    with torch.inference_mode():
        forecast = model(values, torch.from_numpy(week_phase(ends, freq)))
    assert forecast.shape == (3, horizon) and torch.isfinite(forecast).all()


def test_the_refusals_say_what_to_change(tmp_path):
    with pytest.raises(ParamsError, match=r"base\.freq.*Please use 'ME' instead"):
        _params(tmp_path, "M", {})
    with pytest.raises(ParamsError, match=r"train\.weekly_trend needs a daily season.*W-SAT"):
        _params(tmp_path, "W-SAT", SETTINGS["weekly_with_trend"])
    with pytest.raises(ParamsError, match=r"train\.weekly_trend reads yesterday"):
        _params(tmp_path, "h", dict(horizon=48, seasonal_lag=168, input_length=384))
    with pytest.raises(ParamsError, match=r"train\.patch_length 5 must divide"):
        _params(tmp_path, "MS", SETTINGS["patch_not_dividing"])
    with pytest.raises(ParamsError, match=r"train\.seasonal_lag 48 must lie between"):
        _params(tmp_path, "MS", SETTINGS["lag_beyond_window"])
