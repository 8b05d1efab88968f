import numpy as np
import pytest

from forecasting.evaluation.evidence import paired_bootstrap
from forecasting.evaluation.gate import GatePolicy, decide
from forecasting.evaluation.metrics import (
    mae_by_series,
    mape,
    mase_scale,
    score,
    score_by_lead,
    smape,
)


def test_score_on_known_errors():
    actual = np.array([[1.0, 2.0], [3.0, 4.0]])
    forecast = np.array([[2.0, 2.0], [3.0, 2.0]])
    result = score(actual, forecast, scale=0.5)
    assert result["mae"] == pytest.approx(0.75)
    assert result["rmse"] == pytest.approx(np.sqrt(5 / 4))
    assert result["mase"] == pytest.approx(1.5)


def test_mase_scales_each_origin_by_its_own_series():
    actual = np.array([[10.0, 10.0], [100.0, 100.0]])
    forecast = np.array([[11.0, 11.0], [110.0, 110.0]])  # errors 1 and 10
    # series scales 1 and 10: both windows are "one scale unit" off
    assert score(actual, forecast, np.array([1.0, 10.0]))["mase"] == pytest.approx(1.0)
    # paired with the wrong series, the same errors score very differently
    assert score(actual, forecast, np.array([10.0, 1.0]))["mase"] == pytest.approx(5.05)


def test_mae_by_series_scores_each_series_on_its_own_origins_worst_first():
    actual = np.zeros((3, 2))
    model = np.array([[1.0, 1.0], [4.0, 2.0], [3.0, 3.0]])  # origins 0, 2: "a"; origin 1: "b"
    table = mae_by_series(actual, {"model": model, "naive": -model}, np.array(["a", "b", "a"]))
    assert table["series_id"].tolist() == ["b", "a"]
    assert table["origins"].tolist() == [1, 2]
    assert table["model"].tolist() == [3.0, 2.0] and table["naive"].tolist() == [3.0, 2.0]


def test_smape_counts_zero_over_zero_as_no_error():
    assert smape(np.array([0.0, 1.0]), np.array([0.0, 1.0])) == 0.0
    assert smape(np.array([1.0]), np.array([3.0])) == pytest.approx(100.0)


def test_mase_scale_refuses_short_or_perfectly_seasonal_history():
    assert mase_scale(np.array([1.0, 2.0, 4.0]), season=1) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="more than"):
        mase_scale(np.array([1.0]), season=1)
    with pytest.raises(ValueError, match="repeats"):
        mase_scale(np.array([1.0, 2.0, 1.0, 2.0]), season=2)


def test_mape_skips_zero_actuals_and_score_by_lead_matches_score():
    assert mape(np.array([0.0, 2.0]), np.array([5.0, 1.0])) == pytest.approx(50.0)
    assert np.isnan(mape(np.zeros(2), np.ones(2)))
    rng = np.random.default_rng(0)
    actual, forecast = rng.normal(10, 1, (6, 3)), rng.normal(10, 1, (6, 3))
    by_lead = score_by_lead(actual, forecast, 2.0)
    assert set(by_lead) == {"mae", "rmse", "mape", "smape", "mase"}
    for lead in range(3):
        one = score(actual[:, [lead]], forecast[:, [lead]], 2.0)
        assert {name: by_lead[name][lead] for name in one} == pytest.approx(one)
    assert by_lead["mae"].mean() == pytest.approx(score(actual, forecast, 2.0)["mae"])


def _errors(mean: float, spread: float = 5.0, origins: int = 12) -> np.ndarray:
    """Per-origin MAEs around ``mean`` with a fixed day-to-day pattern."""
    return mean + spread * np.sin(np.arange(origins))


def _compare(candidate: np.ndarray, reference: np.ndarray, name: str = "ref"):
    return paired_bootstrap(candidate, reference, name, resamples=2000)


@pytest.mark.parametrize(
    ("model", "champion", "promote", "words"),
    [
        (90.0, None, True, "no champion yet"),
        (120.0, None, False, "does not clearly beat the best baseline naive"),
        (90.0, 80.0, False, "does not beat champion v3"),
        (70.0, 80.0, True, "beats champion v3"),
        (70.0, "unscorable", False, "cannot be scored"),
    ],
)
def test_gate_needs_to_beat_baselines_and_champion(model, champion, promote, words):
    vs_baseline = _compare(_errors(model), _errors(100.0), "naive")
    if champion is None:
        decision = decide(vs_baseline, None, None, GatePolicy())
    elif champion == "unscorable":
        decision = decide(vs_baseline, "3", None, GatePolicy())
    else:
        decision = decide(
            vs_baseline, "3", _compare(_errors(model), _errors(champion)), GatePolicy()
        )
    assert decision.promote is promote
    assert words in decision.reason
    assert "CI [" in decision.reason or "cannot" in decision.reason


def test_the_gate_quotes_differences_in_the_series_unit():
    vs_baseline = _compare(_errors(70.0), _errors(100.0), "naive")
    assert "mean difference -30.0 MW," in decide(vs_baseline, None, None, GatePolicy(), "MW").reason
    unitless = decide(vs_baseline, None, None, GatePolicy()).reason
    assert "mean difference -30.0," in unitless


def test_gate_margin_is_a_fraction_of_the_bar():
    policy = GatePolicy(min_improvement=0.1)
    assert not decide(_compare(_errors(95.0), _errors(100.0)), None, None, policy).promote
    assert decide(_compare(_errors(85.0), _errors(100.0)), None, None, policy).promote


def test_a_lower_mean_from_one_lucky_day_does_not_clear_the_baseline():
    reference = np.full(12, 100.0)
    candidate = np.full(12, 101.0)
    candidate[0] = 40.0  # one good day pulls the mean to 96
    comparison = _compare(candidate, reference, "holt_winters")
    assert comparison.mean_difference < 0 < comparison.ci_high
    assert not decide(comparison, None, None, GatePolicy()).promote


def test_an_identical_retrain_is_not_promoted_over_the_champion():
    errors = _errors(80.0)
    vs_baseline = _compare(errors, _errors(100.0))
    decision = decide(vs_baseline, "1", _compare(errors, errors.copy()), GatePolicy())
    assert not decision.promote


def test_paired_bootstrap_interval_covers_a_known_shift_and_rejects_bad_pairs():
    rng = np.random.default_rng(1)
    reference = rng.normal(100, 10, 200)
    candidate = reference - 5 + rng.normal(0, 1, 200)  # 5 better on every day, small noise
    comparison = _compare(candidate, reference)
    assert comparison.ci_low < -5 < comparison.ci_high
    assert comparison.probability_better == 1.0
    with pytest.raises(ValueError, match="equal-length"):
        paired_bootstrap(candidate[:10], reference, "ref")
