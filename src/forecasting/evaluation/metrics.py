"""Point-forecast error metrics over a batch of forecasts ``[origins, horizon]``."""

from __future__ import annotations

import numpy as np
import pandas as pd

METRIC_NAMES = ("mae", "rmse", "mape", "smape", "mase")


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(actual - forecast)))


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((actual - forecast) ** 2)))


def mape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute percentage error, in percent, over the non-zero actuals (NaN if none).

    A zero actual has no percentage error; sMAPE and MASE still count those points.
    """
    nonzero = actual != 0
    if not nonzero.any():
        return float("nan")
    return float(100.0 * np.mean(np.abs(actual - forecast)[nonzero] / np.abs(actual[nonzero])))


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric mean absolute percentage error, in percent (0-200); 0/0 terms count as 0."""
    denominator = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(
        2.0 * np.abs(actual - forecast),
        denominator,
        out=np.zeros_like(denominator, dtype=np.float64),
        where=denominator > 0,
    )
    return float(100.0 * np.mean(ratio))


def mase_scale(history: np.ndarray, season: int) -> float:
    """In-sample MAE of the seasonal naive forecast on ``history``: MASE's denominator.

    Raises:
        ValueError: if ``history`` is not longer than one season or is perfectly seasonal.

    """
    if len(history) <= season:
        raise ValueError(f"MASE needs more than {season} points of history, got {len(history)}")
    scale = float(np.mean(np.abs(history[season:] - history[:-season])))
    if scale == 0.0:
        raise ValueError("MASE is undefined: the history repeats itself exactly every season")
    return scale


def score(actual: np.ndarray, forecast: np.ndarray, scale: float | np.ndarray) -> dict[str, float]:
    """All metrics of ``forecast`` against ``actual``, both ``[origins, horizon]``.

    ``scale`` is MASE's denominator (:func:`mase_scale`): one number, or one per origin
    (``[origins]``) so that each window is scaled by its own series' history.
    """
    if actual.shape != forecast.shape:
        raise ValueError(f"actual {actual.shape} and forecast {forecast.shape} differ in shape")
    per_origin = np.broadcast_to(np.asarray(scale, dtype=np.float64), actual.shape[:1])
    return {
        "mae": mae(actual, forecast),
        "rmse": rmse(actual, forecast),
        "mape": mape(actual, forecast),
        "smape": smape(actual, forecast),
        "mase": float(np.mean(np.abs(actual - forecast) / per_origin[:, None])),
    }


def score_by_lead(
    actual: np.ndarray, forecast: np.ndarray, scale: float | np.ndarray
) -> dict[str, np.ndarray]:
    """Every metric at each lead time: name -> ``[horizon]``, over all origins.

    Same definitions as :func:`score`, one column of ``[origins, horizon]`` at a time.
    """
    leads = range(actual.shape[1])
    rows = [score(actual[:, [h]], forecast[:, [h]], scale) for h in leads]
    return {name: np.array([row[name] for row in rows]) for name in METRIC_NAMES}


def mae_by_series(
    actual: np.ndarray, forecasts: dict[str, np.ndarray], series_of_origin: np.ndarray
) -> pd.DataFrame:
    """MAE of every forecaster on each series: one row per series, worst model MAE first.

    Args:
        actual: ``[origins, horizon]`` observed values.
        forecasts: forecaster name -> ``[origins, horizon]`` forecasts.
        series_of_origin: ``[origins]`` the series each origin belongs to.

    """
    errors = {name: np.abs(f - actual).mean(axis=1) for name, f in forecasts.items()}  # [origins]
    table = pd.DataFrame({"series_id": series_of_origin, **errors})
    by_series = table.groupby("series_id", sort=True).agg(
        origins=("series_id", "size"), **{name: (name, "mean") for name in errors}
    )
    return by_series.sort_values(next(iter(errors)), ascending=False).reset_index()
