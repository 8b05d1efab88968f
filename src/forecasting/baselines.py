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
