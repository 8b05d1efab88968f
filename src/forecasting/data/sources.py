"""Where series come from: built-in data sets, files and URLs, read into one canonical frame.

Every source is read into one canonical long frame: ``series_id`` (string), ``timestamp``
(datetime64, time-zone naive) and ``value`` (float64), sorted by series then time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from forecasting.data.fetching import Fetched, SourceError, fetch
from forecasting.data.timestamps import TimestampError, parse_timestamps

logger = logging.getLogger(__name__)

CANONICAL_COLUMNS = ("series_id", "timestamp", "value")


@dataclass(frozen=True)
class ColumnMapping:
    """Which columns of a user's file hold the time, the target and (optionally) the series name."""

    timestamp: str = "timestamp"
    value: str = "value"
    series_id: str | None = None
    default_series_id: str = "series"

    def wanted(self) -> list[str]:
        """The columns to read from the file."""
        return [self.timestamp, self.value] + ([self.series_id] if self.series_id else [])


@dataclass(frozen=True)
class TableFormat:
    """How a user's file is written: its CSV dialect and how its timestamps read."""

    delimiter: str = ","
    decimal: str = "."
    encoding: str = "utf-8"
    timestamp_format: str | None = None  # strftime pattern | unix | unix_ms | None: ISO 8601
    timezone: str | None = None  # the series' clock; None: the file's own wall clock


def _taylor() -> pd.DataFrame:
    # Half-hourly England & Wales demand (MW), 2000-06-05 .. 2000-08-27; ships without timestamps.
    from pmdarima.datasets import load_taylor

    values = np.asarray(load_taylor(as_series=False), dtype=np.float64)
    timestamps = pd.date_range("2000-06-05 00:00", periods=len(values), freq="30min")
    return pd.DataFrame({"series_id": "taylor", "timestamp": timestamps, "value": values})


def _msft() -> pd.DataFrame:
    # Microsoft's daily close price 1986-2017 (trading days only: a business-day series).
    from pmdarima.datasets import load_msft

    frame = load_msft()
    return pd.DataFrame(
        {"series_id": "msft", "timestamp": pd.to_datetime(frame["Date"]), "value": frame["Close"]}
    )


BUILTINS: dict[str, Callable[[], pd.DataFrame]] = {"taylor": _taylor, "msft": _msft}


def parse(
    fetched: Fetched, columns: ColumnMapping, table: TableFormat | None = None
) -> pd.DataFrame:
    """The canonical frame of fetched bytes (or of a built-in data set).

    Raises:
        SourceError: with a message naming the source and what is wrong with it.

    """
    source, table = fetched.source, table or TableFormat()
    if fetched.is_builtin:
        name = source.removeprefix("builtin:")
        if name not in BUILTINS:
            raise SourceError(
                f"unknown built-in data set {name!r}; choose one of {sorted(BUILTINS)}"
            )
        builtin = ColumnMapping("timestamp", "value", "series_id")
        return canonical(BUILTINS[name](), builtin, source, TableFormat())
    suffixes = [s.lower() for s in PurePosixPath(source.split("?", 1)[0]).suffixes]
    if suffixes[-1:] in ([".parquet"], [".pq"]):
        raw = _read_parquet(fetched, columns)
    elif suffixes[-1:] in ([".csv"], [".txt"], [".tsv"]) or suffixes[-2:] == [".csv", ".gz"]:
        if suffixes[-1:] == [".tsv"] and table.delimiter == ",":  # the name says tabs
            table = replace(table, delimiter="\t")
        raw = _read_csv(fetched, columns, table, gzipped=suffixes[-1:] == [".gz"])
    else:
        raise SourceError(
            f"source {source!r}: unsupported file type; use .csv, .csv.gz, .tsv or .parquet"
        )
    return canonical(raw, columns, source, table)


def _missing_columns(
    header: list[str], columns: ColumnMapping, source: str, hint: str = ""
) -> None:
    missing = [name for name in columns.wanted() if name not in header]
    if missing:
        raise SourceError(
            f"source {source!r} lacks column(s) {missing}; it has {header[:20]}. "
            f"Set ingest.columns in params.yaml to the names your file uses.{hint}"
        )


def _delimiter_hint(header: list[str], table: TableFormat) -> str:
    if len(header) != 1:
        return ""
    for other in (";", "\t", "|", ","):
        if other != table.delimiter and other in header[0]:
            shown = "\\t" if other == "\t" else other
            return f' The header looks "{shown}"-separated: set ingest.csv.delimiter: "{shown}".'
    return ""


def _read_csv(
    fetched: Fetched, columns: ColumnMapping, table: TableFormat, gzipped: bool
) -> pd.DataFrame:
    source = fetched.source
    options: dict[str, Any] = {
        "sep": table.delimiter,
        "decimal": table.decimal,
        "encoding": table.encoding,
        "compression": "gzip" if gzipped else None,
    }
    utf16 = table.encoding.lower().replace("_", "-").startswith("utf-16")
    if not gzipped and not utf16 and b"\0" in fetched.head(4096):
        raise SourceError(
            f"source {source!r} could not be read as a table: it holds binary bytes, not text "
            "(a Parquet file needs a .parquet name; UTF-16 text needs ingest.csv.encoding: utf-16)"
        )
    try:
        header = [str(name) for name in pd.read_csv(fetched.readable(), nrows=0, **options).columns]
        _missing_columns(header, columns, source, _delimiter_hint(header, table))
        # Only the mapped columns are parsed: extra columns cost neither time nor memory.
        # Series names stay text ("007" is not 7).
        return pd.read_csv(
            fetched.readable(),
            usecols=columns.wanted(),
            dtype={columns.series_id: "str"} if columns.series_id else None,
            **options,
        )
    except SourceError:
        raise
    except UnicodeDecodeError as err:
        raise SourceError(
            f"source {source!r} is not {table.encoding} text ({err.reason} at byte {err.start}): "
            "set ingest.csv.encoding to the file's encoding, e.g. latin-1 or cp1252"
        ) from err
    except LookupError as err:  # an unknown codec name
        raise SourceError(f"ingest.csv.encoding: {err}") from err
    except Exception as err:  # pandas raises many types for unreadable files
        raise SourceError(f"source {source!r} could not be read as a table: {err}") from err


def _read_parquet(fetched: Fetched, columns: ColumnMapping) -> pd.DataFrame:
    import pyarrow.parquet as pq

    source = fetched.source
    try:
        header = list(pq.ParquetFile(fetched.readable()).schema_arrow.names)
        _missing_columns(header, columns, source)
        return pd.read_parquet(fetched.readable(), columns=columns.wanted())
    except SourceError:
        raise
    except Exception as err:  # pyarrow raises many types for unreadable files
        raise SourceError(f"source {source!r} could not be read as Parquet: {err}") from err


def read_source(
    source: str,
    columns: ColumnMapping,
    expected_sha256: str | None = None,
    table: TableFormat | None = None,
) -> pd.DataFrame:
    """Read ``source`` (``builtin:<name>``, a CSV/Parquet path or URL) into the canonical frame.

    Raises:
        SourceError: with a message naming the source and what is wrong with it.

    """
    return parse(fetch(source, expected_sha256), columns, table)


def as_of(frame: pd.DataFrame, until: str | None, timezone: str | None = None) -> pd.DataFrame:
    """The rows known at ``until`` (an ISO timestamp, inclusive): "the data we had then".

    An ``until`` with a UTC offset is converted into ``timezone`` (the series' clock) first.

    Raises:
        SourceError: if ``until`` is not a timestamp or leaves no rows.

    """
    if until is None:
        return frame
    try:
        cutoff = pd.Timestamp(until)
    except (ValueError, TypeError) as err:
        raise SourceError(f"ingest.until must be an ISO timestamp, got {until!r}") from err
    if cutoff.tzinfo is not None:
        cutoff = (cutoff.tz_convert(timezone) if timezone else cutoff).tz_localize(None)
    kept = frame[frame["timestamp"] <= cutoff].reset_index(drop=True)
    if kept.empty:
        first = frame["timestamp"].min()
        raise SourceError(f"ingest.until {until} is before the first observation ({first})")
    return kept


def _series_ids(raw: pd.DataFrame, columns: ColumnMapping) -> pd.Series:
    if columns.series_id is None:
        return pd.Series(columns.default_series_id, index=raw.index, dtype="str")
    # Missing names stay missing (not the text "nan"): the contract reports them.
    return raw[columns.series_id].astype("str")


def _numbers(raw: pd.Series, column: str) -> pd.Series:
    """``raw`` as float64; text that is not a number becomes NaN, named here with its lines."""
    values = pd.to_numeric(raw, errors="coerce").astype("float64")
    if raw.dtype.kind in "fiub":
        return values
    unreadable = (values.isna() & raw.notna()).to_numpy()
    if unreadable.any():
        where = np.flatnonzero(unreadable)[:3]
        # +2: a person counts file lines from 1, and line 1 is the header.
        shown = ", ".join(f"{raw.iloc[p]!r} (line {p + 2})" for p in where)
        logger.warning(
            "%d value(s) in column %r are not numbers, e.g. %s: kept as missing, which the data "
            "contract refuses",
            int(unreadable.sum()),
            column,
            shown,
        )
    return values


def in_series_time_order(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """``frame`` sorted by series, then time (stable), and how many rows had to move."""
    codes, _ = pd.factorize(frame["series_id"], sort=True)
    order = np.lexsort((frame["timestamp"].to_numpy(), codes))
    moved = int(np.count_nonzero(order != np.arange(len(order))))
    if moved == 0:
        return frame, 0
    return frame.take(order).reset_index(drop=True), moved


def canonical(
    raw: pd.DataFrame, columns: ColumnMapping, source: str, table: TableFormat | None = None
) -> pd.DataFrame:
    """Rename, type and sort a frame into ``series_id, timestamp, value``.

    Values that are not numbers become NaN here and are reported by the data contract, so a user
    sees every bad row at once rather than the first parse error. Rows out of time order are
    sorted (files exported newest-first are common) and counted in the log.
    """
    table = table or TableFormat()
    _missing_columns([str(name) for name in raw.columns], columns, source)
    try:
        timestamps = parse_timestamps(
            raw[columns.timestamp], table.timestamp_format, table.timezone, columns.timestamp
        )
    except TimestampError as err:
        raise SourceError(f"source {source!r}: {err}") from err
    # Columns stay pandas Series on the file's index: turning 10^7 names into Python strings
    # and back would cost more than reading the file.
    frame = pd.DataFrame(
        {
            "series_id": _series_ids(raw, columns),
            "timestamp": timestamps,
            "value": _numbers(raw[columns.value], columns.value),
        },
        index=raw.index,
    ).reset_index(drop=True)
    frame, moved = in_series_time_order(frame)
    if moved:
        logger.warning("%d row(s) were not in time order: sorted by series, then time", moved)
    return frame
