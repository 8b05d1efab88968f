"""Interval scores on cases worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting.evaluation.interval_scores import (
    coverage_failures,
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
