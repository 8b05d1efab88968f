"""The inference log: every served forecast as one JSON line, appended off the request path.

A record holds what monitoring needs to score a forecast once its actuals arrive, and to see
whether the inputs drifted, without storing the whole input window::

    {"request_id": "...", "logged_at": "...", "series_id": null, "end": "2000-08-20T23:30",
     "horizon": 48, "freq": "30min", "model_version": "3", "forecast": [...],
     "input": {"length": 384, "mean": ..., "std": ..., "min": ..., "max": ..., "last": ...}}

Cheap on purpose: a request only appends references (its windows, forecasts, ends) to a deque.
A daemon thread, every ``FLUSH_INTERVAL_S``, summarises the windows of everything queued in one
vectorised pass, serialises the records with pydantic-core and writes them in one ``write``. The file is opened
per flush under an exclusive ``flock`` on a sibling ``.lock`` file, so the service's worker
processes share one log and its size-based rotation (``path`` -> ``path.1`` -> ... ->
``path.<backups>``) without tearing each other's lines. A record is written whole or, if the
process is killed mid-write, left as a torn last line that the next writer closes with a
newline and readers skip; at most the last flush interval is lost to a ``kill -9``.

Logging never fails a request: an unwritable path or a full disk logs one warning and the
records are dropped (counted) until writing works again.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import fcntl
import itertools
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pydantic_core

logger = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.5  # the most a kill -9 loses; ~150 requests at full load, one write each
MAX_QUEUED = 100_000  # records held while the disk is slow; beyond this they are dropped


@dataclass(frozen=True)
class LogTarget:
    """Where the log goes and when it rotates."""

    path: Path
    max_bytes: int  # rotate before a write would take the file past this
    backups: int  # rotated files kept: path.1 (newest) .. path.<backups>


def window_summaries(windows: np.ndarray) -> list[dict[str, float | int]]:
    """Mean, std, min, max and last value of each input window [B, L], as JSON-ready dicts."""
    values = windows  # float32 from the service: accumulated in float64, never copied
    columns = (
        values.mean(axis=1, dtype=np.float64),
        values.std(axis=1, dtype=np.float64),
        values.min(axis=1).astype(np.float64),
        values.max(axis=1).astype(np.float64),
        values[:, -1].astype(np.float64),
    )
    length = int(values.shape[1])
    return [
        {"length": length, "mean": m, "std": s, "min": lo, "max": hi, "last": last}
        for m, s, lo, hi, last in zip(*(c.tolist() for c in columns), strict=True)
    ]


class InferenceLog:
    """An append-only JSONL log of served forecasts, written by a background thread."""

    def __init__(self, target: LogTarget, flush_interval_s: float = FLUSH_INTERVAL_S) -> None:
        self.target = target
        self.flush_interval_s = flush_interval_s
        self.dropped = 0  # records lost to a failed write or a full queue
        self.written = 0
        self._queue: collections.deque[tuple[Any, ...]] = collections.deque()
        self._wake = threading.Event()
        self._stopped = False
        self._warned = False
        self._lock = threading.Lock()  # one flush at a time within the process
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def record(
        self,
        *,
        ends: Sequence[str],
        series_ids: Sequence[str | None],
        horizon: int,
        freq: str,
        model_version: str,
        forecasts: Sequence[Sequence[float]],
        windows: np.ndarray,
    ) -> None:
        """Queue one record per served series; never raises (a failure is warned about once).

        Only references are queued: the summaries, ids, timestamps and JSON are made by the
        log's thread, over everything a flush takes at once.
        """
        try:
            if not len(ends) == len(series_ids) == len(forecasts) == len(windows):
                raise ValueError("ends, series ids, forecasts and windows differ in length")
            if len(self._queue) >= MAX_QUEUED:
                self.dropped += len(ends)
                self._warn_once(f"more than {MAX_QUEUED} batches queued: the disk is too slow")
                return
            self._queue.append(
                (time.time(), ends, series_ids, horizon, freq, model_version, forecasts, windows)
            )
        except Exception as err:  # a log must never fail the forecast it records
            self.dropped += len(ends)
            self._warn_once(f"could not queue a record ({err})")

    def flush(self) -> None:
        """Write everything queued now (the thread does it every ``flush_interval_s``)."""
        with self._lock:
            batches = []
            while self._queue:
                batches.append(self._queue.popleft())
            if not batches:
                return
            count = sum(len(batch[1]) for batch in batches)
            try:
                _append(self.target, b"".join(_lines(batches)))
                self.written += count
                if self._warned:
                    logger.warning("inference log %s is writable again", self.target.path)
                    self._warned = False
            except Exception as err:  # OSError (unwritable, disk full) or anything else
                self.dropped += count
                self._warn_once(f"could not write to {self.target.path} ({err})")

    def close(self) -> None:
        """Stop the thread after a last flush (at exit, or when a test is done)."""
        self._stopped = True
        self._wake.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
        self.flush()

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self.flush_interval_s)
            self.flush()

    def _warn_once(self, why: str) -> None:
        if not self._warned:
            self._warned = True
            logger.warning(
                "inference log: %s; forecasts are still served, records are dropped until it "
                "works (%d so far). Point FORECASTER_INFERENCE_LOG at a writable volume, or set "
                "it empty to turn the log off",
                why,
                self.dropped,
            )


# Request ids: a random 96-bit prefix per process and a counter (a uuid4 each costs ~7 us).
_PROCESS_ID = uuid.uuid4().hex[:24]
_IDS = (f"{_PROCESS_ID}{n:08x}" for n in itertools.count())


def _lines(batches: list[tuple[Any, ...]]) -> Iterator[bytes]:
    """The JSON lines of queued batches.

    The window summaries take one vectorised pass when the windows share a length (one
    model's windows always do).
    """
    windows = [batch[7] for batch in batches]
    if len({w.shape[1] for w in windows}) == 1:
        summaries = iter(window_summaries(np.concatenate(windows)))
    else:
        summaries = iter([s for w in windows for s in window_summaries(w)])
    seconds, prefix = -1, ""
    for logged, ends, series_ids, horizon, freq, version, forecasts, _ in batches:
        if int(logged) != seconds:  # formatting a time costs ~6 us: once a second, not a record
            seconds = int(logged)
            prefix = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        stamp = f"{prefix}.{int(logged * 1000) % 1000:03d}+00:00"
        for end, series_id, forecast in zip(ends, series_ids, forecasts, strict=True):
            record = {
                "request_id": next(_IDS),
                "logged_at": stamp,
                "series_id": series_id,
                "end": str(end),
                "horizon": horizon,
                "freq": freq,
                "model_version": version,
                "forecast": forecast,
                "input": next(summaries),
            }
            yield pydantic_core.to_json(record) + b"\n"


def _append(target: LogTarget, payload: bytes) -> None:
    """Append ``payload`` under the cross-process lock, rotating first if it would overflow."""
    path = target.path
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_name(path.name + ".lock")):
        size = path.stat().st_size if path.exists() else 0
        if size and size + len(payload) > target.max_bytes:
            _rotate(path, target.backups)
            size = 0
        descriptor = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if size and os.pread(descriptor, 1, size - 1) != b"\n":
                payload = b"\n" + payload  # close a line torn by a killed writer
            view = memoryview(payload)
            while view:
                view = view[os.write(descriptor, view) :]
        finally:
            os.close(descriptor)


def _rotate(path: Path, backups: int) -> None:
    """``path`` -> ``path.1`` -> ... ; the oldest beyond ``backups`` is deleted."""
    if backups < 1:
        path.unlink(missing_ok=True)
        return
    for index in range(backups - 1, 0, -1):
        older = path.with_name(f"{path.name}.{index}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.{index + 1}"))
    os.replace(path, path.with_name(f"{path.name}.1"))


@contextlib.contextmanager
def _locked(lock: Path) -> Iterator[None]:
    descriptor = os.open(lock, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def log_files(path: Path) -> list[Path]:
    """The log's files, oldest first: ``path.<n>`` .. ``path.1``, then ``path``."""
    rotated = [p for p in path.parent.glob(f"{path.name}.*") if p.suffix[1:].isdigit()]
    rotated.sort(key=lambda p: -int(p.suffix[1:]))
    return [*rotated, *([path] if path.is_file() else [])]


def read_records(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Every whole record of the log at ``path`` (rotated files included), oldest first.

    Returns:
        (records, torn): lines that are not a whole JSON object (a writer killed mid-line) are
        skipped and counted.

    """
    records: list[dict[str, Any]] = []
    torn = 0
    for file in log_files(path):
        with file.open("rb") as lines:
            for line in lines:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    torn += 1
                    continue
                if isinstance(record, dict) and "forecast" in record and "end" in record:
                    records.append(record)
                else:
                    torn += 1
    return records, torn
