"""The pipeline against a real `mlflow server` on PostgreSQL, as a team would share it.

Needs PostgreSQL on 127.0.0.1:5432 (trust auth). Where it is absent the test is skipped with the
reason, unless ``REQUIRE_POSTGRES=1`` (set by ``.ci/run``), where absence is a failure.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from forecasting.serving.bento import free_port, wait_until_ready
from pipelines import evaluate, ingest, train, validate
from tests.conftest import reset_tracking_state, synthetic_series, tiny_params, write_params

pytestmark = pytest.mark.slow
HOST, PORT = "127.0.0.1", 5432
BIN = Path(sys.executable).parent


def _postgres_up() -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, PORT), timeout=1):
        return True
    return False


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh, empty database for one MLflow backend store; dropped afterwards."""
    if not _postgres_up():
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"REQUIRE_POSTGRES=1 but no PostgreSQL answers on {HOST}:{PORT}")
        pytest.skip(f"no PostgreSQL on {HOST}:{PORT}: the tracking-server test needs one")
    import psycopg2

    name = f"mlflow_test_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(host=HOST, port=PORT, user="postgres", dbname="test")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    try:
        # psycopg2 is the pinned driver; plain postgresql:// would make MLflow look for psycopg 3
        yield f"postgresql+psycopg2://postgres@{HOST}:{PORT}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def start_server(backend: str, port: int, folder: Path) -> subprocess.Popen[bytes]:
    """`mlflow server` on ``backend``, proxying artifacts under ``folder``, ready on ``port``."""
    log = folder / f"mlflow-server-{port}.log"
    with log.open("ab") as sink:
        server = subprocess.Popen(
            [
                str(BIN / "mlflow"),
                "server",
                "--backend-store-uri",
                backend,
                "--artifacts-destination",
                str(folder / "server-artifacts"),
                "--serve-artifacts",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_until_ready(f"http://127.0.0.1:{port}/health", server, 120, "mlflow server", log)
    return server


def stop_server(server: subprocess.Popen[bytes], sig: int = 15) -> None:
    """Signal the server's whole process group (its gunicorn/uvicorn workers too)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, sig)
    server.wait(timeout=30)


@pytest.fixture
def tracking_server(postgres_database: str, tmp_path: Path) -> Iterator[str]:
    """`mlflow server` on the database, proxying artifacts, on a free loopback port."""
    port = free_port()
    server = start_server(postgres_database, port, tmp_path)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(server)


def test_the_pipeline_tracks_and_registers_on_a_postgres_backed_server(
    workspace, tracking_server, monkeypatch
):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    reset_tracking_state()
    synthetic_series(days=21).to_csv("demand.csv", index=False)
    write_params(workspace, tiny_params("demand.csv"))
    for stage in (ingest, validate, train, evaluate):
        assert stage.main([]) == 0, stage.__name__

    assert not (workspace / "mlflow.db").exists(), "the local store must not be used"
    client = mlflow.MlflowClient(tracking_uri=tracking_server)
    experiment = client.get_experiment_by_name("demand-forecasting")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert runs[0].data.metrics["best_epoch"] >= 1
    champion = client.get_model_version_by_alias("demand-forecaster", "champion")
    assert str(champion.version) == "1" and champion.run_id == runs[0].info.run_id
    # Artifacts go through the server's proxy: the weights download over HTTP.
    files = mlflow.artifacts.download_artifacts(
        artifact_uri="models:/demand-forecaster@champion", tracking_uri=tracking_server
    )
    assert list(Path(files).rglob("weights.safetensors"))


def _train(workspace: Path, uri: str) -> subprocess.Popen[str]:
    env = dict(os.environ, MLFLOW_TRACKING_URI=uri, OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.train"],
        cwd=workspace,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_server_killed_mid_train_is_one_line_and_the_rerun_recovers(
    workspace, postgres_database, monkeypatch
):
    """kill -9 of the PostgreSQL-backed server while train logs epochs, then a plain rerun."""
    import time

    import mlflow

    reset_tracking_state()
    synthetic_series(days=21).to_csv("demand.csv", index=False)
    params = tiny_params("demand.csv")
    params["train"].update(epochs=300, patience=300)  # long enough to be killed mid-way
    write_params(workspace, params)
    assert ingest.main([]) == 0 and validate.main([]) == 0
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = start_server(postgres_database, port, workspace)
    client = mlflow.MlflowClient(tracking_uri=uri)
    trainer = _train(workspace, uri)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and trainer.poll() is None:
            experiment = client.get_experiment_by_name("demand-forecasting")
            runs = client.search_runs([experiment.experiment_id]) if experiment else []
            if runs and client.get_metric_history(runs[0].info.run_id, "train/loss"):
                break  # epochs are being logged: kill now
            time.sleep(0.5)
        assert trainer.poll() is None, "train ended before the server could be killed"
        stop_server(server, 9)
        started = time.monotonic()
        _, stderr = trainer.communicate(timeout=240)
    finally:
        if trainer.poll() is None:
            trainer.kill()
    waited = time.monotonic() - started
    assert trainer.returncode == 1, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and f"MLFLOW_TRACKING_URI={uri}" in errors[0], stderr[-2000:]
    assert waited < 150, f"train took {waited:.0f} s to give up on a dead server"

    server = start_server(postgres_database, port, workspace)  # the store is back
    try:
        params["train"].update(epochs=3, patience=3)
        write_params(workspace, params)
        rerun = _train(workspace, uri)
        _, stderr = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, stderr[-2000:]
        experiment = client.get_experiment_by_name("demand-forecasting")
        statuses = sorted(r.info.status for r in client.search_runs([experiment.experiment_id]))
        assert "RUNNING" not in statuses and "FINISHED" in statuses, statuses
    finally:
        stop_server(server)
