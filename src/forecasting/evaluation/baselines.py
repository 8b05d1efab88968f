"""Classical reference forecasts, computed from the same input windows the model reads."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# A forecaster maps input windows [B, L] and end phases [B] to forecasts [B, H].
Forecaster = Callable[[np.ndarray, np.ndarray], np.ndarray]


def naive(inputs: np.ndarray, horizon: int) -> np.ndarray:
    """Repeat the last observation: ``[B, L] -> [B, H]``."""
    return np.repeat(inputs[:, -1:], horizon, axis=1)


def seasonal_naive(inputs: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Repeat the last full season: step ``h`` takes the value ``season - h % season`` steps back.

    Raises:
        ValueError: if the window is shorter than one season.

    """
    length = inputs.shape[1]
    if season > length:
        raise ValueError(
            f"seasonal naive with season {season} needs inputs of at least that length"
        )
    columns = length - season + (np.arange(horizon) % season)
    return inputs[:, columns]


def baseline_forecasters(
    input_length: int, horizon: int, steps_per_day: int, steps_per_week: int
) -> dict[str, Forecaster]:
    """The baselines every model is judged against, by their names in ``metrics.json``.

    A seasonal baseline is left out when the input window is shorter than its season (it could
    not be computed from the same inputs the model sees), or when the season is a single step.
    """

    def seasonal(season: int) -> Forecaster:
        return lambda inputs, _phase: seasonal_naive(inputs, horizon, season)

    forecasters: dict[str, Forecaster] = {"naive": lambda inputs, _phase: naive(inputs, horizon)}
    for name, season in (
        ("seasonal_naive_day", steps_per_day),
        ("seasonal_naive_week", steps_per_week),
    ):
        if 1 < season <= input_length:
            forecasters[name] = seasonal(season)
    return forecasters


def holt_winters(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Holt-Winters (additive season, no trend, statsmodels) refitted at every origin.

    Args:
        history: ``[B, M]`` the ``M`` observations before each origin, ``M >= 2 * season``.
        horizon: steps to forecast.
        season: the seasonal period in steps (a week).

    Returns:
        ``[B, horizon]`` forecasts.

    Raises:
        ValueError: if the history is shorter than two seasons.

    """
    import warnings

    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    if history.shape[1] < 2 * season:
        raise ValueError(f"Holt-Winters needs at least two seasons ({2 * season} steps) of history")
    forecasts = np.empty((history.shape[0], horizon))
    for row, series in enumerate(history):
        with warnings.catch_warnings():
            # Convergence chatter from the optimiser; a poor fit shows in the baseline's MAE.
            warnings.simplefilter("ignore")
            fitted = ExponentialSmoothing(
                series.astype(np.float64),
                seasonal="add",
                seasonal_periods=season,
                initialization_method="estimated",
            ).fit()
        forecasts[row] = fitted.forecast(horizon)
    return forecasts
