"""Logged forecasts joined with the actuals that arrived since: live error by day and lead time.

A forecast is scored at each of its targets the current raw snapshot holds; beside it, seasonal
naive (the value one week before each target, from the same snapshot) on exactly the same
targets, so a harder period (a holiday) is told apart from a worse model. A day is the
calendar day of a forecast's ``end`` (data time, so a replay scores as live traffic would), and
it is complete once every target of every forecast served that day has arrived.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from forecasting.core.periods import is_fixed, step_of, steps_per_week

COLUMNS = ["request", "day", "model_version", "series_id", "lead", "target", "forecast"]


def served_targets(records: Sequence[dict[str, Any]], freq: str) -> pd.DataFrame:
    """One row per (logged forecast, lead time): its target's time and the forecast value.

    Raises:
        ValueError: if a record was served at another frequency than ``freq``.

    """
    if not is_fixed(freq):
        raise ValueError(f"monitoring needs a fixed step (like 30min or 1h), not {freq!r}")
    step = step_of(freq)
    rows: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for index, record in enumerate(records):
        if record.get("freq", freq) != freq:
            raise ValueError(
                f"the inference log holds a forecast at step {record['freq']}, the pipeline's "
                f"base.freq is {freq}: point package.inference_log at this model's own log"
            )
        end = pd.Timestamp(record["end"])
        forecast = [float(v) for v in record["forecast"]]
        leads = np.arange(1, len(forecast) + 1)
        rows["request"] += [index] * len(forecast)
        rows["day"] += [end.normalize()] * len(forecast)
        rows["model_version"] += [str(record.get("model_version"))] * len(forecast)
        rows["series_id"] += [record.get("series_id")] * len(forecast)
        rows["lead"] += leads.tolist()
        rows["target"] += list(end + step * leads)
        rows["forecast"] += forecast
    frame = pd.DataFrame(rows)
    frame["target"] = pd.to_datetime(frame["target"])
    frame["day"] = pd.to_datetime(frame["day"])
    return frame


def join_actuals(targets: pd.DataFrame, snapshot: pd.DataFrame, freq: str) -> pd.DataFrame:
    """``targets`` with ``actual`` and ``naive`` (the value a week before) from ``snapshot``.

    A logged forecast without a series id belongs to the snapshot's only series; with several
    series it cannot be placed and keeps NaN actuals (counted as unmatched by ``summary``).
    """
    names = snapshot["series_id"].astype(str).unique()
    lag = step_of(freq) * steps_per_week(freq)
    series = targets["series_id"].astype(object)
    if len(names) == 1:
        series = series.where(series.notna(), names[0])
    key = pd.MultiIndex.from_arrays([snapshot["series_id"].astype(str), snapshot["timestamp"]])
    values = pd.Series(snapshot["value"].to_numpy(dtype=np.float64), index=key)
    values = values[~values.index.duplicated(keep="last")]
    names_of_rows = series.astype(object).where(series.notna(), "").astype(str)
    joined = targets.copy()
    joined["actual"] = values.reindex(
        pd.MultiIndex.from_arrays([names_of_rows, targets["target"]])
    ).to_numpy()
    joined["naive"] = values.reindex(
        pd.MultiIndex.from_arrays([names_of_rows, targets["target"] - lag])
    ).to_numpy()
    return joined


def daily_errors(joined: pd.DataFrame) -> pd.DataFrame:
    """Per day and model version: forecasts served, targets arrived, live and naive MAE.

    ``complete`` says whether every target of the day's forecasts has arrived; the MAEs are over
    the arrived targets where seasonal naive has a value too (the same targets for both).
    """
    frame = joined.assign(
        arrived=joined["actual"].notna(),
        scored=joined["actual"].notna() & joined["naive"].notna(),
        error=(joined["forecast"] - joined["actual"]).abs(),
        naive_error=(joined["naive"] - joined["actual"]).abs(),
    )
    scored = frame[frame["scored"]]
    grouped = frame.groupby(["day", "model_version"], sort=True)
    table = pd.DataFrame(
        {
            "forecasts": grouped["request"].nunique(),
            "targets": grouped["lead"].size(),
            "arrived": grouped["arrived"].sum(),
        }
    )
    by = scored.groupby(["day", "model_version"])
    table["live_mae"] = by["error"].mean()
    table["naive_mae"] = by["naive_error"].mean()
    table["complete"] = table["arrived"] == table["targets"]
    return table.reset_index()


def lead_errors(joined: pd.DataFrame) -> pd.DataFrame:
    """Live and seasonal-naive MAE at each lead time (1 = the first step after ``end``)."""
    scored = joined[joined["actual"].notna() & joined["naive"].notna()]
    errors = scored.assign(
        live_mae=(scored["forecast"] - scored["actual"]).abs(),
        naive_mae=(scored["naive"] - scored["actual"]).abs(),
    )
    return errors.groupby("lead")[["live_mae", "naive_mae"]].mean().reset_index()
