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
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
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
