"""Hostile and malformed requests against the served Bento: each gets a 4xx with a message,
the service stays up, and /metrics counts them."""

from __future__ import annotations

import json
import pickle
import re
import time

import httpx
import pytest

from tests.conftest import synthetic_series

pytestmark = pytest.mark.slow
LENGTH = 96  # tiny_params input_length
JSON = {"content-type": "application/json"}


def _good() -> dict:
    frame = synthetic_series(days=3)
    return {"values": frame["value"].tolist()[-LENGTH:], "end": "2024-01-03T23:30:00"}


def _with(**changes) -> str:
    body = {**_good(), **changes}
    return json.dumps({k: v for k, v in body.items() if v is not ...})


def _raw_values(literal: str) -> str:
    values = ",".join(["1000.0"] * (LENGTH - 1) + [literal])
    return '{"values": [' + values + '], "end": "2024-01-03T23:30:00"}'


def _batch(count: int) -> str:
    return json.dumps({"series": [_good()] * count})


CORPUS = {
    "values too short": ("/forecast", _with(values=[1.0] * 10), JSON),
    "values too long": ("/forecast", _with(values=[1.0] * (LENGTH + 1)), JSON),
    "values empty": ("/forecast", _with(values=[]), JSON),
    "values are strings": ("/forecast", _with(values=["a"] * LENGTH), JSON),
    "10,000 strings as values": ("/forecast", _with(values=["a"] * 10_000), JSON),
    "values nested lists": ("/forecast", _with(values=[[1.0]] * LENGTH), JSON),
    "values a string": ("/forecast", _with(values="1,2,3"), JSON),
    "values null": ("/forecast", _with(values=None), JSON),
    "values missing": ("/forecast", _with(values=...), JSON),
    "NaN literal": ("/forecast", _raw_values("NaN"), JSON),
    "Infinity literal": ("/forecast", _raw_values("Infinity"), JSON),
    "-Infinity literal": ("/forecast", _raw_values("-Infinity"), JSON),
    "1e39 overflows float32": ("/forecast", _raw_values("1e39"), JSON),
    "1e400 overflows float64": ("/forecast", _raw_values("1e400"), JSON),
    "bad timestamp": ("/forecast", _with(end="yesterday-ish"), JSON),
    "time zone offset": ("/forecast", _with(end="2024-01-03T23:30:00+05:30"), JSON),
    "off the 30min grid": ("/forecast", _with(end="2024-01-03T23:10:00"), JSON),
    "end missing": ("/forecast", _with(end=...), JSON),
    "horizon 0": ("/forecast", _with(horizon=0), JSON),
    "horizon negative": ("/forecast", _with(horizon=-3), JSON),
    "horizon too big": ("/forecast", _with(horizon=1000), JSON),
    "horizon fractional": ("/forecast", _with(horizon=2.5), JSON),
    "unknown field": ("/forecast", _with(temperature=21.5), JSON),
    "empty body": ("/forecast", "", JSON),
    "malformed JSON": ("/forecast", "{not json", JSON),
    "JSON array, not object": ("/forecast", "[1, 2, 3]", JSON),
    "deeply nested JSON": ("/forecast", "[" * 100_000 + "]" * 100_000, JSON),
    "text/plain": ("/forecast", _with(), {"content-type": "text/plain"}),
    "no content type": ("/forecast", _with(), {}),
    "form data": ("/forecast", "values=1", {"content-type": "application/x-www-form-urlencoded"}),
    "BentoML pickle type": (
        "/forecast",
        pickle.dumps({"values": [1.0] * LENGTH}),
        {"content-type": "application/vnd.bentoml+pickle"},
    ),
    "10 MB body": ("/forecast", '{"values": [' + "1.0," * 2_600_000 + '1.0], "end": "x"}', JSON),
    "batch of 0 series": ("/forecast_batch", _batch(0), JSON),
    "batch of 10,000 series": ("/forecast_batch", _batch(10_000), JSON),
    "batch item without end": (
        "/forecast_batch",
        json.dumps({"series": [{"values": [1.0] * LENGTH}]}),
        JSON,
    ),
    "batch item with an unknown field": (
        "/forecast_batch",
        json.dumps({"series": [{**_good(), "weather": 1}]}),
        JSON,
    ),
}


def _client_errors(metrics: str) -> float:
    """Sum of BentoML's request counters with a 4xx response code."""
    total = 0.0
    for line in metrics.splitlines():
        if (
            line.startswith("bentoml_")
            and "request_total" in line
            and re.search(r'http_response_code="4\d\d"', line)
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.parametrize("case", list(CORPUS), ids=list(CORPUS))
def test_each_malformed_request_gets_a_4xx_with_a_message(server, case):
    url, _ = server
    path, body, headers = CORPUS[case]
    started = time.perf_counter()
    answer = httpx.post(f"{url}{path}", content=body, headers=headers, timeout=30)
    seconds = time.perf_counter() - started
    assert 400 <= answer.status_code < 500, (case, answer.status_code, answer.text[:300])
    # Every refusal, whoever made it (the guard, BentoML's validation, the model's checks),
    # is a JSON object whose "error" says what is wrong.
    message = answer.json()["error"]
    assert isinstance(message, str) and len(message) > 10, (case, answer.text[:300])
    # ... in a few hundred bytes: one message per bad list, not one per bad item
    assert len(answer.content) < 1_000, (case, len(answer.content))
    assert "Traceback" not in answer.text
    if case == "10 MB body":
        assert answer.status_code == 413
        assert seconds < 5, "an oversized body must be refused, not parsed"


def test_the_service_survives_the_corpus_and_counts_the_refusals(server):
    url, _ = server
    before = _client_errors(httpx.get(f"{url}/metrics", timeout=10).text)
    for path, body, headers in list(CORPUS.values())[:10]:
        httpx.post(f"{url}{path}", content=body, headers=headers, timeout=30)
    assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
    good = httpx.post(f"{url}/forecast", json=_good(), timeout=10)
    assert good.status_code == 200, good.text
    after = _client_errors(httpx.get(f"{url}/metrics", timeout=10).text)
    assert after - before >= 10
