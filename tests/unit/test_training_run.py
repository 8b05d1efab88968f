"""The MLflow record of a training run, against a real SQLite tracking store in tmp_path."""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from forecasting.data.drift import (
    PROFILE_ARTIFACT,
    SERVED_PROFILE_ARTIFACT,
    ValueProfile,
    seasonal_factor,
)
from forecasting.data.sources import ColumnMapping, canonical
from forecasting.data.splits import SPLITS, Splits, split_chronologically
from forecasting.model.inference import forecast_many
from forecasting.model.network import RecurrentForecaster, save_model
from forecasting.registry.provenance import data_fingerprint
from forecasting.registry.training_run import RunInputs, input_example, open_training_run
from tests.conftest import reset_tracking_state, synthetic_series, tiny_model_config

CONFIG = tiny_model_config(lag_mixture=True)


@pytest.fixture
def inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunInputs:
    """Validated splits and a validate report on disk, and a store of the test's own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    reset_tracking_state()
    frame = canonical(synthetic_series(days=14), ColumnMapping(), "t")
    splits = split_chronologically(frame, 0.15, 0.15)
    validated = tmp_path / "validated"
    validated.mkdir()
    for name in SPLITS:
        getattr(splits, name).to_parquet(validated / f"{name}.parquet")
    reports = tmp_path / "reports" / "validate"
    reports.mkdir(parents=True)
    (reports / "summary.json").write_text('{"success": true}\n')
    return RunInputs(
        repo_root=tmp_path,
        experiment="training-run-test",
        params={"hidden_size": 8, "seed": 7},
        params_sha256="f" * 64,
        freq="30min",
        input_length=CONFIG.input_length,
        splits=splits,
        validated=validated,
        raw=tmp_path / "raw",
        validation_reports=reports,
        world_size=1,
    )


def _client(inputs: RunInputs) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{inputs.repo_root / 'mlflow.db'}")


def _artifacts(client: MlflowClient, run_id: str, folder: str = "") -> set[str]:
    found: set[str] = set()
    for item in client.list_artifacts(run_id, folder or None):
        found |= _artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return found


def test_a_run_holds_tags_params_data_epochs_plots_and_a_model_that_loads(inputs, tmp_path):
    model_dir = tmp_path / "model"
    model = RecurrentForecaster(CONFIG).eval()
    weights_sha = save_model(model, model_dir)
    plot = tmp_path / "learning_curve.png"
    plot.write_bytes(b"\x89PNG")
    with open_training_run(inputs) as run:
        run.log_epoch(1, {"train/loss": 2.0, "val/mae": 30.0})
        run.log_epoch(2, {"train/loss": 1.0, "val/mae": 20.0})
        run.log_outcome({"best_epoch": 2}, {"weights.sha256": weights_sha}, plots=[plot])
        uri = run.log_model(model_dir, input_example(inputs.splits, CONFIG.input_length))
        record = run.hand_off(uri, weights_sha, "cpu")

    client = _client(inputs)
    logged = client.get_run(run.run_id)
    assert logged.info.status == "FINISHED"
    tags = logged.data.tags
    files = [inputs.validated / f"{name}.parquet" for name in SPLITS]
    assert tags["data.sha256"] == record["data_sha256"] == data_fingerprint(files)
    assert (tags["stage"], tags["world_size"], tags["params.sha256"]) == ("train", "1", "f" * 64)
    assert tags["weights.sha256"] == record["weights_sha256"] == weights_sha
    assert tags["git.commit"] == record["git_commit"] == "unknown"  # tmp_path is no checkout
    assert "env.torch" in tags and tags["data.train.start"].startswith("2024-01-01")
    assert logged.data.params == {"hidden_size": "8", "seed": "7"}
    history = client.get_metric_history(run.run_id, "val/mae")
    assert [(m.step, m.value) for m in history] == [(1, 30.0), (2, 20.0)]
    assert logged.data.metrics["best_epoch"] == 2
    assert {d.dataset.name for d in logged.inputs.dataset_inputs} == set(SPLITS)
    assert {"validation/summary.json", PROFILE_ARTIFACT, "plots/learning_curve.png"} <= (
        _artifacts(client, run.run_id)
    )
    # what monitor holds served inputs against: the test split's values, the training split's
    # shapes (two days of test hold no whole week), the last test input window's level
    served, trained = (
        ValueProfile.from_dict(mlflow.artifacts.load_dict(f"runs:/{run.run_id}/{artifact}"))
        for artifact in (SERVED_PROFILE_ARTIFACT, PROFILE_ARTIFACT)
    )
    test = inputs.splits.test
    assert served.rows == len(test) and served.quantiles[50] == pytest.approx(
        float(test["value"].median())
    )
    assert (served.day_shape, served.week_shape) == (trained.day_shape, trained.week_shape)
    last = test.tail(CONFIG.input_length)
    factor = seasonal_factor(pd.DatetimeIndex(last["timestamp"]), trained, "30min")
    assert served.mean() == pytest.approx(last["value"].mean() / factor)
    assert record["run_id"] == run.run_id and record["model_uri"] == uri

    loaded = mlflow.pyfunc.load_model(uri)
    example = input_example(inputs.splits, CONFIG.input_length)
    expected = forecast_many(model, [list(example["values"][0])], [example["end"][0]])[0]
    for batch in (1, 2, 4):  # a batch-1 example once froze the batch dimension
        rows = example.iloc[[0] * batch].reset_index(drop=True)
        forecast = loaded.predict(rows)["forecast"]
        assert len(forecast) == batch
        assert list(forecast[batch - 1]) == pytest.approx(expected.forecast, rel=1e-6)


def test_a_continued_run_is_retagged_but_keeps_its_params_and_datasets(inputs, caplog):
    with open_training_run(inputs) as first:
        first.log_epoch(1, {"val/mae": 30.0})
    changed = RunInputs(**{**vars(inputs), "params_sha256": "e" * 64})
    with caplog.at_level(logging.INFO), open_training_run(changed, first.run_id) as again:
        again.log_epoch(2, {"val/mae": 25.0})
    assert again.run_id == first.run_id
    assert f"continuing MLflow run {first.run_id}" in caplog.text
    client = _client(inputs)
    logged = client.get_run(first.run_id)
    assert logged.data.tags["params.sha256"] == "e" * 64
    assert len(logged.inputs.dataset_inputs) == len(SPLITS)
    history = client.get_metric_history(first.run_id, "val/mae")
    assert [m.step for m in history] == [1, 2]
    experiment = client.get_experiment_by_name("training-run-test")
    assert len(client.search_runs([experiment.experiment_id])) == 1


def test_the_input_example_is_the_latest_window_twice(inputs: RunInputs):
    example = input_example(inputs.splits, CONFIG.input_length)
    history = Splits(inputs.splits.train, inputs.splits.val, inputs.splits.test).val
    assert len(example) == 2 and list(example["values"][0]) == list(example["values"][1])
    assert example["values"][0][-1] == pytest.approx(float(history["value"].iloc[-1]))
    assert len(example["values"][0]) == CONFIG.input_length
