"""Parity: the registry champion (MLflow pyfunc), the service class in-process and the built
bento over HTTP give the same forecasts, within 1e-5 relative."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecasting.data.requests import recent_requests
from forecasting.data.splits import read_splits
from forecasting.registry.tracking import use_tracking
from forecasting.registry.versions import CHAMPION
from forecasting.serving.bento import in_process_service, packed_model_tag
from forecasting.serving.parity import ParityReport, check_parity

pytestmark = pytest.mark.slow


def test_registry_service_and_http_agree_on_fresh_windows(server):
    url, manifest = server
    use_tracking(Path.cwd(), "demand-forecasting")
    splits = read_splits(Path("data/validated"))
    history = pd.concat([splits.train, splits.val, splits.test], ignore_index=True)
    # Other windows than the package stage checked (stride 5, not 7), and more of them.
    requests = recent_requests(history, 96, count=40, stride=5)
    assert len({r["end"] for r in requests}) == 40

    service = in_process_service(packed_model_tag(manifest["bento_tag"]))
    report = check_parity(f"models:/demand-forecaster@{CHAMPION}", service, url, requests)

    assert report.cases == 40
    assert report.problems(1e-5, manifest["model_version"]) == []
    assert report.service_vs_registry < 1e-5 and report.http_vs_registry < 1e-5


def test_the_check_names_what_breaks_parity():
    report = ParityReport(
        cases=3,
        service_vs_registry=0.0,
        http_vs_registry=2e-3,
        service_abs=0.0,
        http_abs=40.0,
        service_versions=frozenset({"2"}),
        http_versions=frozenset({"1"}),
    )
    problems = report.problems(1e-5, "2")
    assert len(problems) == 2
    assert "http forecasts differ" in problems[0] and "0.002 relative" in problems[0]
    assert "http answers name version(s) ['1'], not 2" in problems[1]
    nan = ParityReport(3, float("nan"), 0.0, 0.0, 0.0, frozenset({"2"}), frozenset({"2"}))
    assert nan.problems(1e-5, "2")  # NaN never passes
