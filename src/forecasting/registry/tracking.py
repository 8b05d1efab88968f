"""Where MLflow runs and models live: ``MLFLOW_TRACKING_URI`` if set, else a local SQLite store."""

from __future__ import annotations

import os
from pathlib import Path

LOCAL_STORE = "mlflow.db"
LOCAL_ARTIFACTS = "mlartifacts"


def tracking_uri(repo_root: Path) -> str:
    """The tracking URI: the environment's, or ``sqlite:///<repo>/mlflow.db``.

    MLflow 3 refuses a plain file store unless opted in, so the local default is SQLite.
    """
    return (
        os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(repo_root / LOCAL_STORE).resolve()}"
    )


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
    return uri


EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
TRAINING_EXPERIMENT = "custom_model_development"


def use_tracking(repo_root: Path, experiment: str) -> str:
    """Point MLflow at the store and experiment (created if missing); returns the experiment id.

    With the local store, artifacts go to ``<repo>/mlartifacts``; with a tracking server, the
    server decides (``--serve-artifacts`` proxies them).
    """
    # A per-file progress bar floods stage logs; the stages log what they download.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    uri = tracking_uri(repo_root)
    connect(uri)
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
    return experiment_id
