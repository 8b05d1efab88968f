"""The packaged Bento's image, built and run as a deployer would: podman with runc, host network.

Builds from the serving tests' tiny pipeline run (no run of its own): one image build, about
3 minutes here, plus the debootstrap base image the first time (about 4 minutes; it is cached in
the builder's store between runs). Skipped with the reason where no builder can work
(no buildah/podman/Docker, or no cached base and no root + debootstrap to make one);
``REQUIRE_CONTAINER=1`` (set by .ci/run) turns the skip into a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from forecasting.data.requests import recent_requests
from forecasting.data.splits import read_splits
from forecasting.registry.tracking import use_tracking
from forecasting.serving import container as images
from forecasting.serving.bento import free_port
from forecasting.serving.parity import http_forecasts, registry_forecasts
from pipelines.ops import container as container_command

pytestmark = pytest.mark.slow

IMAGE = "localhost/forecaster-test"
BODY_LIMIT = 16_384  # FORECASTER_MAX_BODY_BYTES given with -e: far below the bento's 4 MiB
RUN_FLAGS = [
    # This machine's hybrid cgroups and missing CAP_SYS_RESOURCE break crun and default ulimits.
    "--runtime",
    "runc",
    "--ulimit",
    "nofile=20000:20000",
    "--ulimit",
    "nproc=32768:32768",
    "--network",
    "host",
]


def _builder_or_skip() -> str:
    builder = images.find_builder()
    reason = ""
    if builder is None:
        reason = "no image builder (buildah, podman or a running Docker daemon)"
    elif builder != "docker" and shutil.which("podman") is None:
        reason = "running the image needs podman"
    elif not images.image_exists(builder, images.base_image_tag()) and (
        shutil.which("debootstrap") is None or os.geteuid() != 0
    ):
        reason = "the base image is not cached, and making it needs root and debootstrap"
    if reason:
        if os.environ.get("REQUIRE_CONTAINER"):
            pytest.fail(f"REQUIRE_CONTAINER is set but {reason}")
        pytest.skip(reason)
    assert builder is not None
    return builder


@dataclass(frozen=True)
class Built:
    root: Path
    manifest: dict
    report: dict
    builder: str


@pytest.fixture(scope="module")
def built(request: pytest.FixtureRequest) -> Iterator[Built]:
    builder = _builder_or_skip()
    # The serving tests' tiny pipeline run (package scope): its workspace is the working
    # directory while it lasts, so the image is built from the same package, at no extra run.
    _, served = request.getfixturevalue("server")
    root = Path.cwd()
    manifest = json.loads((root / "reports" / "package" / "manifest.json").read_text())
    assert manifest["bento_tag"] == served["bento_tag"], "not in the serving tests' workspace"
    previous = os.environ.get("CONTAINER_IMAGE")
    os.environ["CONTAINER_IMAGE"] = IMAGE
    try:
        assert container_command.main([]) == 0
        report = json.loads((root / "reports" / "package" / "container.json").read_text())
        yield Built(root, manifest, report, builder)
    finally:
        if previous is None:
            os.environ.pop("CONTAINER_IMAGE", None)
        else:
            os.environ["CONTAINER_IMAGE"] = previous
        subprocess.run(["podman", "rmi", "-f", f"{IMAGE}:v1"], capture_output=True, check=False)


@dataclass(frozen=True)
class Running:
    url: str
    name: str


def _wait_ready(url: str, name: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = subprocess.run(
            ["podman", "inspect", "--format", "{{.State.Running}}", name],
            capture_output=True,
            text=True,
            check=False,
        )
        if state.stdout.strip() != "true":
            logs = subprocess.run(["podman", "logs", name], capture_output=True, text=True)
            pytest.fail(f"the container stopped before /readyz:\n{logs.stdout[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    pytest.fail(f"the container was not ready within {timeout_s:.0f} s")


def _start(built: Built, purpose: str, *environment: str) -> tuple[int, str]:
    """Start the image detached on a free port, as a deployer would; returns (port, name)."""
    port = free_port()
    name = f"forecaster-{purpose}-{port}"
    settings = [arg for variable in (f"PORT={port}", *environment) for arg in ("-e", variable)]
    subprocess.run(
        ["podman", "run", "-d", "--name", name, *RUN_FLAGS, *settings, built.report["image"],
         "--host", "127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return port, name


@pytest.fixture(scope="module")
def running(built: Built) -> Iterator[Running]:
    port, name = _start(built, "test", f"FORECASTER_MAX_BODY_BYTES={BODY_LIMIT}")
    try:
        _wait_ready(f"http://127.0.0.1:{port}", name)
        yield Running(f"http://127.0.0.1:{port}", name)
    finally:
        subprocess.run(["podman", "rm", "-f", name], capture_output=True, check=False)


def test_the_image_is_cpu_only_slim_and_labelled_with_the_lineage(built: Built):
    report, manifest = built.report, built.manifest
    labels = report["labels"]
    assert labels["io.forecasting.bento.tag"] == manifest["bento_tag"]
    assert labels["io.forecasting.model.version"] == manifest["model_version"]
    assert labels["io.forecasting.model.weights_sha256"] == manifest["weights_sha256"]
    assert labels["io.forecasting.git.commit"] == labels["org.opencontainers.image.revision"]
    assert len(labels["io.forecasting.data.sha256"]) == 64
    assert report["digest"].startswith("sha256:")
    assert "+cpu" in report["torch_wheel"]
    assert report["size_mb"] < 1000, f"the image is {report['size_mb']} MB"
    inspected = images.inspect_image(built.builder, report["image"])
    assert inspected.labels == labels
    assert (inspected.digest or inspected.image_id) == report["digest"]
    # No compilers, no git, and torch's CPU build with no CUDA wheels beside it (BentoML's own
    # nvidia-ml-py, a small NVML binding for GPU metrics, is not CUDA).
    probe = (
        "command -v gcc cc g++ make git; "
        "ls /app/.venv/lib/python3.11/site-packages | grep -E '^nvidia_.*_cu[0-9]+'; "
        'python -c \'import torch; print(torch.version.cuda or "", end="")\''
    )
    listing = subprocess.run(
        [
            "podman",
            "run",
            "--rm",
            *RUN_FLAGS,
            "--entrypoint",
            "/bin/bash",
            report["image"],
            "-c",
            f"source /app/.venv/bin/activate; {probe}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert listing.stdout.strip() == "", f"compilers, git or CUDA in the image: {listing.stdout}"
    assert "Traceback" not in listing.stderr, listing.stderr


def test_the_image_digest_is_a_link_of_the_lineage(built: Built):
    facts = images.image_lineage(built.report, built.manifest)
    assert [fact.ok for fact in facts] == [True, True], facts
    stale = {**built.manifest, "bento_tag": "forecaster:someotherbento"}
    assert images.image_lineage(built.report, stale)[0].ok is None  # stale, not broken
    tampered = {**built.report, "labels": {**built.report["labels"]}}
    tampered["labels"]["io.forecasting.model.weights_sha256"] = "0" * 64
    assert images.image_lineage(tampered, built.manifest)[0].ok is False
    assert images.image_lineage({}, built.manifest)[0].ok is None


def test_the_container_serves_the_registry_champion(built: Built, running: Running):
    os.chdir(built.root)  # the tiny run's MLflow store
    use_tracking(built.root, "demand-forecasting")
    splits = read_splits(Path("data/validated"))
    history = pd.concat([splits.train, splits.val, splits.test], ignore_index=True)
    requests = recent_requests(history, 96, 8, stride=7)
    name, version = built.manifest["registered_model"], built.manifest["model_version"]
    expected = registry_forecasts(f"models:/{name}@champion", requests)
    served, versions = http_forecasts(running.url, requests)
    assert versions == {version}
    relative = np.abs(served - expected) / np.maximum(np.abs(expected), 1.0)
    assert float(relative.max()) <= 1e-5
    metadata = httpx.get(f"{running.url}/metadata", timeout=10).json()
    assert metadata["weights_sha256"] == built.manifest["weights_sha256"]


def test_metrics_bad_payloads_and_env_overrides(running: Running):
    metrics = httpx.get(f"{running.url}/metrics", timeout=10)
    assert metrics.status_code == 200
    assert "bentoml_service_request_total" in metrics.text
    bad = httpx.post(f"{running.url}/forecast", json={"values": [1.0], "end": "x"}, timeout=10)
    assert 400 <= bad.status_code < 500 and "error" in bad.json()
    booleans = httpx.post(
        f"{running.url}/forecast", json={"values": [True] * 96, "end": "2024-01-21T00:00"}
    )
    assert booleans.status_code == 400
    # FORECASTER_MAX_BODY_BYTES=16384 came through `-e`: 20 KB is refused before parsing.
    big = httpx.post(
        f"{running.url}/forecast",
        content=json.dumps({"values": [30000.123456] * 1500, "end": "2024-01-21T00:00"}),
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert big.status_code == 413, big.text


def test_sigterm_stops_the_container_cleanly(built: Built):
    port, name = _start(built, "stop")
    try:
        _wait_ready(f"http://127.0.0.1:{port}", name)
        # podman stop sends SIGTERM and only falls back to SIGKILL after --time seconds.
        subprocess.run(["podman", "stop", "--time", "60", name], check=True, capture_output=True)
        state = subprocess.run(
            ["podman", "inspect", "--format", "{{.State.ExitCode}}", name],
            capture_output=True,
            text=True,
            check=True,
        )
        assert state.stdout.strip() in {"0", "143"}, f"exit code {state.stdout.strip()}"
        logs = subprocess.run(["podman", "logs", name], capture_output=True, text=True).stdout
        assert "Traceback" not in logs, logs[-3000:]
    finally:
        subprocess.run(["podman", "rm", "-f", name], capture_output=True, check=False)


def _derived_image(built: Built, purpose: str, script: str) -> str:
    """An image made from the built one by running ``script`` in it, as a tamperer would."""
    name, image = f"forecaster-derive-{purpose}-{os.getpid()}", f"{IMAGE}-{purpose}:v1"
    try:
        subprocess.run(
            ["podman", "run", "--name", name, *RUN_FLAGS, "--entrypoint", "/bin/bash",
             built.report["image"], "-c", f"cd $BENTO_PATH && {script}"],
            check=True, capture_output=True,
        )  # fmt: skip
        entrypoint = json.dumps([f"{images.BENTO_PATH}/env/docker/entrypoint.sh"])
        subprocess.run(
            ["podman", "commit", "-q", "--change", f"ENTRYPOINT {entrypoint}", "--change",
             "CMD []", name, image],
            check=True, capture_output=True,
        )  # fmt: skip
    finally:
        subprocess.run(["podman", "rm", "-f", name], capture_output=True, check=False)
    return image


def _run_to_exit(image: str, timeout_s: float = 120) -> tuple[int, str]:
    """Run ``image`` in the foreground as a deployer would; its exit code and its output."""
    try:
        done = subprocess.run(
            ["podman", "run", "--rm", *RUN_FLAGS, "-e", f"PORT={free_port()}", image],
            capture_output=True, text=True, timeout=timeout_s, check=False,
        )  # fmt: skip
    finally:
        subprocess.run(["podman", "rmi", "-f", image], capture_output=True, check=False)
    return done.returncode, done.stdout + done.stderr


def test_an_image_whose_service_was_patched_refuses_to_serve(built: Built):
    # The reported fault: service.py changed to scale every forecast by 1.1, inside the image.
    image = _derived_image(
        built, "patched", "echo '# scaled by 1.1' >> src/forecasting/serving/service.py"
    )
    code, output = _run_to_exit(image)
    assert code != 0, output[-2000:]
    assert "its files were changed, so it is not served" in output, output[-2000:]
    assert "Traceback" not in output, output[-3000:]


def test_swapped_weights_refuse_and_a_worker_that_cannot_load_exits(built: Built):
    weights = "$(find models -name weights.safetensors)"
    swapped = _derived_image(built, "weights", f"printf 'x' >> {weights}")
    code, output = _run_to_exit(swapped)
    assert code != 0 and "they were changed, so they are not served" in output, output[-2000:]
    # The same swap with the image's record forged to match: the entry point passes it, the
    # service's own check refuses to load, and the container ends instead of restarting it.
    forged = _derived_image(
        built,
        "forged",
        f"printf 'x' >> {weights} && sha=$(sha256sum {weights} | cut -d' ' -f1) && "
        'sed -i "s/\\"weights_sha256\\": \\"[0-9a-f]*\\"/\\"weights_sha256\\": \\"$sha\\"/" '
        "env/docker/expected.json",
    )
    # _run_to_exit waits for the container to end: a restart loop never ends and fails it
    code, output = _run_to_exit(forged)
    assert code != 0, output[-2000:]
    assert "a worker could not start" in output, output[-3000:]
    assert "the server was stopped instead of restarting it forever" in output
