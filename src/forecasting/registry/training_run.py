"""The MLflow record of one training run: tags, params, data, per-epoch metrics, the model.

:func:`open_training_run` opens (or, after a resume, continues) the run and logs what is known
before training: provenance tags, the params, the three splits as datasets, the training data's
value profile and validate's reports. The :class:`TrainingRun` it yields then takes the
per-epoch metrics, the closing metrics and tags, plots, and the ``python_function`` model with
its signature and input example. Nothing here imports the training code: metrics come in as
plain mappings.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

import forecasting
from forecasting.core.pins import exact_pins
from forecasting.data.drift import (
    PROFILE_ARTIFACT,
    SERVED_PROFILE_ARTIFACT,
    ValueProfile,
    served_profile,
)
from forecasting.data.requests import latest_request
from forecasting.data.splits import SPLITS, Splits
from forecasting.registry.provenance import (
    data_fingerprint,
    dvc_lock_hashes,
    environment,
    git_commit,
)
from forecasting.registry.tracking import process_tags, use_tracking

logger = logging.getLogger(__name__)

# What the logged MLflow model needs to load and predict; explicit, so MLflow does not spend
# seconds inferring requirements in a subprocess.
MODEL_REQUIREMENTS = exact_pins(["torch", "safetensors", "numpy", "pandas", "pydantic", "mlflow"])
# validate's reports kept with the run they led to (those that exist)
VALIDATION_REPORTS = ("summary.json", "result.json", "series.png", "drift.png", "drift.json")
MODEL_LOADER = "forecasting.pyfunc_model"  # the import path registered versions name
_DATASET_CONTEXTS = (("train", "training"), ("val", "validation"), ("test", "evaluation"))


@dataclass(frozen=True)
class RunInputs:
    """What a training run is logged with, beside its metrics and its model."""

    repo_root: Path  # holds the local store, dvc.lock and the git checkout
    experiment: str
    params: Mapping[str, Any]  # the run's MLflow params
    params_sha256: str
    freq: str
    input_length: int  # steps in a model input window: the level monitor expects is the last one's
    splits: Splits
    validated: Path  # the folder the splits were read from
    raw: Path  # the raw snapshot folder, for its dvc.lock hash
    validation_reports: Path  # validate's report folder
    world_size: int


class TrainingRun:
    """An open MLflow training run (see :func:`open_training_run`)."""

    def __init__(self, run_id: str, experiment_id: str, data_sha256: str, commit: str) -> None:
        self.run_id, self.experiment_id = run_id, experiment_id
        self.data_sha256, self.git_commit = data_sha256, commit

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """One epoch's metrics, in one call (a call costs ~5 ms on SQLite, ~55 ms on a server)."""
        import mlflow

        mlflow.log_metrics(dict(metrics), step=epoch)

    def log_outcome(
        self, metrics: Mapping[str, float], tags: Mapping[str, str], plots: Sequence[Path] = ()
    ) -> None:
        """The closing metrics and tags, and plots under ``plots/``."""
        import mlflow

        mlflow.log_metrics(dict(metrics))
        mlflow.set_tags(dict(tags))
        for plot in plots:
            mlflow.log_artifact(str(plot), artifact_path="plots")

    def log_model(
        self, model_dir: Path, example: pd.DataFrame, levels: Sequence[float] = ()
    ) -> str:
        """Log the saved model in ``model_dir`` as a ``python_function`` model; returns its URI.

        The signature is inferred from ``example`` and the loaded model's own forecast of it,
        with ``levels`` as the default interval levels (when the model has intervals).
        """
        import mlflow
        from mlflow.models import infer_signature

        from forecasting.pyfunc_model import _load_pyfunc  # the loader MLflow will call

        loaded = _load_pyfunc(str(model_dir))
        # params in the signature, or MLflow drops them: the horizon and the interval levels
        params: dict[str, Any] = {"horizon": loaded.model.config.horizon}
        if loaded.calibration is not None and levels:
            params["levels"] = [float(level) for level in levels]
        output = loaded.predict(example, params)
        info = mlflow.pyfunc.log_model(
            name="model",
            loader_module=MODEL_LOADER,
            data_path=str(model_dir),
            code_paths=[str(Path(forecasting.__file__).parent)],
            signature=infer_signature(example, output, params=params),
            input_example=example,
            pip_requirements=MODEL_REQUIREMENTS,
        )
        return str(info.model_uri)

    def hand_off(self, model_uri: str, weights_sha256: str, device: str) -> dict[str, str]:
        """The train stage's record for evaluate: the run, its model, data and code."""
        return {
            "run_id": self.run_id,
            "experiment_id": self.experiment_id,
            "model_uri": model_uri,
            "weights_sha256": weights_sha256,
            "data_sha256": self.data_sha256,
            "git_commit": self.git_commit,
            "device": device,
        }


def input_example(splits: Splits, input_length: int) -> pd.DataFrame:
    """The latest request of the training and validation data, twice.

    A batch of 2, not 1: a batch-1 example can freeze the batch dimension in MLflow.
    """
    history = pd.concat([splits.train, splits.val], ignore_index=True)
    request = latest_request(history, input_length)
    return pd.DataFrame({"values": [request["values"]] * 2, "end": [request["end"]] * 2})


@contextmanager
def open_training_run(inputs: RunInputs, run_id: str | None = None) -> Iterator[TrainingRun]:
    """Start an MLflow run for training (or continue ``run_id``) and log what precedes it.

    A continued run gets its tags and validation reports again, but not its params, datasets
    or profile: those were logged when it started. The run ends (FINISHED, or FAILED on an
    exception) when the block does.
    """
    import mlflow

    use_tracking(inputs.repo_root, inputs.experiment)
    data_sha = data_fingerprint([inputs.validated / f"{name}.parquet" for name in SPLITS])
    commit, dirty = git_commit(inputs.repo_root)
    with mlflow.start_run(run_id=run_id, log_system_metrics=True) as run:
        if run_id is not None:
            logger.info("continuing MLflow run %s from its checkpoint", run_id)
        mlflow.set_tags(process_tags())  # a later run marks this one KILLED if we die
        mlflow.set_tags(_tags(inputs, data_sha, commit, dirty))
        if run_id is None:
            _log_new_run(inputs)
        for name in VALIDATION_REPORTS:
            written = inputs.validation_reports / name
            if written.is_file():
                mlflow.log_artifact(str(written), artifact_path="validation")
        yield TrainingRun(run.info.run_id, run.info.experiment_id, data_sha, commit)


def _tags(inputs: RunInputs, data_sha: str, commit: str, dirty: bool) -> dict[str, str]:
    train = inputs.splits.train["timestamp"]
    lock = dvc_lock_hashes(inputs.repo_root / "dvc.lock", [str(inputs.raw), str(inputs.validated)])
    return {
        "git.commit": commit,
        "git.dirty": str(dirty).lower(),
        "data.sha256": data_sha,
        # what the model learned from, for the service's GET /metadata
        "data.train.start": pd.Timestamp(train.min()).isoformat(),
        "data.train.end": pd.Timestamp(train.max()).isoformat(),
        "stage": "train",
        "python": platform.python_version(),
        "world_size": str(inputs.world_size),
        "params.sha256": inputs.params_sha256,
        **{f"dvc.{path}.md5": md5 for path, md5 in lock.items()},
        **environment(),
    }


def _log_new_run(inputs: RunInputs) -> None:
    """Params, dataset lineage and the value profile: once, when the run starts."""
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    mlflow.log_params(dict(inputs.params))
    for name, context in _DATASET_CONTEXTS:
        dataset = from_pandas(
            getattr(inputs.splits, name),
            source=str(inputs.validated / f"{name}.parquet"),
            targets="value",
            name=name,
        )
        mlflow.log_input(dataset, context=context)
    # what validate compares the next training data with, once this model is champion
    train = inputs.splits.train
    profile = ValueProfile.of(train["value"].to_numpy(), train, inputs.freq)
    mlflow.log_dict(profile.as_dict(), PROFILE_ARTIFACT)
    # what monitor holds this model's served inputs against: the test split it is gated on
    test = inputs.splits.test
    served = served_profile(test, profile, inputs.freq, inputs.input_length)
    mlflow.log_dict(served.as_dict(), SERVED_PROFILE_ARTIFACT)
