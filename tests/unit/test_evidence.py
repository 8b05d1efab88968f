"""Evidence over overlapping windows: the per-origin bootstrap's size against Diebold-Mariano's."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting.evaluation.evidence import diebold_mariano, overlap_lags, paired_bootstrap

LEVEL = 0.1  # evaluate.baseline_confidence 0.9, one-sided
ORIGINS, LAGS, REPEATS = 93, 8, 400  # 48-step windows every 6 steps: MA(7) loss differentials


def _overlapping_differentials(rng: np.random.Generator) -> np.ndarray:
    """Loss differentials with no true difference, correlated over ``LAGS - 1`` origins."""
    shocks = rng.normal(0.0, 1.0, ORIGINS + LAGS - 1)
    return np.convolve(shocks, np.ones(LAGS), mode="valid")  # [ORIGINS], MA(LAGS - 1)


def test_overlap_lags_count_the_origins_a_window_shares_targets_with():
    assert overlap_lags(48, 6) == 8 and overlap_lags(48, 48) == 1 and overlap_lags(48, 7) == 7


def test_the_iid_bootstrap_rejects_too_often_on_overlap_and_dm_hln_holds_its_level():
    rng = np.random.default_rng(0)
    bootstrap_rejections = dm_rejections = 0
    for repeat in range(REPEATS):
        differential = _overlapping_differentials(rng)
        reference = np.full(ORIGINS, 100.0)
        candidate = reference + differential
        iid = paired_bootstrap(candidate, reference, "ref", resamples=400, seed=repeat)
        dm = diebold_mariano(candidate, reference, "ref", lags=LAGS)
        bootstrap_rejections += iid.probability_better >= 1 - LEVEL
        dm_rejections += dm.probability_better >= 1 - LEVEL
    monte_carlo = 3 * np.sqrt(LEVEL * (1 - LEVEL) / REPEATS)  # three standard errors
    assert bootstrap_rejections / REPEATS > LEVEL + 2 * monte_carlo  # ~0.3: overconfident
    assert abs(dm_rejections / REPEATS - LEVEL) <= monte_carlo


def test_dm_finds_a_real_difference_and_quotes_its_interval():
    rng = np.random.default_rng(1)
    reference = 100 + rng.normal(0, 5, 93)
    candidate = reference - 10 + rng.normal(0, 1, 93)
    comparison = diebold_mariano(candidate, reference, "mstl", lags=8, confidence=0.9)
    assert comparison.ci_low < -10 < comparison.ci_high and comparison.probability_better > 0.999
    record = comparison.as_dict()
    assert record["test"].startswith("Diebold-Mariano") and record["p_value"] < 0.001
    with pytest.raises(ValueError, match="equal-length"):
        diebold_mariano(candidate[:1], reference[:1], "mstl", lags=8)
