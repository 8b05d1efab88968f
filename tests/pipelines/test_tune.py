"""`make tune` on a tiny grid: scored on validation only, the choice written into params.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipelines import ingest, validate
from pipelines.ops import tune
from tests.conftest import reset_tracking_state, synthetic_series, tiny_params, write_params


def test_tune_trains_each_point_on_validation_and_writes_the_choice(workspace):
    import mlflow

    reset_tracking_state()
    synthetic_series(days=21).to_csv("demand.csv", index=False)
    params = tiny_params("demand.csv")
    params["train"]["epochs"] = 2
    # patch_length 5 does not divide the window: reported, not trained
    grid = {"hidden_size": [4, 8], "patch_length": [24, 5]}
    params["tune"] = {"grid": grid, "seeds": [42, 1], "folds": 2, "write": True}
    write_params(workspace, params)
    assert ingest.main([]) == 0 and validate.main([]) == 0
    Path("data/validated/test.parquet").unlink()  # tuning must not need (or read) the test split

    assert tune.main([]) == 0

    report = json.loads(Path("reports/tune/tune.json").read_text())
    points = report["points"]
    assert len(points) == 4 and report["objective"] == "val/mae"
    trained = [p for p in points if p["val_mae"] is not None]
    refused = [p for p in points if p["val_mae"] is None]
    assert {p["patch_length"] for p in trained} == {24} and len(refused) == 2
    assert all("train.patch_length 5 must divide" in p["note"] for p in refused)
    assert all(set(p["val_mae_by_seed"]) == {"42", "1"} for p in trained)  # JSON keys
    assert report["folds"] == 2 and all(len(p["val_mae_by_fold"]) == 2 for p in trained)
    for p in trained:  # the mean over seeds of each one's mean over folds, and the other way
        assert p["val_mae"] == pytest.approx(sum(p["val_mae_by_seed"].values()) / 2, abs=1e-3)
        assert p["val_mae"] == pytest.approx(sum(p["val_mae_by_fold"]) / 2, abs=1e-3)
        assert p["val_mae_by_fold"][0] != p["val_mae_by_fold"][1]  # two different fortnights
    best = min(trained, key=lambda p: p["val_mae"])
    assert report["chosen"] == {"hidden_size": best["hidden_size"], "patch_length": 24}
    written = yaml.safe_load(Path("params.yaml").read_text())["train"]
    assert written["hidden_size"] == best["hidden_size"] and written["patch_length"] == 24
    assert (
        "| hidden_size | patch_length | val MAE | note |"
        in Path("reports/tune/tune.md").read_text()
    )

    parent = mlflow.search_runs(filter_string="attributes.run_name = 'tune'", output_format="list")
    assert len(parent) == 1
    children = mlflow.search_runs(
        filter_string=f"tags.mlflow.parentRunId = '{parent[0].info.run_id}'", output_format="list"
    )
    assert len(children) == 4
    assert sum("val/mae" in c.data.metrics for c in children) == 2
