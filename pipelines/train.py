"""train: fit the recurrent forecaster on the validated splits and log the run to MLflow."""

from __future__ import annotations

import logging
import platform
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from forecasting.core.files import json_sha256, write_atomically, write_json
from forecasting.core.periods import steps_per_day, steps_per_week
from forecasting.core.plots import learning_curve
from forecasting.data.drift import PROFILE_ARTIFACT, ValueProfile
from forecasting.data.requests import latest_request
from forecasting.data.splits import SPLITS, Splits, read_splits
from forecasting.model.datasets import training_windows, validation_windows
from forecasting.model.network import ModelConfig, save_model
from forecasting.model.windows import WindowDataset
from forecasting.registry.provenance import (
    data_fingerprint,
    dvc_lock_hashes,
    environment,
    git_commit,
)
from forecasting.registry.tracking import process_tags, use_tracking
from forecasting.training.checkpoints import load_checkpoint, remove_checkpoint
from forecasting.training.distributed import current_world
from forecasting.training.loop import (
    EpochRecord,
    TrainingConfig,
    TrainingInterrupted,
    run_fingerprint,
    train_model,
)
from pipelines._stage import StageError, exit_with, run_stage
from pipelines.params import Params

logger = logging.getLogger("pipelines.train")
# What the logged MLflow model needs to load and predict; explicit, so MLflow does not spend
# seconds inferring requirements in a subprocess.
MODEL_REQUIREMENTS = [
    "torch==2.13.0",
    "safetensors==0.8.0",
    "numpy==2.4.6",
    "pandas==3.1.1",
    "pydantic==2.14.3",
    "mlflow==3.17.2",
]


def model_config(params: Params) -> ModelConfig:
    t = params.train
    return ModelConfig(
        cell=t.cell,
        input_length=t.input_length,
        horizon=t.horizon,
        hidden_size=t.hidden_size,
        num_layers=t.num_layers,
        dropout=t.dropout,
        patch_length=t.patch_length,
        seasonal_lag=t.seasonal_lag,
        lag_mixture=t.lag_mixture,
        weekly_trend=t.weekly_trend,
        freq=params.base.freq,
        steps_per_day=steps_per_day(params.base.freq),
        steps_per_week=steps_per_week(params.base.freq),
    )


def training_config(params: Params) -> TrainingConfig:
    t = params.train
    return TrainingConfig(
        epochs=t.epochs,
        batch_size=t.batch_size,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        patience=t.patience,
        restore_best=t.restore_best,
        grad_clip_norm=t.grad_clip_norm,
        seed=params.base.seed,
        device=t.device,
        checkpoint_dir=params.paths.checkpoints,
        resume=t.resume,
    )


def _log_model(model_dir: Path, example: pd.DataFrame) -> str:
    import mlflow
    from mlflow.models import infer_signature

    from forecasting.pyfunc_model import _load_pyfunc

    output = _load_pyfunc(str(model_dir)).predict(example)
    info = mlflow.pyfunc.log_model(
        name="model",
        loader_module="forecasting.pyfunc_model",
        data_path=str(model_dir),
        code_paths=[str(Path.cwd() / "src" / "forecasting")],
        signature=infer_signature(example, output),
        input_example=example,
        pip_requirements=MODEL_REQUIREMENTS,
    )
    return str(info.model_uri)


def _stop_on_sigterm() -> Callable[[], bool]:
    """Turn SIGTERM (CI cancelling a job, ``kill``) into a stop after the current epoch."""
    requested = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        logger.warning("signal %d: stopping after this epoch and saving a checkpoint", signum)
        requested.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handle)
    return requested.is_set


def fingerprint_params(params: Params) -> str:
    """sha256 of the params that shape the model (base + train sections), canonical JSON."""
    return json_sha256(
        {"base": params.base.model_dump(mode="json"), "train": params.train.model_dump(mode="json")}
    )


def _log_datasets(splits: Splits, validated: Path) -> None:
    """Dataset lineage on the run: each split with its content digest and where it came from."""
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    for name, context in (("train", "training"), ("val", "validation"), ("test", "evaluation")):
        frame = getattr(splits, name)
        dataset = from_pandas(
            frame, source=str(validated / f"{name}.parquet"), targets="value", name=name
        )
        mlflow.log_input(dataset, context=context)


def train(params: Params) -> None:
    world = current_world()
    splits = read_splits(params.paths.validated)
    config = model_config(params)
    fit = training_config(params)
    train_data = training_windows(splits, params.base.freq, config.input_length, config.horizon)
    val_data = validation_windows(splits, params.base.freq, config.input_length, config.horizon)
    stop_requested = _stop_on_sigterm()
    try:
        if not world.is_main:  # under torchrun: train the shard, leave logging to rank 0
            train_model(config, fit, train_data, val_data, stop_requested=stop_requested)
            return
        _train_and_log(params, splits, config, fit, train_data, val_data, stop_requested)
    except TrainingInterrupted as err:
        raise StageError(str(err)) from err


def _train_and_log(
    params: Params,
    splits: Splits,
    config: ModelConfig,
    fit: TrainingConfig,
    train_data: WindowDataset,
    val_data: WindowDataset,
    stop_requested: Callable[[], bool],
) -> None:
    import mlflow

    world = current_world()
    logger.info(
        "%d training windows, %d validation windows%s",
        len(train_data),
        len(val_data),
        f", {world.size} processes" if world.distributed else "",
    )
    fingerprint = data_fingerprint([params.paths.validated / f"{name}.parquet" for name in SPLITS])
    commit, dirty = git_commit(Path.cwd())
    reports = params.paths.reports / "train"

    use_tracking(Path.cwd(), params.base.experiment)
    resumable = (
        load_checkpoint(
            params.paths.checkpoints,
            run_fingerprint(config, fit, train_data, val_data, world.size),
        )
        if fit.resume
        else None
    )
    run_id = resumable.extra.get("mlflow_run_id") if resumable is not None else None
    with mlflow.start_run(run_id=run_id, log_system_metrics=True) as run:
        if run_id is not None:
            logger.info("continuing MLflow run %s from its checkpoint", run_id)
        mlflow.set_tags(process_tags())  # a later run marks this one KILLED if we die
        mlflow.set_tags(
            {
                "git.commit": commit,
                "git.dirty": str(dirty).lower(),
                "data.sha256": fingerprint,
                # what the model learned from, for the service's GET /metadata
                "data.train.start": pd.Timestamp(splits.train["timestamp"].min()).isoformat(),
                "data.train.end": pd.Timestamp(splits.train["timestamp"].max()).isoformat(),
                "stage": "train",
                "python": platform.python_version(),
                "world_size": str(world.size),
                "params.sha256": fingerprint_params(params),
                **{
                    f"dvc.{path}.md5": md5
                    for path, md5 in dvc_lock_hashes(
                        Path("dvc.lock"), [str(params.paths.raw), str(params.paths.validated)]
                    ).items()
                },
                **environment(),
            }
        )
        if run_id is None:
            mlflow.log_params(
                {**params.train.model_dump(), "seed": params.base.seed, "freq": params.base.freq}
            )
            _log_datasets(splits, params.paths.validated)
            # what validate compares the next training data with, once this model is champion
            profile = ValueProfile.of(
                splits.train["value"].to_numpy(), splits.train, params.base.freq
            )
            mlflow.log_dict(profile.as_dict(), PROFILE_ARTIFACT)
        for name in ("summary.json", "result.json", "series.png", "drift.png", "drift.json"):
            written = params.paths.reports / "validate" / name
            if written.is_file():  # what validate found, kept with the run it led to
                mlflow.log_artifact(str(written), artifact_path="validation")

        def on_epoch(record: EpochRecord) -> None:
            logger.info(
                "epoch %3d/%d  train %.4f  val %.4f  val MAE %8.1f  lr %.2e  %.1fs",
                record.epoch,
                params.train.epochs,
                record.train_loss,
                record.val_loss,
                record.val_mae,
                record.learning_rate,
                record.seconds,
            )
            mlflow.log_metrics(
                {
                    "train/loss": record.train_loss,
                    "val/loss": record.val_loss,
                    "val/mae": record.val_mae,
                    "lr": record.learning_rate,
                },
                step=record.epoch,
            )

        result = train_model(
            config,
            fit,
            train_data,
            val_data,
            on_epoch,
            stop_requested=stop_requested,
            checkpoint_extra={"mlflow_run_id": run.info.run_id},
        )
        best = result.history[result.best_epoch - 1]
        kept = result.history[result.kept_epoch - 1]
        weights_sha = save_model(result.model, params.paths.models)
        logger.info(
            "kept epoch %d (val MAE %.1f; best %d at %.1f); %.1fs, %.0f samples/s on %s; "
            "weights sha256 %s",
            result.kept_epoch,
            kept.val_mae,
            result.best_epoch,
            best.val_mae,
            result.seconds,
            result.samples_per_second,
            result.device,
            weights_sha[:12],
        )
        metrics = {  # of the kept weights, the ones evaluate scores
            "train/loss": kept.train_loss,
            "val/loss": kept.val_loss,
            "val/mae": kept.val_mae,
            "best_epoch": result.best_epoch,
            "kept_epoch": result.kept_epoch,
            "epochs_run": len(result.history),
            "train/seconds": result.seconds,
            "train/samples_per_second": result.samples_per_second,
            "train/epoch_samples_per_second": result.epoch_samples_per_second,
        }
        mlflow.log_metrics(
            {
                "best/val_loss": best.val_loss,
                "best/val_mae": best.val_mae,
                "best_epoch": result.best_epoch,
                "kept/val_loss": kept.val_loss,
                "kept/val_mae": kept.val_mae,
                "kept_epoch": result.kept_epoch,
                "train/seconds": result.seconds,
                "train/samples_per_second": result.samples_per_second,
                "train/epoch_samples_per_second": result.epoch_samples_per_second,
            }
        )
        mlflow.set_tags({"weights.sha256": weights_sha, "device": result.device})
        remove_checkpoint(params.paths.checkpoints)
        write_json(reports / "metrics.json", metrics)
        curve = pd.DataFrame([vars(r) for r in result.history])
        write_atomically(reports / "learning_curve.csv", lambda p: curve.to_csv(p, index=False))
        learning_curve(
            curve["epoch"].tolist(),
            curve["train_loss"].tolist(),
            curve["val_loss"].tolist(),
            result.best_epoch,
            result.kept_epoch,
            reports / "learning_curve.png",
        )
        mlflow.log_artifact(str(reports / "learning_curve.png"), artifact_path="plots")

        history = pd.concat([splits.train, splits.val], ignore_index=True)
        request = latest_request(history, config.input_length)
        # Batch of 2, not 1: a batch-1 example can freeze the batch dimension in MLflow.
        example = pd.DataFrame({"values": [request["values"]] * 2, "end": [request["end"]] * 2})
        model_uri = _log_model(params.paths.models, example)
        write_json(
            reports / "run.json",
            {
                "run_id": run.info.run_id,
                "experiment_id": run.info.experiment_id,
                "model_uri": model_uri,
                "weights_sha256": weights_sha,
                "data_sha256": fingerprint,
                "git_commit": commit,
                "device": result.device,
            },
        )
        logger.info("MLflow run %s, model %s", run.info.run_id, model_uri)


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("train", train, argv)


if __name__ == "__main__":
    exit_with(main())
