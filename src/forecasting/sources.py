"""Where series come from, and the immutable raw snapshot they are frozen into.

Every source is read into one canonical long frame: ``series_id`` (string), ``timestamp``
(datetime64, time-zone naive) and ``value`` (float64), sorted by series then time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.files import file_sha256, write_atomically, write_json

logger = logging.getLogger(__name__)

CANONICAL_COLUMNS = ("series_id", "timestamp", "value")
SNAPSHOT_FILE = "series.parquet"
MANIFEST_FILE = "manifest.json"


class SourceError(ValueError):
    """A source cannot be read into a series; the message says what to change."""


@dataclass(frozen=True)
class ColumnMapping:
    """Which columns of a user's file hold the time, the target and (optionally) the series name."""

    timestamp: str = "timestamp"
    value: str = "value"
    series_id: str | None = None
    default_series_id: str = "series"


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


def read_source(source: str, columns: ColumnMapping) -> pd.DataFrame:
    """Read ``source`` (``builtin:<name>``, or a CSV/Parquet path) into the canonical frame.

    Raises:
        SourceError: with a message naming the source and what is wrong with it.

    """
    if source.startswith("builtin:"):
        name = source.removeprefix("builtin:")
        if name not in BUILTINS:
            raise SourceError(
                f"unknown built-in data set {name!r}; choose one of {sorted(BUILTINS)}"
            )
        return canonical(BUILTINS[name](), ColumnMapping("timestamp", "value", "series_id"), source)
    path = Path(source)
    if not path.is_file():
        raise SourceError(
            f"source file {source!r} does not exist (relative paths start at the repo root)"
        )
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            raw = pd.read_parquet(path)
        elif path.suffix.lower() in {".csv", ".txt", ".gz"}:
            raw = pd.read_csv(path)
        else:
            raise SourceError(f"source {source!r}: unsupported file type; use .csv or .parquet")
    except SourceError:
        raise
    except Exception as err:  # pandas/pyarrow raise many types for unreadable files
        raise SourceError(f"source {source!r} could not be read as a table: {err}") from err
    return canonical(raw, columns, source)


def canonical(raw: pd.DataFrame, columns: ColumnMapping, source: str) -> pd.DataFrame:
    """Rename, type and sort a frame into ``series_id, timestamp, value``.

    Values that are not numbers become NaN here and are reported by the data contract, so a user
    sees every bad row at once rather than the first parse error.
    """
    wanted = [columns.timestamp, columns.value] + ([columns.series_id] if columns.series_id else [])
    missing = [name for name in wanted if name not in raw.columns]
    if missing:
        raise SourceError(
            f"source {source!r} lacks column(s) {missing}; it has {list(raw.columns)}. "
            "Set ingest.columns in params.yaml to the names your file uses."
        )
    try:
        timestamps = pd.to_datetime(raw[columns.timestamp], format="mixed")
    except (ValueError, TypeError) as err:
        raise SourceError(
            f"source {source!r}: column {columns.timestamp!r} holds values that are not timestamps: {err}"
        ) from err
    if getattr(timestamps.dt, "tz", None) is not None:
        timestamps = timestamps.dt.tz_localize(None)
    series_ids = (
        raw[columns.series_id].astype(str)
        if columns.series_id
        else pd.Series(columns.default_series_id, index=raw.index)
    )
    frame = pd.DataFrame(
        {
            "series_id": series_ids.astype(str).to_numpy(),
            "timestamp": timestamps.astype("datetime64[ns]").to_numpy(),
            "value": pd.to_numeric(raw[columns.value], errors="coerce")
            .astype("float64")
            .to_numpy(),
        }
    )
    return frame.sort_values(["series_id", "timestamp"], kind="stable").reset_index(drop=True)


def write_snapshot(frame: pd.DataFrame, directory: Path, source: str) -> dict[str, object]:
    """Freeze ``frame`` into ``directory`` as Parquet plus a manifest, and return the manifest."""
    snapshot = directory / SNAPSHOT_FILE
    write_atomically(snapshot, lambda path: frame.to_parquet(path, index=False))
    manifest: dict[str, object] = {
        "source": source,
        "file": SNAPSHOT_FILE,
        "sha256": file_sha256(snapshot),
        "rows": len(frame),
        "series": sorted(frame["series_id"].unique().tolist()),
        "first_timestamp": frame["timestamp"].min().isoformat() if len(frame) else None,
        "last_timestamp": frame["timestamp"].max().isoformat() if len(frame) else None,
    }
    write_json(directory / MANIFEST_FILE, manifest)
    return manifest


def read_snapshot(directory: Path) -> pd.DataFrame:
    """Read a snapshot, refusing one whose bytes no longer match its manifest.

    Raises:
        SourceError: if the snapshot is missing or was modified after ingest.

    """
    manifest_path, snapshot = directory / MANIFEST_FILE, directory / SNAPSHOT_FILE
    if not manifest_path.is_file() or not snapshot.is_file():
        raise SourceError(f"no raw snapshot in {directory}: run the ingest stage first")
    manifest = json.loads(manifest_path.read_text())
    if file_sha256(snapshot) != manifest["sha256"]:
        raise SourceError(f"{snapshot} changed after ingest (sha256 mismatch): re-run ingest")
    return pd.read_parquet(snapshot)
