import pandas as pd
import pytest

from forecasting.core.periods import (
    future_isoformats,
    future_timestamps,
    steps_per_day,
    steps_per_week,
    week_phase,
    week_phase_of_nanos,
)


def test_week_phase_counts_steps_from_monday_midnight():
    stamps = pd.DatetimeIndex(
        ["2000-06-05 00:00", "2000-06-05 00:30", "2000-06-11 23:30", "2000-06-12 00:00"]
    )
    assert week_phase(stamps, "30min").tolist() == [0, 1, 335, 0]


def test_week_phase_ignores_time_zone_and_handles_daily_data():
    aware = pd.DatetimeIndex(["2024-01-03 12:00"]).tz_localize("Europe/London")
    assert week_phase(aware, "30min").tolist() == [2 * 48 + 24]
    assert week_phase(pd.DatetimeIndex(["2024-01-07"]), "D").tolist() == [6]


def test_steps_follow_the_frequency():
    assert (steps_per_day("30min"), steps_per_week("30min")) == (48, 336)
    assert (steps_per_day("h"), steps_per_week("D")) == (24, 7)


def test_irregular_frequency_is_refused_with_advice():
    with pytest.raises(ValueError, match="fixed step"):
        steps_per_day("MS")


def test_future_timestamps_follow_the_end():
    stamps = future_timestamps(pd.Timestamp("2000-08-27 23:30"), "30min", 3)
    assert [s.isoformat() for s in stamps] == [
        "2000-08-28T00:00:00",
        "2000-08-28T00:30:00",
        "2000-08-28T01:00:00",
    ]


@pytest.mark.parametrize(
    ("end", "freq"),
    [
        ("2000-08-27 23:30", "30min"),
        ("2000-02-28", "D"),
        ("2000-12-31 23:59:59", "1s"),
        ("2000-12-31 23:59:59.5", "250ms"),
    ],
)
def test_future_isoformats_match_timestamp_isoformat(end, freq):
    stamps = future_timestamps(pd.Timestamp(end), freq, 6)
    assert future_isoformats(pd.Timestamp(end), freq, 6) == [s.isoformat() for s in stamps]


def test_week_phase_of_nanos_matches_the_index_version():
    stamps = pd.date_range("1969-12-25 13:30", periods=500, freq="7h30min")
    nanos = [stamp.value for stamp in stamps]
    assert (week_phase_of_nanos(nanos, "30min") == week_phase(stamps, "30min")).all()
