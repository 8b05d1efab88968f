"""One tiny pipeline run and one served Bento for every serving test."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(scope="package")
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
