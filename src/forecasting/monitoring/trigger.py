"""When to retrain: a sustained rise of the live error over the test error, or drifted inputs.

Each day the champion served is judged once its actuals have all arrived: **decayed** when its
live MAE passes ``max_error_ratio`` x the test MAE the gate saw, **drifted** when its inputs pass
a drift limit (drift needs no actuals, so it is judged at once). A day is an alarm if either
holds; a run of ``sustained_days`` alarm days in a row, ending with the latest judged day, is a
decay. One decay triggers once: the state file remembers the trigger (model version, the day
the decay began, the day it fired), and a later run that finds the same version still in an
unbroken run of alarms that covers the day it fired says so instead of firing again. A healthy
day ends the decay; a new champion starts its own count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from forecasting.core.files import read_json, write_json


@dataclass(frozen=True)
class TriggerPolicy:
    """The ``monitor`` section's limits (params.yaml says why each is what it is)."""

    max_error_ratio: float
    sustained_days: int
    drift_level: float
    drift_psi: float
    drift_ks: float
    drift_shape: float


@dataclass(frozen=True)
class Decision:
    """Whether to retrain now, and why (or why not), in one line."""

    trigger: bool
    reason: str
    model_version: str | None
    decay_start: str | None = None  # the first alarm day of the decay (ISO date)
    alarm_days: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "trigger": self.trigger,
            "reason": self.reason,
            "model_version": self.model_version,
            "decay_start": self.decay_start,
            "alarm_days": self.alarm_days,
        }


def judge_days(days: pd.DataFrame, test_mae: float, policy: TriggerPolicy) -> pd.DataFrame:
    """Each of ``days`` (``live.daily_errors`` plus drift columns) held against ``policy``.

    Adds ``ratio``, ``decayed``, ``drifted``, ``alarm`` and ``why``; ``decayed`` is None until a day is complete (not yet judged on error).
    """
    judged = days.copy()
    judged["ratio"] = judged["live_mae"] / test_mae
    whys: list[str] = []
    decayed: list[bool | None] = []
    drifted: list[bool] = []
    for row in judged.itertuples(index=False):
        reasons = []
        over: bool | None = None
        if row.complete and not _missing(row.ratio):
            over = bool(row.ratio > policy.max_error_ratio)
            if over:
                reasons.append(
                    f"live MAE {row.live_mae:.4g} is {row.ratio:.2f}x the test MAE "
                    f"(limit {policy.max_error_ratio}x)"
                )
        drift = False
        for name, limit, value in (
            ("level", policy.drift_level, abs(_or_nan(getattr(row, "drift_level", None)))),
            ("PSI", policy.drift_psi, _or_nan(getattr(row, "drift_psi", None))),
            ("KS", policy.drift_ks, _or_nan(getattr(row, "drift_ks", None))),
            ("daily shape", policy.drift_shape, _or_nan(getattr(row, "drift_day_shape", None))),
        ):
            if value > limit:
                drift = True
                reasons.append(f"input {name} drift {value:.3f} (limit {limit})")
        decayed.append(over)
        drifted.append(drift)
        whys.append("; ".join(reasons))
    judged["decayed"] = decayed
    judged["drifted"] = drifted
    judged["alarm"] = [bool(d) or f for d, f in zip(decayed, drifted, strict=True)]
    judged["why"] = whys
    return judged


def _or_nan(value: Any) -> float:
    return math.nan if value is None or _missing(value) else float(value)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def decide(
    judged: pd.DataFrame, version: str | None, policy: TriggerPolicy, state: dict[str, Any]
) -> Decision:
    """Trigger or not for champion ``version``, from its judged days and the saved ``state``."""
    if version is None:
        return Decision(False, "no trigger: no forecast has been logged yet", None)
    mine = judged[judged["model_version"] == version].sort_values("day")
    # Days judged on neither error nor drift (actuals still arriving, no drift) wait.
    mine = mine[mine["decayed"].notna() | mine["drifted"]]
    if mine.empty:
        return Decision(
            False, f"no trigger: no day of v{version}'s forecasts can be judged yet", version
        )
    streak: list[pd.Series] = []
    for _, row in mine.iloc[::-1].iterrows():
        if not row["alarm"]:
            break
        streak.append(row)
    streak.reverse()
    days = [row["day"].date().isoformat() for row in streak]
    if len(streak) < policy.sustained_days:
        last = mine.iloc[-1]
        status = (
            f"the last {len(streak)} judged day(s) alarmed ({last['why']})"
            if streak
            else f"v{version} was within its limits on {last['day'].date().isoformat()}"
            + (f" (live/test MAE {last['ratio']:.2f}x)" if not _missing(last["ratio"]) else "")
        )
        return Decision(
            False,
            f"no trigger: {status}; a trigger needs {policy.sustained_days} alarm days in a row",
            version,
            alarm_days=days,
        )
    previous = state.get("last_trigger") or {}
    if previous.get("model_version") == version and previous.get("fired_on") in days:
        return Decision(
            False,
            f"no trigger: already triggered on {previous['fired_on']} for this decay of "
            f"v{version} (alarms since {days[0]}); waiting for a new champion or a healthy day",
            version,
            days[0],
            days,
        )
    return Decision(
        True,
        f"trigger: v{version} alarmed {len(days)} days in a row since {days[0]}: "
        f"{streak[-1]['why']}",
        version,
        days[0],
        days,
    )


def load_state(path: Path) -> dict[str, Any]:
    """The saved trigger state (empty before the first run).

    Raises:
        ValueError: if the file exists but is not a JSON object (delete it to start over).

    """
    if not path.is_file():
        return {}
    try:
        state = read_json(path)
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON ({err}): delete it to start over") from err
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a JSON object: delete it to start over")
    return state


def record_trigger(path: Path, state: dict[str, Any], decision: Decision, at: str) -> None:
    """Remember that ``decision`` fired (before anything runs, so a crash cannot re-fire it)."""
    fired = {
        "model_version": decision.model_version,
        "decay_start": decision.decay_start,
        "fired_on": decision.alarm_days[-1],
        "at": at,
        "reason": decision.reason,
    }
    history = [*state.get("triggers", []), fired]
    write_json(path, {**state, "last_trigger": fired, "triggers": history})
