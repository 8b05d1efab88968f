"""Two pipelines promote at the same moment against one registry: exactly one wins, nothing is lost."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from forecasting.registry import champion
from forecasting.registry.versions import CHAMPION, version_by_alias

NAME = "demand-forecaster"


def _promote_at(uri: str, version: str, start_at: float, results) -> None:
    import mlflow

    mlflow.set_tracking_uri(uri)
    time.sleep(max(0.0, start_at - time.time()))
    try:
        champion.promote(NAME, version, expected_champion="1", reason=f"race test v{version}")
        results.put((version, "promoted"))
    except champion.ChampionChanged as err:
        results.put((version, f"refused: {err}"))


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A real SQLite MLflow registry with versions 1-3 of the model; v1 is the champion."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)  # an earlier test's stage may have pointed it elsewhere
    client = mlflow.MlflowClient()
    client.create_registered_model(NAME)
    for number in (1, 2, 3):
        source = tmp_path / f"model-{number}"
        source.mkdir()
        client.create_model_version(NAME, str(source))
    champion.promote(NAME, "1", expected_champion=None, reason="first champion")
    return uri


def test_racing_promotions_leave_exactly_one_consistent_winner(registry):
    import mlflow

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start_at = time.time() + 3.0  # both processes are imported and waiting by then
    racers = [
        context.Process(target=_promote_at, args=(registry, v, start_at, results))
        for v in ("2", "3")
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=120)
        assert racer.exitcode == 0
    outcomes = dict(results.get(timeout=5) for _ in racers)

    winners = [v for v, outcome in outcomes.items() if outcome == "promoted"]
    assert len(winners) == 1, outcomes
    (loser,) = set(outcomes) - set(winners)
    assert "moved from v1 to v" + winners[0] in outcomes[loser]
    assert str(version_by_alias(NAME, CHAMPION).version) == winners[0]

    moves = champion.history(NAME)
    assert [(e.action, e.from_version, e.to_version) for e in moves] == [
        ("promote", None, "1"),
        ("promote", "1", winners[0]),
    ]
    client = mlflow.MlflowClient()
    assert {str(v.version) for v in client.search_model_versions(f"name='{NAME}'")} == {
        "1",
        "2",
        "3",
    }
    assert client.search_registered_models(f"name='{NAME}{champion.LOCK_SUFFIX}'") == []
    assert client.get_model_version(NAME, "1").tags["champion.replaced_by"] == winners[0]


def test_rollback_restores_the_previous_champion_and_records_it(registry):
    champion.promote(NAME, "2", expected_champion="1", reason="better")
    champion.promote(NAME, "3", expected_champion="2", reason="better still")

    event = champion.rollback(NAME)
    assert (event.from_version, event.to_version) == ("3", "2")
    assert str(version_by_alias(NAME, CHAMPION).version) == "2"
    assert champion.rollback(NAME).to_version == "1"  # a second rollback goes further back
    with pytest.raises(ValueError, match="replaced no earlier champion"):
        champion.rollback(NAME)
    assert [e.action for e in champion.history(NAME)] == [
        "promote",
        "promote",
        "promote",
        "rollback",
        "rollback",
    ]


def test_a_stale_lock_left_by_a_killed_pipeline_is_broken(registry):
    import mlflow

    mlflow.MlflowClient().create_registered_model(
        NAME + champion.LOCK_SUFFIX, tags={"lock.owner": "killed", "lock.acquired_at": "0"}
    )
    champion.promote(NAME, "2", expected_champion="1", reason="after a crash")
    assert str(version_by_alias(NAME, CHAMPION).version) == "2"


def test_a_held_lock_times_out_with_a_message(registry):
    import mlflow

    mlflow.MlflowClient().create_registered_model(
        NAME + champion.LOCK_SUFFIX,
        tags={"lock.owner": "another pipeline", "lock.acquired_at": str(time.time())},
    )
    with (
        pytest.raises(champion.LockTimeout, match="held by another pipeline"),
        champion.promotion_lock(NAME, timeout_s=0.5),
    ):
        pass
