"""Shared by the fault suite: real registries, and processes killed at a named instant."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from forecasting.core.faults import FAULT_ENV
from tests.conftest import REPO_ROOT

NAME = "demand-forecaster"


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment for a child that imports the project from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT / "src"), str(REPO_ROOT), env.get("PYTHONPATH", "")]
    )
    env.pop(FAULT_ENV, None)
    env.update(extra)
    return env


def run_python(code: str, fault: str | None = None, cwd: Path | None = None, **extra: str):
    """Run ``code`` in a fresh interpreter, killed at ``fault`` if given; returns the result."""
    env = child_env(**({FAULT_ENV: fault} if fault else {}), **extra)
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A real SQLite MLflow registry with versions 1-3 of the model; v1 is the champion."""
    import mlflow

    from forecasting.registry import champion

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient()
    client.create_registered_model(NAME)
    for number in (1, 2, 3):
        source = tmp_path / f"model-{number}"
        source.mkdir()
        client.create_model_version(NAME, str(source))
    champion.promote(NAME, "1", expected_champion=None, reason="first champion")
    return uri


@pytest.fixture(autouse=True)
def _restore_registry_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each case points MLflow's registry at its own store; later tests get theirs back."""
    from mlflow.tracking._model_registry import utils

    monkeypatch.setattr(utils, "_registry_uri", utils._registry_uri)
    if "MLFLOW_REGISTRY_URI" in os.environ:
        monkeypatch.setenv("MLFLOW_REGISTRY_URI", os.environ["MLFLOW_REGISTRY_URI"])
    else:
        monkeypatch.setenv("MLFLOW_REGISTRY_URI", "unset")  # recorded, so teardown unsets it
        monkeypatch.delenv("MLFLOW_REGISTRY_URI")
