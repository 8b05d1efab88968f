"""Raw snapshots are immutable: each ingest adds one, and none is ever edited."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from forecasting.data.fetching import SourceError
from forecasting.data.snapshots import (
    current_manifest,
    list_snapshots,
    prune_snapshots,
    read_snapshot,
    write_snapshot,
)
from tests.conftest import synthetic_series


def _canonical(days: int) -> pd.DataFrame:
    return synthetic_series(days=days).assign(series_id="s")[["series_id", "timestamp", "value"]]


def test_each_ingest_adds_a_read_only_snapshot_and_leaves_the_old_ones(tmp_path):
    first = write_snapshot(_canonical(2), tmp_path, "a.csv", {"until": None})
    old_bytes = (tmp_path / first["snapshot"] / "series.parquet").read_bytes()
    second = write_snapshot(_canonical(3), tmp_path, "a.csv")

    assert first["created"] and second["created"] and first["snapshot"] != second["snapshot"]
    assert (tmp_path / first["snapshot"] / "series.parquet").read_bytes() == old_bytes
    assert current_manifest(tmp_path)["snapshot"] == second["snapshot"]
    assert len(read_snapshot(tmp_path)) == 3 * 48
    assert [m["rows"] for m in list_snapshots(tmp_path)] == [96, 144]
    for written in (tmp_path / first["snapshot"]).iterdir():
        assert oct(written.stat().st_mode & 0o777) == "0o444"
    assert oct((tmp_path / first["snapshot"]).stat().st_mode & 0o777) == "0o755"
    assert not list((tmp_path / "snapshots").glob(".incoming-*"))


def test_the_same_rows_again_reuse_their_snapshot_and_make_it_current(tmp_path):
    first = write_snapshot(_canonical(2), tmp_path, "a.csv")
    write_snapshot(_canonical(3), tmp_path, "a.csv")
    again = write_snapshot(_canonical(2), tmp_path, "a.csv")
    assert not again["created"] and again["snapshot"] == first["snapshot"]
    assert len(list((tmp_path / "snapshots").iterdir())) == 2
    assert current_manifest(tmp_path)["snapshot"] == first["snapshot"]


def test_an_edited_snapshot_is_refused_on_read_and_on_reuse(tmp_path):
    manifest = write_snapshot(_canonical(2), tmp_path, "a.csv")
    target = tmp_path / manifest["snapshot"] / "series.parquet"
    target.chmod(0o644)
    _canonical(1).to_parquet(target, index=False)
    with pytest.raises(SourceError, match=r"changed after ingest.*dvc checkout"):
        read_snapshot(tmp_path)
    with pytest.raises(SourceError, match="changed after ingest"):
        write_snapshot(_canonical(2), tmp_path, "a.csv")


def test_a_failed_write_leaves_the_current_snapshot_current(tmp_path):
    write_snapshot(_canonical(2), tmp_path, "a.csv")
    before = (tmp_path / "manifest.json").read_text()
    unwritable = _canonical(2).assign(value=[object()] * 96)  # pyarrow cannot store it
    with pytest.raises(Exception):  # noqa: B017 - whichever error pyarrow raises
        write_snapshot(unwritable, tmp_path, "b.csv")
    assert (tmp_path / "manifest.json").read_text() == before
    assert len(list((tmp_path / "snapshots").iterdir())) == 1


def test_no_snapshot_and_an_old_layout_say_what_to_run(tmp_path):
    with pytest.raises(SourceError, match="run the ingest stage first"):
        read_snapshot(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"file": "series.parquet"}))
    with pytest.raises(SourceError, match="dvc repro -f ingest"):
        read_snapshot(tmp_path)


def _written_at(directory, manifest, seconds: int) -> None:
    """Date a snapshot's folder (writes in one test can share a clock tick)."""
    os.utime(directory / manifest["snapshot"], (seconds, seconds))


def test_pruning_keeps_the_current_snapshot_and_the_newest_others(tmp_path):
    written = [write_snapshot(_canonical(days), tmp_path, "a.csv") for days in (2, 3, 4, 5)]
    for seconds, manifest in enumerate(written, start=1_000):
        _written_at(tmp_path, manifest, seconds)
    again = write_snapshot(_canonical(2), tmp_path, "a.csv")  # the oldest is current again
    assert again["snapshot"] == written[0]["snapshot"]

    deleted = prune_snapshots(tmp_path, keep=2)

    assert deleted == sorted([written[1]["snapshot"], written[2]["snapshot"]])
    left = {m["snapshot"] for m in list_snapshots(tmp_path)}
    assert left == {written[0]["snapshot"], written[3]["snapshot"]}  # current + newest other
    assert len(read_snapshot(tmp_path)) == 2 * 48  # the current one still reads and verifies
    assert prune_snapshots(tmp_path, keep=2) == []  # nothing more to delete


def test_keeping_one_leaves_only_the_current_snapshot_and_zero_is_refused(tmp_path):
    for days in (2, 3, 4):
        write_snapshot(_canonical(days), tmp_path, "a.csv")
    assert len(prune_snapshots(tmp_path, keep=1)) == 2
    assert [m["snapshot"] for m in list_snapshots(tmp_path)] == [
        current_manifest(tmp_path)["snapshot"]
    ]
    with pytest.raises(ValueError, match="at least 1"):
        prune_snapshots(tmp_path, keep=0)
