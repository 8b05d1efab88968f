"""The served OpenAPI schema is the contract: it states what the service enforces, no more, no less.

schemathesis (pinned in the dev extras) reads the running Bento's /docs.json and sends what the
schema allows and what it forbids, with every check on: valid requests must be answered 2xx with
bodies that match the documented responses, invalid ones 4xx with the documented error body.
Seeded and deterministic, so a run is reproducible.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow


def _schemathesis() -> str:
    found = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
    if not Path(found).is_file():
        pytest.fail("schemathesis is missing: pip install -e '.[dev]' (it is pinned there)")
    return found


def test_the_schema_states_the_models_shape(server):
    url, _ = server
    schema = httpx.get(f"{url}/docs.json", timeout=10).json()
    metadata = httpx.get(f"{url}/metadata", timeout=10).json()
    request = schema["components"]["schemas"]["ForecastRequest"]["properties"]
    assert (
        request["values"]["minItems"] == request["values"]["maxItems"] == metadata["input_length"]
    )
    assert request["values"]["items"]["type"] == "number"
    assert request["end"]["pattern"].startswith("^") and request["end"]["pattern"].endswith("$")
    horizon = request["horizon"]  # optional, not nullable: OpenAPI 3.0 has no null type
    assert horizon["type"] == "integer"
    assert (horizon["minimum"], horizon["maximum"]) == (1, metadata["horizon"])
    error = schema["components"]["schemas"]["InvalidArgument"]
    assert error["properties"]["error"]["type"] == "string"


@pytest.mark.parametrize(
    "payload",
    [
        {"values": [True] * 96, "end": "2024-01-21T00:00"},
        {"values": ["30000.5"] * 96, "end": "2024-01-21T00:00"},
        {"values": [30000.5] * 95, "end": "2024-01-21T00:00"},
        {"values": [30000.5] * 96, "end": "2024-01-21T00:10"},
        {"values": [30000.5] * 96, "end": "2023-02-29T00:00"},
        {"values": [30000.5] * 96, "end": "2024-01-21T00:00", "horizon": True},
        {"values": [30000.5] * 96, "end": "2024-01-21T00:00", "horizon": 10_000},
    ],
    ids=["booleans", "numeric-strings", "short", "off-grid", "no-such-day", "bool-horizon", "long"],
)
def test_what_the_schema_forbids_gets_a_400_with_the_documented_body(server, payload):
    url, _ = server
    answer = httpx.post(f"{url}/forecast", json=payload, timeout=10)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert isinstance(body, dict) and isinstance(body["error"], str), body
    assert not isinstance(body.get("detail", ""), list), body
    assert len(body["error"]) < 400, body


def test_schemathesis_finds_nothing(server, tmp_path):
    url, _ = server
    done = subprocess.run(
        [
            _schemathesis(),
            "run",
            f"{url}/docs.json",
            "--checks",
            "all",
            "--max-examples",
            "40",
            "--seed",
            "20",
            "--request-timeout",
            "30",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
