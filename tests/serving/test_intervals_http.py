"""Prediction intervals over real HTTP: asked for with ``levels``, absent without them."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest

from forecasting.serving.bento import in_process_service, packed_model_tag
from tests.serving.test_http import _payload

pytestmark = pytest.mark.slow


def test_levels_give_nested_bounds_around_the_forecast_per_level(server):
    url, _ = server
    plain = httpx.post(f"{url}/forecast", json=_payload(), timeout=10).json()
    assert "lower" not in plain and "upper" not in plain  # as before intervals
    answer = httpx.post(f"{url}/forecast", json={**_payload(), "levels": [80, 97.5]}, timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["forecast"] == plain["forecast"]
    assert set(body["lower"]) == set(body["upper"]) == {"80", "97.5"}
    point = np.array(body["forecast"])
    for key in ("80", "97.5"):
        assert len(body["lower"][key]) == len(point) == 24
    lo80, hi80 = np.array(body["lower"]["80"]), np.array(body["upper"]["80"])
    lo97, hi97 = np.array(body["lower"]["97.5"]), np.array(body["upper"]["97.5"])
    assert np.all(lo97 <= lo80) and np.all(lo80 < point) and np.all(point < hi80)
    assert np.all(hi80 <= hi97)


def test_batch_levels_follow_the_horizon_and_match_the_in_process_service(server):
    url, manifest = server
    one = _payload()
    request = {"series": [one, one], "horizon": 6, "levels": [90]}
    answer = httpx.post(f"{url}/forecast_batch", json=request, timeout=10)
    assert answer.status_code == 200, answer.text
    items = answer.json()
    assert [len(item["lower"]["90"]) for item in items] == [6, 6]
    service = in_process_service(packed_model_tag(manifest["bento_tag"]))
    local = asyncio.run(service.forecast(one["values"], one["end"], 6, [90.0]))
    import json

    expected = json.loads(local.body)
    assert np.allclose(items[0]["upper"]["90"], expected["upper"]["90"], rtol=1e-6)


@pytest.mark.parametrize(
    "levels", [[40], [100], [80, 80], [50, 60, 70, 80, 90], ["80"], [], None, [True]]
)
def test_unservable_levels_get_a_400_naming_the_rule(server, levels):
    url, _ = server
    answer = httpx.post(f"{url}/forecast", json={**_payload(), "levels": levels}, timeout=10)
    assert answer.status_code == 400, (levels, answer.text)
    assert "levels" in answer.json()["error"]


def test_the_openapi_schema_documents_levels_and_bounds(server):
    url, _ = server
    schema = httpx.get(f"{url}/docs.json", timeout=10).json()
    text = str(schema)
    assert "levels" in text and "lower" in text and "upper" in text
