"""statsforecast's baselines at every origin, on the same targets as the model's windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from forecasting.data.splits import split_chronologically
from forecasting.evaluation.baselines import cache_key, cached, reference_forecasts
from forecasting.evaluation.classical import fitted_forecasts, usable_seasons
from forecasting.model import datasets
from tests.conftest import synthetic_series


def test_seasons_need_two_full_periods():
    assert usable_seasons([48, 336, 1], 700) == [48, 336]
    assert usable_seasons([48, 336], 671) == [48]
    assert usable_seasons([1], 50) == []


def _history():
    frame = synthetic_series(days=21, seed=0).assign(series_id="a")
    splits = split_chronologically(frame, 0.15, 0.15)
    model = datasets.test_windows(splits, "30min", 96, 24, 24)
    history = datasets.test_windows(splits, "30min", 192, 24, 24)
    assert torch.equal(model.origins, history.origins)  # same origins, same targets
    targets = model.gather(torch.arange(len(model))).targets.numpy()
    np.testing.assert_array_equal(history.gather(torch.arange(len(history))).targets, targets)
    inputs = history.gather(torch.arange(len(history))).inputs.numpy().astype(np.float64)
    return inputs, targets


def test_the_reference_methods_repeat_the_last_value_and_season():
    inputs = np.arange(20, dtype=np.float64)[None, :]
    found = reference_forecasts(inputs, 5, day=3, week=7)
    assert found["naive"].tolist() == [[19.0] * 5]
    assert found["seasonal_naive_day"].tolist() == [[17, 18, 19, 17, 18]]
    assert found["seasonal_naive_week"].tolist() == [[13, 14, 15, 16, 17]]
    # a week longer than the model's window is left out: the same inputs the model sees
    assert set(reference_forecasts(inputs, 5, day=3, week=40)) == {"naive", "seasonal_naive_day"}
    # monthly data: a day and a week are one step, the year is the season
    monthly = reference_forecasts(inputs, 3, day=1, week=1, year=12)
    assert set(monthly) == {"naive", "seasonal_naive_year"}
    assert monthly["seasonal_naive_year"].tolist() == [[8, 9, 10]]


def test_every_fitted_method_forecasts_every_origin_of_the_models_own_windows():
    inputs, targets = _history()
    forecasts = fitted_forecasts(inputs, 24, [48, 336], n_jobs=2)
    # 48 > 24 steps: statsforecast's ETS cannot hold that season, so MSTL covers it alone
    assert set(forecasts) == {"mstl_ets", "mstl_arima"}
    for values in forecasts.values():
        assert values.shape == targets.shape and np.isfinite(values).all()
    naive_day = reference_forecasts(inputs, 24, 48, 336)["seasonal_naive_day"]
    np.testing.assert_allclose(naive_day, inputs[:, -48:-24])  # the value a day before
    mstl = np.abs(forecasts["mstl_ets"] - targets).mean()
    assert mstl < np.abs(naive_day - targets).mean() * 1.5
    # the same in one process (the pool changes nothing)
    one = fitted_forecasts(inputs, 24, [48, 336], n_jobs=1)
    for name, values in one.items():
        np.testing.assert_allclose(values, forecasts[name])


def test_the_shared_decomposition_gives_exactly_statsforecasts_mstl():
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoARIMA, AutoETS

    inputs, _ = _history()
    ours = fitted_forecasts(inputs[:2], 24, [48], arima_approximation=True, levels=(80.0,))
    models = [
        MSTL(season_length=[48], trend_forecaster=AutoETS(model="ZZN"), alias="mstl_ets"),
        MSTL(
            season_length=[48], trend_forecaster=AutoARIMA(approximation=True), alias="mstl_arima"
        ),
    ]
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat([0, 1], 192),
            "ds": np.tile(np.arange(192), 2),
            "y": inputs[:2].ravel(),
        }
    )
    theirs = (
        StatsForecast(models=models, freq=1)
        .forecast(df=frame, h=24, level=[80])
        .sort_values(["unique_id", "ds"])
    )
    for name in ("mstl_ets", "mstl_arima"):
        np.testing.assert_allclose(ours[name].ravel(), theirs[name].to_numpy(), rtol=1e-9)
        # and its 80 % interval is MSTL's own
        for side in ("lo", "hi"):
            np.testing.assert_allclose(
                ours[f"{name}|{side}-80"].ravel(), theirs[f"{name}-{side}-80"].to_numpy(), rtol=1e-9
            )
        assert np.all(ours[f"{name}|lo-80"] < ours[name]) and np.all(
            ours[name] < ours[f"{name}|hi-80"]
        )


def test_ets_runs_on_a_short_season_or_alone_without_any():
    history = 10 + np.sin(np.arange(120) * 2 * np.pi / 12)[None, :]
    assert set(fitted_forecasts(history, 3, [12])) == {"auto_ets", "mstl_ets", "mstl_arima"}
    flat = np.linspace(1, 2, 30)[None, :]
    forecasts = fitted_forecasts(flat, 3, [1])
    assert set(forecasts) == {"auto_ets"} and forecasts["auto_ets"].shape == (1, 3)


def test_the_cache_returns_the_stored_forecasts_and_its_key_follows_every_input(tmp_path):
    history = np.arange(12, dtype=np.float64).reshape(2, 6)
    key = cache_key(history, {"horizon": 3})
    assert key != cache_key(history + 1e-9, {"horizon": 3})
    assert key != cache_key(history, {"horizon": 4})
    calls: list[int] = []

    def compute() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"m": np.ones((2, 3))}

    first = cached(tmp_path, key, compute)
    again = cached(tmp_path, key, compute)
    assert len(calls) == 1 and np.array_equal(first["m"], again["m"])
    (tmp_path / f"{key}.npz").write_bytes(b"torn")  # a broken file is refitted, not trusted
    assert np.array_equal(cached(tmp_path, key, compute)["m"], first["m"]) and len(calls) == 2
    assert cached(None, key, compute) and len(calls) == 3
