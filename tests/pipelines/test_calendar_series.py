"""Real weekly and monthly series through the pipeline, and switching problems after a champion.

The series ship inside installed packages (statsmodels' Mauna Loa CO2, weekly on Saturdays with
59 missing cells; pmdarima's Australian wine sales, monthly); nothing is downloaded. Their
train settings are set by hand here (input_length, horizon, patch_length, seasonal_lag): the
settings derived from the frequency are another change.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from forecasting.model.inference import RequestError, forecast_many
from forecasting.model.network import load_model
from forecasting.registry.versions import CHAMPION, version_by_alias
from pipelines import evaluate, ingest, train, validate
from tests.conftest import reset_tracking_state, synthetic_series, tiny_params, write_params

SITE = Path(pd.__file__).resolve().parents[1]


def _read(path: str) -> dict:
    return json.loads(Path(path).read_text())


def _weekly_co2(params: dict) -> dict:
    shutil.copy(SITE / "statsmodels" / "datasets" / "co2" / "co2.csv", "co2.csv")
    weekly = json.loads(json.dumps(params))
    weekly["base"].update(freq="W-SAT", unit="ppm")
    weekly["ingest"].update(
        source="co2.csv",
        columns={"timestamp": "date", "value": "co2", "series_id": None},
        timestamp_format="%Y%m%d",  # written as digits: 19580329
    )
    weekly["validate"].update(min_value=0, max_value=1000)
    weekly["train"].update(
        input_length=52, horizon=13, patch_length=13, seasonal_lag=52, epochs=1, weekly_trend=False
    )
    # 104 weeks of history per fit: weekly data has no day or week season, so MSTL is skipped and
    # AutoETS runs alone (non-seasonal).
    weekly["evaluate"].update(origin_step=13, require_beating_baselines=False, classical_weeks=104)
    return weekly


def _forecast_of_the_trained_model(frame: pd.DataFrame) -> tuple[list[str], object]:
    model = load_model(Path("models/train"))
    window = frame["value"].to_numpy()[-model.config.input_length :].tolist()
    end = pd.Timestamp(frame["timestamp"].iloc[-1])
    return forecast_many(model, [window], [end])[0].timestamps, (model, window, end)


def test_a_weekly_series_with_missing_values_runs_and_switching_problems_never_crashes(
    workspace, caplog
):
    reset_tracking_state()
    synthetic_series(days=21).to_csv("demand.csv", index=False)
    half_hourly = tiny_params("demand.csv")
    half_hourly["train"]["epochs"] = 2
    half_hourly["evaluate"]["require_beating_baselines"] = False
    write_params(workspace, half_hourly)
    for stage in (ingest, validate, train, evaluate):
        assert stage.main([]) == 0, stage.__name__
    first = version_by_alias("demand-forecaster", CHAMPION)
    assert first is not None and first.tags["problem.freq"] == "30min"

    # A weekly series with NaN cells: refused, then filled under the same bound and report.
    weekly = _weekly_co2(half_hourly)
    write_params(workspace, weekly)
    assert ingest.main([]) == 0 and validate.main([]) == 1
    assert "validate.on_missing: fill" in caplog.text
    weekly["validate"].update(on_missing="fill", max_fill_steps=18)
    write_params(workspace, weekly)
    assert validate.main([]) == 0
    gaps = _read("reports/validate/gaps.json")["missing_values"]
    assert (gaps["missing_steps"], gaps["filled_values"], gaps["longest_missing_steps"]) == (
        59,
        59,
        18,
    )
    # The half-hourly champion is no reference for weekly CO2: no drift check against it.
    drift = _read("reports/validate/drift.json")
    assert drift["checked"] is False and "another problem (freq 30min -> W-SAT" in drift["reason"]
    assert train.main([]) == 0  # logs an input example ending on a Saturday
    assert evaluate.main([]) == 0
    decision = _read("reports/evaluate/promotion.json")
    assert "belongs to another problem" in decision["reason"]
    assert "compared with the baselines alone" in decision["reason"]
    assert decision["evidence"]["vs_champion"] is None

    # Its forecasts follow the weeks' own weekday; an end off that calendar is refused.
    test = pd.read_parquet("data/validated/test.parquet")
    stamps, (model, window, end) = _forecast_of_the_trained_model(test)
    assert end.day_name() == "Saturday" and len(stamps) == 13
    assert all(pd.Timestamp(s).day_name() == "Saturday" for s in stamps)
    assert pd.Timestamp(stamps[0]) == end + pd.Timedelta(days=7)
    with pytest.raises(RequestError, match="W-SAT grid"):
        forecast_many(model, [window], [end + pd.Timedelta(days=1)])

    # And back to the half-hourly data: whichever champion holds, nothing crashes.
    write_params(workspace, half_hourly)
    assert ingest.main([]) == 0 and validate.main([]) == 0
    holder = version_by_alias("demand-forecaster", CHAMPION)
    assert holder is not None
    if holder.tags["problem.freq"] == "W-SAT":
        reason = _read("reports/validate/drift.json")["reason"]
        assert reason.startswith("champion v2 belongs to another problem (freq W-SAT -> 30min")
    else:
        assert _read("reports/validate/drift.json")["checked"] is True


def test_a_monthly_series_with_a_missing_month_trains_on_its_calendar(workspace, caplog):
    from pmdarima.datasets import load_wineind

    reset_tracking_state()
    sales = load_wineind(as_series=False)
    months = pd.date_range("1980-01-01", periods=len(sales), freq="MS")
    frame = pd.DataFrame({"timestamp": months, "value": sales}).drop(index=[30, 31])
    frame.to_csv("wine.csv", index=False)
    params = tiny_params("wine.csv")
    params["base"].update(freq="MS", unit="litres")
    params["validate"].update(on_gap="fill", max_fill_steps=2, max_value=100_000)
    params["train"].update(
        input_length=24, horizon=12, patch_length=6, seasonal_lag=12, epochs=1, weekly_trend=False
    )
    write_params(workspace, params)
    assert ingest.main([]) == 0 and validate.main([]) == 0
    assert _read("reports/validate/gaps.json")["filled_steps"] == 2  # two months, 31 + 30 days
    assert train.main([]) == 0
    test = pd.read_parquet("data/validated/test.parquet")
    stamps, (model, window, end) = _forecast_of_the_trained_model(test)
    assert end == pd.Timestamp("1994-08-01")
    assert stamps[:3] == ["1994-09-01T00:00:00", "1994-10-01T00:00:00", "1994-11-01T00:00:00"]
    with pytest.raises(RequestError, match="MS grid"):
        forecast_many(model, [window], [end + pd.Timedelta(days=30)])
