"""The promotion gate: when a newly trained model may replace the champion."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GatePolicy:
    """``min_improvement``: the fraction by which MAE must beat the bar (0 = strictly better)."""

    min_improvement: float = 0.0
    require_beating_baselines: bool = True


@dataclass(frozen=True)
class Decision:
    """Whether to promote, and the reason in one sentence."""

    promote: bool
    reason: str


def decide(
    model_mae: float,
    baselines: dict[str, float],
    champion_version: str | None,
    champion_mae: float | None,
    policy: GatePolicy,
) -> Decision:
    """Promote only a model that beats the best baseline (if required) and the champion.

    ``champion_mae`` is None when a champion exists but could not be scored on these origins
    (another window shape): then nothing is promoted automatically.
    """
    factor = 1.0 - policy.min_improvement
    name, baseline_mae = min(baselines.items(), key=lambda item: item[1])
    if policy.require_beating_baselines and not model_mae < baseline_mae * factor:
        return Decision(
            False,
            f"test MAE {model_mae:.1f} does not beat the best baseline {name} ({baseline_mae:.1f})",
        )
    if champion_version is None:
        return Decision(
            True,
            f"no champion yet; test MAE {model_mae:.1f} beats the best baseline {name} ({baseline_mae:.1f})",
        )
    if champion_mae is None:
        return Decision(
            False,
            f"champion v{champion_version} cannot be scored on these origins; promote by hand if intended",
        )
    if not model_mae < champion_mae * factor:
        return Decision(
            False,
            f"test MAE {model_mae:.1f} does not beat champion v{champion_version} ({champion_mae:.1f})",
        )
    return Decision(
        True,
        f"test MAE {model_mae:.1f} beats champion v{champion_version} ({champion_mae:.1f}) "
        f"and the best baseline {name} ({baseline_mae:.1f})",
    )
