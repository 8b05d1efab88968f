"""Immutable raw snapshots: every ingest freezes its rows into a new folder and never edits one.

Layout under ``paths.raw``::

    manifest.json                    the current snapshot's manifest (+ "snapshot": its folder)
    snapshots/<id>/series.parquet    canonical rows, read-only
    snapshots/<id>/manifest.json     source, sha256, rows, range, provenance

``<id>`` is the first 16 hex digits of the Parquet file's sha256, so ingesting the same rows
twice finds the existing snapshot instead of writing a copy, and a snapshot's name says what is
in it. A new snapshot is written into a temporary folder and renamed into place, and the pointer
``manifest.json`` is replaced last: a failed or killed ingest leaves the previous snapshot
current and every older one as it was. ``prune_snapshots`` (``ingest.keep_snapshots``) is the
only thing that deletes snapshots.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from forecasting.data.fetching import SourceError
from forecasting.core.files import file_sha256, write_json

SNAPSHOTS_DIR = "snapshots"
SNAPSHOT_FILE = "series.parquet"
MANIFEST_FILE = "manifest.json"
ID_LENGTH = 16
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


SHOWN_SERIES = 100  # names listed in a manifest; the count covers all of them


def _describe(frame: pd.DataFrame) -> dict[str, Any]:
    names = sorted(str(name) for name in frame["series_id"].dropna().unique())
    return {
        "rows": len(frame),
        "series_count": len(names),
        "series": names[:SHOWN_SERIES],
        "first_timestamp": frame["timestamp"].min().isoformat() if len(frame) else None,
        "last_timestamp": frame["timestamp"].max().isoformat() if len(frame) else None,
    }


def write_snapshot(
    frame: pd.DataFrame, directory: Path, source: str, provenance: dict[str, object] | None = None
) -> dict[str, Any]:
    """Freeze ``frame`` as a new snapshot under ``directory`` and make it the current one.

    ``provenance`` (the source's sha256, the as-of cutoff, parse settings) goes into the
    manifest. Returns the manifest, with ``"created": False`` when an identical snapshot existed.

    Raises:
        SourceError: if a snapshot with the same id exists but its bytes were modified.

    """
    snapshots = directory / SNAPSHOTS_DIR
    snapshots.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=snapshots, prefix=".incoming-"))
    try:
        frame.to_parquet(staging / SNAPSHOT_FILE, index=False)
        sha256 = file_sha256(staging / SNAPSHOT_FILE)
        snapshot_id = sha256[:ID_LENGTH]
        target = snapshots / snapshot_id
        manifest: dict[str, Any] = {
            "snapshot": f"{SNAPSHOTS_DIR}/{snapshot_id}",
            "source": source,
            "file": SNAPSHOT_FILE,
            "sha256": sha256,
            **_describe(frame),
            **(provenance or {}),
        }
        created = not target.exists()
        if created:
            write_json(staging / MANIFEST_FILE, manifest)
            for written in staging.iterdir():
                written.chmod(READ_ONLY)
            staging.chmod(0o755)  # mkdtemp makes it private; the folder stays deletable
            os.rename(staging, target)
        else:
            _verified(target, sha256)
            manifest = _read_manifest(target / MANIFEST_FILE)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_json(directory / MANIFEST_FILE, manifest)
    return manifest | {"created": created}


def _read_manifest(path: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def _verified(folder: Path, sha256: str) -> Path:
    snapshot = folder / SNAPSHOT_FILE
    if not snapshot.is_file():
        raise SourceError(f"snapshot {folder} has no {SNAPSHOT_FILE}: restore it with dvc checkout")
    if file_sha256(snapshot) != sha256:
        raise SourceError(
            f"{snapshot} changed after ingest (sha256 mismatch). Snapshots are immutable: "
            f"restore it with `dvc checkout {folder.parent.parent}` or delete that folder and "
            "re-run ingest"
        )
    return snapshot


def current_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of the current snapshot under ``directory``.

    Raises:
        SourceError: if no ingest has run there yet.

    """
    path = directory / MANIFEST_FILE
    if not path.is_file():
        raise SourceError(f"no raw snapshot in {directory}: run the ingest stage first")
    manifest = _read_manifest(path)
    if "snapshot" not in manifest:
        raise SourceError(
            f"{path} predates immutable snapshots: re-run ingest (`dvc repro -f ingest`)"
        )
    return manifest


def read_snapshot(directory: Path) -> pd.DataFrame:
    """Read the current snapshot, refusing one whose bytes no longer match its manifest.

    Raises:
        SourceError: if there is no snapshot or it was modified after ingest.

    """
    return pd.read_parquet(snapshot_file(directory))


def snapshot_file(directory: Path) -> Path:
    """The current snapshot's Parquet file, checked against its manifest's sha256.

    Raises:
        SourceError: if there is no snapshot or it was modified after ingest.

    """
    manifest = current_manifest(directory)
    return _verified(directory / manifest["snapshot"], manifest["sha256"])


def snapshot_rows(path: Path) -> int:
    """How many rows a snapshot file holds, from its footer (nothing else is read)."""
    return int(pq.ParquetFile(path).metadata.num_rows)


def series_chunks(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    """The snapshot at ``path`` as frames of whole series, of about ``rows`` rows each.

    A series is never cut: the rows of the last series in a batch wait for the next one, and a
    series longer than ``rows`` is one frame of its own. Frames are as ``read_snapshot``'s;
    a snapshot without rows is one empty frame.

    Raises:
        SourceError: if a series' rows are not contiguous (ingest writes them sorted).

    """
    held: list[pd.DataFrame] = []  # rows read and not yet yielded; Arrow's batches may be smaller
    done: set[object] = set()  # series already yielded
    for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
        held.append(batch.to_pandas())
        if sum(map(len, held)) < rows:
            continue
        frame = pd.concat(held, ignore_index=True)
        codes = pd.factorize(frame["series_id"], use_na_sentinel=False)[0]
        others = np.flatnonzero(codes != codes[-1])  # rows not of the last series
        cut = int(others[-1]) + 1 if len(others) else 0
        held = [frame.iloc[cut:].reset_index(drop=True)]
        if cut:
            yield _checked_contiguous(frame.iloc[:cut], done)
    if rest := [part for part in held if len(part)]:
        yield _checked_contiguous(pd.concat(rest, ignore_index=True), done)
    elif not done:  # no rows: one empty frame, typed as the file is, for the contract to refuse
        yield pq.read_table(path).to_pandas()


def _checked_contiguous(chunk: pd.DataFrame, done: set[object]) -> pd.DataFrame:
    names = set(pd.unique(chunk["series_id"]))
    if again := names & done:
        raise SourceError(
            f"series {sorted(map(str, again))[0]!r} appears in two places in the snapshot; ingest "
            "writes each series' rows together: re-run it (`dvc repro -f ingest`)"
        )
    done |= names
    return chunk


def list_snapshots(directory: Path) -> list[dict[str, Any]]:
    """Every snapshot's manifest under ``directory``, oldest range end first."""
    folders = sorted((directory / SNAPSHOTS_DIR).glob(f"*/{MANIFEST_FILE}"))
    manifests = [_read_manifest(path) for path in folders]
    return sorted(manifests, key=lambda m: (str(m.get("last_timestamp")), str(m["snapshot"])))


def prune_snapshots(directory: Path, keep: int) -> list[str]:
    """Delete all but ``keep`` snapshots: the current one and the most recently written others.

    Only this retention setting ever deletes a snapshot, and never the current one; the deleted
    folders stay in DVC's cache (and its remote, once pushed). Returns the deleted folders,
    as the manifests name them (``snapshots/<id>``).

    Raises:
        ValueError: if ``keep`` is below 1.
        SourceError: if there is no current snapshot.

    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1 (the current snapshot), got {keep}")
    current = str(current_manifest(directory)["snapshot"])
    others = [
        folder
        for folder in (directory / SNAPSHOTS_DIR).iterdir()
        if folder.is_dir()
        and not folder.name.startswith(".")
        and f"{SNAPSHOTS_DIR}/{folder.name}" != current
    ]
    # newest first: a snapshot's folder is renamed into place once its files are written
    others.sort(key=lambda folder: (folder.stat().st_mtime_ns, folder.name), reverse=True)
    deleted = others[keep - 1 :]
    for folder in deleted:
        shutil.rmtree(folder)  # its files are read-only, its folder is not
    return sorted(f"{SNAPSHOTS_DIR}/{folder.name}" for folder in deleted)
