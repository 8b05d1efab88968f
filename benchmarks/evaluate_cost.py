"""Evaluate's cost per origin and per series, baselines included, as ratios to the model's scoring.

In one process, on the default data and params.yaml's ``evaluate`` section (dense origins):

- **model**: the network's forecasts at every test origin (one batched forward pass), the
  reference every other figure is divided by (the network's weights do not change its cost, so an
  untrained one of the default shape is scored);
- **reference baselines**: naive and seasonal naive (statsforecast) on the model's windows;
- **fitted baselines, cold**: AutoETS / MSTL with ETS and ARIMA trends at every origin on
  ``classical_weeks`` weeks, with ``classical_jobs`` processes, no cache (what a fresh clone pays);
- **fitted baselines, cached**: the same call again, answered by the cache (what a re-run where
  only the model changed pays);
- **one origin, serial, by part**: the MSTL decomposition and each trend fit on their own, over
  ``--serial`` origins in one process (CPU seconds, not wall).

Per series = the figure divided by the number of series (one in the default data). The 1-minute
load average before and after is recorded: on a shared machine it explains wall times. Writes
reports/bench/evaluate_cost.json.

    make bench, or: PYTHONPATH=src:. python benchmarks/evaluate_cost.py [--origins 93] [--serial 4]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks._meta import run_metadata
from forecasting.core.periods import steps_per_week
from forecasting.data.sources import ColumnMapping, read_source
from forecasting.data.splits import split_chronologically
from forecasting.evaluation.baselines import cache_key, cached, reference_forecasts
from forecasting.evaluation.classical import fitted_forecasts
from forecasting.evaluation.scoring import (
    ModelScoring,
    history_before,
    model_forecasts,
    scored_origins,
)
from forecasting.model.network import RecurrentForecaster
from pipelines.params import load_params
from pipelines.train import model_config

REPORTS = Path("reports/bench")


def _timed(call: Callable[[], Any], repeats: int = 1) -> float:
    """Median wall seconds of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its children that have ended."""
    import resource

    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _parts(
    history: np.ndarray, horizon: int, seasons: list[int], approximation: bool
) -> dict[str, float]:
    """Serial seconds per origin of the decomposition and of each trend fit."""
    from statsforecast.models import AutoARIMA, AutoETS
    from statsforecast.mstl import mstl

    totals = {"mstl_decomposition": 0.0, "ets_trend": 0.0, "arima_trend": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for row in history:
            started = time.perf_counter()
            parts = mstl(x=row, period=seasons)
            adjusted = parts[["trend", "remainder"]].sum(axis=1).to_numpy()
            totals["mstl_decomposition"] += time.perf_counter() - started
            for name, model in (
                ("ets_trend", AutoETS(model="ZZN")),
                ("arima_trend", AutoARIMA(approximation=approximation)),
            ):
                started = time.perf_counter()
                model.forecast(y=adjusted, h=horizon)
                totals[name] += time.perf_counter() - started
    return {name: value / len(history) for name, value in totals.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--origins", type=int, default=None, help="first N origins (default: all)")
    parser.add_argument("--serial", type=int, default=4, help="origins timed by part, serially")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]  # other work on the machine inflates every wall time here
    params = load_params()
    e = params.evaluate
    frame = read_source("builtin:taylor", ColumnMapping())
    splits = split_chronologically(
        frame, params.validate_.val_fraction, params.validate_.test_fraction
    )
    config = model_config(params)
    torch.manual_seed(params.base.seed)
    model = RecurrentForecaster(config).eval()
    origins = scored_origins(
        splits, params.base.freq, config.input_length, config.horizon, e.origin_step,
        config.steps_per_day,
    )  # fmt: skip
    count = len(origins) if args.origins is None else min(args.origins, len(origins))
    series = len(set(origins.series))
    scoring = ModelScoring(e.model_batch, "local", None, 1)  # the stage's batches, here
    model_forecasts(model, origins, scoring)  # first call: allocations, not the steady cost
    model_s = _timed(lambda: model_forecasts(model, origins, scoring), repeats=5) / len(origins)
    inputs = origins.inputs.astype(np.float64)
    week = steps_per_week(params.base.freq)
    reference_forecasts(inputs[:2], config.horizon, config.steps_per_day, week)  # import + warm
    reference_s = _timed(
        lambda: reference_forecasts(inputs, config.horizon, config.steps_per_day, week), 3
    ) / len(origins)
    full = history_before(
        splits, params.base.freq, e.classical_weeks * week, 2, config.horizon, origins
    )
    if full is None:
        raise SystemExit("evaluate.classical_weeks is 0 or the history is too short: no fits")
    history, seasons = full[:count], sorted({config.steps_per_day, week})
    with tempfile.TemporaryDirectory() as cache:
        # the same calls as scoring.method_forecasts makes for the fitted baselines
        def fitted() -> object:
            key = cache_key(history, {"horizon": config.horizon, "seasons": seasons})
            return cached(
                Path(cache), key,
                lambda: fitted_forecasts(
                    history, config.horizon, seasons, e.classical_jobs, e.arima_approximation
                ),
            )  # fmt: skip

        cpu_before = _cpu_seconds()
        cold_s = _timed(fitted) / count
        # CPU seconds of this process and its (reaped) workers: what the fits cost whatever
        # else the machine is doing; wall = this / processes on an idle machine.
        cold_cpu_s = (_cpu_seconds() - cpu_before) / count
        cached_s = _timed(fitted) / count
    parts = _parts(history[: args.serial], config.horizon, seasons, e.arima_approximation)
    report = {
        "origins": count,
        "series": series,
        "origin_step": e.origin_step,
        "classical_weeks": e.classical_weeks,
        "classical_jobs": e.classical_jobs,
        "arima_approximation": e.arima_approximation,
        "model_ms_per_origin": 1e3 * model_s,
        "reference_ms_per_origin": 1e3 * reference_s,
        "fitted_cold_s_per_origin": cold_s,
        "fitted_cold_cpu_s_per_origin": cold_cpu_s,
        "fitted_cached_ms_per_origin": 1e3 * cached_s,
        "fitted_cold_s_per_series": cold_s * count / series,
        "fitted_cold_s_all_origins": cold_s * count,
        "serial_s_per_origin": parts,
        "reference_vs_model": reference_s / model_s,
        "fitted_cold_vs_model": cold_s / model_s,
        "fitted_cached_vs_model": cached_s / model_s,
        "load_average": [load_before, os.getloadavg()[0]],
        "meta": run_metadata(),
    }
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "evaluate_cost.json").write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"model {1e3 * model_s:.2f} ms/origin; fitted baselines cold {cold_s:.2f} s/origin "
        f"({cold_s / model_s:,.0f}x the model), cached {1e3 * cached_s:.1f} ms/origin "
        f"({cached_s / model_s:,.1f}x) -> {REPORTS / 'evaluate_cost.json'}"
    )


if __name__ == "__main__":
    main()
