import pandas as pd
import pytest

from forecasting.core.periods import (
    check_freq,
    future_isoformats,
    future_timestamps,
    on_grid,
    step_of,
    steps_between,
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


def test_an_unknown_or_retired_frequency_is_refused_with_advice():
    with pytest.raises(ValueError, match="Please use 'ME' instead"):
        check_freq("M")
    with pytest.raises(ValueError, match="must divide a day"):
        check_freq("7min")
    with pytest.raises(ValueError, match="fixed step"):
        step_of("MS")


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


@pytest.mark.parametrize(
    ("freq", "per_day", "per_week"),
    [("15min", 96, 672), ("D", 1, 7), ("7D", 1, 1), ("2D", 1, 1), ("B", 1, 5), ("W-SAT", 1, 1)]
    + [(f, 1, 1) for f in ("MS", "ME", "QS", "QE-DEC", "YS", "YE", "BME")],
)
def test_each_frequency_has_its_seasons_and_none_where_it_has_none(freq, per_day, per_week):
    assert (steps_per_day(freq), steps_per_week(freq)) == (per_day, per_week)


@pytest.mark.parametrize(
    ("freq", "start"),
    [
        ("B", "2024-01-04"),
        ("W-SAT", "1995-05-06"),
        ("W-SUN", "2024-01-07"),
        ("7D", "1995-05-06"),  # Saturdays, though 1970-01-01 was a Thursday
        ("MS", "2000-01-01"),
        ("ME", "2000-01-31"),
        ("QS", "1959-01-01"),
        ("QE-DEC", "1959-03-31"),
        ("YS", "1700-01-01"),
        ("YE", "1999-12-31"),
        ("h", "2000-01-01 05:00"),
    ],
)
def test_the_grid_follows_the_calendar(freq, start):
    stamps = pd.date_range(start, periods=8, freq=freq)
    values = stamps.to_numpy()
    assert steps_between(values[:-1], values[1:], freq).tolist() == [1.0] * 7
    assert steps_between(values[:1], values[3:4], freq).tolist() == [3.0]  # a gap of 2
    assert all(on_grid(stamp, freq) for stamp in stamps)
    assert [s.isoformat() for s in stamps[1:4]] == future_isoformats(stamps[0], freq, 3)
    assert (week_phase(stamps, freq) < steps_per_week(freq)).all()


@pytest.mark.parametrize(
    ("freq", "stamp"),
    [
        ("W-SAT", "1995-06-04"),  # a Sunday
        ("MS", "2000-02-02"),
        ("MS", "2000-02-01 12:00"),
        ("ME", "2000-02-28"),  # 2000 was a leap year
        ("B", "2024-01-06"),  # a Saturday
        ("30min", "2000-01-01 00:10"),
        ("D", "2000-01-01 06:00"),
    ],
)
def test_times_off_the_grid_are_recognised(freq, stamp):
    assert not on_grid(pd.Timestamp(stamp), freq)


def test_a_business_week_has_five_phases_and_skips_the_weekend():
    stamps = pd.date_range("2024-01-04", periods=5, freq="B")  # Thu, Fri, Mon, Tue, Wed
    assert week_phase(stamps, "B").tolist() == [3, 4, 0, 1, 2]
    friday, monday = stamps[1:2].to_numpy(), stamps[2:3].to_numpy()
    assert steps_between(friday, monday, "B").tolist() == [1.0]
    saturday = pd.DatetimeIndex(["2024-01-06"]).to_numpy()
    assert steps_between(friday, saturday, "B").tolist() == [0.5]  # off the grid: a fraction
