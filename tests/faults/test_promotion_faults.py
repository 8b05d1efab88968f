"""kill -9 at each instant of a champion move, then the state checked and the next command shown
to repair it: champion, history, version tags and the lock agree again."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from forecasting.registry import champion
from forecasting.registry.versions import CHAMPION, version_by_alias
from pipelines.ops import history as history_command
from pipelines.ops import rollback as rollback_command
from tests.conftest import REPO_ROOT
from tests.faults.conftest import NAME, run_python

pytestmark = pytest.mark.slow

PARAMS = ["--params", str(REPO_ROOT / "params.yaml")]


def _promote_code(uri: str, version: str, expected: str) -> str:
    return (
        f"import mlflow; mlflow.set_tracking_uri({uri!r}); mlflow.set_registry_uri({uri!r})\n"
        "from forecasting.registry import champion\n"
        f"champion.promote({NAME!r}, {version!r}, {expected!r}, 'better')\n"
    )


def _rollback_code(uri: str) -> str:
    return (
        f"import mlflow; mlflow.set_tracking_uri({uri!r}); mlflow.set_registry_uri({uri!r})\n"
        f"from forecasting.registry import champion; champion.rollback({NAME!r})\n"
    )


def _champion() -> str | None:
    holder = version_by_alias(NAME, CHAMPION)
    return None if holder is None else str(holder.version)


def _moves() -> list[tuple[str, str | None, str | None]]:
    return [(e.action, e.from_version, e.to_version) for e in champion.history(NAME)]


def _lock_held() -> bool:
    import mlflow

    found = mlflow.MlflowClient().search_registered_models(f"name='{NAME}{champion.LOCK_SUFFIX}'")
    return bool(found)


def _pending() -> bool:
    import mlflow

    return champion.PENDING_TAG in mlflow.MlflowClient().get_registered_model(NAME).tags


def _killed(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]


def test_kill_after_the_alias_moved_is_undone_by_history_and_promoted_again(registry, capsys):
    _killed(run_python(_promote_code(registry, "2", "1"), fault="after_alias_move"))
    # The half-done state the issue describes: alias moved, lock left, no record yet.
    assert _champion() == "2" and _lock_held() and _pending()
    assert _moves() == [("promote", None, "1")]

    assert history_command.main(PARAMS) == 0  # `make history` repairs, then prints the truth
    assert "repair" in capsys.readouterr().out
    assert _champion() == "1" and not _lock_held() and not _pending()
    assert _moves() == [("promote", None, "1"), ("repair", "2", "1")]
    import mlflow

    tags = mlflow.MlflowClient().get_model_version(NAME, "2").tags
    assert "champion.promoted_at" not in tags
    assert "champion.replaced_by" not in mlflow.MlflowClient().get_model_version(NAME, "1").tags

    champion.promote(NAME, "2", expected_champion="1", reason="evaluated again")
    assert _champion() == "2"
    assert _moves()[-1] == ("promote", "1", "2")


def test_kill_after_the_alias_moved_then_rollback_leaves_the_old_champion(registry):
    _killed(run_python(_promote_code(registry, "2", "1"), fault="after_alias_move"))
    assert rollback_command.main(PARAMS) == 0  # no manual lock delete, no "no earlier champion"
    assert _champion() == "1" and not _lock_held() and not _pending()
    assert _moves()[-1] == ("repair", "2", "1")


def test_kill_before_the_alias_moved_drops_the_intent(registry):
    _killed(run_python(_promote_code(registry, "2", "1"), fault="after_promotion_intent"))
    assert _champion() == "1" and _pending()
    assert champion.repair(NAME) == []
    assert _champion() == "1" and not _pending() and not _lock_held()
    assert _moves() == [("promote", None, "1")]


def test_kill_after_the_record_is_completed(registry):
    _killed(run_python(_promote_code(registry, "2", "1"), fault="after_promotion_record"))
    assert _champion() == "2" and _pending()
    (done,) = champion.repair(NAME)
    assert (done.action, done.from_version, done.to_version) == ("promote", "1", "2")
    assert _moves() == [("promote", None, "1"), ("promote", "1", "2")]
    assert not _pending() and not _lock_held()
    assert champion.rollback(NAME).to_version == "1"


def test_a_killed_rollback_is_completed_by_the_next_command(registry):
    champion.promote(NAME, "2", expected_champion="1", reason="better")
    _killed(run_python(_rollback_code(registry), fault="after_alias_move"))
    assert _champion() == "1" and _pending()
    assert history_command.main(PARAMS) == 0
    assert _moves()[-1] == ("rollback", "2", "1") and not _pending()
    import mlflow

    assert mlflow.MlflowClient().get_model_version(NAME, "2").tags["champion.rolled_back_at"]


def test_an_unrecorded_alias_move_is_adopted_so_rollback_works(registry):
    import mlflow

    # What a kill between alias and record left before crash-safe promotion (or a hand move).
    mlflow.MlflowClient().set_registered_model_alias(NAME, CHAMPION, "2")
    assert champion.needs_repair(NAME)
    assert rollback_command.main(PARAMS) == 0
    assert _champion() == "1"
    assert [m[0] for m in _moves()] == ["promote", "promote", "rollback"]


def test_a_lock_whose_holder_died_is_broken_at_once(registry, caplog):
    import mlflow

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mlflow.MlflowClient().create_registered_model(
        NAME + champion.LOCK_SUFFIX, tags=champion._lock_tags() | {"lock.pid": str(dead.pid)}
    )
    # A fresh lock (not stale by age): only the dead holder lets this succeed within 0.5 s.
    with champion.promotion_lock(NAME, timeout_s=0.5):
        pass
    assert "is gone" in caplog.text


def test_a_lock_held_by_a_live_process_is_waited_for(registry):
    import mlflow

    mlflow.MlflowClient().create_registered_model(
        NAME + champion.LOCK_SUFFIX,
        tags=champion._lock_tags(),  # this (live) process
    )
    with (
        pytest.raises(champion.LockTimeout, match="a live process"),
        champion.promotion_lock(NAME, timeout_s=0.3),
    ):
        pass
