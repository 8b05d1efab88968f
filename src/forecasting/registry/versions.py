"""The MLflow model registry: versions, the ``champion``/``challenger`` aliases, and their files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from forecasting.core.artifacts import WEIGHTS_FILE
from forecasting.core.errors import ForecastingError

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"


class RegistryUnavailable(ForecastingError):
    """The registry could not be read: never to be taken for "no such model" or "no champion"."""

    @classmethod
    def from_error(cls, err: Exception) -> RegistryUnavailable:
        """The error for a failed registry call ``err``, naming the store and what to do."""
        import mlflow

        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return cls(
            f"the model registry at MLFLOW_TRACKING_URI={mlflow.get_tracking_uri()} could not be "
            f"read ({first[:300]}): start the tracking server or fix MLFLOW_TRACKING_URI, then "
            "re-run"
        )


def _client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient()


def _is_missing(err: Any) -> bool:
    """Whether an MlflowException says "not found" (model or alias), not "cannot reach"."""
    code = getattr(err, "error_code", "")
    return code == "RESOURCE_DOES_NOT_EXIST" or (
        code == "INVALID_PARAMETER_VALUE" and "not found" in str(err)
    )


def version_by_alias(name: str, alias: str) -> Any | None:
    """The model version holding ``alias``, or None when the model or alias does not exist.

    Raises:
        RegistryUnavailable: if the registry cannot be read; a drift check or a promotion must
            then stop, not carry on as if there were no champion.

    """
    from mlflow.exceptions import MlflowException

    try:
        return _client().get_model_version_by_alias(name, alias)
    except MlflowException as err:
        if _is_missing(err):
            return None
        raise RegistryUnavailable.from_error(err) from err


def version_of_run(name: str, run_id: str, weights_sha256: str | None = None) -> str | None:
    """The lowest existing version of ``name`` from ``run_id`` (with those weights, if given).

    None when the run was never registered.
    """
    found = [
        version
        for version in _client().search_model_versions(f"name='{name}' and run_id='{run_id}'")
        if weights_sha256 is None or version.tags.get("weights.sha256") == weights_sha256
    ]
    return min((str(v.version) for v in found), key=int, default=None)


def register_version(model_uri: str, name: str, tags: dict[str, str]) -> str:
    """Register ``model_uri`` as a version of ``name``; returns the version number.

    A run registered before (an evaluate killed after registering, then re-run) gets its
    existing version back, with ``tags`` set again, instead of a duplicate without an alias.
    """
    import mlflow

    run_id = tags.get("run_id")
    if run_id:
        existing = version_of_run(name, run_id, tags.get("weights.sha256"))
        if existing is not None:
            logger.info(
                "run %s is already registered as %s v%s: reusing it", run_id, name, existing
            )
            tag_version(name, existing, tags)
            return existing
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


def serving_metadata(name: str, holder: Any) -> dict[str, str]:
    """What the Bento's model carries about registered version ``holder`` (``GET /metadata``).

    The version, its weights and data hashes, and from its run the git commit and the span of
    training data.
    """
    import mlflow

    tags = mlflow.get_run(holder.run_id).data.tags if holder.run_id else {}
    return {
        "model_name": name,
        "model_version": str(holder.version),
        "weights_sha256": holder.tags.get("weights.sha256", ""),
        "run_id": holder.run_id or "",
        "data_sha256": holder.tags.get("data.sha256", ""),
        "git_commit": tags.get("git.commit", ""),
        "training_data_start": tags.get("data.train.start", ""),
        "training_data_end": tags.get("data.train.end", ""),
    }


def tag_run(run_id: str | None, tags: dict[str, str]) -> None:
    """Set tags on a run (a version registered without one is left as it is)."""
    if run_id:
        client = _client()
        for key, value in tags.items():
            client.set_tag(run_id, key, value)
