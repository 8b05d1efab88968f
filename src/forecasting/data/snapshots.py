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
from pathlib import Path
from typing import Any

import pandas as pd

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
    manifest = current_manifest(directory)
    snapshot = _verified(directory / manifest["snapshot"], manifest["sha256"])
    return pd.read_parquet(snapshot)


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
