"""``package.tracing``: BentoML's per-request tracing is skipped unless asked for."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = (
    "import json, forecasting.serving.service as s\n"
    "print(json.dumps(s.Forecaster.config.get('tracing', {})))\n"
)


@pytest.mark.parametrize(("setting", "excluded"), [("0", [".*"]), ("1", None)])
def test_the_service_excludes_every_url_from_tracing_unless_tracing_is_on(
    setting, excluded, tmp_path
):
    # A fresh interpreter each: the service reads FORECASTER_TRACING when it is imported.
    env = {**os.environ, "FORECASTER_TRACING": setting, "BENTOML_HOME": str(tmp_path)}
    shown = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    tracing = json.loads(shown.stdout.strip().splitlines()[-1])
    assert tracing.get("excluded_urls") == excluded
