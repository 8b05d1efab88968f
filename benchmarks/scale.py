"""Scale: ingest → validate → train → evaluate at 1, 10, 100, 1,000 series, and the cost ratios.

The series are made from the default one (``builtin:taylor``, 4,032 half-hours): series 0 is it
unchanged; every other has its own level (x0.05 to x2), daily shape (a +-10 % daily wave at its
own phase), weekend level (+-10 %) and noise (0.5-3 % of its level), so the model has something
to learn across series. They are written as one Parquet source with a ``series_id`` column.

Each count runs the real stages as ``dvc repro`` runs them, each in its own process
(``python -m pipelines.<stage>`` in a fresh copy of the repository with its own MLflow store),
on params.yaml with the profile ``benchmarks/profiles/scale.yaml`` applied (what a team at
1,000 series would set: fixed ``train.windows_per_epoch`` and ``train.val_windows``, fewer
epochs, fitted baselines off).
For each stage: wall time, start-up (the interpreter and the stage's imports) apart from its
work, throughput (rows/s for ingest and validate; for train, windows trained over the stage's
work, with the seconds an epoch takes and the windows/s of its training steps alone; for
evaluate, test windows scored per second), and the peak resident memory of the stage's process. ``ratios`` is each
stage's work time at the largest count over the count a tenth of it (goal: at most 10, linear
or better). The fitted baselines, off in the profile, are timed apart on a few origins of the
generated data (``--fit-origins``, with params.yaml's own evaluate settings, locally and on a
local dask cluster), as seconds per origin and fits/s, to size a cluster for them. Writes
reports/bench/scale.json.

    PYTHONPATH=. python benchmarks/scale.py [--series 1 10 100 1000] [--profile PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

from benchmarks._meta import run_metadata  # noqa: E402
from tests.conftest import copy_pipeline_files  # noqa: E402

OUTPUT = Path("reports/bench/scale.json")
PROFILE = REPO / "benchmarks" / "profiles" / "scale.yaml"
COUNTS = (1, 10, 100, 1000)
STAGES = ("ingest", "validate", "train", "evaluate")

STAGE_RUNNER = """
import json, sys, time
started = time.perf_counter()
import importlib
stage = importlib.import_module("pipelines." + sys.argv[1])
imported = time.perf_counter()
code = stage.main([])
finished = time.perf_counter()
with open(sys.argv[2], "w") as out:
    json.dump({"startup_s": imported - started, "work_s": finished - imported}, out)
sys.exit(code)
"""


def synthetic_series(count: int, seed: int = 0) -> pd.DataFrame:
    """``count`` series from the default one, each with its own level, shape and noise."""
    from forecasting.data.sources import BUILTINS

    base = BUILTINS["taylor"]()
    stamps = pd.DatetimeIndex(base["timestamp"])
    values = base["value"].to_numpy(dtype=np.float64)
    hour = np.asarray(stamps.hour + stamps.minute / 60, dtype=np.float64)
    weekend = np.asarray(stamps.day_of_week >= 5)
    rng = np.random.default_rng(seed)
    frames = []
    for index in range(count):
        if index == 0:
            series = values  # the default series itself: 1 series is today's problem
        else:
            level = np.exp(rng.uniform(np.log(0.05), np.log(2.0)))
            wave = rng.uniform(-0.1, 0.1) * np.sin(2 * np.pi * (hour - rng.uniform(0, 24)) / 24)
            shape = (1 + wave) * np.where(weekend, 1 + rng.uniform(-0.1, 0.1), 1.0)
            noise = rng.normal(0, rng.uniform(0.005, 0.03) * values.mean(), len(values))
            series = level * (values * shape + noise)
        frames.append(
            pd.DataFrame({"series_id": f"site-{index:05d}", "timestamp": stamps, "value": series})
        )
    return pd.concat(frames, ignore_index=True)


def merged(params: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``params`` with ``overrides`` applied section by section (nested mappings merged)."""
    out = dict(params)
    for key, value in overrides.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) else value
    return out


def run_stage(stage: str, root: Path) -> dict[str, Any]:
    """One stage in its own process: wall, start-up and work seconds, peak MiB, its log."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("MLFLOW_TRACKING_URI", None)  # the copy's own ./mlflow.db
    timing = root / f"timing-{stage}.json"
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", STAGE_RUNNER, stage, str(timing)],
        cwd=root,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    log = process.stderr.read() if process.stderr else ""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{stage} failed:\n{log[-3000:]}")
    # ru_maxrss of wait4: the stage's process, or the largest of the children it waited for
    return {"seconds": seconds, "peak_mib": usage.ru_maxrss / 1024, "log": log} | json.loads(
        timing.read_text()
    )


def run_count(count: int, profile: dict[str, Any], scratch: Path) -> dict[str, Any]:
    """The four stages on ``count`` series in a fresh copy of the repository."""
    root = scratch / f"series-{count}"
    root.mkdir()
    copy_pipeline_files(root)
    frame = synthetic_series(count)
    source = root / "data" / "external" / "series.parquet"
    source.parent.mkdir(parents=True)
    frame.to_parquet(source, index=False)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params = merged(params, profile)
    params["ingest"].update(source=str(source), columns={"series_id": "series_id"})
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    rows = len(frame)
    load_before = os.getloadavg()[0]
    stages = {stage: run_stage(stage, root) for stage in STAGES}
    load_after = os.getloadavg()[0]
    train_log = stages["train"]["log"]
    found = re.search(r"(\d+) training windows, (\d+) validation windows", train_log)
    train_windows, val_windows = (int(found[1]), int(found[2])) if found else (None, None)
    metrics = json.loads((root / "reports" / "train" / "metrics.json").read_text())
    evaluated = json.loads((root / "reports" / "evaluate" / "metrics.json").read_text())
    budget = params["train"]["windows_per_epoch"]
    per_epoch = (
        train_windows if budget is None or train_windows is None else min(budget, train_windows)
    )
    trained = None if per_epoch is None else per_epoch * int(metrics["epochs_run"])
    origins = int(evaluated["origins"])
    result: dict[str, Any] = {
        "series": count,
        "rows": rows,
        "train_windows": train_windows,
        "val_windows": val_windows,
        "windows_per_epoch": per_epoch,
        "epochs": int(metrics["epochs_run"]),
        "test_origins": origins,
        "model_mae": float(evaluated["model"]["mae"]),
    }
    throughput = {
        "ingest": ("rows_per_s", rows),
        "validate": ("rows_per_s", rows),
        "train": ("windows_per_s", trained),  # training windows over the whole stage's work
        "evaluate": ("windows_per_s", origins),  # test windows scored (model + baselines)
    }
    for stage, measured in stages.items():
        unit, amount = throughput[stage]
        result[stage] = {
            "seconds": round(measured["seconds"], 2),
            "startup_s": round(measured["startup_s"], 2),
            "work_s": round(measured["work_s"], 2),
            unit: None if amount is None else round(amount / measured["work_s"], 1),
            "peak_mib": round(measured["peak_mib"]),
        }
    # an epoch: the budget's training steps, then every validation window scored
    result["train"]["epoch_s"] = round(float(metrics["train/seconds"]) / result["epochs"], 2)
    result["train"]["step_windows_per_s"] = round(float(metrics["train/samples_per_second"]), 1)
    result["total_s"] = round(sum(s["seconds"] for s in stages.values()), 1)
    # other work on the machine slows every figure: the 1-minute load before and after
    result["load_average"] = [round(load_before, 2), round(load_after, 2)]
    print(
        f"{count:>5} series {rows:>9,} rows  "
        + "  ".join(
            f"{s} {result[s]['seconds']:6.1f} s ({result[s]['peak_mib']:,} MiB)" for s in STAGES
        )
        + f"  total {result['total_s']:.0f} s",
        flush=True,
    )
    for leftover in (root / "data", root / "mlartifacts", root / "models"):  # free the disk
        subprocess.run(["rm", "-rf", str(leftover)], check=False)
    return result


def fit_cost(origins: int, jobs: int) -> dict[str, Any] | None:
    """The fitted baselines on ``origins`` test origins of generated series, locally and on dask.

    With params.yaml's evaluate settings (``classical_weeks`` of history, ARIMA approximation,
    the interval levels), as evaluate would fit them: seconds per origin (all three methods),
    fits/s (a fit: one method at one origin), and the dask path on a local cluster of ``jobs``
    worker processes (its start-up included) with the same numbers checked.
    """
    from forecasting.evaluation.classical import fitted_forecasts

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    weeks = int(params["evaluate"]["classical_weeks"])
    if origins <= 0 or weeks <= 0:
        return None
    history_steps, horizon, week = weeks * 336, 48, 336
    frame = synthetic_series(max(2, origins))
    rows = []
    for _, series in frame.groupby("series_id", sort=True):
        values = series["value"].to_numpy(dtype=np.float64)
        rows.append(
            values[-(history_steps + horizon) : -horizon]
        )  # the history before the last day
    history = np.stack(rows[:origins])  # one origin from each of ``origins`` series
    settings = {
        "horizon": horizon,
        "seasons": [48, week],
        "n_jobs": jobs,
        "arima_approximation": bool(params["evaluate"]["arima_approximation"]),
        "levels": tuple(float(x) for x in params["train"]["interval_levels"]),
    }
    started = time.perf_counter()
    local = fitted_forecasts(history, **settings)
    local_s = time.perf_counter() - started
    started = time.perf_counter()
    on_dask = fitted_forecasts(history, **settings, engine="dask")
    dask_s = time.perf_counter() - started
    methods = [name for name in local if "|" not in name]
    same = all(np.array_equal(local[name], on_dask[name]) for name in local)
    return {
        "origins": origins,
        "history_steps": history_steps,
        "methods": methods,
        "processes": jobs if jobs > 0 else os.cpu_count(),
        "local_s": round(local_s, 2),
        "local_s_per_origin": round(local_s / origins, 3),
        "local_fits_per_s": round(origins * len(methods) / local_s, 3),
        "dask_s": round(dask_s, 2),
        "dask_s_per_origin": round(dask_s / origins, 3),
        "dask_same_numbers": same,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, nargs="+", default=list(COUNTS))
    parser.add_argument("--profile", type=Path, default=PROFILE)
    parser.add_argument("--fit-origins", type=int, default=8, help="0: skip the fit-cost run")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    profile = yaml.safe_load(args.profile.read_text())

    results = []
    with tempfile.TemporaryDirectory(prefix="scale-") as folder:
        for count in sorted(args.series):
            results.append(run_count(count, profile, Path(folder)))
    jobs = int(yaml.safe_load((REPO / "params.yaml").read_text())["evaluate"]["classical_jobs"])
    fits = fit_cost(args.fit_origins, jobs)
    by_count = {r["series"]: r for r in results}
    largest = max(by_count)
    tenth = largest // 10
    ratios = None
    if tenth in by_count:
        ratios = {
            "counts": [largest, tenth],
            **{
                stage: round(
                    by_count[largest][stage]["work_s"] / by_count[tenth][stage]["work_s"], 2
                )
                for stage in STAGES
            },
            "total": round(by_count[largest]["total_s"] / by_count[tenth]["total_s"], 2),
        }
    report = {
        "meta": run_metadata(),
        "profile": str(args.profile.relative_to(REPO))
        if args.profile.is_relative_to(REPO)
        else str(args.profile),
        "overrides": profile,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "counts": results,
        "ratios": ratios,
        "fit_cost": fits,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    if ratios:
        shown = ", ".join(f"{s} {ratios[s]}" for s in (*STAGES, "total"))
        print(f"work at {largest} ÷ at {tenth} series: {shown} (goal: each at most 10)")
    if fits:
        print(
            f"fitted baselines: {fits['local_s_per_origin']} s an origin ({fits['local_fits_per_s']} "
            f"fits/s on {fits['processes']} processes); dask {fits['dask_s_per_origin']} s an origin"
        )
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
