"""PSI and KS against a stored profile, on known distributions."""

from __future__ import annotations

import numpy as np

from forecasting.drift import ValueProfile, compare


def test_the_same_distribution_does_not_drift_and_a_shift_does():
    rng = np.random.default_rng(0)
    reference = ValueProfile.of(rng.normal(30_000, 3_000, 5_000))
    same = compare(reference, rng.normal(30_000, 3_000, 5_000))
    assert same.psi < 0.02 and same.ks < 0.03
    shifted = compare(reference, rng.normal(33_000, 3_000, 5_000))  # one standard deviation
    assert shifted.psi > 0.25 and shifted.ks > 0.3
    wider = compare(reference, rng.normal(30_000, 6_000, 5_000))
    assert wider.psi > same.psi * 10


def test_a_profile_survives_its_json_round_trip():
    profile = ValueProfile.of(np.arange(1_000, dtype=float))
    assert ValueProfile.from_dict(profile.as_dict()) == profile
    assert profile.quantiles[0] == 0 and profile.quantiles[-1] == 999 and profile.rows == 1_000
