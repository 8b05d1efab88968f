"""Prediction intervals scored like point forecasts: coverage, width, Winkler and pinball.

For a central ``level`` % interval [l, u], alpha = 1 - level / 100:

* coverage: the share of actuals inside [l, u], overall and by lead time (nominal: level %);
* Winkler (interval) score: (u - l) + (2 / alpha) (l - y) if y < l, + (2 / alpha) (y - u) if
  y > u; lower is better, and a too-narrow interval pays for every miss;
* pinball loss of each bound as the alpha / 2 and 1 - alpha / 2 quantile forecast.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from forecasting.core.levels import level_key
from forecasting.evaluation.evidence import batch_mean_interval, overlap_lags
from forecasting.model.intervals import Calibration, interval_bounds

# The two-sided confidence of the coverage's reported bounds over the test origins
COVERAGE_CONFIDENCE = 0.9


def pinball(actual: np.ndarray, bound: np.ndarray, quantile: float) -> np.ndarray:
    """Pinball loss of ``bound`` as the ``quantile`` forecast of ``actual`` (elementwise)."""
    gap = actual - bound
    loss: np.ndarray = np.maximum(quantile * gap, (quantile - 1) * gap)
    return loss


def winkler(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, level: float) -> np.ndarray:
    """Winkler score of the ``level`` % intervals [lower, upper] (elementwise)."""
    alpha = 1 - level / 100
    below = np.clip(lower - actual, 0, None)
    above = np.clip(actual - upper, 0, None)
    score: np.ndarray = (upper - lower) + (2 / alpha) * (below + above)
    return score


def interval_metrics(
    actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, level: float, lags: int = 1
) -> dict[str, Any]:
    """Coverage (overall, by lead), mean width, Winkler and pinball of ``[K, H]`` intervals.

    ``coverage_low`` / ``coverage_high`` bound the coverage at ``COVERAGE_CONFIDENCE`` over the
    origins, whose windows overlap the next ``lags - 1`` (``evidence.overlap_lags``), from
    ``coverage_blocks`` blocks of them (``evidence.batch_mean_interval``); with under two blocks
    there are no bounds: a few dozen overlapping origins cannot tell 85 % coverage from 80 %,
    and the report says so rather than quote a precision it does not have.
    """
    alpha = 1 - level / 100
    inside = (lower <= actual) & (actual <= upper)  # [K, H]
    loss = (pinball(actual, lower, alpha / 2) + pinball(actual, upper, 1 - alpha / 2)) / 2
    bounded = batch_mean_interval(inside.mean(axis=1), lags, COVERAGE_CONFIDENCE)
    bounds: dict[str, float] = {"coverage_blocks": 0}
    if bounded is not None:
        low, high, blocks = bounded
        bounds = {"coverage_low": max(0.0, low), "coverage_high": min(1.0, high)}
        bounds["coverage_blocks"] = blocks
    return {
        "level": level,
        "coverage": float(inside.mean()),
        **bounds,
        "coverage_by_lead": [round(float(x), 4) for x in inside.mean(axis=0)],
        "mean_width": float((upper - lower).mean()),
        "winkler": float(winkler(actual, lower, upper, level).mean()),
        "pinball": float(loss.mean()),
    }


def model_interval_report(
    calibration: Calibration,
    inputs: np.ndarray,
    phases: np.ndarray,
    forecast: np.ndarray,
    actual: np.ndarray,
    levels: Sequence[float],
    lags: int = 1,
) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The model's intervals at ``levels`` on the test origins: their scores, and the bounds."""
    bounds = interval_bounds(calibration, inputs, phases, forecast, levels)
    scores = {
        level_key(level): interval_metrics(actual, *bounds[level_key(level)], level, lags)
        for level in levels
    }
    return scores, bounds


def coverage_failures(scores: dict[str, dict[str, Any]], tolerance: float | None) -> list[str]:
    """Levels whose test coverage is further than ``tolerance`` from nominal (None: unchecked)."""
    if tolerance is None:
        return []
    return [
        f"{key} % intervals covered {100 * s['coverage']:.1f} % of the test actuals "
        f"(nominal {s['level']:g} % +- {100 * tolerance:g})"
        for key, s in scores.items()
        if abs(s["coverage"] - s["level"] / 100) > tolerance
    ]


logger = logging.getLogger(__name__)
FAN_ORIGINS = 4  # the last origins the fan chart joins end to end: a few days, still readable


def evaluate_intervals(
    calibration: Calibration,
    inputs: np.ndarray,
    phases: np.ndarray,
    forecast: np.ndarray,
    actual: np.ndarray,
    levels: Sequence[float],
    folder: Path,
    unit: str = "",
    baselines: dict[str, dict[str, dict[str, float]]] | None = None,
    lags: int = 1,
) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Score the model's intervals on the test origins and draw them; returns scores and bounds.

    Writes ``intervals.json`` (with ``baselines``' scores beside), ``fan_chart.png`` (the last
    ``FAN_ORIGINS`` origins) and ``coverage_by_lead.png`` into ``folder``.
    """
    from forecasting.core.files import write_json
    from forecasting.core.plots import coverage_by_lead, fan_chart

    scores, bounds = model_interval_report(
        calibration, inputs, phases, forecast, actual, levels, lags
    )
    last = slice(max(0, len(actual) - FAN_ORIGINS), len(actual))
    fan, coverage = folder / "fan_chart.png", folder / "coverage_by_lead.png"
    fan_chart(
        actual[last], forecast[last], {k: (lo[last], hi[last]) for k, (lo, hi) in bounds.items()},
        fan, unit,
    )  # fmt: skip
    coverage_by_lead({k: s["coverage_by_lead"] for k, s in scores.items()}, coverage)
    baselines = baselines or {}
    write_json(
        folder / "intervals.json",
        {"method": calibration.method, "levels": scores, "baselines": baselines},
    )
    for name, figures in {"model": scores, **baselines}.items():
        logger.info(
            "%s intervals on %d test origins: %s",
            name,
            len(actual),
            "; ".join(
                f"{k} % covered {coverage_text(s)}, mean width {s['mean_width']:.0f}, "
                f"Winkler {s['winkler']:.0f}"
                for k, s in figures.items()
            ),
        )
    return scores, bounds


SUMMARY_FIGURES = (
    *("coverage", "coverage_low", "coverage_high", "coverage_blocks"),
    *("mean_width", "winkler", "pinball"),
)


def coverage_text(figures: dict[str, Any]) -> str:
    """``"82.5 % (90 % bounds 78.0-87.0)"``, or why there are none."""
    share = f"{100 * figures['coverage']:.1f} %"
    if "coverage_low" not in figures:  # too few origins, or a report from before the bounds
        blocks = figures.get("coverage_blocks")
        return share if blocks is None else f"{share} (too few origins to bound it)"
    bounds = f"{100 * figures['coverage_low']:.1f}-{100 * figures['coverage_high']:.1f}"
    return f"{share} ({100 * COVERAGE_CONFIDENCE:g} % bounds {bounds})"


def interval_summary(scores: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """The scalar figures per level, for ``metrics.json``, MLflow and ``promotion.json``."""
    return {
        key: {name: float(s[name]) for name in SUMMARY_FIGURES if name in s}
        for key, s in scores.items()
    }


def coverage_gate(verdict: Any, scores: dict[str, dict[str, Any]], tolerance: float | None) -> Any:
    """The verdict, held back when a level's test coverage is off nominal by more than ``tolerance``."""
    from dataclasses import replace

    failures = coverage_failures(scores, tolerance)
    if not failures or not verdict.promote:
        return verdict
    reason = f"{verdict.reason}; NOT promoted: " + "; ".join(failures)
    return replace(verdict, promote=False, gate_passed=False, reason=reason)


def baseline_interval_scores(
    actual: np.ndarray, bounds: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], lags: int = 1
) -> dict[str, dict[str, dict[str, float]]]:
    """The fitted baselines' intervals scored like the model's: method -> level -> figures."""
    return {
        method: interval_summary(
            {
                key: interval_metrics(actual, lo, hi, float(key), lags)
                for key, (lo, hi) in by_level.items()
            }
        )
        for method, by_level in bounds.items()
    }


def interval_verdict(
    models: Path,
    scoring: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    levels: Sequence[float],
    baseline_bounds: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
    folder: Path,
    unit: str,
    tolerance: float | None,
    report: dict[str, Any],
    verdict: Any,
) -> tuple[Any, dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]]:
    """Score the intervals into ``report["intervals"]`` and apply the coverage gate.

    Returns the verdict and every interval scored, ``method -> level -> (lower, upper)``, the
    model's under ``"model"``: what ``origin_forecasts.parquet`` keeps beside the forecasts.

    ``scoring`` is (inputs, their end phases, the model's forecasts, actuals) at the test origins; the fitted
    baselines' intervals (``baseline_bounds``, MSTL's) are scored beside the model's, under
    ``report["baseline_intervals"]``. A model from before intervals has no calibration beside
    its weights: only the baselines are scored, verdict unchanged.
    """
    from forecasting.model.intervals import load_calibration

    actual = scoring[3]
    lags = overlap_lags(actual.shape[1], int(report.get("origin_step", 1)))
    baselines = baseline_interval_scores(actual, baseline_bounds, lags)
    if baselines:
        report["baseline_intervals"] = baselines
    calibration = load_calibration(models)
    if calibration is None:
        return verdict, dict(baseline_bounds)
    scores, bounds = evaluate_intervals(
        calibration, *scoring, levels, folder, unit, baselines, lags
    )
    report["intervals"] = interval_summary(scores)
    return coverage_gate(verdict, scores, tolerance), {"model": bounds, **baseline_bounds}
