"""What monitor expects of the champion, read from a real SQLite registry in tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from forecasting.data.drift import PROFILE_ARTIFACT, SERVED_PROFILE_ARTIFACT, ValueProfile
from forecasting.monitoring.expectation import champion_expectation
from forecasting.registry.tracking import connect, tracking_uri
from forecasting.registry.versions import CHAMPION
from tests.conftest import reset_tracking_state

NAME = "expectation-test"


def _version(client: MlflowClient, profiles: dict[str, float], mae: str) -> str:
    """A registered version whose run logged a profile of constant ``value`` per artifact.

    The client API throughout: MLflow's fluent API caches the active experiment per process,
    and an earlier test's experiment id does not exist in this store."""
    experiment = client.get_experiment_by_name(NAME)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(NAME)
    run_id = client.create_run(experiment_id).info.run_id
    for artifact, value in profiles.items():
        client.log_dict(run_id, ValueProfile.of(np.full(10, value)).as_dict(), artifact)
    client.set_terminated(run_id)
    version = client.create_model_version(NAME, f"runs:/{run_id}/model", run_id)
    client.set_model_version_tag(NAME, version.version, "test.mae", mae)
    return str(version.version)


def test_served_inputs_are_held_against_the_test_split_or_an_older_champions_training_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    reset_tracking_state()
    uri = tracking_uri(tmp_path)
    connect(uri)
    client = MlflowClient(uri, uri)
    client.create_registered_model(NAME)
    older = _version(client, {PROFILE_ARTIFACT: 1.0}, "120.5")
    newer = _version(client, {PROFILE_ARTIFACT: 1.0, SERVED_PROFILE_ARTIFACT: 2.0}, "99.0")
    reports = tmp_path / "reports"

    client.set_registered_model_alias(NAME, CHAMPION, newer)
    expected = champion_expectation(tmp_path, NAME, reports)
    assert (expected.version, expected.test_mae, expected.profile_of) == (newer, 99.0, "test split")
    assert expected.profile is not None and expected.profile.quantiles[50] == 2.0

    client.set_registered_model_alias(NAME, CHAMPION, older)  # logged before test profiles
    expected = champion_expectation(tmp_path, NAME, reports)
    assert (expected.version, expected.profile_of) == (older, "training split")
    assert expected.profile is not None and expected.profile.quantiles[50] == 1.0
