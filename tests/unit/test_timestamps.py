"""Timestamps read as declared: ISO 8601, a pattern, epochs, offsets and the series' clock."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from forecasting.data.timestamps import TimestampError, check_timezone, parse_timestamps


def _parsed(values, **options) -> list[pd.Timestamp]:
    return [pd.Timestamp(v) for v in parse_timestamps(pd.Series(values), **options)]


def test_iso_8601_in_any_precision_is_read_as_is():
    assert _parsed(["2024-01-01", "2024-01-01T00:30", "2024-01-01 01:00:00.000"]) == [
        pd.Timestamp("2024-01-01 00:00"),
        pd.Timestamp("2024-01-01 00:30"),
        pd.Timestamp("2024-01-01 01:00"),
    ]


def test_one_offset_keeps_the_files_wall_clock_and_a_zone_converts_it():
    values = ["2024-07-01T00:00+01:00", "2024-07-01T00:30+01:00"]
    assert _parsed(values)[0] == pd.Timestamp("2024-07-01 00:00")
    assert _parsed(values, timezone="UTC")[0] == pd.Timestamp("2024-06-30 23:00")


def test_a_daylight_saving_change_needs_a_zone_and_utc_keeps_the_steps_regular():
    # London's clocks go forward at 01:00 UTC on 2024-03-31.
    values = ["2024-03-31T00:00+00:00", "2024-03-31T00:30+00:00", "2024-03-31T02:00+01:00"]
    with pytest.raises(TimestampError, match=r"mixes UTC offsets .* set ingest\.timezone"):
        _parsed(values)
    utc = _parsed(values, timezone="UTC")
    assert np.diff(utc).tolist() == [pd.Timedelta(minutes=30)] * 2


def test_offsets_mixed_with_naive_times_are_refused_with_examples():
    with pytest.raises(TimestampError, match=r"'2024-01-01 00:30' \(line 3\)"):
        _parsed(["2024-01-01T00:00Z", "2024-01-01 00:30"], timezone="UTC")


def test_a_day_first_file_is_read_in_the_format_its_first_row_shows(caplog):
    with caplog.at_level(logging.WARNING):
        parsed = _parsed(["13/01/2024 00:00", "13/01/2024 00:30", "01/02/2024 00:00"])
    assert parsed[-1] == pd.Timestamp("2024-02-01")
    assert "read as '%d/%m/%Y %H:%M'" in caplog.text


def test_rows_that_break_the_first_rows_format_are_quoted_with_their_lines():
    values = ["05/01/2024 00:00", "06/01/2024 00:00", "13/01/2024 00:00", "yesterday"]
    with pytest.raises(TimestampError) as refused:
        _parsed(values)
    message = str(refused.value)
    assert "2 value(s) are not timestamps" in message
    assert "'13/01/2024 00:00' (line 4)" in message and "'yesterday' (line 5)" in message
    assert "ingest.timestamp_format" in message
    assert _parsed(values[:3], fmt="%d/%m/%Y %H:%M")[2] == pd.Timestamp("2024-01-13")


def test_epoch_numbers_need_their_unit_declared():
    seconds = pd.Series([1_704_067_200, 1_704_069_000])
    with pytest.raises(TimestampError, match="timestamp_format: unix"):
        parse_timestamps(seconds)
    assert pd.Timestamp(parse_timestamps(seconds, fmt="unix")[1]) == pd.Timestamp(
        "2024-01-01 00:30"
    )
    millis = seconds * 1000
    assert pd.Timestamp(parse_timestamps(millis, fmt="unix_ms")[0]) == pd.Timestamp("2024-01-01")
    assert pd.Timestamp(
        parse_timestamps(seconds, fmt="unix", timezone="Europe/Paris")[0]
    ) == pd.Timestamp("2024-01-01 01:00")


def test_missing_cells_stay_missing_for_the_contract_and_a_datetime_column_passes():
    assert pd.isna(_parsed(["2024-01-01", None])[1])
    aware = pd.Series(pd.date_range("2024-01-01", periods=2, freq="30min", tz="Europe/Paris"))
    assert _parsed(aware, timezone="UTC")[0] == pd.Timestamp("2023-12-31 23:00")


def test_unknown_zones_are_named():
    assert check_timezone("Europe/London") == "Europe/London"
    with pytest.raises(ValueError, match="unknown time zone 'Europe/Lodnon'"):
        check_timezone("Europe/Lodnon")
