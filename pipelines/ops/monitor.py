"""monitor: the served champion against what happened; retrain when it decays (``make monitor``).

Not a DVC stage (params.yaml's ``monitor`` section says why). Reads the inference log
(``package.inference_log``) and the current raw snapshot, writes ``reports/monitor/monitor.json``
and ``live_vs_expected.png``, logs both to MLflow against the watched version, and on a trigger
runs ``monitor.on_trigger`` (``MONITOR_TRIGGER`` overrides it). Exit 0 whether or not it
triggered; 1 with one line when it cannot judge, or when the retrain it started failed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forecasting.core.files import write_json
from forecasting.core.plots import live_vs_expected
from forecasting.data.snapshots import read_snapshot
from forecasting.monitoring.assessment import assess
from forecasting.monitoring.dispatch import MODES, act
from forecasting.monitoring.expectation import champion_expectation
from forecasting.monitoring.trigger import TriggerPolicy, load_state, record_trigger
from forecasting.serving.inference_log import read_records
from pipelines._stage import StageError, exit_with, run_stage
from pipelines.params import Params

logger = logging.getLogger("pipelines.monitor")


def monitor(params: Params) -> None:
    m, v = params.monitor, params.validate_
    folder = params.paths.reports / "monitor"
    log = Path(params.package.inference_log)
    if not params.package.inference_log.strip():
        raise StageError('package.inference_log is off (""): nothing is logged to monitor')
    if _mode(params) not in MODES:  # before anything is judged or remembered
        raise StageError(f"MONITOR_TRIGGER={_mode(params)!r}: use one of {', '.join(MODES)}")
    records, torn = read_records(log)
    if torn:
        logger.warning("skipped %d torn line(s) in %s (a writer was killed mid-record)", torn, log)
    name = params.base.registered_model
    expectation = champion_expectation(Path.cwd(), name, params.paths.reports)
    policy = TriggerPolicy(
        m.max_error_ratio, m.sustained_days, m.drift_level, v.drift_psi, v.drift_ks, v.drift_shape
    )
    state_file = folder / "state.json"
    state = load_state(state_file)
    result = assess(
        records, read_snapshot(params.paths.raw), params.base.freq, expectation, policy, state
    )
    report = result.as_dict(expectation, torn) | {"log": str(log), "records": len(records)}
    report["policy"] = policy.__dict__ | {"on_trigger": _mode(params)}
    write_json(folder / "monitor.json", report)
    plot = folder / "live_vs_expected.png"
    _plot(report, (expectation.test_mae or 0.0), plot, params)
    decision = result.decision
    logger.info("%s", decision.reason)
    _log_to_mlflow(params, report, [folder / "monitor.json", plot])
    if not decision.trigger:
        return
    # Remembered before the retrain runs: a crash mid-retrain must not fire the same decay again.
    record_trigger(state_file, state, decision, datetime.now(UTC).isoformat(timespec="seconds"))
    outcome = act(_mode(params), m.retrain_command, m.workflow, decision.reason)
    write_json(folder / "monitor.json", report | {"trigger": outcome.__dict__})
    logger.info("trigger: %s", outcome.detail)
    if outcome.returncode not in (None, 0):
        raise StageError(
            f"the retrain triggered for this decay failed ({outcome.detail}); it is not "
            f"triggered again: fix it and run `{m.retrain_command}` by hand"
        )


def _mode(params: Params) -> str:
    return os.environ.get("MONITOR_TRIGGER", "").strip() or params.monitor.on_trigger


def _plot(report: dict[str, Any], expected: float, path: Path, params: Params) -> None:
    judged = [d for d in report["days"] if d["live_mae"] is not None]
    leads = report["by_lead"]
    live_vs_expected(
        [datetime.fromisoformat(d["day"]) for d in judged],
        [d["live_mae"] for d in judged],
        [d["naive_mae"] if d["naive_mae"] is not None else float("nan") for d in judged],
        [d["alarm"] for d in judged],
        expected,
        expected * params.monitor.max_error_ratio,
        ([r["lead"] for r in leads], [r["live_mae"] for r in leads],
         [r["test_mae"] for r in leads]),
        f"Live vs expected error, {params.base.registered_model} v{report['model_version']}",
        path,
        params.base.unit,
    )  # fmt: skip


def _log_to_mlflow(params: Params, report: dict[str, Any], artifacts: list[Path]) -> None:
    """Log the pass to MLflow; a store that fails is a warning (the report is on disk)."""
    from forecasting.monitoring.tracking import log_monitoring
    from forecasting.registry.tracking import existing_store

    if existing_store(Path.cwd()) is None:
        logger.info("no MLflow store: monitoring not logged to MLflow")
        return
    try:
        run = log_monitoring(
            params.base.registered_model, params.base.experiment, report, artifacts
        )
        logger.info("logged to MLflow run %s", run)
    except Exception as err:
        logger.warning("monitoring not logged to MLflow (%s)", str(err).strip()[:200])


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("monitor", monitor, argv)


if __name__ == "__main__":
    exit_with(main())
