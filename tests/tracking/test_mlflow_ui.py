"""The MLflow UI in a real headless Chromium, over a store the pipeline wrote.

Uses Debian's ``chromium`` and ``chromedriver`` (``apt-get install chromium chromium-driver``;
``.ci/run`` installs them) through Selenium, with no browser download. Where they are absent the
test is skipped with the reason, unless ``REQUIRE_BROWSER=1`` (set by ``.ci/run``). Screenshots
land in ``reports/ui/`` of the repository.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from forecasting.serving.bento import free_port, wait_until_ready
from pipelines import evaluate, ingest, train, validate
from tests.conftest import REPO_ROOT, tiny_pipeline_run

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SCREENSHOTS = REPO_ROOT / "reports" / "ui"


@pytest.fixture(scope="module")
def pipeline_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace where ingest -> evaluate ran on tiny params: a run, a version, a champion."""
    with tiny_pipeline_run(
        tmp_path_factory.mktemp("ui"), (ingest, validate, train, evaluate)
    ) as root:
        yield root


@pytest.fixture(scope="module")
def mlflow_ui(pipeline_store: Path) -> Iterator[str]:
    """`mlflow ui` over that store, as `make ui` starts it, on a free loopback port."""
    port = free_port()
    process = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "ui",
            "--backend-store-uri",
            f"sqlite:///{pipeline_store / 'mlflow.db'}",
            "--default-artifact-root",
            str(pipeline_store / "mlartifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=pipeline_store,
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{url}/health", process, 120, "mlflow ui")
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Debian Chromium under Selenium (no Selenium Manager download)."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        reason = "the MLflow UI test needs Debian's chromium and chromium-driver"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason} are not installed")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1600,1000")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _show(driver, url: str, *texts: str, screenshot: str) -> str:
    """Open ``url``, wait until every text is on the page, save a screenshot; the page text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)

    def shown(_: object) -> bool:
        body = driver.find_element(By.TAG_NAME, "body").text
        return all(text in body for text in texts)

    try:
        WebDriverWait(driver, 60, poll_frequency=0.5).until(shown)
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOTS / screenshot))
    return str(driver.find_element(By.TAG_NAME, "body").text)


def test_the_ui_shows_the_experiment_the_run_metrics_and_the_champion(mlflow_ui, browser):
    from mlflow import MlflowClient

    client = MlflowClient()  # the store the pipeline wrote (the fixture's tracking URI)
    experiment = client.get_experiment_by_name("demand-forecasting")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    champion = client.get_model_version_by_alias("demand-forecaster", "champion")
    run = client.get_run(champion.run_id)
    assert "val/loss" in run.data.metrics

    _show(
        browser,
        f"{mlflow_ui}/#/experiments/{experiment.experiment_id}/runs",
        "demand-forecasting",
        run.info.run_name,
        screenshot="mlflow_experiment.png",
    )
    _show(
        browser,
        f"{mlflow_ui}/#/experiments/{experiment.experiment_id}/runs/{run.info.run_id}",
        run.info.run_name,
        "val/loss",
        screenshot="mlflow_run.png",
    )
    page = _show(
        browser,
        f"{mlflow_ui}/#/models/demand-forecaster",
        "demand-forecaster",
        "champion",
        screenshot="mlflow_champion.png",
    )
    assert f"Version {champion.version}" in page
    assert (SCREENSHOTS / "mlflow_champion.png").stat().st_size > 10_000
