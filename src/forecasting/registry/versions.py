"""The MLflow model registry: versions, the ``champion``/``challenger`` aliases, and their files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from forecasting.core.artifacts import WEIGHTS_FILE

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"


def _client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient()


def version_by_alias(name: str, alias: str) -> Any | None:
    """The model version holding ``alias``, or None when the model or alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return _client().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def register_version(model_uri: str, name: str, tags: dict[str, str]) -> str:
    """Register ``model_uri`` as a new version of ``name``; returns the version number."""
    import mlflow

    version = mlflow.register_model(model_uri, name, tags=tags)
    return str(version.version)


def set_alias(name: str, alias: str, version: str) -> None:
    """Point ``alias`` at ``version`` and read it back.

    Raises:
        RuntimeError: if the alias does not hold the version afterwards (a concurrent writer).

    """
    client = _client()
    client.set_registered_model_alias(name, alias, version)
    holder = version_by_alias(name, alias)
    if holder is None or str(holder.version) != str(version):
        raise RuntimeError(f"alias {alias!r} of {name!r} did not move to version {version}")


def tag_version(name: str, version: str, tags: dict[str, str]) -> None:
    """Set tags on a model version."""
    client = _client()
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


def download_model_files(name: str, version: str, destination: Path) -> Path:
    """Download a version's artifacts; returns the folder holding its weights and config.

    Raises:
        FileNotFoundError: if the version's artifacts hold no forecaster weights.

    """
    import mlflow

    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}", dst_path=str(destination)
        )
    )
    found = sorted(local.rglob(WEIGHTS_FILE))
    if not found:
        raise FileNotFoundError(f"model {name} version {version} holds no {WEIGHTS_FILE}")
    return found[0].parent
