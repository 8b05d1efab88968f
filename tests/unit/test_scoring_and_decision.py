"""The evaluation library without a workspace: origins, scores, the verdict, the report files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from forecasting.data.splits import split_chronologically
from forecasting.evaluation.decision import PromotionPolicy, decision_record, judge
from forecasting.evaluation.gate import GatePolicy
from forecasting.evaluation.reports import write_reports
from forecasting.evaluation.scoring import (
    ModelScoring,
    base_forecasts,
    best_baseline,
    champion_forecasts,
    model_forecasts,
    score_report,
    scored_origins,
)
from forecasting.model.network import ModelConfig, RecurrentForecaster
from tests.conftest import synthetic_series

HERE = ModelScoring(batch=7, engine="local", engine_address=None, workers=1)  # several batches


def _splits(days: int = 21, series: tuple[str, ...] = ("a",)):
    frames = [synthetic_series(days, seed=n).assign(series_id=s) for n, s in enumerate(series)]
    return split_chronologically(pd.concat(frames, ignore_index=True), 0.15, 0.15)


def _network(input_length: int = 96, horizon: int = 24) -> RecurrentForecaster:
    torch.manual_seed(0)
    config = ModelConfig(
        input_length=input_length,
        horizon=horizon,
        freq="30min",
        hidden_size=4,
        num_layers=1,
        dropout=0.0,
        patch_length=24,
        seasonal_lag=48,
        lag_mixture=False,
        weekly_trend=False,
    )
    return RecurrentForecaster(config).eval()


def test_origins_are_the_test_split_every_step_with_each_series_own_scale():
    splits = _splits(series=("a", "b"))
    origins = scored_origins(splits, "30min", 96, 24, origin_step=24, season=48)
    test = splits.test[splits.test["series_id"] == "a"]["value"].to_numpy()
    first_a = np.flatnonzero(origins.series == "a")[0]
    # The first window forecasts the test split's first 24 points.
    np.testing.assert_allclose(origins.actual[first_a], test[:24].astype(np.float32))
    assert origins.inputs.shape == (len(origins), 96) and set(origins.series) == {"a", "b"}
    assert len({*origins.scale}) == 2
    with pytest.raises(ValueError, match="no forecast origin"):
        scored_origins(splits, "30min", 96, 10_000, origin_step=24, season=48)


def test_model_and_same_shaped_champion_are_scored_on_the_same_targets():
    splits = _splits()
    origins = scored_origins(splits, "30min", 96, 24, origin_step=24, season=48)
    network = _network()
    forecast = model_forecasts(network, origins, HERE)
    assert forecast.shape == origins.actual.shape and forecast.dtype == np.float64
    same = champion_forecasts(network, splits, "30min", 24, origins, HERE)
    np.testing.assert_array_equal(same, forecast)
    # another horizon cannot be compared on these targets
    assert champion_forecasts(_network(horizon=12), splits, "30min", 24, origins, HERE) is None
    report = score_report(origins, {"model": forecast, "zero": 0 * forecast}, ("7", same))
    assert report["champion"]["mae"] == report["model"]["mae"] and report["origins"] == len(origins)
    assert best_baseline(report)[0] == "zero"


def _policy(promotion: str = "auto") -> PromotionPolicy:
    policy = PromotionPolicy(GatePolicy(), promotion, origin_step=4)  # type: ignore[arg-type]
    return policy


def test_judge_promotes_a_clear_winner_unless_promotion_is_manual():
    rng = np.random.default_rng(0)
    actual = rng.normal(100, 10, (30, 4))
    good, bad = actual + rng.normal(0, 1, actual.shape), actual + rng.normal(0, 5, actual.shape)
    forecasts = {"model": good, "weak": bad}
    verdict = judge(actual, forecasts, "weak", (None, None), _policy())
    assert verdict.promote and verdict.gate_passed and "no champion yet" in verdict.reason
    held = judge(actual, forecasts, "weak", (None, None), _policy("manual"))
    assert held.gate_passed and not held.promote and "manual" in held.reason
    unscorable = judge(actual, forecasts, "weak", ("3", None), _policy())
    assert not unscorable.promote and "cannot be scored" in unscorable.reason
    retrain = judge(actual, forecasts, "weak", ("3", good.copy()), _policy())
    assert not retrain.promote and retrain.vs_champion is not None
    report = {"model": {"mae": 1.0}, "baselines": {"weak": {"mae": 4.0}, "b": {"mae": 5.0}}}
    record = decision_record("m", "4", report, retrain, _policy())
    assert record["best_baseline"] == {"name": "weak", "mae": 4.0}
    assert record["champion_before"] == {"version": "3", "mae": None}
    assert record["evidence"]["vs_champion"]["reference"] == "champion v3"
    json.dumps(record)


def test_the_daily_subset_is_exactly_the_one_a_day_protocol():
    splits = _splits(series=("a", "b"))
    dense = scored_origins(splits, "30min", 96, 24, origin_step=6, season=48)
    daily = scored_origins(splits, "30min", 96, 24, origin_step=48, season=48)
    assert dense.daily.sum() == len(daily) and daily.daily.all() and daily.daily_step == 48
    np.testing.assert_array_equal(dense.actual[dense.daily], daily.actual)
    np.testing.assert_array_equal(dense.times[dense.daily], daily.times)
    network = _network()
    forecasts = {"model": model_forecasts(network, dense, HERE)}
    report = score_report(dense, forecasts, None)
    alone = score_report(daily, {"model": model_forecasts(network, daily, HERE)}, None)
    assert report["daily"]["model"] == pytest.approx(alone["model"])
    assert (report["origin_step"], report["daily"]["origin_step"]) == (6, 48)
    assert report["daily"]["origins"] == alone["origins"]


def test_the_models_base_alone_is_scored_beside_it_on_both_protocols():
    from forecasting.registry.registration import flat_metrics

    splits = _splits(series=("a", "b"))
    origins = scored_origins(splits, "30min", 96, 24, origin_step=6, season=48)
    network = _network()
    base = base_forecasts(network, origins, batch=7)  # batches of 7: the same as one pass
    assert base is not None and base.shape == origins.actual.shape
    np.testing.assert_allclose(base, base_forecasts(network, origins, batch=10_000), rtol=1e-6)
    report = score_report(origins, {"model": model_forecasts(network, origins, HERE)}, None, base)
    assert "model_base" not in report["baselines"]  # not a baseline the gate could pick
    assert report["model_base"]["mae"] != report["model"]["mae"]
    assert report["daily"]["model_base"] == pytest.approx(
        score_report(origins, {"model": base}, None)["daily"]["model"]
    )
    flat = flat_metrics(report)
    assert flat["test/model_base/mae"] == report["model_base"]["mae"]
    assert flat["test/daily/model_base/mae"] == report["daily"]["model_base"]["mae"]


def test_reports_are_written_for_every_method(tmp_path):
    splits = _splits(series=("a", "b"))
    origins = scored_origins(splits, "30min", 96, 24, origin_step=12, season=48)
    forecast = model_forecasts(_network(), origins, HERE)
    forecasts = {"model": forecast, "naive": forecast + 1, "other": forecast - 2}
    report = score_report(origins, forecasts, ("1", forecast))
    files = write_reports(tmp_path, origins, forecasts, ("1", forecast), report, "MW", 336)
    assert json.loads(files.metrics.read_text()) == json.loads(json.dumps(report))
    assert set(pd.read_csv(files.forecasts).columns) == {
        "step",
        "actual",
        "model",
        "naive",
        "other",
    }
    by_step = pd.read_csv(files.error_by_horizon)
    assert set(by_step.columns) == {"step", "model", "other", "champion v1"}  # naive is left out
    assert set(pd.read_csv(files.mae_by_series)["series_id"]) == {"a", "b"}
    assert files.forecast_plot.stat().st_size > 0 and files.error_plot.stat().st_size > 0
    assert {folder for _, folder in files.artifacts()} == {"plots", "evaluation"}
    by_lead = pd.read_csv(files.metrics_by_lead)
    assert set(by_lead["method"]) == {"model", "naive", "other", "champion"}
    assert set(by_lead["protocol"]) == {"all", "daily"} and by_lead["lead"].max() == 24
    assert {"mae", "rmse", "mape", "smape", "mase"} <= set(by_lead.columns)


def test_anyone_can_rescore_the_saved_forecasts_and_get_the_reported_figures(tmp_path):
    splits = _splits(series=("a", "b"))
    origins = scored_origins(splits, "30min", 96, 24, origin_step=6, season=48)
    forecast = model_forecasts(_network(), origins, HERE)
    forecasts = {"model": forecast, "naive": np.repeat(origins.inputs[:, -1:], 24, axis=1)}
    report = score_report(origins, forecasts, ("1", forecast + 3))
    files = write_reports(tmp_path, origins, forecasts, ("1", forecast + 3), report, "MW", 336)
    saved = pd.read_parquet(files.origin_forecasts)
    assert len(saved) == 3 * len(origins) * 24
    # the saved targets are the test split's own values at their own timestamps
    test = splits.test.set_index(["series_id", "timestamp"])["value"]
    looked_up = test.loc[list(zip(saved["series_id"], saved["timestamp"], strict=True))]
    np.testing.assert_allclose(saved["actual"], looked_up.to_numpy(), rtol=1e-6)
    assert (saved["timestamp"] > saved["origin"]).all()
    errors = (saved["forecast"] - saved["actual"]).abs()
    for protocol, table, rows in (
        ("all", report, saved),
        ("daily", report["daily"], saved[saved["daily"]]),
    ):
        mae = errors[rows.index].groupby(rows["method"]).mean()
        assert mae["model"] == pytest.approx(table["model"]["mae"]), protocol
        assert mae["naive"] == pytest.approx(table["baselines"]["naive"]["mae"]), protocol
        assert mae["champion"] == pytest.approx(table["champion"]["mae"]), protocol
    by_lead = pd.read_csv(files.metrics_by_lead)
    model_leads = by_lead[(by_lead["protocol"] == "all") & (by_lead["method"] == "model")]
    rescored = errors[saved["method"] == "model"].groupby(saved["lead"]).mean()
    np.testing.assert_allclose(model_leads["mae"].to_numpy(), rescored.to_numpy())


def test_the_saved_interval_bounds_rescore_to_the_reported_coverage(tmp_path):
    from forecasting.evaluation.interval_scores import interval_metrics

    splits = _splits(series=("a", "b"))
    origins = scored_origins(splits, "30min", 96, 24, origin_step=6, season=48)
    forecast = model_forecasts(_network(), origins, HERE)
    forecasts = {"model": forecast, "naive": np.repeat(origins.inputs[:, -1:], 24, axis=1)}
    spread = np.abs(origins.actual - forecast).mean()
    bounds = {"model": {"80": (forecast - spread, forecast + spread)}}
    report = score_report(origins, forecasts, None)
    files = write_reports(tmp_path, origins, forecasts, None, report, "MW", 336, bounds)
    saved = pd.read_parquet(files.origin_forecasts)
    model, naive = saved[saved["method"] == "model"], saved[saved["method"] == "naive"]
    assert naive[["lower_80", "upper_80"]].isna().all().all()  # no intervals: empty, not zero
    inside = (model["lower_80"] <= model["actual"]) & (model["actual"] <= model["upper_80"])
    expected = interval_metrics(origins.actual, *bounds["model"]["80"], 80)["coverage"]
    assert 0 < inside.mean() < 1 and inside.mean() == pytest.approx(expected)
