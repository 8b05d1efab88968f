import pandas as pd
import pytest

from forecasting.sources import (
    ColumnMapping,
    SourceError,
    as_of,
    fetch,
    parse,
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


@pytest.fixture(scope="module")
def web_root(tmp_path_factory):
    """A real HTTP server on loopback over a folder (there is no internet here)."""
    import functools
    import http.server
    import threading

    root = tmp_path_factory.mktemp("web")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_http_source_is_read_and_pinned_by_sha256(web_root):
    import hashlib

    root, url = web_root
    synthetic_series(days=2).to_csv(root / "load.csv", index=False)
    digest = hashlib.sha256((root / "load.csv").read_bytes()).hexdigest()
    fetched = fetch(f"{url}/load.csv", expected_sha256=digest)
    assert fetched.sha256 == digest
    assert len(parse(fetched, ColumnMapping())) == 96
    with pytest.raises(SourceError, match="the file changed") as refused:
        fetch(f"{url}/load.csv", expected_sha256="0" * 64)
    assert digest in str(refused.value)


def test_an_http_404_says_not_found(web_root):
    _, url = web_root
    with pytest.raises(SourceError, match="was not found"):
        fetch(f"{url}/nothing-here.csv")


def test_file_urls_gzip_and_unknown_protocols(tmp_path):
    synthetic_series(days=1).to_csv(tmp_path / "load.csv.gz", index=False, compression="gzip")
    frame = read_source((tmp_path / "load.csv.gz").as_uri(), ColumnMapping())
    assert len(frame) == 48
    with pytest.raises(SourceError, match="nosuch"):
        fetch("nosuch://bucket/load.csv")
    with pytest.raises(SourceError, match="built-in data set"):
        fetch("builtin:taylor", expected_sha256="0" * 64)


def test_as_of_replays_the_data_known_at_a_date():
    frame = read_source("builtin:taylor", ColumnMapping())
    then = as_of(frame, "2000-07-31T23:30:00")
    assert then["timestamp"].max() == pd.Timestamp("2000-07-31 23:30") and len(then) == 57 * 48
    assert as_of(frame, None) is frame
    with pytest.raises(SourceError, match="before the first observation"):
        as_of(frame, "1999-01-01")
    with pytest.raises(SourceError, match="ISO timestamp"):
        as_of(frame, "last tuesday")
