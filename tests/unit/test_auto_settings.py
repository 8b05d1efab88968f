"""`auto` settings follow base.freq, and every reachable combination works or says which key to change."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
import yaml

from forecasting.core.auto_settings import derived_settings, main_season, patch_for
from forecasting.model.network import RecurrentForecaster
from pipelines.params import ParamsError, load_params
from pipelines.train import model_config

REPO_ROOT = Path(__file__).resolve().parents[2]
FREQUENCIES = ["30min", "15min", "h", "3h", "D", "B", "W-SUN", "W-SAT", "7D", "MS", "ME",
               "QS", "QE", "YS", "YE", "2D", "10min"]  # fmt: skip


@pytest.mark.parametrize(
    ("freq", "season", "horizon", "input_length", "patch_length", "seasonal_lag", "origin_step"),
    [
        ("30min", 336, 48, 384, 24, 336, 6),
        ("h", 168, 24, 192, 12, 168, 3),
        ("D", 7, 14, 56, 2, 14, 1),
        ("B", 5, 10, 40, 2, 10, 1),
        ("W-SAT", 52, 13, 156, 6, 52, 1),
        ("MS", 12, 12, 48, 3, 12, 1),
        ("QE", 4, 8, 24, 1, 8, 1),
        ("YS", 0, 4, 16, 1, 0, 1),
    ],
)
def test_each_frequency_gets_the_settings_its_calendar_calls_for(
    freq, season, horizon, input_length, patch_length, seasonal_lag, origin_step
):
    settings = derived_settings(freq)
    assert main_season(freq) == season
    assert (settings["horizon"], settings["input_length"], settings["patch_length"]) == (
        horizon, input_length, patch_length,
    )  # fmt: skip
    assert (settings["seasonal_lag"], settings["origin_step"]) == (seasonal_lag, origin_step)
    # the time-of-day terms only where a day has several steps
    assert settings["lag_mixture"] == settings["weekly_trend"] == (freq == "30min" or freq == "h")


def test_patches_leave_at_least_sixteen_steps_for_the_encoder():
    assert [patch_for(n) for n in (384, 192, 56, 24, 16, 7)] == [24, 12, 2, 1, 1, 1]


def _params(tmp_path: Path, freq: str, **train: object) -> Path:
    data = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    data["base"]["freq"] = freq
    data["train"].update(train)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("freq", FREQUENCIES)
def test_auto_settings_build_a_network_that_forecasts_at_every_frequency(tmp_path, freq):
    params = load_params(_params(tmp_path, freq))
    assert set(params.derived) >= {"train.input_length", "evaluate.origin_step"}
    model = RecurrentForecaster(model_config(params)).eval()
    config = model.config
    with torch.no_grad():
        out = model(100 + torch.randn(3, config.input_length), torch.zeros(3, dtype=torch.long))
    assert out.shape == (3, config.horizon) and torch.isfinite(out).all()


SWEEP = {
    "lag_mixture": [True, False],
    "weekly_trend": [True, False],
    "seasonal_lag": ["auto", 0, 7],
    "horizon": ["auto", 1, 400],
}


@pytest.mark.parametrize("freq", ["30min", "D", "W-SAT", "MS", "YS"])
def test_a_swept_combination_works_or_names_the_key_to_change(tmp_path, freq):
    for values in itertools.product(*SWEEP.values()):
        chosen = dict(zip(SWEEP, values, strict=True))
        try:
            params = load_params(_params(tmp_path, freq, **chosen))
        except ParamsError as err:
            message = str(err)
            assert "\n" not in message and "train." in message, (chosen, message)
            continue
        model = RecurrentForecaster(model_config(params)).eval()
        length = model.config.input_length
        with torch.no_grad():
            out = model(100 + torch.randn(2, length), torch.zeros(2, dtype=torch.long))
        assert torch.isfinite(out).all(), (freq, chosen)
