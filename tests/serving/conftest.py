"""One tiny pipeline run and one served Bento for every serving test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from forecasting.serving.bento import serve_bento
from pipelines import evaluate, ingest, package, train, validate
from tests.conftest import tiny_pipeline_run


@pytest.fixture(scope="package")
def server(
    tmp_path_factory: pytest.TempPathFactory, bentoml_home: Path
) -> Iterator[tuple[str, dict]]:
    root = tmp_path_factory.mktemp("serving")
    with tiny_pipeline_run(root, (ingest, validate, train, evaluate, package)):
        manifest = json.loads(Path("reports/package/manifest.json").read_text())
        with serve_bento(manifest["bento_tag"]) as running:
            yield running.url, manifest
