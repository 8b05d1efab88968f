"""Interval scores on cases worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting.evaluation.interval_scores import (
    COVERAGE_CONFIDENCE,
    coverage_failures,
    coverage_text,
    interval_metrics,
    pinball,
    winkler,
)


def test_winkler_is_the_width_inside_and_pays_two_over_alpha_per_unit_missed():
    actual = np.array([5.0, 0.0, 12.0])
    lower, upper = np.full(3, 2.0), np.full(3, 10.0)
    # 80 %: alpha 0.2, so each unit outside costs 10 on top of the width 8
    assert winkler(actual, lower, upper, 80).tolist() == pytest.approx([8.0, 28.0, 28.0])


def test_pinball_weights_misses_by_the_quantile():
    assert pinball(np.array([10.0]), np.array([8.0]), 0.1).tolist() == pytest.approx([0.2])
    assert pinball(np.array([10.0]), np.array([12.0]), 0.1).tolist() == pytest.approx([1.8])


def test_coverage_overall_and_by_lead():
    actual = np.array([[1.0, 5.0], [2.0, 2.0]])
    lower, upper = np.zeros((2, 2)), np.full((2, 2), 3.0)
    scores = interval_metrics(actual, lower, upper, 80)
    assert scores["coverage"] == 0.75 and scores["coverage_by_lead"] == [1.0, 0.5]
    assert scores["mean_width"] == 3.0


def test_the_coverage_check_names_levels_outside_the_tolerance():
    scores = {"80": {"level": 80.0, "coverage": 0.70}, "95": {"level": 95.0, "coverage": 0.94}}
    assert coverage_failures(scores, None) == []
    (failure,) = coverage_failures(scores, 0.05)
    assert failure.startswith("80 % intervals covered 70.0 %")


def _overlapping_windows(rng: np.random.Generator, origins: int, step: int, horizon: int):
    """``[origins, horizon]`` AR(1) errors read as windows ``step`` apart, and their 80 % band."""
    phi, length = 0.6, (origins - 1) * step + horizon
    errors = np.zeros(length)
    for t in range(1, length):
        errors[t] = phi * errors[t - 1] + rng.normal()
    starts = np.arange(origins)[:, None] * step + np.arange(horizon)[None, :]
    half = 1.2816 / np.sqrt(1 - phi**2)  # the true 80 % half-width of the stationary errors
    return errors[starts], np.full((origins, horizon), -half), np.full((origins, horizon), half)


def test_coverage_bounds_hold_their_level_on_overlapping_windows_where_iid_ones_do_not():
    rng = np.random.default_rng(0)
    repeats, origins, step, horizon = 300, 93, 6, 48  # the default data's dense protocol
    held = {1: 0, 8: 0}  # lags: 1 treats the origins as independent; 8 = overlap_lags(48, 6)
    for _ in range(repeats):
        actual, lower, upper = _overlapping_windows(rng, origins, step, horizon)
        for lags in held:
            scores = interval_metrics(actual, lower, upper, 80, lags)
            held[lags] += scores["coverage_low"] <= 0.8 <= scores["coverage_high"]
    monte_carlo = 3 * np.sqrt(COVERAGE_CONFIDENCE * (1 - COVERAGE_CONFIDENCE) / repeats)
    assert held[1] / repeats < COVERAGE_CONFIDENCE - 2 * monte_carlo  # overconfident
    assert abs(held[8] / repeats - COVERAGE_CONFIDENCE) <= monte_carlo  # 0.88 here


def test_too_few_origins_get_no_coverage_bounds_and_a_full_cover_still_gets_wide_ones():
    rng = np.random.default_rng(1)
    actual, lower, upper = _overlapping_windows(rng, 15, 1, 12)  # a monthly series' test year
    few = interval_metrics(actual, lower, upper, 80, lags=12)
    assert few["coverage_blocks"] == 0 and "coverage_low" not in few
    assert coverage_text(few).endswith("(too few origins to bound it)")
    actual, lower, upper = _overlapping_windows(rng, 93, 6, 48)
    every = interval_metrics(actual, lower - 100, upper + 100, 95, lags=8)  # all covered
    assert every["coverage"] == 1.0 and every["coverage_high"] == 1.0
    assert every["coverage_blocks"] == 5 and every["coverage_low"] < 0.9  # 5 blocks say little


def test_coverage_text_quotes_the_bounds_when_there_are_any():
    figures = {"coverage": 0.825, "coverage_low": 0.78, "coverage_high": 0.87}
    assert coverage_text(figures) == "82.5 % (90 % bounds 78.0-87.0)"
    assert coverage_text({"coverage": 0.825}) == "82.5 %"  # a report from before the bounds
