"""``/forecast_batch`` of 256 series, beside the in-process limit for the same request.

A team with many series asks for them in batches: one request of ``MAX_BATCH_SERIES`` (256)
windows, one forward pass. The limit is what the service does for it without HTTP: parse the
JSON, preprocess, one forward over all series, on one torch thread as in each server worker.
Rounds alternate a few in-process calls with a few requests, seconds apart, and the ratio of
their series/s is taken per round (the machine's speed drifts over minutes on a shared VM).
Called by ``serve_load.py``, which writes the figures under ``forecast_batch``.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import httpx
import numpy as np

from forecasting.model.inference import forecast_many
from forecasting.model.network import RecurrentForecaster
from forecasting.serving.bento import serve_bento
from forecasting.serving.schema import MAX_BATCH_SERIES


def batch_body(payload: dict[str, Any], series: int = MAX_BATCH_SERIES) -> str:
    """``series`` distinct windows from one: scaled from 0.5x to 1.5x, with a little noise."""
    values = np.asarray(payload["values"], dtype=np.float64)
    noise = np.random.default_rng(0).normal(0, 0.01 * values.std(), (series, values.size))
    windows = np.linspace(0.5, 1.5, series)[:, None] * values[None, :] + noise  # [series, L]
    items = [
        {"values": np.round(window, 3).tolist(), "end": payload["end"], "series_id": f"s{i:03d}"}
        for i, window in enumerate(windows)
    ]
    return json.dumps({"series": items})


def in_process_seconds(model: RecurrentForecaster, body: str, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls: JSON parse + preprocessing + one forward pass."""
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        request = json.loads(body)["series"]
        forecast_many(
            model, [item["values"] for item in request], [item["end"] for item in request]
        )
        seconds.append(time.perf_counter() - started)
    return seconds


def served_seconds(client: httpx.Client, url: str, body: str, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` requests, one at a time over one keep-alive connection."""
    seconds = []
    headers = {"content-type": "application/json"}
    for _ in range(repeats):
        started = time.perf_counter()
        answer = client.post(url, content=body, headers=headers)
        seconds.append(time.perf_counter() - started)
        if answer.status_code != 200 or len(answer.json()) != MAX_BATCH_SERIES:
            raise RuntimeError(
                f"/forecast_batch answered {answer.status_code}: {answer.text[:200]}"
            )
    return seconds


def batch_cost(
    tag: str, model: RecurrentForecaster, payload: dict[str, Any], rounds: int = 5, repeats: int = 8
) -> dict[str, Any]:
    """Latency and series/s of ``/forecast_batch`` (256 series, c=1) over the in-process limit."""
    body = batch_body(payload)
    in_process_seconds(model, body, 3)  # warm-up
    pairs, served_all, limit_all = [], [], []
    with serve_bento(tag) as server, httpx.Client(timeout=60) as client:
        url = f"{server.url}/forecast_batch"
        served_seconds(client, url, body, 3)  # warm-up
        for _ in range(rounds):
            limit = in_process_seconds(model, body, repeats)
            served = served_seconds(client, url, body, repeats)
            limit_all += limit
            served_all += served
            limit_ms, served_ms = statistics.median(limit) * 1e3, statistics.median(served) * 1e3
            pairs.append({"in_process_ms": limit_ms, "served_ms": served_ms})
            pairs[-1]["ratio"] = limit_ms / served_ms  # series/s served over in-process
            print(
                f"batch of 256: served {served_ms:.1f} ms, in-process {limit_ms:.1f} ms", flush=True
            )
    return {
        "series": MAX_BATCH_SERIES,
        "bytes": len(body),
        "p50_ms": statistics.median(served_all) * 1e3,
        "p99_ms": float(np.percentile(served_all, 99)) * 1e3,
        "series_per_s": MAX_BATCH_SERIES / statistics.median(served_all),
        "in_process_p50_ms": statistics.median(limit_all) * 1e3,
        "in_process_series_per_s": MAX_BATCH_SERIES / statistics.median(limit_all),
        # series/s served over in-process, the median over the paired rounds
        "served_vs_in_process": statistics.median(p["ratio"] for p in pairs),
        "rounds": pairs,
    }
