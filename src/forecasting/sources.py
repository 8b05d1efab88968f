"""Where series come from, and the immutable raw snapshot they are frozen into.

Every source is read into one canonical long frame: ``series_id`` (string), ``timestamp``
(datetime64, time-zone naive) and ``value`` (float64), sorted by series then time.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

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


@dataclass(frozen=True)
class Fetched:
    """A source's bytes as they were read, and their sha256 (None for built-in data sets)."""

    source: str
    data: bytes | None
    sha256: str | None


def is_url(source: str) -> bool:
    """``http(s)://``, ``s3://``, ``gs://``, ``file://``... : anything fsspec opens."""
    return "://" in source


def fetch(source: str, expected_sha256: str | None = None) -> Fetched:
    """Read a source's bytes (a local path or any fsspec URL), checking a pinned sha256.

    Raises:
        SourceError: if the source cannot be read, or its bytes do not match ``expected_sha256``.

    """
    if source.startswith("builtin:"):
        if expected_sha256:
            raise SourceError(
                f"ingest.sha256 pins a file's bytes; {source!r} is a built-in data set: remove it"
            )
        return Fetched(source, None, None)
    data = _read_url(source) if is_url(source) else _read_path(source)
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 and digest != expected_sha256.lower():
        raise SourceError(
            f"source {source!r} has sha256 {digest}, but ingest.sha256 pins {expected_sha256}: "
            "the file changed. Check the new data, then update the pin (or remove it)."
        )
    return Fetched(source, data, digest)


def _read_path(source: str) -> bytes:
    path = Path(source)
    if not path.is_file():
        raise SourceError(
            f"source file {source!r} does not exist (relative paths start at the repo root)"
        )
    return path.read_bytes()


def _read_url(source: str) -> bytes:
    import fsspec

    try:
        with fsspec.open(source, "rb") as stream:
            return bytes(stream.read())
    except FileNotFoundError as err:
        cause = err.__cause__ or err.__context__
        if isinstance(cause, OSError | ConnectionError) or "Connect" in type(cause).__name__:
            raise SourceError(f"source {source!r} could not be reached: {cause}") from err
        raise SourceError(f"source {source!r} was not found (404 or no such object)") from err
    except ImportError as err:  # s3fs, gcsfs, adlfs are extras
        raise SourceError(
            f"source {source!r} needs an fsspec driver that is not installed: {err}"
        ) from err
    except ValueError as err:  # unknown protocol
        raise SourceError(f"source {source!r}: {err}") from err
    except Exception as err:  # network errors come in many types (aiohttp, botocore, OS)
        raise SourceError(f"source {source!r} could not be downloaded: {err}") from err


def parse(fetched: Fetched, columns: ColumnMapping) -> pd.DataFrame:
    """The canonical frame of fetched bytes (or of a built-in data set).

    Raises:
        SourceError: with a message naming the source and what is wrong with it.

    """
    source = fetched.source
    if fetched.data is None:
        name = source.removeprefix("builtin:")
        if name not in BUILTINS:
            raise SourceError(
                f"unknown built-in data set {name!r}; choose one of {sorted(BUILTINS)}"
            )
        return canonical(BUILTINS[name](), ColumnMapping("timestamp", "value", "series_id"), source)
    suffixes = [s.lower() for s in PurePosixPath(source.split("?", 1)[0]).suffixes]
    try:
        if suffixes[-1:] in ([".parquet"], [".pq"]):
            raw = pd.read_parquet(io.BytesIO(fetched.data))
        elif suffixes[-1:] in ([".csv"], [".txt"]) or suffixes[-2:] == [".csv", ".gz"]:
            gzipped = suffixes[-1:] == [".gz"]
            raw = pd.read_csv(io.BytesIO(fetched.data), compression="gzip" if gzipped else None)
        else:
            raise SourceError(
                f"source {source!r}: unsupported file type; use .csv, .csv.gz or .parquet"
            )
    except SourceError:
        raise
    except Exception as err:  # pandas/pyarrow raise many types for unreadable files
        raise SourceError(f"source {source!r} could not be read as a table: {err}") from err
    return canonical(raw, columns, source)


def read_source(
    source: str, columns: ColumnMapping, expected_sha256: str | None = None
) -> pd.DataFrame:
    """Read ``source`` (``builtin:<name>``, a CSV/Parquet path or URL) into the canonical frame.

    Raises:
        SourceError: with a message naming the source and what is wrong with it.

    """
    return parse(fetch(source, expected_sha256), columns)


def as_of(frame: pd.DataFrame, until: str | None) -> pd.DataFrame:
    """The rows known at ``until`` (an ISO timestamp, inclusive): "the data we had then".

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
        cutoff = cutoff.tz_localize(None)
    kept = frame[frame["timestamp"] <= cutoff].reset_index(drop=True)
    if kept.empty:
        first = frame["timestamp"].min()
        raise SourceError(f"ingest.until {until} is before the first observation ({first})")
    return kept


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


def write_snapshot(
    frame: pd.DataFrame, directory: Path, source: str, provenance: dict[str, object] | None = None
) -> dict[str, object]:
    """Freeze ``frame`` into ``directory`` as Parquet plus a manifest, and return the manifest.

    ``provenance`` (the source's sha256, the as-of cutoff) is added to the manifest.
    """
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
        **(provenance or {}),
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
