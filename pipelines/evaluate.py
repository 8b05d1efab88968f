"""evaluate: score the model, the baselines and the champion on the same test origins; gate promotion."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from forecasting.core.files import read_json, write_atomically, write_json
from forecasting.core.plots import error_by_horizon, forecast_vs_actual
from forecasting.data.splits import Splits, read_splits
from forecasting.evaluation.baselines import baseline_forecasters, holt_winters
from forecasting.evaluation.evidence import origin_errors, paired_bootstrap
from forecasting.evaluation.gate import GatePolicy, decide
from forecasting.evaluation.metrics import mae_by_series, mase_scale, score
from forecasting.evaluation.model_card import render_model_card
from forecasting.model.datasets import test_windows
from forecasting.model.network import ModelConfig, RecurrentForecaster, load_model
from forecasting.model.windows import WindowBatch, WindowDataset
from forecasting.registry import champion
from forecasting.registry.tracking import process_tags, use_tracking
from forecasting.registry.versions import (
    CHALLENGER,
    CHAMPION,
    download_model_files,
    register_version,
    set_alias,
    version_by_alias,
)
from pipelines._stage import StageError, exit_with, run_stage
from pipelines.params import Params

logger = logging.getLogger("pipelines.evaluate")


def _forecast(model: RecurrentForecaster, batch: WindowBatch) -> np.ndarray:
    with torch.inference_mode():
        return np.asarray(model(batch.inputs, batch.end_phase).numpy(), dtype=np.float64)


def _champion_forecast(
    params: Params, splits: Splits, windows: WindowDataset, run_id: str
) -> tuple[str | None, np.ndarray | None]:
    """The current champion's forecasts at the origins of ``windows``, or (None, None) without one.

    The champion reads its own input length (it may predate a change of ``input_length``), at the
    same origins and over the same horizon; a champion with another horizon cannot be compared.
    """
    holder = champion.incumbent(params.base.registered_model, run_id)
    if holder is None:
        return None, None
    with tempfile.TemporaryDirectory() as scratch:
        folder = download_model_files(
            params.base.registered_model, str(holder.version), Path(scratch)
        )
        model = load_model(folder, expected_sha256=holder.tags.get("weights.sha256"))
    length, horizon = model.config.input_length, model.config.horizon
    own = test_windows(
        splits, params.base.freq, length, windows.horizon, params.evaluate.origin_step
    )
    if horizon != windows.horizon or not torch.equal(own.origins, windows.origins):
        logger.warning(
            "champion v%s (input %d, horizon %d) cannot be scored on these origins",
            holder.version,
            length,
            horizon,
        )
        return str(holder.version), None
    return str(holder.version), _forecast(model, own.gather(torch.arange(len(own))))


def _holt_winters(
    params: Params, splits: Splits, config: ModelConfig, windows: WindowDataset
) -> np.ndarray | None:
    """Holt-Winters forecasts at the same origins as ``windows``, or None when it cannot run.

    Each origin refits on the ``holt_winters_weeks`` weeks before it (less when the history is
    shorter, at least two weeks), which needs more history than the model's input window.
    """
    season = config.steps_per_week
    wanted = params.evaluate.holt_winters_weeks * season
    before_test = pd.concat([splits.train, splits.val]).groupby("series_id").size().min()
    history_length = int(min(wanted, before_test))
    if wanted == 0 or history_length < 2 * season:
        logger.warning(
            "Holt-Winters baseline skipped: it needs two weeks (%d steps) of history before the "
            "test split, which has %d",
            2 * season,
            before_test,
        )
        return None
    history = test_windows(
        splits, params.base.freq, history_length, config.horizon, params.evaluate.origin_step
    )
    if not torch.equal(history.origins, windows.origins):
        raise StageError("Holt-Winters history windows do not line up with the test origins")
    logger.info("fitting Holt-Winters at %d origins on %d steps each", len(history), history_length)
    inputs = history.gather(torch.arange(len(history))).inputs.numpy()
    return holt_winters(inputs, config.horizon, season)


def _write_model_card(
    params: Params,
    version: str,
    handoff: dict[str, Any],
    report: dict[str, Any],
    decision: dict[str, Any],
    path: Path,
) -> None:
    """Render the card, keep it in reports/, log it to the run and set it as the description."""
    import mlflow

    def optional(file: Path) -> dict[str, Any]:
        return read_json(file) if file.is_file() else {}

    training = optional(params.paths.reports / "train" / "metrics.json")
    training["device"] = handoff.get("device", "?")
    card = render_model_card(
        params.base.registered_model,
        version,
        optional(params.paths.raw / "manifest.json"),
        optional(params.paths.reports / "validate" / "summary.json"),
        training,
        params.train.model_dump(),
        report,
        decision,
    )

    def write(target: Path) -> None:
        target.write_text(card)

    write_atomically(path, write)
    mlflow.log_artifact(str(path), artifact_path="evaluation")
    mlflow.MlflowClient().update_model_version(
        params.base.registered_model, version, description=card
    )


def _require_run(run_id: str) -> None:
    """Fail with a way out when the training run is missing from the tracking store."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        mlflow.MlflowClient().get_run(run_id)
    except MlflowException as err:
        raise StageError(
            f"training run {run_id} (from reports/train/run.json) is not in the tracking store "
            f"{mlflow.get_tracking_uri()}: was mlflow.db deleted or MLFLOW_TRACKING_URI changed? "
            "Re-train with `dvc repro --force train`"
        ) from err


def evaluate(params: Params) -> None:
    import mlflow

    handoff: dict[str, Any] = read_json(params.paths.reports / "train" / "run.json")
    use_tracking(Path.cwd(), params.base.experiment)
    _require_run(handoff["run_id"])
    champion.repair(params.base.registered_model)  # a move half done by a killed run
    model = load_model(params.paths.models, expected_sha256=handoff["weights_sha256"])
    config = model.config
    splits = read_splits(params.paths.validated)
    windows = test_windows(
        splits, params.base.freq, config.input_length, config.horizon, params.evaluate.origin_step
    )
    if len(windows) == 0:
        raise StageError("the test split is shorter than one horizon: no forecast origin to score")
    batch = windows.gather(torch.arange(len(windows)))
    actual = batch.targets.numpy().astype(np.float64)
    inputs = batch.inputs.numpy().astype(np.float64)
    # MASE scale per series, from its training split; each window uses its own series' scale.
    series_ids = sorted(splits.train["series_id"].unique())
    scales = {
        sid: mase_scale(
            splits.train.loc[splits.train["series_id"] == sid, "value"].to_numpy(),
            config.steps_per_day,
        )
        for sid in series_ids
    }
    scale = np.array([scales[series_ids[int(n)]] for n in windows.origins[:, 0]])  # [origins]

    forecasts: dict[str, np.ndarray] = {"model": _forecast(model, batch)}
    for name, forecaster in baseline_forecasters(
        config.input_length, config.horizon, config.steps_per_day, config.steps_per_week
    ).items():
        forecasts[name] = forecaster(inputs, batch.end_phase.numpy())
    holt_winters_forecast = _holt_winters(params, splits, config, windows)
    if holt_winters_forecast is not None:
        forecasts["holt_winters"] = holt_winters_forecast
    report: dict[str, Any] = {
        "model": score(actual, forecasts["model"], scale),
        "baselines": {
            name: score(actual, f, scale) for name, f in forecasts.items() if name != "model"
        },
        "origins": len(windows),
    }

    champion_version, champion_forecast = _champion_forecast(
        params, splits, windows, handoff["run_id"]
    )
    champion_mae = None
    if champion_forecast is not None:
        report["champion"] = {
            "version": champion_version,
            **score(actual, champion_forecast, scale),
        }
        champion_mae = report["champion"]["mae"]
    baseline_maes = {n: m["mae"] for n, m in report["baselines"].items()}
    best_baseline = min(baseline_maes.items(), key=lambda item: item[1])
    e = params.evaluate
    policy = GatePolicy(
        e.min_improvement, e.require_beating_baselines, e.baseline_confidence, e.champion_confidence
    )
    model_errors = origin_errors(actual, forecasts["model"])  # [origins]
    vs_baseline = paired_bootstrap(
        model_errors,
        origin_errors(actual, forecasts[best_baseline[0]]),
        best_baseline[0],
        resamples=e.bootstrap_resamples,
        seed=params.base.seed,
    )
    vs_champion = (
        None
        if champion_forecast is None
        else paired_bootstrap(
            model_errors,
            origin_errors(actual, champion_forecast),
            f"champion v{champion_version}",
            resamples=e.bootstrap_resamples,
            seed=params.base.seed,
        )
    )
    gate = decide(vs_baseline, champion_version, vs_champion, policy, params.base.unit)
    promote, reason = gate.promote, gate.reason
    if promote and e.promotion == "manual":
        promote = False
        reason = f"evaluate.promotion is manual: the gate passed ({reason}); move the alias by hand"

    reports = params.paths.reports / "evaluate"
    write_json(reports / "metrics.json", report)
    last = len(windows) - 1
    table = pd.DataFrame({"step": np.arange(config.horizon), "actual": actual[last]})
    for name, values in forecasts.items():
        table[name] = values[last]
    write_atomically(reports / "forecasts.csv", lambda p: table.to_csv(p, index=False))
    # MAE at each step ahead over all origins, for the model, the champion and every baseline.
    by_step = {n: np.abs(f - actual).mean(axis=0) for n, f in forecasts.items() if n != "naive"}
    if champion_forecast is not None:
        by_step[f"champion v{champion_version}"] = np.abs(champion_forecast - actual).mean(axis=0)
    steps = pd.DataFrame({"step": np.arange(1, config.horizon + 1), **by_step})
    write_atomically(reports / "error_by_horizon.csv", lambda p: steps.to_csv(p, index=False))
    origin_series = np.array([series_ids[int(n)] for n in windows.origins[:, 0]])  # [origins]
    by_series = mae_by_series(actual, forecasts, origin_series)
    write_atomically(reports / "mae_by_series.csv", lambda p: by_series.to_csv(p, index=False))
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
    error_by_horizon(by_step, reports / "error_by_horizon.png", params.base.unit)
    forecast_vs_actual(
        inputs[last, -config.steps_per_week // 2 :] if config.steps_per_week > 1 else inputs[last],
        actual[last],
        {n: f[last] for n, f in forecasts.items() if n != "naive"},
        f"Last test origin: model MAE {report['model']['mae']:.0f} vs best baseline {best_baseline[0]} "
        f"{best_baseline[1]:.0f}",
        reports / "forecast.png",
        params.base.unit,
    )

    name = params.base.registered_model
    with mlflow.start_run(run_id=handoff["run_id"]):
        mlflow.set_tags(process_tags())
        flat = {f"test/{k}": v for k, v in report["model"].items()}
        for baseline, figures in report["baselines"].items():
            flat.update({f"test/{baseline}/{k}": v for k, v in figures.items()})
        mlflow.log_metrics(flat)
        mlflow.log_artifact(str(reports / "forecast.png"), artifact_path="plots")
        mlflow.log_artifact(str(reports / "error_by_horizon.png"), artifact_path="plots")
        mlflow.log_artifact(str(reports / "error_by_horizon.csv"), artifact_path="evaluation")
        mlflow.log_artifact(str(reports / "mae_by_series.csv"), artifact_path="evaluation")
        mlflow.log_artifact(str(reports / "metrics.json"), artifact_path="evaluation")
        version = register_version(
            handoff["model_uri"],
            name,
            tags={
                "run_id": handoff["run_id"],
                "weights.sha256": handoff["weights_sha256"],
                "data.sha256": handoff["data_sha256"],
                "test.mae": f"{report['model']['mae']:.4f}",
            },
        )
        set_alias(name, CHALLENGER, version)
        decision = {
            "registered_model": name,
            "version": version,
            "promoted": promote,
            "reason": reason,
            "model_mae": report["model"]["mae"],
            "best_baseline": {"name": best_baseline[0], "mae": best_baseline[1]},
            "champion_before": {"version": champion_version, "mae": champion_mae},
            "gate_passed": gate.promote,
            "policy": {
                "promotion": e.promotion,
                "min_improvement": e.min_improvement,
                "require_beating_baselines": e.require_beating_baselines,
                "baseline_confidence": e.baseline_confidence,
                "champion_confidence": e.champion_confidence,
            },
            "evidence": {
                "vs_best_baseline": vs_baseline.as_dict(),
                "vs_champion": None if vs_champion is None else vs_champion.as_dict(),
            },
            "decided_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if promote:
            try:
                champion.promote(name, version, champion_version, reason)
            except champion.ChampionChanged as err:
                rerun = "`dvc repro --force --single-item evaluate && dvc repro`"
                promote, reason = False, f"{err} ({rerun})"
                decision.update(promoted=False, reason=reason)
        holder = version_by_alias(name, CHAMPION)
        decision["champion_after"] = None if holder is None else str(holder.version)
        mlflow.set_tags(
            {
                "promotion.promoted": str(promote).lower(),
                "promotion.reason": reason,
                "registered.version": version,
            }
        )
        write_json(reports / "promotion.json", decision)
        mlflow.log_artifact(str(reports / "promotion.json"), artifact_path="evaluation")
        _write_model_card(params, version, handoff, report, decision, reports / "model_card.md")
    verdict = "PROMOTED to champion" if promote else "not promoted"
    logger.info(
        "model MAE %.1f | %s",
        report["model"]["mae"],
        " | ".join(f"{n} {m['mae']:.1f}" for n, m in report["baselines"].items()),
    )
    logger.info("version %s %s: %s", version, verdict, reason)


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("evaluate", evaluate, argv)


if __name__ == "__main__":
    exit_with(main())
