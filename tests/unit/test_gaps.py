"""Gap reports and bounded gap filling on small hand-made series."""

from __future__ import annotations

import pandas as pd
import pytest

from forecasting.data.gaps import GapError, fill_gaps, find_gaps
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
