import pandas as pd
import pytest

from forecasting.data.fetching import SourceError, fetch
from forecasting.data.sources import ColumnMapping, TableFormat, as_of, parse, read_source
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


def _read_csv_text(tmp_path, text: str, encoding: str = "utf-8", **table) -> pd.DataFrame:
    (tmp_path / "load.csv").write_bytes(text.encode(encoding))
    return read_source(str(tmp_path / "load.csv"), ColumnMapping(), table=TableFormat(**table))


def test_a_semicolon_file_is_named_and_read_once_its_dialect_is_set(tmp_path):
    text = "timestamp;value\n2024-01-01 00:00;1,5\n2024-01-01 00:30;2,25\n"
    with pytest.raises(SourceError, match=r'looks ";"-separated: set ingest\.csv\.delimiter'):
        _read_csv_text(tmp_path, text)
    frame = _read_csv_text(tmp_path, text, delimiter=";", decimal=",")
    assert frame["value"].tolist() == [1.5, 2.25]


def test_a_tsv_file_is_read_with_tabs_unless_told_otherwise(tmp_path):
    text = "timestamp\tvalue\n2024-01-01 00:00\t1.5\n2024-01-01 00:30\t2.5\n"
    (tmp_path / "load.tsv").write_text(text)
    frame = read_source(str(tmp_path / "load.tsv"), ColumnMapping())
    assert frame["value"].tolist() == [1.5, 2.5]


def test_a_latin1_file_is_refused_with_the_setting_that_reads_it(tmp_path):
    text = "timestamp,value,site\n2024-01-01 00:00,1,Besançon\n2024-01-01 00:30,2,Besançon\n"
    path = tmp_path / "load.csv"
    path.write_bytes(text.encode("latin-1"))
    sites = ColumnMapping(series_id="site")
    with pytest.raises(SourceError, match=r"not utf-8 text .* set ingest\.csv\.encoding"):
        read_source(str(path), sites)
    frame = read_source(str(path), sites, table=TableFormat(encoding="latin-1"))
    assert frame["series_id"].unique().tolist() == ["Besançon"]


def test_extra_columns_are_skipped_and_series_names_stay_text(tmp_path):
    raw = synthetic_series(days=1).assign(site="007", note="x", temperature=3.5)
    raw.to_csv(tmp_path / "load.csv", index=False)
    frame = read_source(str(tmp_path / "load.csv"), ColumnMapping(series_id="site"))
    assert list(frame.columns) == ["series_id", "timestamp", "value"]
    assert frame["series_id"].unique().tolist() == ["007"]


def test_rows_out_of_time_order_are_sorted_and_counted(tmp_path, caplog):
    raw = synthetic_series(days=1)
    raw.iloc[::-1].to_csv(tmp_path / "load.csv", index=False)  # newest first, as many exports
    frame = read_source(str(tmp_path / "load.csv"), ColumnMapping())
    assert frame["timestamp"].is_monotonic_increasing
    assert frame["value"].tolist() == raw["value"].tolist()
    assert "48 row(s) were not in time order" in caplog.text


def test_a_missing_series_name_stays_missing_for_the_contract(tmp_path):
    raw = synthetic_series(days=1).assign(site="north")
    raw.loc[3, "site"] = None
    raw.to_csv(tmp_path / "load.csv", index=False)
    frame = read_source(str(tmp_path / "load.csv"), ColumnMapping(series_id="site"))
    assert frame["series_id"].isna().sum() == 1
