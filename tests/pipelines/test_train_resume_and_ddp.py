"""The train stage as users run it: killed and resumed, and under torchrun with 2 CPU processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines import ingest, validate
from tests.conftest import reset_tracking_state, synthetic_series, tiny_params, write_params

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
EPOCHS = 40
CHECKPOINT = "models/checkpoints/checkpoint.pt"


def _prepare(workspace: Path) -> None:
    reset_tracking_state()
    synthetic_series(days=21).to_csv("demand.csv", index=False)
    params = tiny_params("demand.csv")
    # Every epoch runs (no early stop), so the run is long enough to be killed part-way.
    params["train"].update(epochs=EPOCHS, patience=EPOCHS)
    write_params(workspace, params)
    assert ingest.main([]) == 0
    assert validate.main([]) == 0


def _env(workspace: Path) -> dict[str, str]:
    # The workspace's own library first: the installed package may be another checkout's.
    path = os.pathsep.join([str(workspace / "src"), str(workspace)])
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}


def _train(workspace: Path, *prefix: str) -> subprocess.CompletedProcess[str]:
    command = (
        [*prefix, "-m", "pipelines.train"] if prefix else [sys.executable, "-m", "pipelines.train"]
    )
    env = _env(workspace)
    return subprocess.run(
        command, cwd=workspace, env=env, capture_output=True, text=True, timeout=600
    )


def _interrupt_after_first_checkpoint(workspace: Path, signal_number: int) -> tuple[int, str]:
    """Start the train stage, send ``signal_number`` once its first checkpoint exists.

    Returns:
        The exit status and the stage's stderr.

    """
    checkpoint = workspace / CHECKPOINT
    run = subprocess.Popen(
        [sys.executable, "-m", "pipelines.train"],
        cwd=workspace,
        env=_env(workspace),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    run.send_signal(signal_number)
    _, stderr = run.communicate(timeout=120)
    return run.returncode, stderr


def _run_record(workspace: Path) -> dict:
    return json.loads((workspace / "reports/train/run.json").read_text())


def test_a_run_killed_with_sigkill_resumes_to_the_same_weights(workspace):
    _prepare(workspace)
    checkpoint = workspace / CHECKPOINT

    uninterrupted = _train(workspace)
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    expected = _run_record(workspace)["weights_sha256"]
    assert not checkpoint.exists(), "a finished run leaves no checkpoint behind"

    status, _ = _interrupt_after_first_checkpoint(workspace, signal.SIGKILL)
    assert status == -signal.SIGKILL, "the run finished before it could be killed"
    assert checkpoint.exists()

    resumed = _train(workspace)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from the checkpoint after epoch" in resumed.stderr
    epoch = int(resumed.stderr.split("resuming from the checkpoint after epoch ")[1].split()[0])
    assert 1 <= epoch < EPOCHS
    assert "continuing MLflow run" in resumed.stderr
    assert _run_record(workspace)["weights_sha256"] == expected


def test_sigterm_stops_after_the_epoch_with_a_message_and_a_checkpoint(workspace):
    _prepare(workspace)
    checkpoint = workspace / CHECKPOINT
    status, stderr = _interrupt_after_first_checkpoint(workspace, signal.SIGTERM)
    assert status == 1, stderr[-3000:]
    assert "run again to resume" in stderr and "Traceback" not in stderr
    assert checkpoint.exists()


def test_torchrun_with_two_cpu_processes_trains_one_model_and_one_run(workspace):
    import mlflow

    _prepare(workspace)
    result = _train(workspace, str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 processes" in result.stderr
    assert (workspace / "models/train/weights.safetensors").is_file()

    mlflow.set_tracking_uri(f"sqlite:///{workspace / 'mlflow.db'}")
    experiment = mlflow.get_experiment_by_name("demand-forecasting")
    runs = mlflow.search_runs([experiment.experiment_id], output_format="list")
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.tags["world_size"] == "2"
    assert run.info.run_id == _run_record(workspace)["run_id"]
    assert run.data.metrics["best_epoch"] >= 1
