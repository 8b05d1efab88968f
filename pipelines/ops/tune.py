"""tune: a grid over train settings, scored on the validation split only (``make tune``).

Reads the ``tune`` section of params.yaml (``grid``: train keys and the values to try). Each
point trains a fresh model per seed of ``tune.seeds`` and per fold of ``tune.folds`` (rolling
train/validation splits, the first the validation split itself) and is scored by its mean
validation MAE at rolling origins; the test split is never read. Logs a parent MLflow run ``tune`` with one child
run per point, writes ``reports/tune/tune.json`` and ``tune.md`` (the table, best first) and,
with ``tune.write: true``, the chosen values into params.yaml's ``train`` section (comments
kept), so the next ``dvc repro`` trains and evaluates that choice once. Not a DVC stage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from forecasting.core.files import write_json
from forecasting.data.splits import Splits
from forecasting.model.datasets import training_windows, validation_windows
from forecasting.registry.tracking import use_tracking
from forecasting.training.config import RunSettings
from forecasting.training.loop import train_model
from forecasting.training.tuning import (
    best_point,
    grid_points,
    validation_folds,
    validation_splits,
    write_choice,
)
from pipelines._stage import exit_with, run_stage
from pipelines.params import Params, train_fits_freq
from pipelines.train import model_config, training_config

logger = logging.getLogger("pipelines.tune")
PARAMS_FILE = Path("params.yaml")  # what `make tune` writes the choice into


def _val_mae(params: Params, splits: Splits) -> float:
    """The kept epoch's validation MAE of one model trained with ``params`` on ``splits``."""
    config = model_config(params)
    windows = (params.base.freq, config.input_length, config.horizon)
    run = RunSettings(device=params.train.device, checkpoint_dir=None, resume=False)
    train, val = training_windows(splits, *windows), validation_windows(splits, *windows)
    return float(train_model(config, training_config(params), run, train, val).kept.val_mae)


def score_point(params: Params, folds: list[Splits], point: dict[str, Any]) -> dict[str, Any]:
    """Train one grid point per seed and fold; its mean validation MAE, or why not."""
    settings = params.train.model_copy(update=point)
    problems = train_fits_freq(settings, params.base.freq)
    if problems:
        return {**point, "val_mae": None, "note": "; ".join(problems)}
    started, scores = time.monotonic(), []  # scores: [seed][fold]
    for seed in params.tune.seeds:
        base = params.base.model_copy(update={"seed": seed})
        chosen = params.model_copy(update={"train": settings, "base": base})
        scores.append([_val_mae(chosen, splits) for splits in folds])
    by_seed = [round(sum(row) / len(row), 3) for row in scores]
    by_fold = [round(sum(column) / len(column), 3) for column in zip(*scores, strict=True)]
    return {
        **point,
        "val_mae": round(sum(by_seed) / len(by_seed), 3),
        "val_mae_by_seed": dict(zip(params.tune.seeds, by_seed, strict=True)),
        "val_mae_by_fold": by_fold,
        "seconds": round(time.monotonic() - started, 1),
    }


def _table(rows: list[dict[str, Any]], keys: list[str]) -> str:
    ranked = sorted(rows, key=lambda r: (r["val_mae"] is None, r["val_mae"] or 0.0))
    lines = ["| " + " | ".join([*keys, "val MAE", "note"]) + " |", "|---" * (len(keys) + 2) + "|"]
    for row in ranked:
        mae = "—" if row["val_mae"] is None else f"{row['val_mae']:.1f}"
        lines.append(
            "| " + " | ".join([*(str(row[k]) for k in keys), mae, row.get("note", "")]) + " |"
        )
    return "\n".join(lines) + "\n"


def tune(params: Params) -> None:
    import mlflow

    folds = validation_folds(validation_splits(params.paths.validated), params.tune.folds)
    points = grid_points(params.tune.grid)
    use_tracking(Path.cwd(), params.base.experiment)
    rows = []
    tags = {"tune.objective": "val/mae", "tune.folds": str(params.tune.folds)}
    with mlflow.start_run(run_name="tune", tags=tags):
        for number, point in enumerate(points, 1):
            with mlflow.start_run(run_name=f"tune {number}/{len(points)}", nested=True):
                row = score_point(params, folds, point)
                mlflow.log_params(point)
                if row["val_mae"] is not None:
                    mlflow.log_metric("val/mae", row["val_mae"])
            rows.append(row)
            logger.info("%d/%d %s: val MAE %s", number, len(points), point, row["val_mae"])
        best = best_point(rows)
        chosen = {key: best[key] for key in params.tune.grid}
        mlflow.log_params({f"chosen.{k}": v for k, v in chosen.items()})
        mlflow.log_metric("best/val_mae", float(best["val_mae"]))
    folder = params.paths.reports / "tune"
    record = {"objective": "val/mae", "folds": params.tune.folds, "chosen": chosen}
    write_json(folder / "tune.json", record | {"points": rows})
    (folder / "tune.md").write_text(_table(rows, list(params.tune.grid)))
    if params.tune.write:
        changed = write_choice(PARAMS_FILE, "train", chosen)
        logger.info("params.yaml train: %s (%s changed)", chosen, ", ".join(changed) or "none")
    print(f"best of {len(points)} on validation: {chosen}, val MAE {best['val_mae']:.1f}")


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("tune", tune, argv)


if __name__ == "__main__":
    exit_with(main())
