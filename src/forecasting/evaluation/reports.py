"""The evaluate stage's report files: metrics, per-step and per-series errors, forecasts, plots."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecasting.core.files import write_atomically, write_json
from forecasting.core.plots import error_by_horizon, forecast_vs_actual
from forecasting.evaluation.metrics import mae_by_series, score_by_lead
from forecasting.evaluation.scoring import Bounds, ScoredOrigins, best_baseline

logger = logging.getLogger(__name__)


INTERVAL_FILES = (
    ("fan_chart.png", "plots"),
    ("coverage_by_lead.png", "plots"),
    ("intervals.json", "evaluation"),
)


@dataclass(frozen=True)
class ReportFiles:
    """Where each report went (the MLflow run logs the same files)."""

    metrics: Path
    forecasts: Path
    origin_forecasts: Path
    metrics_by_lead: Path
    error_by_horizon: Path
    mae_by_series: Path
    forecast_plot: Path
    error_plot: Path

    def artifacts(self) -> list[tuple[Path, str]]:
        """(file, artifact folder) of every file the training run keeps."""
        return [
            (self.forecast_plot, "plots"),
            (self.error_plot, "plots"),
            (self.error_by_horizon, "evaluation"),
            (self.mae_by_series, "evaluation"),
            (self.metrics_by_lead, "evaluation"),
            (self.origin_forecasts, "evaluation"),
            (self.metrics, "evaluation"),
            # the intervals' scores and plots, where evaluate_intervals wrote them
            *(
                (self.metrics.parent / name, folder)
                for name, folder in INTERVAL_FILES
                if (self.metrics.parent / name).is_file()
            ),
        ]


def _csv(path: Path, table: pd.DataFrame) -> None:
    write_atomically(path, lambda target: table.to_csv(target, index=False))


def _log_series_spread(by_series: pd.DataFrame) -> None:
    if len(by_series) > 1:
        worst = by_series.iloc[0]
        logger.info(
            "%d series: model MAE from %.1f (%s) to %.1f (%s); every one in mae_by_series.csv",
            len(by_series),
            by_series["model"].min(),
            by_series.loc[by_series["model"].idxmin(), "series_id"],
            worst["model"],
            worst["series_id"],
        )


def every_forecast(
    origins: ScoredOrigins,
    forecasts: dict[str, np.ndarray],
    champion: tuple[str, np.ndarray] | None,
    bounds: Bounds | None = None,
) -> pd.DataFrame:
    """Every method's forecast at every origin and lead, one row each: what anyone re-scores.

    Columns: ``series_id``, ``origin`` (the last observed timestamp), ``lead`` (1..H),
    ``timestamp`` (the target's), ``actual``, ``method`` (``model``, each baseline,
    ``champion``), ``forecast``, and ``daily`` (the origin is in the one-a-day subset); with
    ``bounds`` (method -> level -> ``[K, H]`` lower and upper), ``lower_<level>`` and
    ``upper_<level>`` for every level scored, empty for the methods without intervals.
    """
    count, horizon = origins.actual.shape
    methods = {**forecasts, **({"champion": champion[1]} if champion is not None else {})}
    base = pd.DataFrame(
        {
            "series_id": np.repeat(origins.series, horizon),
            "origin": np.repeat(origins.times[:, 0], horizon),
            "lead": np.tile(np.arange(1, horizon + 1), count),
            "timestamp": origins.times[:, 1:].ravel(),
            "actual": origins.actual.ravel(),
            "daily": np.repeat(origins.daily, horizon),
        }
    )
    levels = sorted({key for by_level in (bounds or {}).values() for key in by_level}, key=float)
    frames = []
    for name, values in methods.items():
        frame = base.assign(method=name, forecast=values.ravel())
        for key in levels:
            lower, upper = (bounds or {}).get(name, {}).get(key, (None, None))
            frame[f"lower_{key}"] = np.nan if lower is None else np.ravel(lower)
            frame[f"upper_{key}"] = np.nan if upper is None else np.ravel(upper)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def lead_table(
    origins: ScoredOrigins,
    forecasts: dict[str, np.ndarray],
    champion: tuple[str, np.ndarray] | None,
) -> pd.DataFrame:
    """MAE, RMSE, MAPE, sMAPE and MASE at every lead, for every method, on both protocols."""
    methods = {**forecasts, **({"champion": champion[1]} if champion is not None else {})}
    frames = []
    for protocol, rows in (("all", slice(None)), ("daily", origins.daily)):
        for name, values in methods.items():
            by_lead = score_by_lead(origins.actual[rows], values[rows], origins.scale[rows])
            lead = np.arange(1, origins.actual.shape[1] + 1)
            frames.append(
                pd.DataFrame({"protocol": protocol, "method": name, "lead": lead, **by_lead})
            )
    return pd.concat(frames, ignore_index=True)


def write_reports(
    folder: Path,
    origins: ScoredOrigins,
    forecasts: dict[str, np.ndarray],
    champion: tuple[str, np.ndarray] | None,
    report: dict[str, Any],
    unit: str,
    steps_per_week: int,
    bounds: Bounds | None = None,
) -> ReportFiles:
    """Write ``metrics.json``, the CSVs, every origin's forecasts and the two plots into ``folder``.

    Args:
        folder: ``reports/evaluate``.
        origins: the test origins every forecast was made at.
        forecasts: ``"model"`` and each baseline -> ``[K, H]``.
        champion: (version, ``[K, H]``) of the champion, or None.
        report: the scores (``scoring.score_report``).
        unit: the series' unit, for the plots' axes.
        steps_per_week: how much history the forecast plot shows (half a week).
        bounds: the intervals scored (``interval_scores.interval_verdict``), kept per origin.

    """
    files = ReportFiles(
        metrics=folder / "metrics.json",
        forecasts=folder / "forecasts.csv",
        origin_forecasts=folder / "origin_forecasts.parquet",
        metrics_by_lead=folder / "metrics_by_lead.csv",
        error_by_horizon=folder / "error_by_horizon.csv",
        mae_by_series=folder / "mae_by_series.csv",
        forecast_plot=folder / "forecast.png",
        error_plot=folder / "error_by_horizon.png",
    )
    actual, last = origins.actual, origins.last
    horizon = actual.shape[1]
    write_json(files.metrics, report)
    table = pd.DataFrame({"step": np.arange(horizon), "actual": actual[last]})
    for name, values in forecasts.items():
        table[name] = values[last]
    _csv(files.forecasts, table)
    every = every_forecast(origins, forecasts, champion, bounds)
    write_atomically(files.origin_forecasts, lambda target: every.to_parquet(target, index=False))
    _csv(files.metrics_by_lead, lead_table(origins, forecasts, champion))
    # MAE at each step ahead over all origins, for the model, the champion and every baseline.
    by_step = {n: np.abs(f - actual).mean(axis=0) for n, f in forecasts.items() if n != "naive"}
    if champion is not None:
        by_step[f"champion v{champion[0]}"] = np.abs(champion[1] - actual).mean(axis=0)
    _csv(files.error_by_horizon, pd.DataFrame({"step": np.arange(1, horizon + 1), **by_step}))
    by_series = mae_by_series(actual, forecasts, origins.series)
    _csv(files.mae_by_series, by_series)
    _log_series_spread(by_series)
    error_by_horizon(by_step, files.error_plot, unit)
    inputs = origins.inputs[last].astype(np.float64)
    best = best_baseline(report)
    forecast_vs_actual(
        inputs[-steps_per_week // 2 :] if steps_per_week > 1 else inputs,
        actual[last],
        {n: f[last] for n, f in forecasts.items() if n != "naive"},
        f"Last test origin: model MAE {report['model']['mae']:.0f} vs best baseline {best[0]} "
        f"{best[1]:.0f}",
        files.forecast_plot,
        unit,
    )
    return files


def log_outcome(
    log: logging.Logger, report: dict[str, Any], version: str, decision: dict[str, Any]
) -> None:
    """The stage's two closing lines: every method's MAE, then the version's verdict and reason."""
    baselines = " | ".join(f"{n} {m['mae']:.1f}" for n, m in report["baselines"].items())
    log.info("model MAE %.1f | %s", report["model"]["mae"], baselines)
    if "model_base" in report:
        log.info(
            "the model's seasonal base alone: MAE %.1f (the network's residual: %+.1f)",
            report["model_base"]["mae"],
            report["model"]["mae"] - report["model_base"]["mae"],
        )
    verdict_word = "PROMOTED to champion" if decision["promoted"] else "not promoted"
    log.info("version %s %s: %s", version, verdict_word, decision["reason"])
