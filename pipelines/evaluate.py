"""evaluate: score the model, the baselines and the champion on the same test origins; gate promotion."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from forecasting.core.files import read_json, write_json
from forecasting.core.periods import steps_per_week
from forecasting.data.splits import read_splits
from forecasting.evaluation.decision import PromotionPolicy, Verdict
from forecasting.evaluation.gate import GatePolicy
from forecasting.evaluation.interval_scores import interval_verdict
from forecasting.evaluation.model_card import write_model_card
from forecasting.evaluation.reports import log_outcome, write_reports
from forecasting.evaluation.scoring import (
    BaselineSettings,
    Bounds,
    ModelScoring,
    ScoredOrigins,
    base_forecasts,
    champion_comparison,
    gated_verdict,
    method_forecasts,
    score_report,
    scored_origins,
)
from forecasting.model.network import load_model
from forecasting.registry import champion, registration
from forecasting.registry.problem import Problem
from forecasting.registry.tracking import use_tracking
from pipelines._stage import exit_with, run_stage
from pipelines.params import Params

logger = logging.getLogger("pipelines.evaluate")


def _policy(params: Params) -> PromotionPolicy:
    e = params.evaluate
    confidence = e.baseline_confidence, e.champion_confidence
    gate = GatePolicy(e.min_improvement, e.require_beating_baselines, *confidence)
    return PromotionPolicy(gate, e.promotion, e.origin_step)


def _record(
    params: Params,
    handoff: dict[str, Any],
    problem: Problem,
    scoring: tuple[ScoredOrigins, dict[str, np.ndarray], tuple[str, np.ndarray] | None, Bounds],
    report: dict[str, Any],
    verdict: Verdict,
    version_before: str | None,
) -> None:
    """Reports, the run's metrics, the challenger version, the champion move and the card."""
    import mlflow

    name, (origins, forecasts, scored, bounds) = params.base.registered_model, scoring
    week = steps_per_week(params.base.freq)
    reports = params.paths.reports / "evaluate"
    files = write_reports(
        reports, origins, forecasts, scored, report, params.base.unit, week, bounds
    )
    with mlflow.start_run(run_id=handoff["run_id"]):
        evaluation = (report, verdict, _policy(params))
        version, decision = registration.record_decision(
            name, handoff, problem, evaluation, version_before, files.artifacts()
        )
        write_json(reports / "promotion.json", decision)
        mlflow.log_artifact(str(reports / "promotion.json"), "evaluation")
        card = reports / "model_card.md"
        write_model_card(
            card, name, version, params.paths.reports, params.paths.raw,
            params.train.model_dump(), handoff.get("device", "?"), report, decision,
        )  # fmt: skip
        registration.publish_model_card(name, version, card)
    log_outcome(logger, report, version, decision)


def evaluate(params: Params) -> None:
    e, name = params.evaluate, params.base.registered_model
    handoff: dict[str, Any] = read_json(params.paths.reports / "train" / "run.json")
    use_tracking(Path.cwd(), params.base.experiment)
    registration.require_run(handoff["run_id"])
    champion.repair(name)  # a move half done by a killed run
    model = load_model(params.paths.models, expected_sha256=handoff["weights_sha256"])
    config, freq = model.config, params.base.freq
    splits = read_splits(params.paths.validated)
    origins = scored_origins(
        splits, freq, config.input_length, config.horizon, e.origin_step,
        config.steps_per_day,
    )  # fmt: skip
    levels, cache = params.train.interval_levels, params.paths.cache / "baselines"
    baselines = BaselineSettings(
        weeks=e.classical_weeks, jobs=e.classical_jobs, arima_approximation=e.arima_approximation,
        engine=e.engine, engine_address=e.engine_address, cache=cache, levels=tuple(levels),
    )  # fmt: skip
    scoring = ModelScoring(e.model_batch, e.engine, e.engine_address, e.classical_jobs)
    forecasts, bounds = method_forecasts(model, origins, splits, freq, baselines, scoring)
    series = sorted(splits.train["series_id"].unique())
    problem = Problem.of(freq, config.horizon, config.input_length, params.base.unit, series)
    version_before, network, foreign = registration.champion_model(name, problem, handoff["run_id"])
    scored = champion_comparison(network, version_before, splits, freq, origins, scoring)
    report = score_report(origins, forecasts, scored, base_forecasts(model, origins, e.model_batch))
    champion_pair = (None if foreign else version_before, None if scored is None else scored[1])
    verdict = gated_verdict(
        report, origins, forecasts, champion_pair, _policy(params), params.base.unit,
        e.gate_on_classical, foreign,
    )  # fmt: skip
    scoring_inputs = (origins.inputs, origins.phases, forecasts["model"], origins.actual)
    verdict, every_bound = interval_verdict(
        params.paths.models, scoring_inputs, levels, bounds, params.paths.reports / "evaluate",
        params.base.unit, e.coverage_tolerance, report, verdict,
    )  # fmt: skip
    scoring_outputs = (origins, forecasts, scored, every_bound)
    _record(params, handoff, problem, scoring_outputs, report, verdict, version_before)


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("evaluate", evaluate, argv)


if __name__ == "__main__":
    exit_with(main())
