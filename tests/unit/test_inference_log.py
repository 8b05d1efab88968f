"""The inference log: whole JSON lines, rotation, torn tails, failures that never reach a request."""

from __future__ import annotations

import json
import logging
import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from forecasting.serving.inference_log import (
    InferenceLog,
    LogTarget,
    log_files,
    read_records,
    window_summaries,
)
from forecasting.serving.settings import ServiceSettings


def _record(log: InferenceLog, series: int = 1, end: str = "2024-01-03T23:30") -> None:
    windows = np.arange(series * 96, dtype=np.float32).reshape(series, 96)
    log.record(
        ends=[end] * series,
        series_ids=[f"s{i}" for i in range(series)],
        horizon=24,
        freq="30min",
        model_version="3",
        forecasts=[[float(i)] * 24 for i in range(series)],
        windows=windows,
    )


def test_window_summaries_are_each_rows_statistics():
    windows = np.array([[1.0, 2.0, 3.0, 6.0], [5.0, 5.0, 5.0, 5.0]], dtype=np.float32)
    first, second = window_summaries(windows)
    assert first == {"length": 4, "mean": 3.0, "std": pytest.approx(1.8708, abs=1e-4),
                     "min": 1.0, "max": 6.0, "last": 6.0}  # fmt: skip
    assert second["std"] == 0.0 and second["last"] == 5.0


def test_records_are_written_as_json_lines_by_the_thread(tmp_path: Path):
    target = LogTarget(tmp_path / "logs" / "inference.jsonl", 1 << 20, 2)
    log = InferenceLog(target, flush_interval_s=0.05)
    _record(log, series=3)
    log.close()
    records, torn = read_records(target.path)
    assert torn == 0 and log.written == 3 and log.dropped == 0
    assert [r["series_id"] for r in records] == ["s0", "s1", "s2"]
    first = records[0]
    assert first["end"] == "2024-01-03T23:30" and first["horizon"] == 24
    assert first["model_version"] == "3" and first["forecast"] == [0.0] * 24
    assert first["input"]["mean"] == pytest.approx(47.5) and first["input"]["last"] == 95.0
    assert len({r["request_id"] for r in records}) == 3


def test_the_log_rotates_by_size_and_keeps_its_backups(tmp_path: Path):
    target = LogTarget(tmp_path / "inference.jsonl", 4096, 2)
    log = InferenceLog(target, flush_interval_s=60)
    for _ in range(40):  # ~450 bytes a record, one flush each: a rotation every ~9 records
        _record(log)
        log.flush()
    log.close()
    files = log_files(target.path)
    assert [f.name for f in files] == ["inference.jsonl.2", "inference.jsonl.1", "inference.jsonl"]
    assert all(f.stat().st_size <= 4096 for f in files)
    records, torn = read_records(target.path)
    assert torn == 0 and 9 < len(records) < 40  # the oldest rotated beyond the backups


def test_a_torn_last_line_is_skipped_and_closed_by_the_next_writer(tmp_path: Path):
    path = tmp_path / "inference.jsonl"
    log = InferenceLog(LogTarget(path, 1 << 20, 1), flush_interval_s=60)
    _record(log)
    log.flush()
    with path.open("ab") as sink:  # a writer killed mid-record
        sink.write(b'{"request_id": "x", "forecast": [1.0, 2')
    _record(log)
    log.close()
    records, torn = read_records(path)
    assert len(records) == 2 and torn == 1


def test_an_unwritable_path_warns_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    log = InferenceLog(LogTarget(blocker / "inference.jsonl", 1 << 20, 1), flush_interval_s=60)
    with caplog.at_level(logging.WARNING, logger="forecasting.serving.inference_log"):
        for _ in range(3):
            _record(log)
            log.flush()
    log.close()
    assert log.dropped == 3 and log.written == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "FORECASTER_INFERENCE_LOG" in warnings[0].getMessage()


def test_a_bad_record_is_dropped_not_raised(tmp_path: Path):
    log = InferenceLog(LogTarget(tmp_path / "i.jsonl", 1 << 20, 1), flush_interval_s=60)
    log.record(ends=["a", "b"], series_ids=[None], horizon=1, freq="30min", model_version="1",
               forecasts=[[1.0]], windows=np.zeros((1, 4)))  # fmt: skip
    log.close()
    assert log.dropped == 2


def _writer(path: str, count: int) -> None:
    log = InferenceLog(LogTarget(Path(path), 8192, 50), flush_interval_s=60)
    for _ in range(count):
        _record(log, series=2)
        log.flush()
    log.close()


def test_processes_share_one_log_and_its_rotation_without_tearing_lines(tmp_path: Path):
    path = tmp_path / "inference.jsonl"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(path), 20)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    records, torn = read_records(path)
    assert torn == 0 and len(records) == 80
    for file in log_files(path):
        assert all(json.loads(line) for line in file.read_text().splitlines())


def test_the_setting_turns_the_log_off_and_checks_its_values():
    assert ServiceSettings.from_environment({"FORECASTER_INFERENCE_LOG": ""}).log_target is None
    target = ServiceSettings.from_environment({"FORECASTER_INFERENCE_LOG": "/v/log.jsonl"})
    assert target.log_target == LogTarget(Path("/v/log.jsonl"), 67108864, 10)
    with pytest.raises(ValueError, match="FORECASTER_INFERENCE_LOG_MAX_BYTES must be >= 4096"):
        ServiceSettings.from_environment({"FORECASTER_INFERENCE_LOG_MAX_BYTES": "10"})
