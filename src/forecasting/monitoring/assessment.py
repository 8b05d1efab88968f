"""One monitoring pass: the log and the snapshot in, the judged days and the decision out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from forecasting.monitoring.expectation import Expectation
from forecasting.monitoring.inputs import daily_input_drift
from forecasting.monitoring.live import daily_errors, join_actuals, lead_errors, served_targets
from forecasting.monitoring.trigger import Decision, TriggerPolicy, decide, judge_days


@dataclass(frozen=True)
class Assessment:
    """The judged days, the error by lead time, and the decision."""

    days: pd.DataFrame
    leads: pd.DataFrame
    decision: Decision
    version: str | None

    def as_dict(self, expectation: Expectation, torn: int) -> dict[str, Any]:
        """What ``reports/monitor/monitor.json`` holds."""
        columns = ["forecasts", "targets", "arrived", "live_mae", "naive_mae", "ratio"]
        columns += ["drift_level", "drift_psi", "drift_ks", "drift_day_shape"]
        days = [
            {"day": row["day"].date().isoformat(), "model_version": row["model_version"]}
            | {c: _plain(row.get(c)) for c in columns}
            | {
                "complete": bool(row["complete"]),
                "decayed": None if _plain(row["decayed"]) is None else bool(row["decayed"]),
                "drifted": bool(row["drifted"]),
                "alarm": bool(row["alarm"]),
                "why": row["why"],
            }
            for row in self.days.to_dict("records")
        ]
        leads = [
            {
                "lead": int(row["lead"]),
                "live_mae": _plain(row["live_mae"]),
                "naive_mae": _plain(row["naive_mae"]),
                "test_mae": expectation.by_lead.get(int(row["lead"])),
            }
            for row in self.leads.to_dict("records")
        ]
        return {
            "model_version": self.version,
            "decision": self.decision.as_dict(),
            "expected": {
                "test_mae": expectation.test_mae,
                "source": expectation.source,
                "profile": expectation.profile_of,  # the split served inputs are held against
            },
            "torn_records": torn,
            "days": days,
            "by_lead": leads,
        }


def _plain(value: Any) -> Any:
    """NaN and numpy scalars as JSON: None and Python numbers."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def assess(
    records: list[dict[str, Any]],
    snapshot: pd.DataFrame,
    freq: str,
    expectation: Expectation,
    policy: TriggerPolicy,
    state: dict[str, Any],
) -> Assessment:
    """Score ``records`` against ``snapshot``, judge each day, and decide whether to retrain.

    Raises:
        ValueError: if there is no test MAE to compare with, or the log is of another step.

    """
    if expectation.test_mae is None or expectation.test_mae <= 0:
        raise ValueError(
            "no test MAE of the champion to compare the live error with: run the pipeline "
            "(make run) so that evaluate scores and registers one"
        )
    version = expectation.version
    if version is None and records:
        version = str(records[-1].get("model_version"))
    # Only the watched version's forecasts: an earlier champion's were judged against its own
    # test MAE and profile, in its own passes (and MLflow run), not against this one's.
    served = [r for r in records if str(r.get("model_version")) == version]
    if records and not served:
        return Assessment(pd.DataFrame(), pd.DataFrame(columns=["lead", "live_mae", "naive_mae"]),
                          Decision(False, f"no trigger: the log holds no forecast of v{version} "
                                   "yet (is the new champion deployed?)", version), version)  # fmt: skip
    joined = join_actuals(served_targets(served, freq), snapshot, freq)
    days = daily_errors(joined)
    if expectation.profile is not None and not days.empty:
        drift = daily_input_drift(served, snapshot, expectation.profile, freq)
        for name in ("level", "psi", "ks", "day_shape"):
            days[f"drift_{name}"] = [
                getattr(drift[day], name) if day in drift else None for day in days["day"]
            ]
    judged = judge_days(days, expectation.test_mae, policy) if not days.empty else days
    decision = decide_empty(version) if judged.empty else decide(judged, version, policy, state)
    return Assessment(judged, lead_errors(joined), decision, version)


def decide_empty(version: str | None) -> Decision:
    """The decision when nothing has been logged."""
    return Decision(False, "no trigger: the inference log holds no forecast yet", version)
