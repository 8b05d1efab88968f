"""Serving verifies what it serves, and its processes end with their owner.

One tiny packaged pipeline for the module; each case injects a fault for real (a tampered or
truncated archive, a changed stored bento, altered weights, a taken port, a model that cannot
load, kill -9 of the owner), checks what is left, and restores what it changed.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from forecasting.core.artifacts import WEIGHTS_FILE
from forecasting.core.files import file_sha256
from forecasting.serving.bento import free_port, packed_model_tag, serve_command
from forecasting.serving.processes import ServerFailed, port_holder, supervise
from forecasting.serving.verification import (
    BentoRefused,
    ensure_verified_bento,
    import_archive,
    stored_bento_path,
)
from pipelines import evaluate, ingest, package, train, validate
from pipelines.ops import serve
from tests.conftest import tiny_pipeline_run
from tests.faults.conftest import child_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory, bentoml_home: Path) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("faults-serving")
    with tiny_pipeline_run(root, (ingest, validate, train, evaluate, package)):
        yield json.loads(Path("reports/package/manifest.json").read_text())


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait(condition, bound_s: float = 60.0) -> bool:
    """Poll ``condition`` (bounded, not a timing assertion)."""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return condition()


def _tampered_copy(archive: Path, destination: Path) -> None:
    """The archive rewritten with service.py scaling every forecast, as the operator did."""
    with tarfile.open(archive) as source, tarfile.open(destination, "w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member) if member.isfile() else None
            if data is not None and member.name.endswith("serving/service.py"):
                text = data.read().replace(b"return ", b"return 1.1 * ", 1)
                member.size = len(text)
                target.addfile(member, io.BytesIO(text))
            else:
                target.addfile(member, data)


def test_a_tampered_archive_is_refused_naming_both_hashes(packaged, caplog, monkeypatch):
    archive = Path(packaged["bento_archive"])
    original = archive.read_bytes()
    try:
        _tampered_copy(archive, archive.with_suffix(".tampered"))
        archive.with_suffix(".tampered").replace(archive)
        monkeypatch.setattr(serve, "PORT", free_port())
        assert serve.main([]) == 1
        line = next(r.getMessage() for r in caplog.records if r.levelname == "ERROR")
        assert packaged["bento_archive_sha256"] in line and file_sha256(archive) in line
    finally:
        archive.write_bytes(original)


def test_a_corrupt_archive_is_one_line(packaged, tmp_path):
    truncated = tmp_path / "truncated.bento"
    truncated.write_bytes(Path(packaged["bento_archive"]).read_bytes()[:5000])
    with pytest.raises(BentoRefused, match=r"cannot be read .*corrupt or truncated"):
        import_archive(truncated)


def test_a_missing_or_changed_stored_bento_is_restored_from_the_verified_archive(packaged):
    import bentoml

    tag = packaged["bento_tag"]
    bentoml.delete(tag)  # a fresh clone after `dvc pull`: only the archive
    ensure_verified_bento(packaged, Path(packaged["bento_archive"]))
    stored = stored_bento_path(tag)
    assert stored is not None
    service = next(stored.rglob("serving/service.py"))
    original = service.read_text()
    service.write_text(original.replace("return ", "return 1.1 * ", 1))
    ensure_verified_bento(packaged, Path(packaged["bento_archive"]))
    assert next(stored_bento_path(tag).rglob("serving/service.py")).read_text() == original


def test_altered_weights_are_refused_before_any_worker_starts(packaged, caplog, monkeypatch):
    import bentoml

    weights = Path(bentoml.models.get(packed_model_tag(packaged["bento_tag"])).path) / WEIGHTS_FILE
    original = weights.read_bytes()
    try:
        weights.write_bytes(original[:-8] + b"\0" * 8)
        monkeypatch.setattr(serve, "PORT", free_port())
        assert serve.main([]) == 1
        line = next(r.getMessage() for r in caplog.records if r.levelname == "ERROR")
        assert packaged["weights_sha256"] in line and file_sha256(weights) in line
    finally:
        weights.write_bytes(original)


def test_a_taken_port_is_refused_naming_its_holder(packaged, caplog, monkeypatch):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        monkeypatch.setattr(serve, "PORT", holder.getsockname()[1])
        assert serve.main([]) == 1
    assert f"pid {os.getpid()}" in caplog.text  # the holder is named, with its command line


def test_a_worker_that_cannot_load_stops_the_server(packaged):
    port = free_port()
    argv, env = serve_command(packaged["bento_tag"], "127.0.0.1", port)
    env["FORECASTER_MODEL_TAG"] = "demand-forecaster:does-not-exist"
    with pytest.raises(ServerFailed, match="could not start"):
        supervise(argv, env, f"http://127.0.0.1:{port}/readyz", timeout_s=120)
    assert _wait(lambda: _port_free(port))


def _kill_group_and_check_port_freed(command: list[str], port: int, cwd: Path) -> None:
    owner = subprocess.Popen(
        command,
        cwd=cwd,
        env=child_env(SERVE_PORT=str(port)),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _wait(lambda: not _port_free(port), 120), "the server never listened"
        os.killpg(owner.pid, signal.SIGKILL)  # kill -9 of the whole group, as the operator did
        owner.wait()
        assert _wait(lambda: _port_free(port)), f"still held: {port_holder(port)}"
    finally:
        if owner.poll() is None:
            owner.kill()


def test_make_serve_killed_with_minus_9_leaves_no_worker_listening(packaged):
    port = free_port()
    _kill_group_and_check_port_freed(
        [sys.executable, "-m", "pipelines.ops.serve"], port, Path.cwd()
    )


def test_the_smoke_test_server_dies_with_its_owner(packaged):
    port = free_port()
    code = (
        "import time\n"
        "from forecasting.serving.bento import serve_bento\n"
        f"with serve_bento({packaged['bento_tag']!r}, port={port}):\n"
        "    time.sleep(600)\n"
    )
    _kill_group_and_check_port_freed([sys.executable, "-c", code], port, Path.cwd())
