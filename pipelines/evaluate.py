"""evaluate: score the model, the baselines and the champion on the same test origins; gate promotion."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from forecasting.core.files import read_json, write_json
from forecasting.data.splits import read_splits
from forecasting.evaluation.baselines import baseline_forecasters
from forecasting.evaluation.decision import PromotionPolicy, decision_record, judge
from forecasting.evaluation.gate import GatePolicy
from forecasting.evaluation.model_card import write_model_card
from forecasting.evaluation.reports import write_reports
from forecasting.evaluation.scoring import (
    best_baseline,
    champion_forecasts,
    holt_winters_forecasts,
    model_forecasts,
    score_report,
    scored_origins,
)
from forecasting.model.network import load_model
from forecasting.registry import champion, registration
from forecasting.registry.problem import Problem
from forecasting.registry.tracking import process_tags, use_tracking
from pipelines._stage import exit_with, run_stage
from pipelines.params import Params

logger = logging.getLogger("pipelines.evaluate")


def _policy(params: Params) -> PromotionPolicy:
    e = params.evaluate
    confidence = e.baseline_confidence, e.champion_confidence
    gate = GatePolicy(e.min_improvement, e.require_beating_baselines, *confidence)
    return PromotionPolicy(gate, e.promotion, e.bootstrap_resamples, params.base.seed)


def evaluate(params: Params) -> None:
    import mlflow

    e, name = params.evaluate, params.base.registered_model
    handoff: dict[str, Any] = read_json(params.paths.reports / "train" / "run.json")
    use_tracking(Path.cwd(), params.base.experiment)
    registration.require_run(handoff["run_id"])
    champion.repair(name)  # a move half done by a killed run
    model = load_model(params.paths.models, expected_sha256=handoff["weights_sha256"])
    config = model.config
    splits = read_splits(params.paths.validated)
    origins = scored_origins(
        splits, params.base.freq, config.input_length, config.horizon, e.origin_step,
        config.steps_per_day,
    )  # fmt: skip
    forecasts: dict[str, np.ndarray] = {"model": model_forecasts(model, origins)}
    for method, forecaster in baseline_forecasters(
        config.input_length, config.horizon, config.steps_per_day, config.steps_per_week
    ).items():
        forecasts[method] = forecaster(origins.inputs.astype(np.float64), origins.phases)
    holt_winters = holt_winters_forecasts(
        splits, params.base.freq, config.horizon, config.steps_per_week, e.holt_winters_weeks,
        e.origin_step, origins,
    )  # fmt: skip
    if holt_winters is not None:
        forecasts["holt_winters"] = holt_winters
    problem = Problem.of(
        params.base.freq, config.horizon, config.input_length, params.base.unit,
        sorted(splits.train["series_id"].unique()),
    )  # fmt: skip
    version_before, network, foreign = registration.champion_model(name, problem, handoff["run_id"])
    champion_forecast = None
    if network is not None:
        champion_forecast = champion_forecasts(
            network, splits, params.base.freq, e.origin_step, origins
        )
        if champion_forecast is None:
            logger.warning("champion v%s cannot be scored on these origins", version_before)
    scored = (
        None
        if champion_forecast is None or version_before is None
        else (version_before, champion_forecast)
    )
    report = score_report(origins, forecasts, scored)
    verdict = judge(
        origins.actual, forecasts, best_baseline(report)[0],
        (None if foreign else version_before, champion_forecast), _policy(params), params.base.unit,
    )  # fmt: skip
    if foreign:  # one registered name: a new problem's model replaces it on the baselines alone
        reason = verdict.reason.removeprefix("no champion yet; ")
        verdict = replace(verdict, reason=f"{foreign}, compared with the baselines alone: {reason}")
    reports = params.paths.reports / "evaluate"
    files = write_reports(
        reports, origins, forecasts, scored, report, params.base.unit, config.steps_per_week
    )
    with mlflow.start_run(run_id=handoff["run_id"]):
        mlflow.set_tags(process_tags())  # a later run marks this one KILLED if we die
        registration.log_evaluation(report, files.artifacts())
        version = registration.register_challenger(handoff, name, report["model"]["mae"], problem)
        decision = decision_record(name, version, report, verdict, _policy(params))
        settled = registration.settle_promotion(
            name, version, version_before, verdict.promote, verdict.reason
        )
        decision.update(
            promoted=settled.promoted, reason=settled.reason, champion_after=settled.champion_after
        )
        write_json(reports / "promotion.json", decision)
        mlflow.log_artifact(str(reports / "promotion.json"), "evaluation")
        card = reports / "model_card.md"
        write_model_card(
            card, name, version, params.paths.reports, params.paths.raw,
            params.train.model_dump(), handoff.get("device", "?"), report, decision,
        )  # fmt: skip
        registration.publish_model_card(name, version, card)
    baselines = " | ".join(f"{n} {m['mae']:.1f}" for n, m in report["baselines"].items())
    logger.info("model MAE %.1f | %s", report["model"]["mae"], baselines)
    verdict_word = "PROMOTED to champion" if settled.promoted else "not promoted"
    logger.info("version %s %s: %s", version, verdict_word, settled.reason)


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("evaluate", evaluate, argv)


if __name__ == "__main__":
    exit_with(main())
