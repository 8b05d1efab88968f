"""statsforecast's classical methods at every test origin, each fitted on the history before it.

Not yet wired into evaluate (issue 18, item 1): ``classical_forecasts`` takes the ``[K, M]``
history windows that end at the model's own test origins (``model.datasets.test_windows`` with
``input_length = M``), so its ``[K, H]`` forecasts are scored on exactly the model's targets.
Each origin is its own statsforecast series on an integer time index, so calendar frequencies
(months, business days) need no special case; ``n_jobs`` fits origins in parallel.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


def usable_seasons(seasons: list[int], history: int) -> list[int]:
    """The seasons (> 1 step) with at least two full periods in ``history`` steps, ascending."""
    return sorted({s for s in seasons if s > 1 and history >= 2 * s})


def classical_forecasts(
    history: np.ndarray, horizon: int, seasons: list[int], n_jobs: int = 1
) -> dict[str, np.ndarray]:
    """Seasonal naive per season, AutoETS and MSTL (ETS and ARIMA trends) at every origin.

    Args:
        history: ``[K, M]`` the ``M`` observations before each origin, oldest first.
        horizon: steps to forecast.
        seasons: the series' seasonal periods in steps (day and week, from ``core.periods``);
            those without two full periods of history are skipped, with a log line.
        n_jobs: processes statsforecast fits the origins in.

    Returns:
        method name -> ``[K, horizon]`` float64 forecasts, in the origins' order.

    """
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoARIMA, AutoETS, SeasonalNaive

    origins, length = history.shape
    usable = usable_seasons(seasons, length)
    skipped = sorted(set(seasons) - set(usable) - {1})
    if skipped:
        logger.info("seasons %s skipped: fewer than two periods in %d steps", skipped, length)
    models: list[Any] = [
        SeasonalNaive(season_length=s, alias=f"seasonal_naive_{s}") for s in usable
    ]
    models.append(AutoETS(season_length=usable[0] if usable else 1, alias="auto_ets"))
    if usable:
        for trend, name in ((AutoETS(model="ZZN"), "mstl_ets"), (AutoARIMA(), "mstl_arima")):
            models.append(MSTL(season_length=usable, trend_forecaster=trend, alias=name))
    else:
        logger.info("MSTL skipped: no season with two full periods in %d steps", length)
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(origins), length),
            "ds": np.tile(np.arange(length), origins),
            "y": np.asarray(history, dtype=np.float64).ravel(),
        }
    )
    result = StatsForecast(models=models, freq=1, n_jobs=n_jobs).forecast(df=frame, h=horizon)
    result = result.sort_values(["unique_id", "ds"])
    return {
        str(m.alias): result[str(m.alias)].to_numpy(dtype=np.float64).reshape(origins, horizon)
        for m in models
    }
