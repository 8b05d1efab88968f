"""The served Bento's inference log survives a kill -9 under load and a restart, untorn."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from forecasting.data.requests import latest_request
from forecasting.data.splits import read_splits
from forecasting.serving.bento import serve_bento
from forecasting.serving.inference_log import read_records

pytestmark = pytest.mark.slow


def _wait_for(log: Path, count: int, timeout_s: float = 20) -> int:
    deadline = time.monotonic() + timeout_s
    while (found := len(read_records(log)[0])) < count:
        assert time.monotonic() < deadline, f"{log} holds {found} records, expected {count}"
        time.sleep(0.1)
    return found


def test_the_log_survives_a_kill_9_under_load_and_a_restart(server, tmp_path: Path):
    _, manifest = server
    request = latest_request(read_splits(Path("data/validated")).test, 96)
    log = tmp_path / "volume" / "inference.jsonl"
    environment = {"FORECASTER_INFERENCE_LOG": str(log)}
    stop = threading.Event()

    def load(url: str) -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                with contextlib.suppress(httpx.HTTPError):  # the server is being killed
                    client.post(f"{url}/forecast", json=request)

    with serve_bento(manifest["bento_tag"], environment=environment) as running:
        clients = [
            threading.Thread(target=load, args=(running.url,), daemon=True) for _ in range(4)
        ]
        for client in clients:
            client.start()
        try:
            before = _wait_for(log, 200)
            # kill -9 of the server and every worker (in sessions of their own), mid-load
            arbiter = psutil.Process(running.process.pid)
            processes = [*arbiter.children(recursive=True), arbiter]
            for process in processes:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.send_signal(signal.SIGKILL)
            psutil.wait_procs(processes, timeout=30)
        finally:
            stop.set()
            for client in clients:
                client.join(timeout=30)
    killed, torn = read_records(log)
    assert torn == 0 and len(killed) >= before

    with serve_bento(manifest["bento_tag"], environment=environment) as running:
        for _ in range(10):
            answer = httpx.post(f"{running.url}/forecast", json=request, timeout=30)
            assert answer.status_code == 200, answer.text
        _wait_for(log, len(killed) + 10)
    records, torn = read_records(log)
    assert torn == 0 and len(records) == len(killed) + 10
    assert records[-1]["end"] == request["end"] and len(records[-1]["forecast"]) == 24
    assert records[-1]["model_version"] == manifest["model_version"]
