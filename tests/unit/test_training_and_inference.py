from typing import Any

import numpy as np
import pytest
import torch

from forecasting.data.sources import ColumnMapping, canonical
from forecasting.data.splits import split_chronologically
from forecasting.model.datasets import validation_windows
from forecasting.model.inference import RequestError, forecast_many
from forecasting.model.network import RecurrentForecaster
from forecasting.model.windows import WindowBatch
from forecasting.training.loop import clip_gradients, evaluate_loss, normalised_loss, train_model
from tests.conftest import (
    cpu_run,
    fit_config,
    synthetic_series,
    tiny_model_config,
    two_week_windows,
)

CONFIG = tiny_model_config()


def _data():
    return two_week_windows(CONFIG)


def _train(seed: int, epochs: int = 3, **fit: Any):
    train, val = _data()
    config = fit_config(epochs=epochs, batch_size=32, seed=seed, **fit)
    return train_model(CONFIG, config, cpu_run(), train, val)


def test_training_is_bit_identical_for_the_same_seed_and_differs_for_another():
    first, second, other = _train(7), _train(7), _train(8)
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, second.model.state_dict()[name]), name
    assert [r.val_loss for r in first.history] == [r.val_loss for r in second.history]
    assert any(
        not torch.equal(t, other.model.state_dict()[n]) for n, t in first.model.state_dict().items()
    )


def test_training_lowers_validation_loss_and_keeps_the_best_epoch():
    result = _train(0, epochs=8)
    losses = [r.val_loss for r in result.history]
    assert min(losses) < losses[0]
    assert result.best_epoch == int(np.argmin(losses)) + 1
    assert result.samples_per_second > 0


def test_restore_best_off_keeps_the_last_epochs_weights():
    _, val = _data()
    # A learning rate high enough that the best validation epoch comes well before the last
    # one (at 0.1 the two were within 1 %, and which won depended on torch's thread count).
    best = _train(0, epochs=10, learning_rate=1.0, patience=100, restore_best=True)
    last = _train(0, epochs=10, learning_rate=1.0, patience=100, restore_best=False)
    assert [r.val_loss for r in best.history] == [r.val_loss for r in last.history]
    assert best.best_epoch < 10
    assert (best.kept_epoch, last.kept_epoch) == (best.best_epoch, 10)
    for result, epoch in ((best, best.best_epoch), (last, 10)):
        val_loss, _ = evaluate_loss(result.model, val, torch.device("cpu"), "mse")
        assert val_loss == pytest.approx(result.history[epoch - 1].val_loss, rel=1e-6)


def test_each_loss_is_taken_in_the_windows_own_scale():
    # two windows at levels 10 and 1000, each with std 1: the same error in its own scale
    inputs = torch.tensor([[9.0, 11.0], [999.0, 1001.0]])
    batch = WindowBatch(inputs, torch.zeros(2), inputs[:, :1] + 0.0)
    errors = torch.tensor([[3.0], [-0.5]])  # forecast - target, in window stds
    forecast = batch.targets + errors
    assert float(normalised_loss(forecast, batch, "mse")) == pytest.approx((9 + 0.25) / 2)
    assert float(normalised_loss(forecast, batch, "mae")) == pytest.approx((3 + 0.5) / 2)
    # huber: quadratic (halved) within one std, linear beyond
    assert float(normalised_loss(forecast, batch, "huber")) == pytest.approx((2.5 + 0.125) / 2)


def test_the_mae_loss_trains_other_weights_than_mse():
    mse, mae = _train(0, loss="mse"), _train(0, loss="mae")
    assert mae.history[-1].val_mae < mae.history[0].val_mae
    assert any(
        not torch.equal(t, mse.model.state_dict()[n]) for n, t in mae.model.state_dict().items()
    )


def test_training_without_windows_is_an_error():
    train, _ = _data()
    empty = validation_windows(
        split_chronologically(
            canonical(synthetic_series(days=2), ColumnMapping(), "t"), 0.15, 0.15
        ),
        "30min",
        96,
        24,
    )
    with pytest.raises(ValueError, match="no training windows"):
        train_model(CONFIG, fit_config(epochs=1), cpu_run(), train, empty)


def test_forecast_many_times_the_steps_and_batches_consistently():
    model = RecurrentForecaster(CONFIG).eval()
    values = list(np.linspace(100, 200, 96))
    result = forecast_many(model, [values, values], ["2024-01-01T23:30:00", "2024-01-01T23:30:00"])
    assert len(result[0].forecast) == 24 and result[0].timestamps[0] == "2024-01-02T00:00:00"
    assert result[0].forecast == result[1].forecast
    alone = forecast_many(model, [values], ["2024-01-01T23:30:00"])[0]
    np.testing.assert_allclose(alone.forecast, result[0].forecast, rtol=1e-6)
    assert len(forecast_many(model, [values], ["2024-01-01"], horizon=5)[0].forecast) == 5


@pytest.mark.parametrize(
    ("values", "end", "horizon", "message"),
    [
        ([1.0] * 10, "2024-01-01", None, "exactly 96"),
        ([1.0] * 97, "2024-01-01", None, "exactly 96"),
        ([1.0] * 96, "2024-01-01T00:00:00+00:00", None, "without a time zone"),
        ([1.0] * 96, "2024-01-01T00:10:00", None, "30min grid"),
        ([1.0] * 95 + [float("nan")], "2024-01-01", None, "finite"),
        ([1.0] * 95 + [1e39], "2024-01-01", None, "finite"),
        ([1.0] * 96, "not a time", None, "ISO 8601"),
        ([1.0] * 96, "2024-01-01", 0, "between 1 and 24"),
        ([1.0] * 96, "2024-01-01", 25, "between 1 and 24"),
    ],
)
def test_bad_requests_get_clear_errors(values, end, horizon, message):
    with pytest.raises(RequestError, match=message):
        forecast_many(RecurrentForecaster(CONFIG).eval(), [values], [end], horizon)


@pytest.mark.parametrize("max_norm", [0.5, 1e6])  # clipped, and left alone
def test_clip_gradients_matches_torchs_clip_grad_norm_bit_for_bit(max_norm):
    torch.manual_seed(0)
    mine, reference = RecurrentForecaster(CONFIG), RecurrentForecaster(CONFIG)
    for a, b in zip(mine.parameters(), reference.parameters(), strict=True):
        a.grad = torch.randn_like(a)
        b.grad = a.grad.clone()
    before = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in mine.parameters()]))
    clip_gradients([p.grad for p in mine.parameters()], max_norm)
    torch.nn.utils.clip_grad_norm_(reference.parameters(), max_norm)
    for a, b in zip(mine.parameters(), reference.parameters(), strict=True):
        assert torch.equal(a.grad, b.grad)
    after = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in mine.parameters()]))
    # Both cases really happen: the random gradients are far above 0.5 and far below 1e6.
    assert float(after) == pytest.approx(min(float(before), max_norm), rel=1e-4)
    assert (float(before) > max_norm) == (max_norm == 0.5)
