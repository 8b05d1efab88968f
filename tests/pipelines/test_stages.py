"""Each stage's main() on tiny params, in order, against a real MLflow store and BentoML."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from forecasting.registry import champion
from forecasting.registry.versions import CHAMPION, version_by_alias
from pipelines import evaluate, ingest, package, train, validate
from tests.conftest import reset_tracking_state, synthetic_series, tiny_params, write_params

pytestmark = pytest.mark.slow


def _files(folder: str) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes: to show that nothing in it changed."""
    root = Path(folder)
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _read(path: str) -> dict:
    return json.loads(Path(path).read_text())


def test_the_five_stages_hand_off_to_each_other(workspace):
    import mlflow

    reset_tracking_state()
    synthetic_series(days=21).to_csv("demand.csv", index=False)
    write_params(workspace, tiny_params("demand.csv"))

    assert ingest.main([]) == 0
    assert _read("data/raw/manifest.json")["rows"] == 21 * 48

    assert validate.main([]) == 0
    assert _read("reports/validate/summary.json")["success"] is True
    assert (workspace / "reports/validate/data_docs/index.html").is_file()
    assert {p.name for p in (workspace / "data/validated").iterdir()} == {
        "train.parquet",
        "val.parquet",
        "test.parquet",
    }

    assert train.main([]) == 0
    handoff = _read("reports/train/run.json")
    assert {"weights.safetensors", "model_config.json"} <= {
        p.name for p in (workspace / "models/train").iterdir()
    }
    assert not list((workspace / "models/train").glob("*.pt*")), "no pickled model files"
    run = mlflow.get_run(handoff["run_id"])
    assert run.data.params["hidden_size"] == "8"
    history = mlflow.MlflowClient().get_metric_history(handoff["run_id"], "val/loss")
    assert [m.step for m in history] == list(range(1, len(history) + 1))
    loaded = mlflow.pyfunc.load_model(handoff["model_uri"])
    frame = synthetic_series(days=3)
    import pandas as pd

    request = pd.DataFrame(
        {
            "values": [frame["value"].tolist()[-96:]] * 3,
            "end": [frame["timestamp"].iloc[-1].isoformat()] * 3,
        }
    )
    assert len(loaded.predict(request)["forecast"].iloc[2]) == 24

    assert evaluate.main([]) == 0
    metrics = _read("reports/evaluate/metrics.json")
    assert set(metrics["model"]) == {"mae", "rmse", "mape", "smape", "mase"}
    assert metrics["daily"]["origins"] < metrics["origins"]  # the one-a-day subset beside it
    assert set(metrics["baselines"]) == {
        "naive",
        "seasonal_naive_day",
    }  # 96-step window: no week baseline
    decision = _read("reports/evaluate/promotion.json")
    assert decision["version"] == "1" and decision["reason"]
    client = mlflow.MlflowClient()
    assert str(client.get_model_version_by_alias("demand-forecaster", "challenger").version) == "1"
    if not decision["promoted"]:
        pytest.fail(
            f"the tiny model was expected to beat seasonal naive on a clean cycle: {decision['reason']}"
        )
    assert str(client.get_model_version_by_alias("demand-forecaster", "champion").version) == "1"

    # The same run evaluated again (an interrupted or forced re-run) reuses its version and stays
    # champion: no duplicate version without an alias, no second promotion event.
    assert evaluate.main([]) == 0
    second = _read("reports/evaluate/promotion.json")
    assert (second["version"], second["promoted"], second["champion_after"]) == ("1", True, "1")
    assert len(client.search_model_versions("name='demand-forecaster'")) == 1
    evidence = decision["evidence"]["vs_best_baseline"]
    assert evidence["test"].startswith("Diebold-Mariano")
    assert evidence["ci_low"] <= evidence["mean_difference"] <= evidence["ci_high"]
    assert 0 <= evidence["p_value"] <= 0.1

    # A worse retrain (one epoch) is refused with the figures, and the champion stays.
    worse = tiny_params("demand.csv")
    worse["train"]["epochs"] = 1
    write_params(workspace, worse)
    assert train.main([]) == 0 and evaluate.main([]) == 0
    third = _read("reports/evaluate/promotion.json")
    assert (third["version"], third["promoted"], third["champion_after"]) == ("2", False, "1")
    assert "does not" in third["reason"] and "CI [" in third["reason"]
    assert [e.to_version for e in champion.history("demand-forecaster")] == ["1"]
    write_params(workspace, tiny_params("demand.csv"))
    assert train.main([]) == 0

    assert package.main([]) == 0
    manifest = _read("reports/package/manifest.json")
    assert manifest["model_version"] == "1"
    assert manifest["parity"]["status"] == "passed"
    assert manifest["parity"]["cases"] >= 8
    assert max(manifest["parity"]["max_relative_difference"].values()) <= 1e-5
    assert (workspace / manifest["bento_archive"]).is_file()
    assert np.isfinite(metrics["model"]["mae"])


def test_one_model_trains_on_several_series_and_forecasts_each(workspace):
    import mlflow
    import pandas as pd

    reset_tracking_state()
    north = synthetic_series(days=21, seed=1).assign(site="north")
    south = synthetic_series(days=21, seed=2).assign(site="south")
    south["value"] *= 0.5  # half the level: a model that ignored its input would miss one
    pd.concat([south, north]).to_csv("sites.csv", index=False)
    params = tiny_params("sites.csv")
    params["ingest"]["columns"] = {"series_id": "site"}
    write_params(workspace, params)

    for stage in (ingest, validate, train, evaluate):
        assert stage.main([]) == 0, stage.__name__
    manifest = _read("data/raw/manifest.json")
    assert (manifest["series"], manifest["rows"]) == (["north", "south"], 2 * 21 * 48)
    splits = {name: pd.read_parquet(f"data/validated/{name}.parquet") for name in ("train", "test")}
    assert set(splits["train"]["series_id"]) == {"north", "south"}
    by_series = pd.read_csv("reports/evaluate/mae_by_series.csv").set_index("series_id")
    assert set(by_series.index) == {"north", "south"} and (by_series["origins"] > 0).all()

    model = mlflow.pyfunc.load_model(_read("reports/train/run.json")["model_uri"])
    history = pd.concat([splits["train"], pd.read_parquet("data/validated/val.parquet")])
    for site, frame in history.groupby("series_id"):
        window = frame.tail(96)
        request = pd.DataFrame(
            {
                "values": [window["value"].tolist()],
                "end": [window["timestamp"].iloc[-1].isoformat()],
            }
        )
        forecast = np.asarray(model.predict(request)["forecast"].iloc[0])
        actual = splits["test"].loc[splits["test"]["series_id"] == site, "value"].to_numpy()[:24]
        assert np.abs(forecast - actual).mean() < 0.1 * actual.mean(), site


def test_validate_refuses_a_broken_series_and_keeps_the_snapshot(workspace, caplog):
    frame = synthetic_series(days=21)
    frame.loc[100, "value"] = float("nan")
    frame = frame.drop(index=range(200, 210))
    frame.to_csv("demand.csv", index=False)
    write_params(workspace, tiny_params("demand.csv"))
    assert ingest.main([]) == 0
    snapshot = _files("data/raw")

    with caplog.at_level(logging.ERROR):
        assert validate.main([]) == 1
    message = caplog.text
    assert "expectations failed" in message
    assert "NaN" in message and "gaps" in message
    summary = _read("reports/validate/summary.json")
    assert summary["success"] is False and len(summary["failures"]) >= 2
    assert (workspace / "reports/validate/data_docs/index.html").is_file()
    assert (workspace / "reports/validate/series.png").stat().st_size > 10_000  # the picture
    assert _files("data/raw") == snapshot
    assert not (workspace / "data/validated").exists()


def test_invalid_params_are_named(workspace, caplog):
    params = tiny_params("demand.csv")
    params["train"]["patch_length"] = 0
    params["validate"]["min_value"] = 10
    params["validate"]["max_value"] = 1
    write_params(workspace, params)
    with caplog.at_level(logging.ERROR):
        assert ingest.main([]) == 1
    assert "train.patch_length" in caplog.text and "min_value must be below" in caplog.text


def test_package_without_a_champion_says_why(workspace, caplog):
    reset_tracking_state()
    write_params(workspace, tiny_params("demand.csv"))
    with caplog.at_level(logging.ERROR):
        assert package.main([]) == 1
    assert "no 'champion' alias" in caplog.text


def test_ingest_replays_data_as_of_a_date_and_refuses_a_changed_pinned_file(workspace, caplog):
    import hashlib

    synthetic_series(days=21).to_csv("demand.csv", index=False)
    params = tiny_params("demand.csv")
    params["ingest"]["until"] = "2024-01-14T23:30:00"  # "the data we had on the 14th"
    write_params(workspace, params)
    assert ingest.main([]) == 0
    then = _read("data/raw/manifest.json")
    assert (then["rows"], then["last_timestamp"]) == (14 * 48, "2024-01-14T23:30:00")
    assert then["until"] == "2024-01-14T23:30:00"

    # A week later, pinned to the file's bytes: the new snapshot holds the new days.
    pin = hashlib.sha256(Path("demand.csv").read_bytes()).hexdigest()
    params["ingest"].update(until=None, sha256=pin)
    write_params(workspace, params)
    assert ingest.main([]) == 0
    now = _read("data/raw/manifest.json")
    assert (now["rows"], now["source_sha256"]) == (21 * 48, pin)
    assert now["snapshot"] != then["snapshot"]  # a new snapshot beside the old one ...
    assert _read(f"data/raw/{then['snapshot']}/manifest.json") == then  # ... which is intact
    snapshot = _files("data/raw")

    # The file changes under the pin: refused, and the snapshot is left as it was.
    synthetic_series(days=22).to_csv("demand.csv", index=False)
    assert ingest.main([]) == 1
    assert "the file changed" in caplog.text and pin in caplog.text
    assert _files("data/raw") == snapshot


def test_ingest_keeps_only_as_many_snapshots_as_asked(workspace, caplog):
    caplog.set_level("INFO")
    synthetic_series(days=21).to_csv("demand.csv", index=False)
    params = tiny_params("demand.csv")
    for until in ("2024-01-12T23:30:00", "2024-01-13T23:30:00", "2024-01-14T23:30:00"):
        params["ingest"]["until"] = until
        write_params(workspace, params)
        assert ingest.main([]) == 0
    assert len(list(Path("data/raw/snapshots").iterdir())) == 3  # the default keeps them all

    params["ingest"].update(until=None, keep_snapshots=2)
    write_params(workspace, params)
    assert ingest.main([]) == 0
    current = _read("data/raw/manifest.json")
    left = sorted(
        _read(f"{path}/manifest.json")["last_timestamp"]
        for path in Path("data/raw/snapshots").iterdir()
    )
    assert left == ["2024-01-14T23:30:00", current["last_timestamp"]]  # current + newest other
    assert "deleted 2 older snapshot(s)" in caplog.text

    params["ingest"]["keep_snapshots"] = 0
    write_params(workspace, params)
    assert ingest.main([]) == 1
    assert "keep_snapshots" in caplog.text
    assert len(list(Path("data/raw/snapshots").iterdir())) == 2


def test_validate_fills_short_gaps_when_asked_and_reports_them(workspace, caplog):
    frame = synthetic_series(days=21).drop(index=[300, 301, 900])
    frame.to_csv("demand.csv", index=False)
    params = tiny_params("demand.csv")
    write_params(workspace, params)
    assert ingest.main([]) == 0
    assert validate.main([]) == 1  # on_gap: fail (the default)
    assert "Gaps: 2 gap(s), 3 missing step(s)" in caplog.text
    assert _read("reports/validate/gaps.json")["longest_missing_steps"] == 2

    params["validate"].update(on_gap="fill", max_fill_steps=2)
    write_params(workspace, params)
    assert validate.main([]) == 0
    gaps = _read("reports/validate/gaps.json")
    assert (gaps["gaps"], gaps["filled_steps"]) == (2, 3)
    assert _read("reports/validate/summary.json")["filled_steps"] == 3

    params["validate"]["max_fill_steps"] = 1
    write_params(workspace, params)
    assert validate.main([]) == 1
    assert "longer than validate.max_fill_steps=1" in caplog.text


def test_validate_compares_new_training_data_with_the_champions(workspace, caplog):
    reset_tracking_state()
    synthetic_series(days=21).to_csv("demand.csv", index=False)
    params = tiny_params("demand.csv")
    params["train"]["epochs"] = 2
    params["evaluate"]["require_beating_baselines"] = False
    write_params(workspace, params)
    assert ingest.main([]) == 0 and validate.main([]) == 0
    assert _read("reports/validate/drift.json") == {"checked": False, "reason": "no champion yet"}
    assert train.main([]) == 0 and evaluate.main([]) == 0
    assert _read("reports/evaluate/promotion.json")["promoted"] is True

    # The same data again: checked against champion v1, no drift.
    assert validate.main([]) == 0
    same = _read("reports/validate/drift.json")
    assert (same["checked"], same["champion_version"], same["drifted"]) == (True, "1", False)

    # Demand 40 % higher: a warning by default, a refusal with on_drift: fail.
    moved = synthetic_series(days=21)
    moved["value"] *= 1.4
    moved.to_csv("demand.csv", index=False)
    assert ingest.main([]) == 0 and validate.main([]) == 0
    assert _read("reports/validate/drift.json")["drifted"] is True
    assert "drift: training values vs champion v1's" in caplog.text
    validated = Path("data/validated/train.parquet").read_bytes()
    params["validate"]["on_drift"] = "fail"
    write_params(workspace, params)
    moved["value"] *= 1.1
    moved.to_csv("demand.csv", index=False)
    assert ingest.main([]) == 0 and validate.main([]) == 1
    assert "the data drifted" in caplog.text
    assert Path("data/validated/train.parquet").read_bytes() == validated  # splits untouched

    # The same level, but the daily cycle six hours later: values alike, the shape is not.
    shifted = synthetic_series(days=21)
    shifted["value"] = np.roll(shifted["value"].to_numpy(), 12)
    shifted.to_csv("demand.csv", index=False)
    assert ingest.main([]) == 0 and validate.main([]) == 1
    drift = _read("reports/validate/drift.json")
    assert drift["psi"] < 0.25 and drift["ks"] < 0.2
    assert drift["day_shape"] > 0.1 and drift["drifted"] is True
    assert "seasonal shape moved by" in caplog.text
    assert Path("reports/validate/drift.png").stat().st_size > 10_000
    holder = version_by_alias("demand-forecaster", CHAMPION)  # refused data moves nothing
    assert holder is not None and str(holder.version) == "1"
