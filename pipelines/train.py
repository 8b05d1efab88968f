"""train: fit the recurrent forecaster on the validated splits and log the run to MLflow."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path

from forecasting.core.files import json_sha256, write_json
from forecasting.core.periods import steps_per_day, steps_per_week
from forecasting.data.splits import Splits, read_splits
from forecasting.model.datasets import training_windows, validation_windows
from forecasting.model.intervals import calibrate, save_calibration
from forecasting.model.network import ModelConfig, save_model
from forecasting.registry.training_run import RunInputs, input_example, open_training_run
from forecasting.training.checkpoints import remove_checkpoint
from forecasting.training.loop import RunSettings, Trainer, TrainingConfig, TrainingInterrupted
from forecasting.training.reports import write_reports
from forecasting.training.signals import stop_on_sigterm
from pipelines._stage import StageError, exit_with, run_stage
from pipelines.params import Params, Train

logger = logging.getLogger("pipelines.train")
SHAPING = ("base", "train")  # the params sections whose sha256 tags the run


def model_config(params: Params) -> ModelConfig:
    """The network: each ``train`` key ModelConfig has, plus the frequency and its seasons."""
    shared = set(ModelConfig.model_fields) & set(Train.model_fields)
    return ModelConfig(
        **params.train.model_dump(include=shared),
        freq=params.base.freq,
        steps_per_day=steps_per_day(params.base.freq),
        steps_per_week=steps_per_week(params.base.freq),
    )


def training_config(params: Params) -> TrainingConfig:
    """The fit the weights depend on: its ``train`` keys, and ``base.seed``."""
    names = {f.name for f in fields(TrainingConfig)} - {"seed"}
    return TrainingConfig(seed=params.base.seed, **params.train.model_dump(include=names))


def train(params: Params) -> None:
    splits = read_splits(params.paths.validated)
    config = model_config(params)
    windows = (params.base.freq, config.input_length, config.horizon)
    train_data, val_data = training_windows(splits, *windows), validation_windows(splits, *windows)
    stop_requested = stop_on_sigterm()
    try:
        t = params.train
        where = RunSettings(
            device=t.device, checkpoint_dir=params.paths.checkpoints, resume=t.resume
        )
        trainer = Trainer(config, training_config(params), where, train_data, val_data)
        if not trainer.world.is_main:  # under torchrun: train the shard, leave logging to rank 0
            trainer.fit(stop_requested=stop_requested)
            return
        _train_and_log(params, splits, trainer, stop_requested)
    except TrainingInterrupted as err:
        raise StageError(str(err)) from err


def _train_and_log(
    params: Params, splits: Splits, trainer: Trainer, stop_requested: Callable[[], bool]
) -> None:
    inputs = RunInputs(
        repo_root=Path.cwd(),
        experiment=params.base.experiment,
        params={
            **params.train.model_dump(),
            "seed": params.base.seed,
            "freq": params.base.freq,
            # which of them params.yaml left to base.freq (`auto`)
            "auto_settings": ",".join(sorted(params.derived)) or "none",
        },
        # what shapes the model: the base and train sections, as canonical JSON
        params_sha256=json_sha256({s: getattr(params, s).model_dump(mode="json") for s in SHAPING}),
        freq=params.base.freq,
        input_length=params.train.input_length,
        splits=splits,
        validated=params.paths.validated,
        raw=params.paths.raw,
        validation_reports=params.paths.reports / "validate",
        world_size=trainer.world.size,
    )
    with open_training_run(inputs, trainer.resumed_extra.get("mlflow_run_id")) as run:
        result = trainer.fit(
            lambda record: run.log_epoch(record.epoch, record.metrics()),
            stop_requested,
            checkpoint_extra={"mlflow_run_id": run.run_id},
        )
        weights_sha = save_model(result.model, params.paths.models)
        calibration = calibrate(result.model, trainer.val_data, params.train.interval_time_of_day)
        save_calibration(calibration, params.paths.models)
        remove_checkpoint(params.paths.checkpoints)
        reports = params.paths.reports / "train"
        plot = write_reports(result, reports)
        write_json(reports / "settings.json", {"freq": params.base.freq, "auto": params.derived})
        tags = {"weights.sha256": weights_sha, "device": result.device}
        run.log_outcome(result.tracking_metrics(), tags, plots=[plot])
        example = input_example(splits, result.model.config.input_length)
        model_uri = run.log_model(params.paths.models, example, params.train.interval_levels)
        write_json(reports / "run.json", run.hand_off(model_uri, weights_sha, result.device))
        logger.info(
            "MLflow run %s, model %s, weights sha256 %s", run.run_id, model_uri, weights_sha
        )


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("train", train, argv)


if __name__ == "__main__":
    exit_with(main())
