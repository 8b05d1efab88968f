"""A full disk: one line naming the path and what to free, nothing partial under a final name,
and the rerun after freeing space succeeds. Needs a small tmpfs (root); skipped otherwise."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines import ingest
from pipelines._stage import run_stage
from tests.conftest import REPO_ROOT, synthetic_series, tiny_params, write_params

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs mounted at ``tmp_path / "disk"``."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave_bytes: int) -> Path:
    """A filler file taking all but about ``leave_bytes`` of the disk."""
    import os

    filler = disk / "filler"
    handle = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        stats = os.statvfs(disk)
        wanted = stats.f_bavail * stats.f_frsize - leave_bytes
        chunk = b"\0" * 4096
        while wanted > 0:
            try:
                wanted -= os.write(handle, chunk[: min(len(chunk), wanted)])
            except OSError:
                break
    finally:
        os.close(handle)
    return filler


def test_ingest_on_a_full_disk_keeps_the_snapshot_and_says_what_to_free(
    workspace, small_disk, caplog
):
    params = tiny_params("demand.csv")
    params["paths"]["raw"] = str(small_disk / "raw")
    write_params(workspace, params)
    synthetic_series(days=21).to_csv("demand.csv", index=False)
    assert ingest.main([]) == 0
    manifest = json.loads((small_disk / "raw" / "manifest.json").read_text())
    before = sorted(p.name for p in (small_disk / "raw").rglob("*") if not p.name.startswith("."))

    synthetic_series(days=28, seed=1).to_csv("demand.csv", index=False)  # new data to snapshot
    filler = _fill(small_disk, leave_bytes=2048)
    caplog.clear()
    assert ingest.main([]) == 1
    (line,) = [
        r.getMessage() for r in caplog.records if r.name == "pipelines" and r.levelname == "ERROR"
    ]
    assert "no space left" in line and str(small_disk) in line and "free space" in line
    assert "Traceback" not in caplog.text
    assert json.loads((small_disk / "raw" / "manifest.json").read_text()) == manifest
    after = sorted(p.name for p in (small_disk / "raw").rglob("*") if not p.name.startswith("."))
    assert after == before  # nothing partial under a final name

    filler.unlink()
    assert ingest.main([]) == 0
    assert json.loads((small_disk / "raw" / "manifest.json").read_text()) != manifest


def test_a_full_sqlite_store_is_one_line(small_disk, monkeypatch, caplog):
    import mlflow

    uri = f"sqlite:///{small_disk / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri, uri)  # explicit: an earlier test may leave a cached store
    client.create_registered_model("demand-forecaster")
    _fill(small_disk, leave_bytes=0)

    def body(_params) -> None:
        for number in range(200):
            client.set_registered_model_tag("demand-forecaster", f"t{number}", "x" * 5000)

    assert run_stage("faults", body, ["--params", str(REPO_ROOT / "params.yaml")]) == 1
    (line,) = [
        r.getMessage() for r in caplog.records if r.name == "pipelines" and r.levelname == "ERROR"
    ]
    assert "full" in line and "free space" in line
