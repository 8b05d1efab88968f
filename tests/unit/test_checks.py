"""validate's checks, chunk by chunk, on real Parquet files and a real Great Expectations suite:
a snapshot checked in chunks of whole series gets the whole snapshot's verdict, words and splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.data.checks import CheckSettings, SnapshotCheck, check_snapshot
from forecasting.data.contract import ContractSettings, validate_frame
from forecasting.data.drift import TrainingValues
from forecasting.data.fetching import SourceError
from forecasting.data.gaps import fill_missing
from forecasting.data.snapshots import series_chunks
from forecasting.data.sources import ColumnMapping, canonical
from forecasting.data.splits import SPLITS, SplitWriter, split_chronologically
from tests.conftest import synthetic_series

CONTRACT = ContractSettings(freq="30min", min_value=0, max_value=100_000, min_rows_per_series=200)
SERIES = 7
ONE_CHUNK = 10**9


def _snapshot(path: Path, defects: bool, days: int = 8) -> pd.DataFrame:
    """Seven series of ``days`` days (384 rows each), written in row groups of 250 rows."""
    parts = []
    for number in range(SERIES):
        series = synthetic_series(days=days, seed=number).assign(series_id=f"s{number}")
        parts.append(canonical(series, ColumnMapping(series_id="series_id"), "test"))
    frame = pd.concat(parts, ignore_index=True)
    if defects:  # in three series that land in different chunks
        frame = frame.drop(index=range(400, 402)).reset_index(drop=True)  # s1: a 2-step gap
        frame.loc[[1200, 1201], "value"] = np.nan  # s3: two missing values
        frame.loc[[2500, 2600], "value"] = -5.0  # s6: out of range
    frame.to_parquet(path, index=False, row_group_size=250)
    return frame


def _check(path: Path, rows: int, fill: tuple[bool, bool] = (False, False)) -> SnapshotCheck:
    settings = CheckSettings(CONTRACT, fill, 3, 0.15, 0.15)
    with SplitWriter(path.parent / f"splits-{rows}") as splits:
        found = check_snapshot(series_chunks(path, rows), settings, splits)
        if found.contract is not None and found.contract.success:
            splits.commit()
    return found


def test_chunks_hold_whole_series_in_order_and_an_empty_file_is_one_empty_frame(tmp_path):
    frame = _snapshot(tmp_path / "s.parquet", defects=False)
    chunks = list(series_chunks(tmp_path / "s.parquet", 500))  # a series is 384 rows
    assert len(chunks) > 1
    assert all(chunk["series_id"].nunique() <= 2 for chunk in chunks)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), frame)
    assert len(list(series_chunks(tmp_path / "s.parquet", 100))) == SERIES  # longer: one each
    frame.iloc[:0].to_parquet(tmp_path / "empty.parquet", index=False)
    (empty,) = series_chunks(tmp_path / "empty.parquet", 500)
    assert empty.empty and list(empty.columns) == list(frame.columns)


def test_a_series_in_two_places_is_refused_naming_it(tmp_path):
    frame = _snapshot(tmp_path / "s.parquet", defects=False)
    pd.concat([frame, frame.iloc[:10]]).to_parquet(tmp_path / "bad.parquet", index=False)
    with pytest.raises(SourceError, match=r"series 's0' appears in two places.*re-run"):
        list(series_chunks(tmp_path / "bad.parquet", 500))


def test_a_broken_snapshot_in_chunks_gets_the_whole_snapshots_verdict_and_words(tmp_path):
    frame = _snapshot(tmp_path / "s.parquet", defects=True)
    whole, chunked = _check(tmp_path / "s.parquet", ONE_CHUNK), _check(tmp_path / "s.parquet", 500)
    assert whole.chunks == 1 and chunked.chunks > 2
    assert whole.contract is not None and chunked.contract is not None
    assert not chunked.contract.success
    assert chunked.contract.summary() == whole.contract.summary()
    assert chunked.contract.summary() == validate_frame(frame, CONTRACT).summary()
    assert "2 unexpected of 2686 rows" in chunked.contract.summary()  # the two negatives
    assert chunked.gaps.as_dict() == whole.gaps.as_dict()
    assert chunked.missing.as_dict() == whole.missing.as_dict()
    assert (chunked.gaps.count, chunked.missing.missing_steps) == (1, 2)
    # nothing committed, and the chunks that passed left no staged split behind
    assert not list(tmp_path.glob("splits-*/*")) + list(tmp_path.glob("splits-*/.*"))


def test_filled_chunks_commit_the_splits_the_whole_filled_snapshot_would_give(tmp_path):
    frame = _snapshot(tmp_path / "s.parquet", defects=True)
    frame = frame[frame["value"].fillna(0) >= 0].reset_index(drop=True)  # drop the negatives
    frame.to_parquet(tmp_path / "s.parquet", index=False, row_group_size=250)
    found = _check(tmp_path / "s.parquet", 500, fill=(True, True))
    assert found.contract is not None and found.contract.success, found.contract
    assert (found.filled_steps, found.filled_values) == (4, 2)  # s1 2 + s6 1 + 1; s3 2
    expected = split_chronologically(fill_missing(frame, "30min", 3, True, True)[0], 0.15, 0.15)
    for name in SPLITS:
        written = pd.read_parquet(tmp_path / "splits-500" / f"{name}.parquet")
        pd.testing.assert_frame_equal(written, getattr(expected, name))
    assert found.rows == sum(len(getattr(expected, name)) for name in SPLITS)
    assert found.shortest_test == int(expected.test.groupby("series_id").size().min())
    # what drift reads of the training split, kept chunk by chunk, is exactly the whole split's
    whole = TrainingValues.of(expected.train, "30min")
    assert found.train is not None
    np.testing.assert_array_equal(found.train.values, whole.values)
    for kept, expected_shape in zip(found.train.shape, whole.shape, strict=True):
        np.testing.assert_array_equal(kept, expected_shape)
    assert found.series == [f"s{number}" for number in range(SERIES)]
    assert list(found.overview["series_id"].unique()) == ["s0", "s1", "s2", "s3"]


def test_a_run_too_long_to_fill_stops_the_checks_and_names_every_such_run(tmp_path):
    _snapshot(tmp_path / "s.parquet", defects=True)
    settings = CheckSettings(CONTRACT, (True, False), 1, 0.15, 0.15)
    with SplitWriter(tmp_path / "splits") as splits:
        found = check_snapshot(series_chunks(tmp_path / "s.parquet", 500), settings, splits)
    assert found.contract is None
    assert [(gap.series_id, gap.missing_steps) for gap in found.too_long] == [("s1", 2)]
    assert found.missing.missing_steps == 2  # counted after the stop too
