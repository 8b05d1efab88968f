"""Monitoring on tiny data: the join with actuals, live and naive MAE, input drift, the trigger."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.data.drift import ValueProfile, served_profile
from forecasting.monitoring.assessment import assess
from forecasting.monitoring.expectation import Expectation
from forecasting.monitoring.inputs import daily_input_drift
from forecasting.monitoring.live import daily_errors, join_actuals, lead_errors, served_targets
from forecasting.monitoring.trigger import TriggerPolicy, decide, judge_days, record_trigger
from tests.conftest import synthetic_series

FREQ = "30min"
POLICY = TriggerPolicy(
    max_error_ratio=1.5, sustained_days=3, drift_level=0.1, drift_psi=0.25, drift_ks=0.2,
    drift_shape=0.1,
)  # fmt: skip


def _snapshot(days: int = 28, shift_from: str | None = None, shift: float = 0.15) -> pd.DataFrame:
    frame = synthetic_series(days=days).assign(series_id="demand")
    if shift_from is not None:
        later = frame["timestamp"] >= pd.Timestamp(shift_from)
        frame.loc[later, "value"] *= 1 + shift
    return frame


def _record(
    snapshot: pd.DataFrame, end: str, offset: float, steps: int = 24, length: int = 96
) -> dict:
    """A logged forecast that misses each actual by ``offset``, with a 96-step window's summary."""
    series = snapshot.set_index("timestamp")["value"]
    stamp = pd.Timestamp(end)
    future = pd.date_range(stamp, periods=steps + 1, freq=FREQ)[1:]
    window = series.loc[:stamp].iloc[-length:].to_numpy()
    actual = series.reindex(future).to_numpy()
    fallback = series.iloc[-1]
    forecast = np.where(np.isnan(actual), fallback, actual) + offset
    return {
        "request_id": end, "series_id": None, "end": end, "horizon": steps, "freq": FREQ,
        "model_version": "3", "forecast": forecast.tolist(),
        "input": {"length": length, "mean": float(window.mean()), "std": float(window.std()),
                  "min": float(window.min()), "max": float(window.max()),
                  "last": float(window[-1])},
    }  # fmt: skip


def _profile(snapshot: pd.DataFrame) -> ValueProfile:
    train = snapshot[snapshot["timestamp"] < "2024-01-15"]
    return ValueProfile.of(train["value"].to_numpy(), train, FREQ)


def test_forecasts_are_scored_on_the_actuals_and_beside_seasonal_naive_on_the_same_targets():
    snapshot = _snapshot(days=21)
    records = [
        _record(snapshot, "2024-01-15T23:30", 10.0),
        _record(snapshot, "2024-01-16T23:30", -30.0),
    ]
    joined = join_actuals(served_targets(records, FREQ), snapshot, FREQ)
    days = daily_errors(joined)
    assert days["live_mae"].tolist() == pytest.approx([10.0, 30.0])
    assert days["complete"].tolist() == [True, True]
    series = snapshot.set_index("timestamp")["value"]
    targets = pd.date_range("2024-01-16T00:00", periods=24, freq=FREQ)
    week_before = series.reindex(targets - pd.Timedelta("7D")).to_numpy()
    expected_naive = np.abs(week_before - series.reindex(targets).to_numpy()).mean()
    assert days["naive_mae"].iloc[0] == pytest.approx(expected_naive)
    leads = lead_errors(joined)
    assert leads["lead"].tolist() == list(range(1, 25))
    assert leads["live_mae"].tolist() == pytest.approx([20.0] * 24)


def test_a_day_whose_actuals_have_not_all_arrived_is_not_complete():
    snapshot = _snapshot(days=21)  # ends 2024-01-21T23:30
    days = daily_errors(
        join_actuals(
            served_targets([_record(snapshot, "2024-01-21T20:00", 5.0)], FREQ), snapshot, FREQ
        )
    )
    assert days["arrived"].tolist() == [7] and not days["complete"].iloc[0]
    assert days["live_mae"].iloc[0] == pytest.approx(5.0)


def test_a_forecast_of_another_step_is_refused_in_one_line():
    snapshot = _snapshot(days=14)
    record = _record(snapshot, "2024-01-10T23:30", 0.0) | {"freq": "1h"}
    with pytest.raises(ValueError, match=r"point package\.inference_log at this model's own log"):
        served_targets([record], FREQ)


def test_a_level_shift_of_the_served_windows_is_drift_and_none_is_not():
    steady = _snapshot()
    shifted = _snapshot(shift_from="2024-01-17")
    profile = _profile(steady)
    assert profile.mean() == pytest.approx(steady["value"].iloc[: 14 * 48].mean(), rel=0.01)

    def drift(snapshot: pd.DataFrame, end: str, length: int):
        (day,) = daily_input_drift(
            [_record(snapshot, end, 0.0, length=length)], snapshot, profile, FREQ
        ).values()
        return day

    # two weekend days: 15 % below the weekly mean, yet what the weekly shape expects there
    weekend = drift(steady, "2024-01-21T23:30", 96)
    assert abs(weekend.level) < 0.02 and weekend.psi is None  # under a week: no PSI
    calm = drift(steady, "2024-01-25T23:30", 8 * 48)
    assert abs(calm.level) < 0.02 and calm.psi < 0.1 and calm.day_shape < 0.05
    moved = drift(shifted, "2024-01-25T23:30", 8 * 48)
    assert moved.level == pytest.approx(0.15 * 7 / 8, abs=0.02) and moved.psi > 0.25
    assert moved.day_shape < 0.05  # a level shift leaves the daily shape alone


def _judged(offsets: list[float], version: str = "3") -> pd.DataFrame:
    snapshot = _snapshot()
    records = [
        _record(snapshot, f"2024-01-{15 + i:02d}T23:30", offset) | {"model_version": version}
        for i, offset in enumerate(offsets)
    ]
    days = daily_errors(join_actuals(served_targets(records, FREQ), snapshot, FREQ))
    return judge_days(days, test_mae=100.0, policy=POLICY)


def test_a_sustained_rise_of_the_live_error_triggers_once_per_decay(tmp_path):
    judged = _judged([50, 60, 200, 210, 220])
    assert judged["decayed"].tolist() == [False, False, True, True, True]
    decision = decide(judged, "3", POLICY, {})
    assert decision.trigger and decision.decay_start == "2024-01-17"
    assert "3 days in a row" in decision.reason and "2.20x the test MAE" in decision.reason
    state_file = tmp_path / "state.json"
    record_trigger(state_file, {}, decision, "now")
    from forecasting.monitoring.trigger import load_state

    state = load_state(state_file)
    # the next day the same decay goes on: no second trigger, and it says why
    again = decide(_judged([50, 60, 200, 210, 220, 230]), "3", POLICY, state)
    assert not again.trigger and "already triggered on 2024-01-19" in again.reason
    # a healthy day ends that decay; a new one triggers again
    later = decide(_judged([50, 200, 210, 220, 60, 200, 210, 220]), "3", POLICY, state)
    assert later.trigger and later.decay_start == "2024-01-20"
    # a new champion counts its own days
    fresh = decide(_judged([50, 60, 200, 210, 220, 230], version="4"), "4", POLICY, state)
    assert fresh.trigger


def test_too_few_alarm_days_do_not_trigger_and_say_why():
    decision = decide(_judged([50, 60, 200, 210]), "3", POLICY, {})
    assert not decision.trigger
    assert (
        "the last 2 judged day(s) alarmed" in decision.reason and "3 alarm days" in decision.reason
    )
    healthy = decide(_judged([50, 60, 70]), "3", POLICY, {})
    assert (
        not healthy.trigger
        and "within its limits on 2024-01-17 (live/test MAE 0.70x)" in healthy.reason
    )


def test_assess_flags_a_shifted_series_and_not_a_steady_one():
    steady, shifted = _snapshot(), _snapshot(shift_from="2024-01-20")
    expectation = Expectation("3", 100.0, {}, _profile(steady), "test")

    def served(snapshot: pd.DataFrame) -> list[dict]:
        # a model that kept forecasting the old level: right before the shift, 15 % low after it
        base = _snapshot()
        return [
            _record(snapshot, f"2024-01-{d:02d}T23:30", 0.0)
            | {"forecast": _record(base, f"2024-01-{d:02d}T23:30", 20.0)["forecast"]}
            for d in range(15, 27)
        ]

    calm = assess(served(steady), steady, FREQ, expectation, POLICY, {})
    assert not calm.decision.trigger and not calm.days["alarm"].any()
    alarmed = assess(served(shifted), shifted, FREQ, expectation, POLICY, {})
    assert alarmed.decision.trigger
    # the window of 01-19 ends before the shift; its targets (01-20) are shifted: error alone
    first = alarmed.days.set_index(alarmed.days["day"].dt.strftime("%m-%d")).loc["01-19"]
    assert first["decayed"] and not first["drifted"]
    assert alarmed.decision.decay_start == "2024-01-19"
    record = alarmed.as_dict(expectation, torn=0)
    assert record["decision"]["trigger"] and len(record["days"]) == 12


def test_no_test_mae_is_a_one_line_error():
    snapshot = _snapshot(days=14)
    with pytest.raises(ValueError, match="make run"):
        assess([], snapshot, FREQ, Expectation(None, None, {}, None, "none"), POLICY, {})


def test_the_github_trigger_needs_gh_and_a_token(monkeypatch):
    from forecasting.monitoring.dispatch import act, github_command

    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    with pytest.raises(ValueError, match="needs the gh CLI and GITHUB_TOKEN"):
        act("github", "make retrain", "retrain.yml", "decayed")
    assert github_command("retrain.yml", "v3 decayed") == [
        "gh", "workflow", "run", "retrain.yml", "-f", "reason=v3 decayed",
    ]  # fmt: skip


def test_a_champion_whose_test_split_ends_in_a_shift_expects_the_shifted_level():
    """The retrain after a level shift: its test split holds the shifted days, its training split
    does not; the served profile's level is the last test window's, its shapes the training's."""
    shifted = _snapshot(shift_from="2024-01-24")  # Wednesday: the last 5 of the 28 days
    train = shifted[shifted["timestamp"] < "2024-01-15"]
    test = shifted[shifted["timestamp"] >= "2024-01-19"]
    trained = ValueProfile.of(train["value"].to_numpy(), train, FREQ)
    served = served_profile(test, trained, FREQ, input_length=96)
    assert served.week_shape == trained.week_shape  # the shift is not read as a weekday shape
    record = [_record(shifted, "2024-01-27T23:30", 0.0)]  # two shifted weekend days
    (against_served,) = daily_input_drift(record, shifted, served, FREQ).values()
    (against_trained,) = daily_input_drift(record, shifted, trained, FREQ).values()
    assert abs(against_served.level) < 0.02
    assert against_trained.level == pytest.approx(0.15, abs=0.02)


def test_only_the_watched_champions_forecasts_are_judged():
    snapshot = _snapshot()
    earlier = [
        _record(snapshot, f"2024-01-{d:02d}T23:30", 500.0) | {"model_version": "2"}
        for d in range(15, 19)
    ]
    current = [_record(snapshot, f"2024-01-{d:02d}T23:30", 10.0) for d in range(19, 22)]
    expectation = Expectation("3", 100.0, {}, _profile(snapshot), "test")
    judged = assess(earlier + current, snapshot, FREQ, expectation, POLICY, {})
    assert set(judged.days["model_version"]) == {"3"} and len(judged.days) == 3
    assert judged.days["live_mae"].tolist() == pytest.approx([10.0] * 3)
    assert "within its limits" in judged.decision.reason
    undeployed = Expectation("4", 100.0, {}, _profile(snapshot), "test")
    waiting = assess(earlier + current, snapshot, FREQ, undeployed, POLICY, {})
    assert not waiting.decision.trigger and "no forecast of v4 yet" in waiting.decision.reason
    assert waiting.as_dict(undeployed, torn=0)["days"] == []
