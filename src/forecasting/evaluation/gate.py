"""The promotion gate: when a newly trained model may replace the champion.

Both comparisons are paired tests over the same forecast origins (``evidence.py``), not single
numbers: Diebold-Mariano with the Harvey-Leybourne-Newbold correction, its variance counting the
autocorrelation of overlapping windows; ``probability_better`` is one minus its one-sided p-value.

* **Baselines.** The candidate must beat the best baseline (lowest MAE) by ``min_improvement``
  of its MAE, with a one-sided p-value of at most ``1 - baseline_confidence``: a lucky average over
  a few days is not enough.
* **Champion.** The candidate must have a lower MAE than the champion (by ``min_improvement``)
  with a one-sided p-value of at most ``1 - champion_confidence``. A retrain of the same model
  (difference 0) is therefore never promoted over itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from forecasting.evaluation.evidence import PairedComparison


@dataclass(frozen=True)
class GatePolicy:
    """The thresholds of the gate (the ``evaluate`` section of ``params.yaml``)."""

    min_improvement: float = 0.0
    require_beating_baselines: bool = True
    baseline_confidence: float = 0.9
    champion_confidence: float = 0.5


@dataclass(frozen=True)
class Decision:
    """Whether to promote, and the reason in one sentence."""

    promote: bool
    reason: str


def _interval(comparison: PairedComparison, unit: str) -> str:
    return (
        f"mean difference {comparison.mean_difference:+.1f}{f' {unit}' if unit else ''}, "
        f"{comparison.confidence:.0%} CI [{comparison.ci_low:+.1f}, {comparison.ci_high:+.1f}], "
        f"one-sided p = {1 - comparison.probability_better:.3f} ({comparison.test}) over "
        f"{comparison.origins} origins"
    )


def decide(
    vs_baseline: PairedComparison,
    champion_version: str | None,
    vs_champion: PairedComparison | None,
    policy: GatePolicy,
    unit: str = "",
) -> Decision:
    """Promote only a candidate that clearly beats the best baseline and is better than the champion.

    ``unit`` (the series' unit, ``base.unit``) follows the differences quoted in the reason.

    ``vs_champion`` is None when there is no champion (``champion_version`` None) or when the
    champion could not be scored on these origins (another horizon): then nothing is promoted
    automatically.
    """
    baseline = vs_baseline.reference
    margin = policy.min_improvement * vs_baseline.reference_mae
    clearly_better = (
        vs_baseline.mean_difference < -margin
        and vs_baseline.probability_better >= policy.baseline_confidence
    )
    if policy.require_beating_baselines and not clearly_better:
        return Decision(
            False,
            f"test MAE {vs_baseline.candidate_mae:.1f} does not clearly beat the best baseline "
            f"{baseline} ({vs_baseline.reference_mae:.1f}): {_interval(vs_baseline, unit)}",
        )
    if champion_version is None:
        return Decision(
            True,
            f"no champion yet; test MAE {vs_baseline.candidate_mae:.1f} beats the best baseline "
            f"{baseline} ({vs_baseline.reference_mae:.1f}): {_interval(vs_baseline, unit)}",
        )
    if vs_champion is None:
        return Decision(
            False,
            f"champion v{champion_version} cannot be scored on these origins; promote by hand "
            "if intended",
        )
    bar = vs_champion.reference_mae * (1.0 - policy.min_improvement)
    if not (
        vs_champion.candidate_mae < bar
        and vs_champion.probability_better >= policy.champion_confidence
    ):
        return Decision(
            False,
            f"test MAE {vs_champion.candidate_mae:.1f} does not beat champion v{champion_version} "
            f"({vs_champion.reference_mae:.1f}): {_interval(vs_champion, unit)}",
        )
    return Decision(
        True,
        f"test MAE {vs_champion.candidate_mae:.1f} beats champion v{champion_version} "
        f"({vs_champion.reference_mae:.1f}: {_interval(vs_champion, unit)}) and the best baseline "
        f"{baseline} ({vs_baseline.reference_mae:.1f})",
    )
