"""A dead tracking store: one line naming MLFLOW_TRACKING_URI within seconds, a drift gate that
stays closed, and runs left RUNNING by a kill closed by the next stage."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from forecasting.registry.tracking import use_tracking
from forecasting.serving.bento import free_port
from pipelines import ingest, validate
from pipelines.ops import history as history_command
from tests.conftest import REPO_ROOT, synthetic_series, tiny_params, write_params
from tests.faults.conftest import run_python

pytestmark = pytest.mark.slow


@pytest.fixture
def dead_uri(monkeypatch: pytest.MonkeyPatch) -> str:
    """A tracking URI on a loopback port nothing listens on."""
    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    return uri


def test_an_unreachable_store_is_one_line_naming_the_uri(dead_uri, caplog):
    assert history_command.main(["--params", str(REPO_ROOT / "params.yaml")]) == 1
    (line,) = [
        r.getMessage() for r in caplog.records if r.name == "pipelines" and r.levelname == "ERROR"
    ]
    assert f"MLFLOW_TRACKING_URI={dead_uri}" in line and "unreachable" in line
    assert "Traceback" not in caplog.text


def test_validate_fails_closed_when_the_registry_cannot_be_read(workspace, monkeypatch, caplog):
    synthetic_series(days=21).to_csv("demand.csv", index=False)
    write_params(workspace, tiny_params("demand.csv"))
    assert ingest.main([]) == 0
    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")

    assert validate.main([]) == 1  # never "no champion yet" and exit 0
    assert uri in caplog.text
    drift = Path("reports/validate/drift.json")
    assert not drift.is_file() or json.loads(drift.read_text()).get("checked") is not False
    assert not Path("data/validated/train.parquet").exists()

    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # the store is back (here: the local one)
    assert validate.main([]) == 0
    assert json.loads(drift.read_text())["reason"] == "no champion yet"  # truly none here


def test_a_run_left_running_by_a_kill_is_closed_by_the_next_stage(tmp_path, monkeypatch):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    code = (
        "import os, signal, mlflow\n"
        "from forecasting.registry.tracking import process_tags\n"
        f"mlflow.set_tracking_uri({uri!r})\n"
        "mlflow.set_experiment('demand-forecasting')\n"
        "run = mlflow.start_run(); mlflow.set_tags(process_tags())\n"
        "print(run.info.run_id, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = run_python(code)
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    run_id = result.stdout.split()[-1]
    assert mlflow.MlflowClient(uri).get_run(run_id).info.status == "RUNNING"

    use_tracking(tmp_path, "demand-forecasting")
    assert mlflow.MlflowClient(uri).get_run(run_id).info.status == "KILLED"
