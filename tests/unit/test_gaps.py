"""Gap reports and bounded gap filling on small hand-made series."""

from __future__ import annotations

import pandas as pd
import pytest

from forecasting.data.gaps import GapError, fill_gaps, fill_missing, find_gaps, find_missing_values
from tests.conftest import synthetic_series


def _two_series_with_gaps() -> pd.DataFrame:
    north = synthetic_series(days=2).assign(series_id="north")
    south = synthetic_series(days=2, seed=1).assign(series_id="south")
    north = north.drop(index=[10, 11, 12])  # 3 missing after 04:30
    south = south.drop(index=[40])  # 1 missing
    frame = pd.concat([north, south], ignore_index=True)
    return frame[["series_id", "timestamp", "value"]]


def test_the_report_says_how_many_where_and_the_longest():
    report = find_gaps(_two_series_with_gaps(), "30min")
    assert report.count == 2 and report.missing_steps == 4
    longest = report.longest[0]
    assert (longest.series_id, longest.missing_steps) == ("north", 3)
    assert longest.after == pd.Timestamp("2024-01-01 04:30")
    assert longest.before == pd.Timestamp("2024-01-01 06:30")
    assert "2 gap(s), 4 missing step(s); longest: north: 3 missing" in report.summary()
    assert report.as_dict()["where"][1]["series_id"] == "south"


def test_a_regular_series_and_irregular_steps_are_not_gaps():
    frame = synthetic_series(days=1).assign(series_id="s")[["series_id", "timestamp", "value"]]
    assert find_gaps(frame, "30min").count == 0
    frame.loc[5, "timestamp"] += pd.Timedelta(minutes=7)  # 37 then 23 minutes: irregular
    assert find_gaps(frame, "30min").count == 0


def test_filling_interpolates_short_gaps_onto_the_grid():
    frame = _two_series_with_gaps()
    filled, count = fill_gaps(frame, "30min", max_steps=3)
    assert count == 4 and len(filled) == 2 * 96
    assert find_gaps(filled, "30min").count == 0
    north = filled[filled["series_id"] == "north"].set_index("timestamp")["value"]
    before, after = north[pd.Timestamp("2024-01-01 04:30")], north[pd.Timestamp("2024-01-01 06:30")]
    middle = north[pd.Timestamp("2024-01-01 05:30")]
    assert middle == pytest.approx((before + after) / 2)
    untouched = frame.set_index(["series_id", "timestamp"])["value"]
    assert (
        filled.set_index(["series_id", "timestamp"])["value"].loc[untouched.index] == untouched
    ).all()


def test_a_gap_longer_than_the_bound_is_refused_with_where_it_is():
    with pytest.raises(GapError, match=r"longer than validate\.max_fill_steps=2") as refused:
        fill_gaps(_two_series_with_gaps(), "30min", max_steps=2)
    assert "2024-01-01T04:30:00" in str(refused.value)


def _with_missing_values() -> pd.DataFrame:
    frame = synthetic_series(days=2).assign(series_id="s")[["series_id", "timestamp", "value"]]
    frame.loc[[0, 20, 21, 50], "value"] = float("nan")  # one at the start, a run of 2, one alone
    return frame


def test_missing_values_are_reported_like_gaps():
    report = find_missing_values(_with_missing_values())
    assert (report.count, report.missing_steps) == (3, 4)
    longest = report.longest[0]
    assert (longest.missing_steps, longest.what) == (2, "value")
    assert str(longest) == (
        "s: 2 missing value(s) between 2024-01-01T09:30:00 and 2024-01-01T11:00:00"
    )
    assert "at the start, before 2024-01-01T00:30:00" in str(report.longest[1])
    assert report.as_dict()["where"][1]["after"] is None


def test_missing_values_are_filled_within_the_bound_and_the_start_is_dropped():
    frame = _with_missing_values()
    filled, count = fill_missing(frame, "30min", max_steps=2, steps=False, values=True)
    assert count == 3 and len(filled) == len(frame) - 1  # the leading NaN has no left neighbour
    assert filled["value"].notna().all()
    assert filled["value"].iloc[19] == pytest.approx(
        frame["value"].iloc[19] + (frame["value"].iloc[22] - frame["value"].iloc[19]) / 3
    )
    with pytest.raises(GapError, match=r"2 missing value\(s\) between"):
        fill_missing(frame, "30min", max_steps=1, steps=False, values=True)


def test_filling_timestamps_alone_leaves_missing_values_for_the_contract():
    frame = _with_missing_values().drop(index=[30])
    filled, count = fill_missing(frame, "30min", max_steps=4, steps=True, values=False)
    assert count == 1 and len(filled) == 96
    assert filled["value"].isna().sum() == 4


def test_a_missing_month_is_one_step_whatever_its_length():
    months = pd.date_range("2000-01-01", periods=12, freq="MS")
    frame = pd.DataFrame({"series_id": "m", "timestamp": months, "value": range(12)}).drop(
        index=[1, 2]  # February and March: 29 + 31 days
    )
    report = find_gaps(frame, "MS")
    assert (report.count, report.missing_steps) == (1, 2)
    filled, count = fill_missing(frame, "MS", max_steps=2)
    assert count == 2 and filled["timestamp"].tolist() == months.tolist()
    assert filled["value"].tolist() == pytest.approx(list(range(12)))  # linear in steps


def test_a_missing_business_day_is_not_the_weekend():
    days = pd.bdate_range("2024-01-01", periods=10)
    frame = pd.DataFrame({"series_id": "b", "timestamp": days, "value": 1.0})
    assert find_gaps(frame, "B").count == 0  # Friday -> Monday is one step
    report = find_gaps(frame.drop(index=[4]), "B")  # a Friday
    assert (report.count, report.missing_steps) == (1, 1)
