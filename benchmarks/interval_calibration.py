"""Which interval calibration holds up a fortnight later? Measured on validation folds only.

``train.interval_time_of_day`` is a calibration setting, not a training one, so ``make tune``
(which scores val MAE) cannot choose it. This does, the way the pipeline uses a calibration:
calibrated on one block, applied to the block after it. For each seed and for folds 1 and 2 of
``tuning.validation_folds`` (the two fortnights before the validation split), a model is trained
on what precedes the fold's block, calibrated there at each power, and its intervals are scored
on the next block (fold 2's model on fold 1's block, fold 1's on the validation split), at
origins every ``evaluate.origin_step`` steps. The test split is never read.

    PYTHONPATH=. python benchmarks/interval_calibration.py   # after dvc repro validate; ~3 min

Writes ``reports/bench/interval_calibration.json`` and prints the table docs/model.md quotes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

from benchmarks._meta import run_metadata  # noqa: E402
from forecasting.evaluation.interval_scores import winkler  # noqa: E402
from forecasting.model.datasets import training_windows, validation_windows  # noqa: E402
from forecasting.model.intervals import calibrate, interval_bounds  # noqa: E402
from forecasting.training.config import RunSettings  # noqa: E402
from forecasting.training.loop import train_model  # noqa: E402
from forecasting.training.tuning import validation_folds, validation_splits  # noqa: E402
from pipelines.params import load_params  # noqa: E402
from pipelines.train import model_config, training_config  # noqa: E402

POWERS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _scores(model, calibrating, scored, levels, power, origin_step):  # type: ignore[no-untyped-def]
    """{level: (Winkler, coverage)} on ``scored``'s windows every ``origin_step`` steps."""
    calibration = calibrate(model, calibrating, power)
    batch = scored.gather(torch.arange(0, len(scored), origin_step))
    with torch.inference_mode():
        forecast = model(batch.inputs, batch.end_phase).numpy()
    bounds = interval_bounds(
        calibration, batch.inputs.numpy(), batch.end_phase.numpy(), forecast, levels
    )
    actual, result = batch.targets.numpy(), {}
    for level, (lower, upper) in zip(levels, bounds.values(), strict=True):
        inside = (lower <= actual) & (actual <= upper)
        result[level] = (float(winkler(actual, lower, upper, level).mean()), float(inside.mean()))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2, 3, 4])
    args = parser.parse_args()
    params = load_params(REPO / "params.yaml")
    config = model_config(params)
    shape = (params.base.freq, config.input_length, config.horizon)
    folds = validation_folds(validation_splits(REPO / params.paths.validated), 3)
    levels = list(params.train.interval_levels)
    step = params.evaluate.origin_step
    runs: dict[str, list[dict[str, float]]] = {str(p): [] for p in POWERS}
    for seed in args.seeds:
        seeded = params.model_copy(update={"base": params.base.model_copy(update={"seed": seed})})
        for fold in (1, 2):
            splits = folds[fold]
            model = train_model(
                config, training_config(seeded), RunSettings("cpu", None, False),
                training_windows(splits, *shape), validation_windows(splits, *shape),
            ).model  # fmt: skip
            calibrating = validation_windows(splits, *shape)
            scored = validation_windows(folds[fold - 1], *shape)
            for power in POWERS:
                by_level = _scores(model, calibrating, scored, levels, power, step)
                runs[str(power)].append(
                    {"seed": seed, "fold": fold}
                    | {f"winkler_{k:g}": w for k, (w, _) in by_level.items()}
                    | {f"coverage_{k:g}": c for k, (_, c) in by_level.items()}
                )
            print(f"seed {seed} fold {fold} done", flush=True)
    summary = {
        power: {key: float(np.mean([r[key] for r in rows])) for key in rows[0] if "_" in key}
        for power, rows in runs.items()
    }
    out = REPO / params.paths.reports / "bench" / "interval_calibration.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {"meta": run_metadata(), "seeds": args.seeds, "summary": summary, "runs": runs}
    out.write_text(json.dumps(record, indent=2) + "\n")
    names = [f"{k:g}" for k in levels]
    print("| time_of_day | " + " | ".join(f"Winkler {n} % | coverage {n} %" for n in names) + " |")
    for power, figures in summary.items():
        cells = [
            f"{figures[f'winkler_{n}']:,.1f} | {100 * figures[f'coverage_{n}']:.1f}" for n in names
        ]
        print(f"| {power} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
