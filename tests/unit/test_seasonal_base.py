import numpy as np
import pytest
import torch

from forecasting.model.network import ModelConfig, RecurrentForecaster
from forecasting.model.seasonal_base import FixedLagBase, LagMixtureBase, WeeklyTrend

DAY, WEEK = 48, 336


def seasonal_naive(inputs: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Step ``h`` repeats the value ``season - h % season`` steps back (the reference baseline)."""
    return inputs[:, inputs.shape[1] - season + (np.arange(horizon) % season)]


def _mixture(input_length: int = 384, horizon: int = 48) -> LagMixtureBase:
    return LagMixtureBase(input_length, horizon, WEEK, DAY, WEEK)


def test_lags_are_whole_days_inside_the_window_and_beyond_the_horizon():
    base = _mixture(input_length=384, horizon=48)
    assert base.lags == [48, 96, 144, 192, 240, 288, 336, 384]
    short = LagMixtureBase(96, 24, 48, DAY, WEEK)
    assert short.lags == [48, 96]


def test_it_starts_close_to_seasonal_naive_week_and_can_become_seasonal_naive_day():
    torch.manual_seed(0)
    scaled = torch.randn(3, 384)
    phase = torch.tensor([0, 100, 335])
    base = _mixture()
    week = torch.from_numpy(seasonal_naive(scaled.numpy(), 48, WEEK))
    start = base(scaled, phase)
    # softmax(3 on one of 8 lags) puts ~0.74 on last week: nearer it than the day-back forecast
    day = torch.from_numpy(seasonal_naive(scaled.numpy(), 48, DAY))
    assert (start - week).abs().mean() < (start - day).abs().mean()
    with torch.no_grad():
        base.lag_logits.fill_(-1e4)
        base.lag_logits[:, base.lags.index(DAY)] = 1e4
    torch.testing.assert_close(base(scaled, phase), day)


def test_the_mixture_follows_the_calendar_of_each_target_step():
    """Weekday targets can copy yesterday while weekend targets copy last week."""
    scaled = torch.arange(384, dtype=torch.float32)[None, :]  # value = position
    base = _mixture()
    with torch.no_grad():
        base.lag_logits.fill_(-1e4)
        base.lag_logits[:, base.lags.index(WEEK)] = 1e4
        base.lag_logits[:24, :] = -1e4  # Monday 00:00-23:59 (hours 0-23 of the week) ...
        base.lag_logits[:24, base.lags.index(DAY)] = 1e4  # ... copies the day before
    end_phase = torch.tensor([DAY * 7 - 25])  # Sunday 11:30: targets run into Monday
    out = base(scaled, end_phase)[0]
    steps = torch.arange(1, 49)
    monday = (end_phase + steps) % WEEK < DAY
    expected = torch.where(monday, 383 + steps - DAY, 383 + steps - WEEK).float()
    torch.testing.assert_close(out, expected)


def test_level_carry_adds_the_recent_rise():
    scaled = torch.zeros(1, 384)
    scaled[0, -DAY:] = 2.0  # the last day sits 2 above the day a week earlier
    base = _mixture()
    with torch.no_grad():
        base.lag_logits.fill_(-1e4)
        base.lag_logits[:, base.lags.index(WEEK)] = 1e4
    flat = base(scaled, torch.tensor([0]))
    with torch.no_grad():
        base.level_carry[0, :, base.lags.index(WEEK)] = 1.0  # span 0 is the last day
    carried = base(scaled, torch.tensor([0]))
    torch.testing.assert_close(carried - flat, torch.full_like(flat, 2.0))


def test_a_lag_whose_day_lies_before_the_window_carries_no_change():
    base = LagMixtureBase(336, 48, WEEK, DAY, WEEK)  # the week-back day starts before the window
    running = torch.nn.functional.pad(torch.randn(2, 336).cumsum(-1), (1, 0))
    change = base._level_change(running, DAY)
    assert torch.equal(change[:, base.lags.index(WEEK)], torch.zeros(2))
    assert np.all(np.isfinite(change.numpy()))


@pytest.mark.parametrize(("lag_mixture", "kind"), [(False, FixedLagBase), (True, LagMixtureBase)])
def test_the_config_chooses_the_base_and_a_fixed_lag_adds_no_parameters(lag_mixture, kind):
    config = ModelConfig(
        input_length=96,
        horizon=24,
        hidden_size=8,
        seasonal_lag=48,
        lag_mixture=lag_mixture,
        weekly_trend=False,
    )
    model = RecurrentForecaster(config)
    assert isinstance(model.base, kind)
    base_weights = [name for name in model.state_dict() if name.startswith("base.")]
    assert bool(base_weights) == lag_mixture


def test_the_weekly_trend_starts_off_and_adds_yesterdays_week_on_week_change():
    torch.manual_seed(0)
    scaled = torch.randn(2, 384)
    trend = WeeklyTrend(384, 48, DAY, WEEK)
    assert torch.equal(trend(scaled), torch.zeros(2, 48))
    with torch.no_grad():
        trend.gamma.fill_(0.5)
    # target step h (1..48) is at window position 383 + h: yesterday's value at that time of
    # day is at 383 + h - 48, and the same time a week before that at 383 + h - 48 - 336.
    h = np.arange(1, 49)
    expected = 0.5 * (scaled[:, 383 + h - DAY] - scaled[:, 383 + h - DAY - WEEK])
    torch.testing.assert_close(trend(scaled), expected)


def test_the_weekly_trend_needs_a_day_and_a_week_of_input():
    with pytest.raises(ValueError, match="input_length >= 384"):
        ModelConfig(input_length=336, horizon=48, seasonal_lag=336, weekly_trend=True)
    model = RecurrentForecaster(
        ModelConfig(input_length=384, horizon=48, seasonal_lag=336, weekly_trend=True)
    )
    assert "trend.gamma" in model.state_dict()
    assert "trend.gamma" not in RecurrentForecaster(ModelConfig(weekly_trend=False)).state_dict()


def _refined(**refinements) -> tuple[LagMixtureBase, LagMixtureBase]:
    """A plain mixture and one with ``refinements``, sharing every plain parameter."""
    torch.manual_seed(0)
    plain, refined = _mixture(), LagMixtureBase(384, 48, WEEK, DAY, WEEK, **refinements)
    with torch.no_grad():
        plain.lag_logits.normal_()
        plain.level_carry.normal_(std=0.3)
    refined.load_state_dict(plain.state_dict(), strict=False)
    return plain, refined


@pytest.mark.parametrize("refinements", [{"lead_weights": True}, {"error_correction": 4}])
def test_the_refinements_start_as_the_plain_mixture(refinements):
    plain, refined = _refined(**refinements)
    scaled, phase = torch.randn(5, 384), torch.tensor([0, 7, 100, 200, 335])
    torch.testing.assert_close(refined(scaled, phase), plain(scaled, phase))


def test_lead_weights_let_the_first_lead_copy_last_week_and_the_last_yesterday():
    scaled = torch.arange(384, dtype=torch.float32)[None, :]  # value = position
    base = LagMixtureBase(384, 48, WEEK, DAY, WEEK, lead_weights=True)
    with torch.no_grad():
        base.lag_logits.zero_()  # the same weights for every hour of the week ...
        base.lead_logits.fill_(-1e4)  # ... the lead decides
        base.lead_logits[:24, base.lags.index(WEEK)] = 1e4
        base.lead_logits[24:, base.lags.index(DAY)] = 1e4
    out = base(scaled, torch.tensor([123]))[0]
    steps = torch.arange(1, 49)
    expected = torch.where(steps <= 24, 383 + steps - WEEK, 383 + steps - DAY).float()
    torch.testing.assert_close(out, expected)


def test_error_correction_carries_the_bases_recent_error_forward():
    """Last week's copy was 3 too low on the last observed step: lead h adds its share of 3."""
    scaled = torch.zeros(1, 384)
    scaled[0, -1] = 3.0  # a week earlier that step was 0: the week-lag base backcasts 0
    base = LagMixtureBase(384, 48, WEEK, DAY, WEEK, error_correction=2)
    with torch.no_grad():
        base.lag_logits.fill_(-1e4)
        base.lag_logits[:, base.lags.index(WEEK)] = 1e4
        shares = torch.linspace(1.0, 0.0, 48)  # decaying with the lead
        base.error_weights[:, 1] = shares  # column 1: the last observed step
    torch.testing.assert_close(base(scaled, torch.tensor([0]))[0], 3.0 * shares)


def test_the_network_passes_the_refinements_to_its_base():
    config = ModelConfig(lead_weights=True, error_correction=3)
    base = RecurrentForecaster(config).base
    assert isinstance(base, LagMixtureBase)
    assert base.lead_weights and base.error_weights.shape == (48, 3)
    off = RecurrentForecaster(ModelConfig(lead_weights=False, error_correction=0)).base
    assert not hasattr(off, "error_weights") and not hasattr(off, "lead_logits")


def test_the_base_alone_is_the_forward_pass_without_the_networks_residual():
    from forecasting.model.network import seasonal_forecast

    torch.manual_seed(0)
    config = ModelConfig(input_length=384, horizon=48, hidden_size=8, patch_length=24)
    model = RecurrentForecaster(config).eval()  # the lag mixture, by lead, and the trend
    with torch.no_grad():  # a trained-looking base: weights away from their starting values
        for parameter in [*model.base.parameters(), *model.trend.parameters()]:
            parameter.add_(0.3 * torch.randn_like(parameter))
    values, phase = torch.randn(4, 384) * 500 + 30_000, torch.tensor([0, 47, 200, 335])
    alone = seasonal_forecast(model, values, phase)
    assert not torch.allclose(alone, model(values, phase))  # the network adds something
    with torch.no_grad():  # silence the head: the forward pass is then the base alone
        model.head[-1].weight.zero_()
        model.head[-1].bias.zero_()
    torch.testing.assert_close(model(values, phase), alone)
    plain_config = {**config.model_dump(), "seasonal_lag": 0, "weekly_trend": False}
    plain = RecurrentForecaster(ModelConfig(**plain_config))
    assert plain.base is None and plain.trend is None
    level = values.mean(dim=-1, keepdim=True).expand(4, 48)  # no base: the window's mean
    torch.testing.assert_close(seasonal_forecast(plain, values, phase), level)
