"""The micro-batcher on a real event loop (no server)."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from forecasting.serving.batching import BatchingConfig, MicroBatcher


class RecordingModel:
    """forecast = window sum + phase, per row; records each batch's rows and thread."""

    def __init__(self, seconds: float = 0.0, fail_on: float | None = None) -> None:
        self.seconds, self.fail_on = seconds, fail_on
        self.batches: list[int] = []
        self.threads: list[str] = []

    def __call__(self, windows: np.ndarray, phases: np.ndarray) -> np.ndarray:
        self.batches.append(len(windows))
        self.threads.append(threading.current_thread().name)
        if self.fail_on is not None and np.any(windows == self.fail_on):
            raise RuntimeError("poisoned batch")
        time.sleep(self.seconds)
        return (windows.sum(axis=1) + phases)[:, None] * np.ones((1, 3), dtype=np.float32)


def _row(value: float, rows: int = 1) -> tuple[np.ndarray, np.ndarray]:
    return np.full((rows, 4), value, dtype=np.float32), np.arange(rows, dtype=np.int64)


async def _submit_all(batcher: MicroBatcher, values: list[float]) -> list[np.ndarray]:
    try:
        return await asyncio.gather(*(batcher.submit(*_row(v)) for v in values))
    finally:
        await batcher.close()


def test_concurrent_requests_share_forward_passes_and_keep_their_own_answers():
    model = RecordingModel(seconds=0.02)
    batcher = MicroBatcher(model, BatchingConfig(max_batch_size=8))
    values = [float(v) for v in range(20)]
    answers = asyncio.run(_submit_all(batcher, values))
    assert [float(a[0, 0]) for a in answers] == [4 * v for v in values]  # each got its own row
    assert sum(model.batches) == 20
    assert model.batches == [8, 8, 4]  # batched, never over the cap, in arrival order
    assert set(model.threads) == {threading.current_thread().name}  # on the event loop


def test_a_multi_row_request_never_splits_and_the_overflow_waits_for_the_next_batch():
    model = RecordingModel(seconds=0.01)
    batcher = MicroBatcher(model, BatchingConfig(max_batch_size=4))

    async def scenario() -> list[np.ndarray]:
        try:
            return await asyncio.gather(
                batcher.submit(*_row(1.0, rows=3)),
                batcher.submit(*_row(2.0, rows=3)),
                batcher.submit(*_row(3.0, rows=6)),  # bigger than the cap: runs alone
            )
        finally:
            await batcher.close()

    first, second, big = asyncio.run(scenario())
    assert first.shape == (3, 3) and second.shape == (3, 3) and big.shape == (6, 3)
    assert first[:, 0].tolist() == [4.0, 5.0, 6.0] and second[:, 0].tolist() == [8.0, 9.0, 10.0]
    assert model.batches == [3, 3, 6]


def test_a_failing_batch_fails_its_callers_only_and_the_batcher_keeps_serving():
    model = RecordingModel(seconds=0.01, fail_on=13.0)
    batcher = MicroBatcher(model, BatchingConfig(max_batch_size=2))

    async def scenario() -> tuple[list[object], np.ndarray]:
        try:
            first = await asyncio.gather(
                *(batcher.submit(*_row(v)) for v in (1.0, 12.0, 13.0, 14.0)),
                return_exceptions=True,
            )
            later = await batcher.submit(*_row(5.0))
            return first, later
        finally:
            await batcher.close()

    first, later = asyncio.run(scenario())
    failed = [isinstance(answer, RuntimeError) for answer in first]
    assert failed.count(True) in (1, 2)  # 13 and whoever shared its batch
    assert failed[2] and not failed[0]
    assert float(later[0, 0]) == 20.0


def test_a_lone_request_skips_the_queue():
    alone, together = RecordingModel(), RecordingModel()
    lone_answers = asyncio.run(
        _submit_all(MicroBatcher(alone, BatchingConfig(), alone=lambda: True), [1.0, 2.0])
    )
    batched_answers = asyncio.run(_submit_all(MicroBatcher(together, BatchingConfig()), [1.0, 2.0]))
    assert [float(a[0, 0]) for a in lone_answers] == [4.0, 8.0]
    assert [float(a[0, 0]) for a in batched_answers] == [4.0, 8.0]
    assert alone.batches == [1, 1]  # each ran as it came, without waiting for the other
    assert together.batches == [2]


def test_max_wait_holds_a_batch_open_for_stragglers():
    model = RecordingModel()
    batcher = MicroBatcher(model, BatchingConfig(max_batch_size=8, max_wait_ms=200))

    async def scenario() -> None:
        try:
            early = asyncio.ensure_future(batcher.submit(*_row(1.0)))
            await asyncio.sleep(0.02)
            late = asyncio.ensure_future(batcher.submit(*_row(2.0)))
            await asyncio.gather(early, late)
        finally:
            await batcher.close()

    asyncio.run(scenario())
    assert model.batches == [2]


@pytest.mark.parametrize("settings", [{"max_batch_size": 0}, {"max_wait_ms": -1}])
def test_nonsense_settings_are_refused(settings):
    with pytest.raises(ValueError, match="must be"):
        BatchingConfig(**settings)
