"""Where MLflow runs and models live: ``MLFLOW_TRACKING_URI`` if set, else a local SQLite store.

A stage checks the store once at its start (``check_store``), with MLflow's own request
timeout and retry bound (``MLFLOW_HTTP_REQUEST_TIMEOUT`` / ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``,
set from ``params.yaml``'s ``tracking`` section unless the environment already sets them), so an
unreachable server is one line after seconds, not a traceback after minutes of retries.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path

from forecasting.core.errors import ForecastingError
from forecasting.core.processes import process_gone, process_start
from forecasting.registry.relocation import relocate_copied_store

logger = logging.getLogger(__name__)

LOCAL_STORE = "mlflow.db"
LOCAL_ARTIFACTS = "mlartifacts"
TIMEOUT_ENV = "MLFLOW_HTTP_REQUEST_TIMEOUT"
RETRIES_ENV = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"


class TrackingUnavailable(ForecastingError):
    """The tracking store cannot be reached; the message names ``MLFLOW_TRACKING_URI``."""


def tracking_uri(repo_root: Path) -> str:
    """The tracking URI: the environment's, or ``sqlite:///<repo>/mlflow.db``.

    MLflow 3 refuses a plain file store unless opted in, so the local default is SQLite.
    """
    return (
        os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(repo_root / LOCAL_STORE).resolve()}"
    )


def bound_requests(timeout_s: float, max_retries: int) -> None:
    """Bound every MLflow HTTP call: ``timeout_s`` each, ``max_retries`` retries.

    The environment wins where it already sets them (an operator's deliberate choice).
    """
    os.environ.setdefault(TIMEOUT_ENV, str(int(max(1, timeout_s))))
    os.environ.setdefault(RETRIES_ENV, str(max_retries))


def _unreachable(uri: str, why: str) -> TrackingUnavailable:
    where = (
        f"MLFLOW_TRACKING_URI={uri}"
        if os.environ.get("MLFLOW_TRACKING_URI")
        else f"the local store {uri} (MLFLOW_TRACKING_URI is unset)"
    )
    return TrackingUnavailable(
        f"the tracking store at {where} is unreachable ({why}): start the tracking server "
        "(`make mlflow-server`), or point MLFLOW_TRACKING_URI at a running one (unset it for "
        "the local mlflow.db), then re-run"
    )


def check_store(uri: str) -> None:
    """Fail fast, with one line, when the tracking store at ``uri`` cannot be used.

    An HTTP server must answer ``/health`` within ``MLFLOW_HTTP_REQUEST_TIMEOUT`` seconds, with
    at most ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` retries; a SQLite store's folder must exist and
    its file (when there) must open.

    Raises:
        TrackingUnavailable: naming the URI and what to do.

    """
    if uri.startswith(("http://", "https://")):
        timeout = float(os.environ.get(TIMEOUT_ENV, "10"))
        attempts = 1 + int(os.environ.get(RETRIES_ENV, "2"))
        why = ""
        for attempt in range(attempts):
            try:
                with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
                    return
            except urllib.error.HTTPError as err:
                if err.code < 500:
                    return  # it answers: /health may be routed differently behind a proxy
                why = f"HTTP {err.code}"
            except (OSError, ValueError) as err:
                why = str(getattr(err, "reason", err))
            if attempt + 1 < attempts:
                time.sleep(min(2.0, 0.5 * (attempt + 1)))
        raise _unreachable(uri, f"{why}; {attempts} attempt(s) of {timeout:.0f}s")
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.parent.is_dir():
            raise _unreachable(uri, f"the folder {path.parent} does not exist")
        if path.is_file():
            try:
                with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
                    db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.Error as err:
                raise _unreachable(uri, f"{path} cannot be read: {err}") from err


def connect(uri: str) -> None:
    """Point MLflow's tracking and registry clients at ``uri``."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


def existing_store(repo_root: Path) -> str | None:
    """The tracking URI if a store is there to read (a server, or the local file); else None.

    For read-only lookups that must not create a local store as a side effect.
    """
    uri = tracking_uri(repo_root)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return None
    own_artifacts(repo_root, uri)
    return uri


def own_artifacts(repo_root: Path, uri: str) -> None:
    """Make a local store copied from another workspace use this one's ``mlartifacts/``.

    Raises:
        TrackingUnavailable: if the copied store cannot be repaired (the message says why).

    """
    database = (repo_root / LOCAL_STORE).resolve()
    if uri != f"sqlite:///{database}":
        return
    try:
        relocate_copied_store(database, repo_root / LOCAL_ARTIFACTS)
    except (OSError, sqlite3.Error) as err:
        raise _unreachable(uri, f"its artifact paths could not be moved here: {err}") from err


EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
TRAINING_EXPERIMENT = "custom_model_development"
PROCESS_TAGS = ("process.host", "process.pid", "process.pid_start")


def process_tags() -> dict[str, str]:
    """Tags naming the process that has a run open, so a later run can tell it was killed."""
    pid = os.getpid()
    return dict(
        zip(PROCESS_TAGS, (socket.gethostname(), str(pid), process_start(pid)), strict=True)
    )


def close_abandoned_runs(experiment_id: str) -> list[str]:
    """Mark KILLED the runs left RUNNING by a process of this host that is gone; returns their ids.

    A run whose process is alive, on another host, or unrecorded is left as it is.
    """
    import mlflow

    client = mlflow.MlflowClient()
    closed = []
    for run in client.search_runs(
        [experiment_id], "attributes.status = 'RUNNING'", max_results=100
    ):
        host, pid, started = (run.data.tags.get(tag, "") for tag in PROCESS_TAGS)
        if host == socket.gethostname() and pid.isdigit() and process_gone(int(pid), started):
            client.set_terminated(run.info.run_id, status="KILLED")
            closed.append(run.info.run_id)
            logger.warning(
                "run %s was left RUNNING by process %s, which is gone: marked KILLED",
                run.info.run_id,
                pid,
            )
    return closed


def use_tracking(repo_root: Path, experiment: str) -> str:
    """Point MLflow at the store and experiment (created if missing); returns the experiment id.

    The store is checked first (``check_store``), and runs left RUNNING by killed processes are
    marked KILLED. With the local store, artifacts go to ``<repo>/mlartifacts``; with a tracking
    server, the server decides (``--serve-artifacts`` proxies them).

    Raises:
        TrackingUnavailable: if the store cannot be reached or read.

    """
    # A per-file progress bar floods stage logs; the stages log what they download.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    from mlflow.exceptions import MlflowException

    uri = tracking_uri(repo_root)
    check_store(uri)
    own_artifacts(repo_root, uri)
    connect(uri)
    try:
        found = mlflow.get_experiment_by_name(experiment)
        if found is not None:
            experiment_id = str(found.experiment_id)
        else:
            location = None
            if uri.startswith("sqlite:"):
                location = (repo_root / LOCAL_ARTIFACTS).resolve().as_uri()
            experiment_id = str(
                mlflow.create_experiment(
                    experiment,
                    artifact_location=location,
                    # the MLflow UI then opens it on its training runs, not its GenAI views
                    tags={EXPERIMENT_KIND_TAG: TRAINING_EXPERIMENT},
                )
            )
        mlflow.set_experiment(experiment_id=experiment_id)
        close_abandoned_runs(experiment_id)
    except MlflowException as err:
        raise _unreachable(uri, str(err).strip().splitlines()[0][:300]) from err
    return experiment_id
