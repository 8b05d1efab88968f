"""train: fit the recurrent forecaster on the validated splits and log the run to MLflow."""

from __future__ import annotations

import logging
import platform
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from forecasting.datasets import SPLITS, read_splits, training_windows, validation_windows
from forecasting.files import write_atomically, write_json
from forecasting.lineage import data_fingerprint, git_commit
from forecasting.model import ModelConfig, save_model
from forecasting.periods import steps_per_day, steps_per_week
from forecasting.plots import learning_curve
from forecasting.tracking import use_tracking
from forecasting.training import EpochRecord, TrainingConfig, train_model
from pipelines._stage import exit_with, run_stage
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
        grad_clip_norm=t.grad_clip_norm,
        seed=params.base.seed,
        device=t.device,
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


def train(params: Params) -> None:
    import mlflow

    splits = read_splits(params.paths.validated)
    config = model_config(params)
    train_data = training_windows(splits, params.base.freq, config.input_length, config.horizon)
    val_data = validation_windows(splits, params.base.freq, config.input_length, config.horizon)
    logger.info("%d training windows, %d validation windows", len(train_data), len(val_data))
    fingerprint = data_fingerprint([params.paths.validated / f"{name}.parquet" for name in SPLITS])
    commit, dirty = git_commit(Path.cwd())
    reports = params.paths.reports / "train"

    use_tracking(Path.cwd(), params.base.experiment)
    with mlflow.start_run(log_system_metrics=True) as run:
        mlflow.set_tags(
            {
                "git.commit": commit,
                "git.dirty": str(dirty).lower(),
                "data.sha256": fingerprint,
                "stage": "train",
                "python": platform.python_version(),
            }
        )
        mlflow.log_params(
            {**params.train.model_dump(), "seed": params.base.seed, "freq": params.base.freq}
        )
        summary = params.paths.reports / "validate" / "summary.json"
        if summary.is_file():
            mlflow.log_artifact(str(summary), artifact_path="validation")
        result_json = params.paths.reports / "validate" / "result.json"
        if result_json.is_file():
            mlflow.log_artifact(str(result_json), artifact_path="validation")

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

        result = train_model(config, training_config(params), train_data, val_data, on_epoch)
        best = result.history[result.best_epoch - 1]
        weights_sha = save_model(result.model, params.paths.models)
        logger.info(
            "best epoch %d (val MAE %.1f); %.1fs, %.0f samples/s on %s; weights sha256 %s",
            result.best_epoch,
            best.val_mae,
            result.seconds,
            result.samples_per_second,
            result.device,
            weights_sha[:12],
        )
        metrics = {
            "train/loss": best.train_loss,
            "val/loss": best.val_loss,
            "val/mae": best.val_mae,
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "train/seconds": result.seconds,
            "train/samples_per_second": result.samples_per_second,
        }
        mlflow.log_metrics(
            {
                "best/val_loss": best.val_loss,
                "best/val_mae": best.val_mae,
                "best_epoch": result.best_epoch,
                "train/seconds": result.seconds,
                "train/samples_per_second": result.samples_per_second,
            }
        )
        mlflow.set_tags({"weights.sha256": weights_sha, "device": result.device})
        write_json(reports / "metrics.json", metrics)
        curve = pd.DataFrame([vars(r) for r in result.history])
        write_atomically(reports / "learning_curve.csv", lambda p: curve.to_csv(p, index=False))
        learning_curve(
            curve["epoch"].tolist(),
            curve["train_loss"].tolist(),
            curve["val_loss"].tolist(),
            result.best_epoch,
            reports / "learning_curve.png",
        )
        mlflow.log_artifact(str(reports / "learning_curve.png"), artifact_path="plots")

        last = splits.val.sort_values("timestamp").groupby("series_id").tail(config.input_length)
        window = last.groupby("series_id")["value"].apply(list).iloc[0]
        end = last.groupby("series_id")["timestamp"].max().iloc[0].isoformat()
        # Batch of 2, not 1: a batch-1 example can freeze the batch dimension in MLflow.
        example = pd.DataFrame({"values": [window, window], "end": [end, end]})
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
            },
        )
        logger.info("MLflow run %s, model %s", run.info.run_id, model_uri)


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("train", train, argv)


if __name__ == "__main__":
    exit_with(main())
