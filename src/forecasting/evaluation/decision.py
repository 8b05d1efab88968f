"""The promotion decision: the paired evidence, the gate's verdict and the record of both.

``judge`` compares the model with the best baseline and the champion over the same origins and
asks the gate (``gate.decide``); ``decision_record`` is what ``promotion.json`` holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from forecasting.evaluation.evidence import (
    PairedComparison,
    diebold_mariano,
    origin_errors,
    overlap_lags,
)
from forecasting.evaluation.gate import GatePolicy, decide


@dataclass(frozen=True)
class PromotionPolicy:
    """The gate's thresholds plus how a pass is acted on (the ``evaluate`` params)."""

    gate: GatePolicy
    promotion: Literal["auto", "manual"]
    origin_step: int  # with the horizon, how many origins' windows overlap (the test's lags)

    def as_dict(self) -> dict[str, Any]:
        """The policy as ``promotion.json`` records it."""
        return {
            "promotion": self.promotion,
            "min_improvement": self.gate.min_improvement,
            "require_beating_baselines": self.gate.require_beating_baselines,
            "baseline_confidence": self.gate.baseline_confidence,
            "champion_confidence": self.gate.champion_confidence,
        }


@dataclass(frozen=True)
class Verdict:
    """The evidence, whether the gate passed, and whether to promote (manual mode holds back)."""

    vs_baseline: PairedComparison
    vs_champion: PairedComparison | None
    champion_version: str | None
    gate_passed: bool
    promote: bool
    reason: str


def ungated_note(report: dict[str, Any], gated_best: str, unit: str = "") -> str:
    """A clause for the reason when a baseline left out of the gate beats the model, else ''.

    ``evaluate.gate_on_classical: false`` keeps the statsforecast baselines out of the gate:
    whoever reads the decision must still see that one of them forecasts better.
    """
    model_mae = float(report["model"]["mae"])
    better = {
        name: float(m["mae"])
        for name, m in report["baselines"].items()
        if name != gated_best and float(m["mae"]) < model_mae
    }
    if not better or gated_best in better:
        return ""
    name, mae = min(better.items(), key=lambda item: item[1])
    return (
        f"; NOTE {name} ({mae:.1f}{' ' + unit if unit else ''}) beats the model "
        f"({model_mae:.1f}) but is not gated (evaluate.gate_on_classical: false)"
    )


def judge(
    actual: np.ndarray,
    forecasts: dict[str, np.ndarray],
    best_baseline: str,
    champion: tuple[str | None, np.ndarray | None],
    policy: PromotionPolicy,
    unit: str = "",
) -> Verdict:
    """Compare ``forecasts["model"]`` with the best baseline and the champion; apply the gate.

    Args:
        actual: ``[K, H]`` targets.
        forecasts: ``"model"`` and every baseline -> ``[K, H]`` forecasts.
        best_baseline: the name of the baseline with the lowest MAE.
        champion: (version, ``[K, H]`` forecasts); (None, None) without a champion, and
            (version, None) when the champion cannot be scored on these origins.
        policy: the gate and how a pass is acted on.
        unit: the series' unit, quoted in the reason.

    """
    model_errors = origin_errors(actual, forecasts["model"])  # [K]

    def compare(reference: np.ndarray, name: str) -> PairedComparison:
        # Diebold-Mariano (HLN-corrected) over the overlap of the windows: the per-origin
        # bootstrap overstated confidence on overlapping windows (tests/unit/test_evidence.py).
        return diebold_mariano(
            model_errors,
            origin_errors(actual, reference),
            name,
            lags=overlap_lags(actual.shape[1], policy.origin_step),
            confidence=policy.gate.baseline_confidence,
        )

    version, champion_forecast = champion
    vs_baseline = compare(forecasts[best_baseline], best_baseline)
    vs_champion = (
        None if champion_forecast is None else compare(champion_forecast, f"champion v{version}")
    )
    gate = decide(vs_baseline, version, vs_champion, policy.gate, unit)
    promote, reason = gate.promote, gate.reason
    if promote and policy.promotion == "manual":
        promote = False
        reason = f"evaluate.promotion is manual: the gate passed ({reason}); move the alias by hand"
    return Verdict(vs_baseline, vs_champion, version, gate.promote, promote, reason)


def decision_record(
    name: str,
    version: str,
    report: dict[str, Any],
    verdict: Verdict,
    policy: PromotionPolicy,
) -> dict[str, Any]:
    """``promotion.json`` before the alias moves (``champion_after`` is added once it has)."""
    best = min(report["baselines"].items(), key=lambda item: item[1]["mae"])
    champion_mae = report["champion"]["mae"] if "champion" in report else None
    return {
        "registered_model": name,
        "version": version,
        "promoted": verdict.promote,
        "reason": verdict.reason,
        "model_mae": report["model"]["mae"],
        "best_baseline": {"name": best[0], "mae": best[1]["mae"]},
        "champion_before": {"version": verdict.champion_version, "mae": champion_mae},
        "gate_passed": verdict.gate_passed,
        "intervals": report.get("intervals"),
        "policy": policy.as_dict(),
        "evidence": {
            "vs_best_baseline": verdict.vs_baseline.as_dict(),
            "vs_champion": None if verdict.vs_champion is None else verdict.vs_champion.as_dict(),
        },
        "decided_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
