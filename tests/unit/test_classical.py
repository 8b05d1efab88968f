"""statsforecast's methods at every origin, on the same targets as the model's windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from forecasting.data.splits import split_chronologically
from forecasting.evaluation.classical import classical_forecasts, usable_seasons
from forecasting.model import datasets
from tests.conftest import synthetic_series


def test_seasons_need_two_full_periods():
    assert usable_seasons([48, 336, 1], 700) == [48, 336]
    assert usable_seasons([48, 336], 671) == [48]
    assert usable_seasons([1], 50) == []


def test_every_method_forecasts_every_origin_of_the_models_own_windows():
    frame = synthetic_series(days=21, seed=0).assign(series_id="a")
    splits = split_chronologically(frame, 0.15, 0.15)
    model = datasets.test_windows(splits, "30min", 96, 24, 24)
    history = datasets.test_windows(splits, "30min", 192, 24, 24)
    assert torch.equal(model.origins, history.origins)  # same origins, same targets
    targets = model.gather(torch.arange(len(model))).targets.numpy()
    np.testing.assert_array_equal(history.gather(torch.arange(len(history))).targets, targets)
    inputs = history.gather(torch.arange(len(history))).inputs.numpy()
    forecasts = classical_forecasts(inputs, 24, [48, 336])
    assert set(forecasts) == {"seasonal_naive_48", "auto_ets", "mstl_ets", "mstl_arima"}
    for values in forecasts.values():
        assert values.shape == targets.shape and np.isfinite(values).all()
    # seasonal naive is exactly the value a day before each target
    np.testing.assert_allclose(forecasts["seasonal_naive_48"], inputs[:, -48:-24], rtol=1e-6)
    mstl = np.abs(forecasts["mstl_ets"] - targets).mean()
    assert mstl < np.abs(forecasts["seasonal_naive_48"] - targets).mean() * 1.5


def test_no_usable_season_still_forecasts_with_ets_alone():
    history = pd.Series(np.linspace(1, 2, 30)).to_numpy()[None, :]
    forecasts = classical_forecasts(history, 3, [1])
    assert set(forecasts) == {"auto_ets"} and forecasts["auto_ets"].shape == (1, 3)
