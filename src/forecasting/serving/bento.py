"""Building, exporting and serving the ``forecaster`` Bento from a registry model's files."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from forecasting.core.artifacts import CALIBRATION_FILE, CONFIG_FILE, SHA_FILE, WEIGHTS_FILE
from forecasting.core.files import file_sha256
from forecasting.core.pins import exact_pins
from forecasting.serving.processes import (
    ServerFailed,
    describe,
    require_free_port,
    start_owned,
    startup_failure,
)
from forecasting.serving.settings import VARIABLES, ServiceSettings

logger = logging.getLogger(__name__)

SERVICE_MODULE = "forecasting.serving.service"
SERVICE_IMPORT = f"{SERVICE_MODULE}:Forecaster"
# What the Bento ships of the library (paths under src/): what the service imports, nothing of
# training or evaluation. tests/unit/test_layering.py checks it against the service's imports.
BENTO_INCLUDE = [
    "forecasting/__init__.py",
    "forecasting/core/*.py",
    "forecasting/model/*.py",
    "forecasting/serving/*.py",
]
# What the container installs (the local `bentoml serve` uses this environment instead).
# torch's "+cpu" build exists only on PyTorch's CPU index: pinning it keeps the multi-GB CUDA
# wheels out of the image (PyPI's Linux torch bundles CUDA).
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PYTHON_VERSION = "3.11"
# What the service imports; the versions come from pyproject.toml (``core.pins``). fastapi is
# the GET /metadata route; uvicorn picks up httptools and uvloop (C HTTP parsing, event loop).
SERVICE_DISTRIBUTIONS = [
    "torch",
    "safetensors",
    "numpy",
    "pandas",
    "pydantic",
    "fastapi",
    "httptools",
    "uvloop",
]


def service_packages() -> list[str]:
    """The Bento's exact pins, torch as its CPU build.

    Raises:
        PinError: if pyproject.toml does not pin one of ``SERVICE_DISTRIBUTIONS`` exactly.

    """
    return [
        f"{pin}+cpu" if pin.startswith("torch==") and "+" not in pin else pin
        for pin in exact_pins(SERVICE_DISTRIBUTIONS)
    ]


def model_tag(name: str, version: str, weights_sha256: str) -> str:
    """The BentoML model tag of a registry version; the hash keeps tags unique across stores."""
    return f"{name}:v{version}-{weights_sha256[:12]}"


def import_model(files: Path, tag: str, metadata: dict[str, Any]) -> str:
    """Copy a model's weights and config into the BentoML model store (once per tag).

    Raises:
        ValueError: if the weights do not match ``metadata["weights_sha256"]``.

    """
    import bentoml
    from bentoml.exceptions import NotFound

    actual = file_sha256(files / WEIGHTS_FILE)
    if actual != metadata["weights_sha256"]:
        raise ValueError(
            f"weights in {files} have sha256 {actual}, the registry says {metadata['weights_sha256']}"
        )
    try:
        existing = bentoml.models.get(tag)
        if file_sha256(Path(existing.path) / WEIGHTS_FILE) == actual:
            return str(existing.tag)
        bentoml.models.delete(tag)  # same tag, other bytes: a stale store, replace it
    except NotFound:
        pass
    with bentoml.models.create(
        tag, metadata=metadata, labels={"source": "mlflow-registry"}
    ) as stored:
        for name in (WEIGHTS_FILE, CONFIG_FILE, SHA_FILE, CALIBRATION_FILE):
            if (files / name).is_file():
                shutil.copy2(files / name, Path(stored.path) / name)
    return tag


def in_process_service(model: str, environment: Mapping[str, str] | None = None) -> Any:
    """An instance of the service class serving BentoML model ``model``, without HTTP.

    ``environment`` holds ``FORECASTER_*`` settings (the process environment by default); the
    model is ``model`` whatever it says.
    """
    from forecasting.serving import service

    settings = ServiceSettings.from_environment(environment)
    # The decorated class is a bentoml Service (mypy cannot see it); ``inner`` is the class.
    service_class: Any = service.Forecaster
    return service_class.inner(dataclasses.replace(settings, model_tag=model))


def build_bento(
    model: str, source_root: Path, labels: dict[str, str], environment: dict[str, str]
) -> str:
    """Build the service Bento around BentoML model ``model``; returns the bento tag.

    ``environment`` (the service's ``FORECASTER_*`` settings) is stored in the bento with
    ``FORECASTER_MODEL_TAG`` naming the packed model: the container sets it, and
    ``serve_bento`` / ``make serve`` pass it to a local server. The build options go through a
    ``bentofile.yaml``, BentoML's documented build format, so no BentoML internals are needed.

    Raises:
        PinError: if pyproject.toml does not pin a service package exactly.

    """
    import bentoml

    envs = {**environment, VARIABLES["model_tag"]: model}
    options = {
        "service": SERVICE_IMPORT,
        "include": BENTO_INCLUDE,
        "models": [model],
        "envs": [{"name": key, "value": value} for key, value in sorted(envs.items())],
        "python": {
            "packages": service_packages(),
            "extra_index_url": [TORCH_CPU_INDEX],
            "lock_packages": False,
        },
        "docker": {"python_version": PYTHON_VERSION},
    }
    with tempfile.TemporaryDirectory(prefix="bentofile-") as scratch:
        bentofile = Path(scratch) / "bentofile.yaml"
        bentofile.write_text(yaml.safe_dump(options, sort_keys=False))
        bento = bentoml.bentos.build_bentofile(
            str(bentofile), labels=labels, build_ctx=str(source_root)
        )
    return str(bento.tag)


def export_bento(tag: str, destination: Path) -> Path:
    """Export a built bento to a single ``.bento`` archive (for `bentoml import` elsewhere).

    Written to a temporary sibling and renamed, so a kill or a full disk never leaves a
    truncated archive under the final name (the previous one stays until the new one is whole).
    """
    import bentoml

    destination = destination.resolve()  # BentoML reads relative paths from the filesystem root
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.{os.getpid()}.partial.bento")
    try:
        written = Path(bentoml.bentos.export_bento(tag, str(partial)))
        os.replace(written, destination)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return destination


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class RunningBento:
    """A `bentoml serve` process and where it listens."""

    url: str
    process: subprocess.Popen[bytes]


def packed_model_tag(bento_tag: str) -> str:
    """The model a built bento was packed with (its service's one model).

    The service loads the model ``FORECASTER_MODEL_TAG`` names; outside a container the
    local model store may hold newer models (after a rollback, for instance), so whoever serves a
    bento from the store passes this tag instead of letting ``:latest`` pick one.

    Raises:
        ValueError: if the bento does not pack exactly one model.

    """
    import bentoml

    info = bentoml.get(bento_tag).info
    tags = [str(model.tag) for service in info.services for model in service.models]
    tags += [str(model.tag) for model in info.models]
    if len(set(tags)) != 1:
        raise ValueError(f"bento {bento_tag} packs {len(set(tags))} models, expected one: {tags}")
    return tags[0]


def bento_environment(bento_tag: str) -> dict[str, str]:
    """The environment a built bento declares (its service settings and thread limits)."""
    import bentoml

    return {env.name: str(env.value) for env in bentoml.get(bento_tag).info.envs}


def wait_until_ready(
    url: str,
    process: subprocess.Popen[bytes],
    timeout_s: float,
    what: str,
    log: Path | None = None,
) -> None:
    """Poll ``url`` until it answers 200 while ``process`` (a server) is starting.

    A worker that cannot start (BentoML would restart it forever while ``url`` hangs) fails at
    once, with its error.

    Raises:
        ServerFailed: if the process exits, a worker fails to start, or ``url`` is not ready in
            time (with the log tail).

    """
    tail = (lambda: _tail(log)) if log is not None else (lambda: "")
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise ServerFailed(f"{what} {describe(process)}:\n{tail()}")
        failure = (
            startup_failure(log.read_text(errors="replace")) if log and log.is_file() else None
        )
        if failure is not None:
            raise ServerFailed(f"{what} could not start its worker: {failure}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise ServerFailed(f"{what} was not ready within {timeout_s:.0f}s:\n{tail()}")
        time.sleep(0.25)


def serve_command(
    tag: str, host: str, port: int, environment: Mapping[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """The `bentoml serve` command line and environment that serve bento ``tag`` as built.

    The environment adds the bento's own settings, then ``environment`` (overrides), and pins
    the packed model (see ``packed_model_tag``), so a local server behaves like the container.
    A relative inference log path is made absolute against the caller's working directory
    (the repository root for ``make serve``), where ``make monitor`` looks for it.
    """
    bentoml_cli = Path(sys.executable).with_name("bentoml")
    argv = [str(bentoml_cli), "serve", tag, "--host", host, "--port", str(port)]
    env = {
        **os.environ,
        **bento_environment(tag),
        **(environment or {}),
        "FORECASTER_MODEL_TAG": packed_model_tag(tag),
    }
    log = env.get(VARIABLES["inference_log"], "").strip()
    if log and not Path(log).is_absolute():
        env[VARIABLES["inference_log"]] = str(Path.cwd() / log)
    return argv, env


@contextlib.contextmanager
def serve_bento(
    tag: str,
    timeout_s: float = 90.0,
    port: int | None = None,
    environment: Mapping[str, str] | None = None,
) -> Iterator[RunningBento]:
    """Run `bentoml serve <tag>` on loopback until the block ends; waits for ``/readyz``.

    ``environment`` overrides the bento's ``FORECASTER_*`` settings (``serve_command``).

    The server and its workers die with this process, ``kill -9`` included (``start_owned``).

    Raises:
        PortBusy: if ``port`` is taken (naming who holds it).
        ServerFailed: if the server exits or is not ready in time (its log tail is included).

    """
    if port is not None:
        require_free_port("127.0.0.1", port)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    argv, env = serve_command(tag, "127.0.0.1", port, environment)
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bentoml-serve-{port}.log"
    with log.open("wb") as sink:
        owned = start_owned(argv, env, sink)
    try:
        wait_until_ready(f"{url}/readyz", owned.process, timeout_s, "bentoml serve", log)
        yield RunningBento(url=url, process=owned.process)
    finally:
        owned.stop()


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.is_file() else ""
