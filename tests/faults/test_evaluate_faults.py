"""evaluate killed while promoting: the plain rerun repairs the move, reuses its version (no
duplicate) and writes the decision; champion, history and versions agree."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from forecasting.core.faults import FAULT_ENV
from forecasting.registry import champion
from forecasting.registry.versions import CHAMPION, version_by_alias
from pipelines import evaluate, ingest, train, validate
from tests.conftest import reset_tracking_state, tiny_pipeline_run
from tests.faults.conftest import NAME, child_env

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("instant", ["after_alias_move", "after_promotion_record"])
def test_evaluate_killed_while_promoting_recovers_on_rerun(tmp_path: Path, instant: str) -> None:
    import mlflow

    with tiny_pipeline_run(tmp_path, (ingest, validate, train)):
        killed = subprocess.run(
            [sys.executable, "-m", "pipelines.evaluate"],
            env=child_env(**{FAULT_ENV: instant}),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
        assert not Path("reports/evaluate/promotion.json").exists()

        reset_tracking_state()
        assert evaluate.main([]) == 0  # what `dvc repro` runs next: evaluate has no outputs
        client = mlflow.MlflowClient()
        versions = client.search_model_versions(f"name='{NAME}'")
        assert [str(v.version) for v in versions] == ["1"]  # reused, not duplicated
        assert str(version_by_alias(NAME, CHAMPION).version) == "1"
        decision = json.loads(Path("reports/evaluate/promotion.json").read_text())
        assert decision["promoted"] and decision["champion_after"] == "1"
        events = champion.history(NAME)
        assert events[-1].action == "promote" and events[-1].to_version == "1"
        assert not champion.needs_repair(NAME)
        run = client.get_run(decision and versions[0].run_id)
        assert run.info.status == "FINISHED"
