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


@pytest.fixture
def tracking_server(postgres_database: str, tmp_path: Path) -> Iterator[str]:
    """`mlflow server` on the database, proxying artifacts, on a free loopback port."""
    port = free_port()
    log = tmp_path / "mlflow-server.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [
                str(BIN / "mlflow"),
                "server",
                "--backend-store-uri",
                postgres_database,
                "--artifacts-destination",
                str(tmp_path / "server-artifacts"),
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
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{url}/health", server, 120, "mlflow server", log)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, 15)
        server.wait(timeout=30)


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
