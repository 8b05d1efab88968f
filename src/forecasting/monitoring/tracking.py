"""Monitoring in MLflow, against the model version it watched.

One run per watched version (tagged ``monitor.model_version``) collects its days: ``live/mae``,
``live/naive_mae``, ``live/mae_ratio`` and the input drift, at step = the day's number since
1970 (so the UI's step axis reads as days), with ``monitor.json`` and the plot as artifacts. The
version itself gets ``monitor.*`` tags: the latest status, ratio and decision, readable beside
its ``test.mae`` in the registry.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)
RUN_TAG = "monitor.model_version"
_DAY_METRICS = {
    "live_mae": "live/mae",
    "naive_mae": "live/naive_mae",
    "ratio": "live/mae_ratio",
    "drift_level": "live/drift_level",
    "drift_psi": "live/drift_psi",
}


def log_monitoring(
    name: str, experiment: str, report: dict[str, Any], artifacts: list[Path]
) -> str | None:
    """Log ``report`` (``monitor.json``'s content) to the version's monitor run; its run id.

    Only judged days are logged, each once (the run's last logged step is read back first).
    """
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    version = report.get("model_version")
    if version is None:
        return None
    client = MlflowClient()
    found = mlflow.search_runs(
        experiment_names=[experiment],
        filter_string=f"tags.`{RUN_TAG}` = '{version}'",
        max_results=1,
        output_format="list",
    )
    if found:
        run_id = found[0].info.run_id
    else:
        experiment_id = mlflow.set_experiment(experiment).experiment_id
        run = client.create_run(
            experiment_id,
            tags={RUN_TAG: str(version), "mlflow.runName": f"monitor {name} v{version}"},
        )
        run_id = run.info.run_id
    history = client.get_metric_history(run_id, "live/mae")
    logged = max((m.step for m in history), default=-1)
    metrics = []
    for day in report["days"]:
        if day["model_version"] != version or day["decayed"] is None:
            continue
        stamp = _day_number(day["day"])
        if stamp <= logged:
            continue
        for key, metric in _DAY_METRICS.items():
            if day.get(key) is not None:
                metrics.append(Metric(metric, float(day[key]), stamp * 86_400_000, stamp))
    if metrics:
        client.log_batch(run_id, metrics=metrics)
    for path in artifacts:
        client.log_artifact(run_id, str(path))
    decision = report["decision"]
    client.set_terminated(run_id)  # finished between passes; the next one logs to it again
    for key, value in {
        "monitor.status": "decayed" if decision["alarm_days"] else "healthy",
        "monitor.decision": decision["reason"][:500],
        "monitor.run_id": run_id,
    }.items():
        client.set_model_version_tag(name, str(version), key, value)
    return str(run_id)


def _day_number(day: str) -> int:
    import datetime as dt

    return (dt.date.fromisoformat(day) - dt.date(1970, 1, 1)).days
