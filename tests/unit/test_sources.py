import pandas as pd
import pytest

from forecasting.sources import (
    ColumnMapping,
    SourceError,
    read_snapshot,
    read_source,
    write_snapshot,
)
from tests.conftest import synthetic_series


def test_builtin_taylor_is_the_half_hourly_demand_series():
    frame = read_source("builtin:taylor", ColumnMapping())
    assert list(frame.columns) == ["series_id", "timestamp", "value"]
    assert len(frame) == 4032
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2000-06-05 00:00")
    assert frame["timestamp"].iloc[-1] == pd.Timestamp("2000-08-27 23:30")
    assert frame["value"].iloc[:2].tolist() == [22262.0, 21756.0]


def test_csv_with_its_own_column_names(tmp_path):
    raw = synthetic_series(days=2).rename(columns={"timestamp": "when", "value": "load_mw"})
    raw.to_csv(tmp_path / "load.csv", index=False)
    frame = read_source(
        str(tmp_path / "load.csv"), ColumnMapping(timestamp="when", value="load_mw")
    )
    assert len(frame) == 96 and frame["series_id"].unique().tolist() == ["series"]
    assert frame["value"].dtype == "float64"


def test_parquet_with_a_series_column_and_time_zone(tmp_path):
    raw = synthetic_series(days=1)
    raw["timestamp"] = raw["timestamp"].dt.tz_localize("UTC")
    raw["site"] = "north"
    raw.to_parquet(tmp_path / "load.parquet")
    frame = read_source(str(tmp_path / "load.parquet"), ColumnMapping(series_id="site"))
    assert frame["series_id"].unique().tolist() == ["north"]
    assert frame["timestamp"].dt.tz is None


@pytest.mark.parametrize(
    ("source", "columns", "message"),
    [
        ("builtin:nope", ColumnMapping(), "unknown built-in"),
        ("missing.csv", ColumnMapping(), "does not exist"),
        ("load.csv", ColumnMapping(value="demand"), "lacks column"),
        ("load.json", ColumnMapping(), "unsupported file type"),
    ],
)
def test_unreadable_sources_say_what_to_change(tmp_path, monkeypatch, source, columns, message):
    monkeypatch.chdir(tmp_path)
    synthetic_series(days=1).to_csv("load.csv", index=False)
    (tmp_path / "load.json").write_text("{}")
    with pytest.raises(SourceError, match=message):
        read_source(source, columns)


def test_snapshot_is_checked_against_its_manifest(tmp_path):
    frame = read_source("builtin:taylor", ColumnMapping())
    manifest = write_snapshot(frame, tmp_path, "builtin:taylor")
    assert manifest["rows"] == 4032 and manifest["first_timestamp"] == "2000-06-05T00:00:00"
    pd.testing.assert_frame_equal(read_snapshot(tmp_path), frame)
    frame.iloc[:10].to_parquet(tmp_path / "series.parquet")
    with pytest.raises(SourceError, match="changed after ingest"):
        read_snapshot(tmp_path)
