"""The built Bento under `bentoml serve`, over real HTTP: valid forecasts and clean 4xx answers."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from forecasting.bento import serve_bento
from pipelines import evaluate, ingest, package, train, validate
from tests.conftest import (
    copy_pipeline_files,
    reset_tracking_state,
    synthetic_series,
    tiny_params,
    write_params,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, bentoml_home: Path
) -> Iterator[tuple[str, dict]]:
    root = tmp_path_factory.mktemp("serving")
    copy_pipeline_files(root)
    previous = Path.cwd()
    os.chdir(root)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        reset_tracking_state()
        synthetic_series(days=21).to_csv("demand.csv", index=False)
        write_params(root, tiny_params("demand.csv"))
        for stage in (ingest, validate, train, evaluate, package):
            assert stage.main([]) == 0, stage.__name__
        manifest = json.loads(Path("reports/package/manifest.json").read_text())
        with serve_bento(manifest["bento_tag"]) as running:
            yield running.url, manifest
    finally:
        os.chdir(previous)


def _payload(n: int = 96) -> dict:
    frame = synthetic_series(days=3)
    return {"values": frame["value"].tolist()[-n:], "end": frame["timestamp"].iloc[-1].isoformat()}


def test_forecast_answers_with_timestamps_and_version(server):
    url, manifest = server
    answer = httpx.post(f"{url}/forecast", json=_payload(200), timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["forecast"]) == 24 and len(body["timestamps"]) == 24
    assert body["timestamps"][0] == "2024-01-04T00:00:00"
    assert body["model_version"] == manifest["model_version"]


def test_forecast_batch_and_horizon(server):
    url, _ = server
    one = _payload()
    answer = httpx.post(
        f"{url}/forecast_batch", json={"series": [one, one], "horizon": 6}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert [len(item["forecast"]) for item in answer.json()] == [6, 6]


@pytest.mark.parametrize(
    "body",
    [
        {"values": [1.0] * 10, "end": "2024-01-01T00:00:00"},
        {"values": [1.0] * 96, "end": "yesterday-ish"},
        {"values": ["a"] * 96, "end": "2024-01-01T00:00:00"},
        {"values": [1.0] * 96},
        {"values": [1.0] * 96, "end": "2024-01-01T00:00:00", "horizon": 0},
        {"values": [1.0] * 96, "end": "2024-01-01T00:00:00", "horizon": 1000},
    ],
)
def test_invalid_payloads_get_a_4xx_with_a_message(server, body):
    url, _ = server
    answer = httpx.post(f"{url}/forecast", json=body, timeout=10)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    assert answer.text


def test_nan_and_malformed_json_are_refused(server):
    url, _ = server
    values = ",".join(["1.0"] * 95 + ["NaN"])
    raw = '{"values": [' + values + '], "end": "2024-01-01T00:00:00"}'
    nan = httpx.post(
        f"{url}/forecast", content=raw, headers={"content-type": "application/json"}, timeout=10
    )
    assert 400 <= nan.status_code < 500, nan.text
    broken = httpx.post(
        f"{url}/forecast",
        content="{not json",
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert 400 <= broken.status_code < 500
    assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200


def test_metadata_is_a_get_that_describes_the_served_model(server):
    url, manifest = server
    answer = httpx.get(f"{url}/metadata", timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_version"] == manifest["model_version"]
    assert (body["input_length"], body["horizon"], body["freq"]) == (96, 24, "30min")
    assert len(body["weights_sha256"]) == 64
    assert httpx.post(f"{url}/metadata", json={}, timeout=10).status_code == 405
    # the root mount answers only its own routes: BentoML's are untouched
    assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
    assert httpx.get(f"{url}/no-such-route", timeout=10).status_code == 404
