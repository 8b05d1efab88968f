"""Recording an evaluation in MLflow: the run's metrics and files, the new version, the champion move.

The evaluate stage calls these in order, inside the training run: ``log_evaluation``, then
``register_challenger``, then ``settle_promotion`` (which moves the ``champion`` alias only when
the gate passed and nobody moved it meanwhile), then ``publish_model_card``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecasting.core.errors import ForecastingError
from forecasting.evaluation.decision import PromotionPolicy, Verdict, decision_record
from forecasting.model.network import RecurrentForecaster, load_model
from forecasting.registry import champion
from forecasting.registry.problem import Problem, belongs_to
from forecasting.registry.tracking import process_tags
from forecasting.registry.versions import (
    CHALLENGER,
    CHAMPION,
    download_model_files,
    register_version,
    set_alias,
    version_by_alias,
)

logger = logging.getLogger(__name__)


class MissingRun(ForecastingError):
    """The training run named by the hand-off file is not in the tracking store."""


def require_run(run_id: str) -> None:
    """Fail with a way out when the training run is missing from the tracking store.

    Raises:
        MissingRun: naming the store and how to recover.

    """
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        mlflow.MlflowClient().get_run(run_id)
    except MlflowException as err:
        raise MissingRun(
            f"training run {run_id} (from reports/train/run.json) is not in the tracking store "
            f"{mlflow.get_tracking_uri()}: was mlflow.db deleted or MLFLOW_TRACKING_URI changed? "
            "Re-train with `dvc repro --force train`"
        ) from err


def champion_model(
    name: str, problem: Problem, run_id: str
) -> tuple[str | None, RecurrentForecaster | None, str | None]:
    """The champion a candidate of ``run_id`` is compared with, and its network, or Nones.

    Normally the current champion; after an evaluate of ``run_id`` that promoted it and was
    killed, the version it replaced (``champion.incumbent``), so the rerun decides the same.

    A champion of another ``problem`` (frequency, horizon, input length, unit, series) is no
    reference: its network is not loaded and the third item says why (else None).
    """
    holder = champion.incumbent(name, run_id)
    if holder is None:
        return None, None, None
    same, why = belongs_to(holder, problem)
    if not same:
        logger.info("champion %s: the gate compares with the baselines alone", why)
        return str(holder.version), None, f"champion {why}"
    with tempfile.TemporaryDirectory() as scratch:
        folder = download_model_files(name, str(holder.version), Path(scratch))
        model = load_model(folder, expected_sha256=holder.tags.get("weights.sha256"))
    return str(holder.version), model, None


def flat_metrics(report: dict[str, Any], split: str = "test") -> dict[str, float]:
    """``metrics.json`` as MLflow metric keys: ``test/mae``, ``test/<baseline>/mae``, ``test/daily/mae`` ..."""
    flat = {f"{split}/{k}": float(v) for k, v in report["model"].items()}
    for baseline, figures in report["baselines"].items():
        flat.update({f"{split}/{baseline}/{k}": float(v) for k, v in figures.items()})
    # the model's seasonal base without the network: test/model_base/mae, ...
    flat.update(
        {f"{split}/model_base/{k}": float(v) for k, v in report.get("model_base", {}).items()}
    )
    if "daily" in report:  # the one-a-day subset: test/daily/mae, test/daily/<baseline>/mae, ...
        keys = ("model", "baselines", "model_base")
        daily = {key: report["daily"][key] for key in keys if key in report["daily"]}
        flat.update(flat_metrics(daily, f"{split}/daily"))
    for level, figures in report.get("intervals", {}).items():
        flat.update({f"{split}/interval_{level}/{k}": float(v) for k, v in figures.items()})
    for method, levels in report.get("baseline_intervals", {}).items():
        for level, figures in levels.items():
            flat.update(
                {f"{split}/{method}/interval_{level}/{k}": float(v) for k, v in figures.items()}
            )
    return flat


def log_evaluation(report: dict[str, Any], artifacts: Sequence[tuple[Path, str]]) -> None:
    """Log the scores (one batched call) and the report files to the active run."""
    import mlflow

    mlflow.log_metrics(flat_metrics(report))
    for path, folder in artifacts:
        mlflow.log_artifact(str(path), artifact_path=folder)


def register_challenger(
    handoff: dict[str, Any], name: str, test_mae: float, problem: Problem
) -> str:
    """Register the trained model as a new version of ``name`` holding ``challenger``.

    Args:
        handoff: the train stage's ``run.json`` (run id, model URI, weights and data hashes).
        name: the registered model.
        test_mae: the model's test MAE, kept as a version tag.
        problem: the problem it forecasts, kept as ``problem.*`` tags.

    """
    version = register_version(
        handoff["model_uri"],
        name,
        tags={
            "run_id": handoff["run_id"],
            "weights.sha256": handoff["weights_sha256"],
            "data.sha256": handoff["data_sha256"],
            "test.mae": f"{test_mae:.4f}",
            **problem.as_tags(),
        },
    )
    set_alias(name, CHALLENGER, version)
    return version


@dataclass(frozen=True)
class Settlement:
    """What happened to the champion alias."""

    promoted: bool
    reason: str
    champion_after: str | None


def settle_promotion(
    name: str, version: str, expected_champion: str | None, promote: bool, reason: str
) -> Settlement:
    """Move ``champion`` to ``version`` when ``promote``; tag the run with the outcome.

    The move is a compare-and-set (``champion.promote``): if another pipeline moved the champion
    since it was read, nothing is overwritten and the reason says to re-run evaluate.
    """
    import mlflow

    if promote:
        try:
            champion.promote(name, version, expected_champion, reason)
        except champion.ChampionChanged as err:
            promote, reason = (
                False,
                f"{err} (`dvc repro --force --single-item evaluate && dvc repro`)",
            )
    holder = version_by_alias(name, CHAMPION)
    mlflow.set_tags(
        {
            "promotion.promoted": str(promote).lower(),
            "promotion.reason": reason,
            "registered.version": version,
        }
    )
    return Settlement(promote, reason, None if holder is None else str(holder.version))


def publish_model_card(name: str, version: str, card: Path) -> None:
    """Log the card to the active run and make it the version's description."""
    import mlflow

    mlflow.log_artifact(str(card), artifact_path="evaluation")
    mlflow.MlflowClient().update_model_version(name, version, description=card.read_text())


def record_decision(
    name: str,
    handoff: dict[str, Any],
    problem: Problem,
    evaluation: tuple[dict[str, Any], Verdict, PromotionPolicy],
    version_before: str | None,
    artifacts: Sequence[tuple[Path, str]],
) -> tuple[str, dict[str, Any]]:
    """Log the scores, register the challenger and settle the promotion, in the active run.

    Args:
        name: the registered model.
        handoff: the train stage's ``run.json``.
        problem: what the model forecasts (its ``problem.*`` version tags).
        evaluation: the score report, the gate's verdict and the promotion policy.
        version_before: the champion the verdict was reached against.
        artifacts: the report files to log, with their artifact folders.

    Returns:
        The new version and its decision record (``promotion.json``), settled.

    """
    import mlflow

    report, verdict, policy = evaluation
    mlflow.set_tags(process_tags())  # a later run marks this one KILLED if we die
    log_evaluation(report, artifacts)
    version = register_challenger(handoff, name, report["model"]["mae"], problem)
    decision = decision_record(name, version, report, verdict, policy)
    settled = settle_promotion(name, version, version_before, verdict.promote, verdict.reason)
    decision.update(
        promoted=settled.promoted, reason=settled.reason, champion_after=settled.champion_after
    )
    return version, decision
