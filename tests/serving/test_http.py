"""The built Bento under `bentoml serve`, over real HTTP: valid forecasts and clean 4xx answers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import synthetic_series

pytestmark = pytest.mark.slow


def _payload(n: int = 96) -> dict:
    frame = synthetic_series(days=3)
    return {"values": frame["value"].tolist()[-n:], "end": frame["timestamp"].iloc[-1].isoformat()}


def test_forecast_answers_with_timestamps_and_version(server):
    url, manifest = server
    answer = httpx.post(f"{url}/forecast", json=_payload(), timeout=10)
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
    assert answer.json()["error"]


def test_bentoml_client_gets_the_same_answers_as_raw_http_and_hears_refusals(server):
    """BentoML's own client reads the APIs' schema from the server and calls them by name."""
    import bentoml

    url, manifest = server
    one = _payload()
    raw = httpx.post(f"{url}/forecast", json=one, timeout=10).json()
    with bentoml.SyncHTTPClient(url, timeout=30) as client:
        # the interval bounds are documented, and answered only when levels are asked for
        properties = client.endpoints["forecast"].output["properties"].keys()
        assert properties - {"lower", "upper"} == raw.keys() and "lower" in properties
        assert client.endpoints["forecast_batch"].output["type"] == "array"
        single = client.forecast(values=one["values"], end=one["end"])
        batch = client.forecast_batch(series=[one, one], horizon=6)
        with pytest.raises(bentoml.exceptions.BentoMLException, match="exactly 96") as refused:
            client.forecast(values=one["values"][:10], end=one["end"])
    assert single == raw and single["model_version"] == manifest["model_version"]
    # a batch of two is another float32 kernel than a batch of one on some CPUs (an AMD EPYC
    # here differs in the 8th digit): the same forecast, not the same bits
    for item in batch:
        assert item["forecast"] == pytest.approx(raw["forecast"][:6], rel=1e-6)
    assert [item["timestamps"] for item in batch] == [raw["timestamps"][:6]] * 2
    assert refused.value.error_code == 400


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
    # the synthetic series starts 2024-01-01; its train split is the first 70 %
    assert body["training_data_range"]["start"] == "2024-01-01T00:00:00"
    assert "2024-01-01" < body["training_data_range"]["end"] < "2024-01-22"
    assert httpx.post(f"{url}/metadata", json={}, timeout=10).status_code == 405
    # the root mount answers only its own routes: BentoML's are untouched
    assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
    assert httpx.get(f"{url}/no-such-route", timeout=10).status_code == 404


def test_a_bento_serves_its_packed_model_even_when_the_store_has_a_newer_one(
    server, bentoml_home, tmp_path, monkeypatch
):
    """After a rollback the store holds newer models than the champion; ``:latest`` is not it."""
    import shutil

    import bentoml

    from forecasting.serving.bento import import_model, packed_model_tag, serve_bento

    _, manifest = server
    packed = bentoml.models.get(packed_model_tag(manifest["bento_tag"]))
    newer = {**packed.info.metadata, "model_version": "99"}
    import_model(Path(packed.path), "demand-forecaster:v99-newer", newer)
    # A second server on the same BENTOML_HOME would wipe the shared Prometheus directory
    # and with it the first server's /metrics: this one gets a copy of the store.
    home = tmp_path / "bentoml"
    shutil.copytree(bentoml_home, home, ignore=shutil.ignore_patterns("prometheus_multiproc_dir"))
    monkeypatch.setenv("BENTOML_HOME", str(home))
    with serve_bento(manifest["bento_tag"]) as running:
        served = httpx.get(f"{running.url}/metadata", timeout=10).json()
    assert served["model_version"] == manifest["model_version"] != "99"


def test_concurrent_requests_are_batched_and_each_gets_its_own_forecast(server):
    """48 different windows at once: every answer matches its own window in-process, and
    /metrics shows forward passes that served several requests."""
    import asyncio
    import re

    import bentoml
    import numpy as np

    from forecasting.model.inference import forecast_many
    from forecasting.model.network import load_model
    from forecasting.serving.bento import packed_model_tag

    url, manifest = server
    frame = synthetic_series(days=9)
    windows = [
        {
            "values": frame["value"].iloc[k : k + 96].tolist(),
            "end": frame["timestamp"].iloc[k + 95].isoformat(),
        }
        for k in range(0, 48 * 7, 7)
    ]

    async def ask_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(*(client.post(f"{url}/forecast", json=w) for w in windows))

    answers = asyncio.run(ask_all())
    assert [a.status_code for a in answers] == [200] * len(windows)
    model = load_model(Path(bentoml.models.get(packed_model_tag(manifest["bento_tag"])).path))
    expected = forecast_many(model, [w["values"] for w in windows], [w["end"] for w in windows])
    for answer, own in zip(answers, expected, strict=True):
        served = np.asarray(answer.json()["forecast"])
        assert np.max(np.abs(served - own.forecast) / np.maximum(np.abs(own.forecast), 1)) < 1e-5
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    rows = float(re.search(r"^forecaster_batch_rows_sum\S* (\S+)$", metrics, re.M).group(1))
    passes = float(re.search(r"^forecaster_batch_rows_count\S* (\S+)$", metrics, re.M).group(1))
    assert rows >= len(windows) and passes < rows  # some forward pass served several requests
