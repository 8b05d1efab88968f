"""Registering an evaluated model and tracing its lineage, on a real SQLite MLflow store."""

from __future__ import annotations

import json

import pytest

from forecasting.model.network import save_model
from forecasting.registry import lineage, registration
from forecasting.registry.problem import Problem
from forecasting.registry.tracking import use_tracking
from forecasting.registry.versions import CHALLENGER, CHAMPION, version_by_alias
from tests.conftest import reset_tracking_state
from tests.unit.test_scoring_and_decision import _network

NAME = "demand-forecaster"
PROBLEM = Problem.of("30min", 24, 96, "MW", ["series"])
REPORT = {
    "model": {"mae": 1.5, "rmse": 2.0},
    "baselines": {"naive": {"mae": 3.0, "rmse": 4.0}},
    "origins": 3,
}


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A trained-model run in a fresh SQLite store under ``tmp_path`` (the working directory)."""
    import mlflow

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    reset_tracking_state()
    use_tracking(tmp_path, "tests")
    weights = save_model(_network(), tmp_path / "model")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(tmp_path / "model"), artifact_path="model")
        mlflow.set_tag("weights.sha256", weights)
        model_uri = mlflow.get_artifact_uri("model")  # plain files: no pyfunc needed here
    yield {
        "run_id": run.info.run_id,
        "model_uri": model_uri,
        "weights_sha256": weights,
        "data_sha256": "d" * 64,
    }
    reset_tracking_state()


def test_a_missing_run_is_named_with_the_way_out(store):
    registration.require_run(store["run_id"])
    with pytest.raises(registration.MissingRun, match="dvc repro --force train"):
        registration.require_run("0" * 32)


def test_evaluation_is_logged_registered_and_promoted_once(store, tmp_path):
    import mlflow

    assert registration.champion_model(NAME, PROBLEM, store["run_id"]) == (None, None, None)
    (tmp_path / "metrics.json").write_text(json.dumps(REPORT))
    with mlflow.start_run(run_id=store["run_id"]):
        registration.log_evaluation(REPORT, [(tmp_path / "metrics.json", "evaluation")])
        first = registration.register_challenger(store, NAME, 1.5, PROBLEM)
        settled = registration.settle_promotion(NAME, first, None, True, "first")
        second = registration.register_challenger(store, NAME, 1.5, PROBLEM)
        # evaluated against no champion, but v1 is champion now: the move is refused
        raced = registration.settle_promotion(NAME, second, None, True, "second")
    assert (first, second) == ("1", "2")
    assert settled == registration.Settlement(True, "first", "1")
    assert not raced.promoted and "re-run evaluate" in raced.reason and raced.champion_after == "1"
    assert str(version_by_alias(NAME, CHALLENGER).version) == "2"
    assert str(version_by_alias(NAME, CHAMPION).version) == "1"
    run = mlflow.get_run(store["run_id"])
    assert run.data.metrics["test/mae"] == 1.5 and run.data.metrics["test/naive/rmse"] == 4.0
    assert run.data.tags["promotion.promoted"] == "false"  # the last settlement
    version, network, foreign = registration.champion_model(NAME, PROBLEM, store["run_id"])
    assert version == "1" and network is not None and network.config.horizon == 24
    assert foreign is None
    other = Problem.of("h", 24, 96, "MW", ["series"])  # another frequency: no reference
    version, network, foreign = registration.champion_model(NAME, other, store["run_id"])
    assert version == "1" and network is None and foreign is not None and "freq" in foreign
    card = tmp_path / "card.md"
    card.write_text("# card")
    with mlflow.start_run(run_id=store["run_id"]):
        registration.publish_model_card(NAME, "1", card)
    assert mlflow.MlflowClient().get_model_version(NAME, "1").description == "# card"


def test_lineage_traces_the_champion_and_flags_what_disagrees(store, tmp_path):
    import mlflow

    with mlflow.start_run(run_id=store["run_id"]):
        version = registration.register_challenger(store, NAME, 1.5, PROBLEM)
        registration.settle_promotion(NAME, version, None, True, "first")
    (tmp_path / "reports" / "validate").mkdir(parents=True)
    (tmp_path / "reports" / "validate" / "summary.json").write_text('{"success": true}')
    links = lineage.chain(
        NAME, None, tmp_path / "data/raw", tmp_path / "data/validated", tmp_path / "reports"
    )
    by_name = {link.name: link for link in links}
    assert by_name["registered model"].value == f"{NAME} v1"
    assert by_name["MLflow run"].value == store["run_id"]
    assert by_name["weights sha256"].ok is True and by_name["validation"].ok is True
    assert by_name["stored weights sha256"].ok is True
    # no validated data on disk and nothing packaged: both are broken links, named
    assert by_name["validated data sha256"].ok is False
    assert lineage.broken_links(links) == ["validated data sha256", "bento"]
    with pytest.raises(ValueError, match="no champion"):
        lineage.chain("other-model", None, tmp_path, tmp_path, tmp_path)


def _stored_weights(store) -> list:
    """The champion's files in the artifact store (what a user deleting mlartifacts/ removes)."""
    from pathlib import Path
    from urllib.parse import urlparse

    from forecasting.core.artifacts import WEIGHTS_FILE

    return sorted(Path(urlparse(store["model_uri"]).path).rglob(WEIGHTS_FILE))


@pytest.mark.parametrize("fault", ["deleted", "rewritten"])
def test_lineage_reads_the_stored_weights_not_only_their_tag(store, tmp_path, fault):
    import mlflow

    with mlflow.start_run(run_id=store["run_id"]):
        version = registration.register_challenger(store, NAME, 1.5, PROBLEM)
        registration.settle_promotion(NAME, version, None, True, "first")
    (weights,) = _stored_weights(store)
    if fault == "deleted":
        weights.unlink()
    else:
        weights.write_bytes(weights.read_bytes()[:-8] + bytes(8))
    args = (tmp_path / "data/raw", tmp_path / "data/validated", tmp_path / "reports")
    by_name = {link.name: link for link in lineage.chain(NAME, None, *args)}
    assert by_name["weights sha256"].ok is True  # the tags still agree with each other ...
    stored = by_name.get("stored weights") or by_name["stored weights sha256"]
    assert stored.ok is False  # ... but the store no longer holds what they name
    assert ("missing" if fault == "deleted" else store["weights_sha256"]) in (
        stored.value + stored.note
    )
    assert stored.name in lineage.broken_links(list(by_name.values()))
