"""Shared fixtures: tiny synthetic series and isolated workspaces (own MLflow store, own Bento home)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
COPIED = [
    "params.yaml",
    "dvc.yaml",
    "pipelines",
    "src",
    "pyproject.toml",
    ".dvc",
    ".dvcignore",
    ".gitignore",
]


def copy_pipeline_files(destination: Path) -> None:
    """Copy what a pipeline run needs (no data, models, reports or stores) into ``destination``."""
    ignore = shutil.ignore_patterns("__pycache__", "cache", "tmp", "config.local")
    for name in COPIED:
        source, target = REPO_ROOT / name, destination / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        elif source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def synthetic_series(days: int = 21, freq: str = "30min", seed: int = 0) -> pd.DataFrame:
    """A demand-like series: a daily cycle, a weekday/weekend level, noise; canonical columns."""
    steps = pd.date_range("2024-01-01", periods=days * 48, freq=freq)
    hour = steps.hour + steps.minute / 60
    rng = np.random.default_rng(seed)
    weekday = np.where(steps.dayofweek < 5, 1.0, 0.85)
    value = weekday * (30_000 + 8_000 * np.sin(2 * np.pi * (hour - 6) / 24)) + rng.normal(
        0, 300, len(steps)
    )
    return pd.DataFrame({"timestamp": steps, "value": value})


def fit_config(**overrides: Any) -> Any:
    """A TrainingConfig for seconds-long unit runs (the library's configs carry no defaults)."""
    from forecasting.training.config import TrainingConfig

    values: dict[str, Any] = {
        "epochs": 3,
        "batch_size": 32,
        "learning_rate": 3e-3,
        "weight_decay": 1e-4,
        "patience": 6,
        "restore_best": True,
        "grad_clip_norm": 1.0,
        "loss": "mse",
        "level_shifts": 0.0,
        "seed": 42,
        "precision": "fp32",
        "windows_per_epoch": None,
        "val_windows": None,
    }
    return TrainingConfig(**{**values, **overrides})


def cpu_run(checkpoint_dir: Path | None = None, resume: bool = True) -> Any:
    """RunSettings on the CPU, with checkpoints in ``checkpoint_dir`` (None: none)."""
    from forecasting.training.config import RunSettings

    return RunSettings(device="cpu", checkpoint_dir=checkpoint_dir, resume=resume)


def tiny_params(source: str) -> dict:
    """params.yaml for seconds-long runs: two-day windows, a few epochs, a tiny network."""
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["ingest"]["source"] = source
    params["train"].update(
        input_length=96,
        horizon=24,
        hidden_size=8,
        patch_length=24,
        seasonal_lag=48,
        weekly_trend=False,  # it needs a day + a week of input; two-day windows have less
        epochs=15,
        patience=5,
        batch_size=32,
    )
    params["evaluate"]["origin_step"] = 24
    # MSTL fits cost seconds, and on a series that repeats exactly every week they fit down to the
    # noise floor, so no 8-unit network could pass the gate; the default-data e2e test keeps them.
    params["evaluate"]["classical_weeks"] = 0
    return params


@pytest.fixture(scope="session", autouse=True)
def bentoml_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One BentoML store for the session: BentoML reads BENTOML_HOME once, at import."""
    home = tmp_path_factory.mktemp("bentoml")
    os.environ["BENTOML_HOME"] = str(home)
    os.environ["BENTOML_DO_NOT_TRACK"] = "true"
    return home


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the repository's pipeline files in a temp dir, as the working directory,
    with its own SQLite MLflow store."""
    copy_pipeline_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield tmp_path


def write_params(directory: Path, params: dict) -> Path:
    path = directory / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def reset_tracking_state() -> None:
    """MLflow caches the active experiment/URI per process; each workspace starts clean."""
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    os.environ.pop("MLFLOW_EXPERIMENT_NAME", None)


@contextlib.contextmanager
def tiny_pipeline_run(root: Path, stages: Sequence[Any]) -> Iterator[Path]:
    """The pipeline copied into ``root`` and run there, stage by stage, on tiny params and a
    three-week synthetic series; the working directory is ``root`` until the block ends."""
    copy_pipeline_files(root)
    previous = Path.cwd()
    os.chdir(root)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        reset_tracking_state()
        synthetic_series(days=21).to_csv("demand.csv", index=False)
        write_params(root, tiny_params("demand.csv"))
        for stage in stages:
            assert stage.main([]) == 0, stage.__name__
        yield root
    finally:
        os.chdir(previous)


def tiny_model_config(**overrides: Any) -> Any:
    """A seconds-to-train network on two-day windows of a half-hourly series.

    Too short a window for the weekly trend; a plain fixed-lag base unless ``overrides`` say so.
    """
    from forecasting.model.network import ModelConfig

    settings = dict(
        input_length=96,
        horizon=24,
        hidden_size=8,
        patch_length=24,
        seasonal_lag=48,
        lag_mixture=False,
        lead_weights=False,
        error_correction=0,
        weekly_trend=False,
    )
    return ModelConfig(**(settings | overrides))


def two_week_windows(config: Any) -> tuple[Any, Any]:
    """Training and validation windows of ``config``'s shape over a 14-day synthetic series."""
    from forecasting.data.sources import ColumnMapping, canonical
    from forecasting.data.splits import split_chronologically
    from forecasting.model.datasets import training_windows, validation_windows

    splits = split_chronologically(
        canonical(synthetic_series(days=14), ColumnMapping(), "t"), 0.15, 0.15
    )
    return (
        training_windows(splits, "30min", config.input_length, config.horizon),
        validation_windows(splits, "30min", config.input_length, config.horizon),
    )
