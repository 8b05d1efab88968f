"""serve: run the packaged Bento locally, as its container would (``make serve``).

Reads reports/package/manifest.json and checks what it is about to serve: the exported archive
against its recorded sha256, the stored Bento against its recorded content hash (importing the
archive when the store lacks it, after ``dvc pull`` on a fresh clone), and the packed model's
weights against the manifest and, where the registry is reachable, the registry's version. Any
difference is refused in one line naming both hashes. Then `bentoml serve` runs as a child
that dies with this process (``kill -9`` included), on a port checked free first; a worker that
cannot load stops the server with a non-zero exit instead of a restart loop. Not a DVC stage.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from forecasting.registry.tracking import check_store, connect, existing_store
from forecasting.registry.versions import RegistryUnavailable
from forecasting.serving.bento import packed_model_tag, serve_command
from forecasting.serving.processes import require_free_port, supervise
from forecasting.serving.verification import ensure_verified_bento, verify_packed_model
from pipelines._stage import StageError, exit_with, run_stage
from pipelines.params import Params

HOST = os.environ.get("SERVE_HOST", "127.0.0.1")
PORT = int(os.environ.get("SERVE_PORT", "3000"))

logger = logging.getLogger("pipelines.serve")


def registry_weights(name: str, version: str) -> dict[str, str]:
    """{"the registry's vN": its weights sha256}, or {} where no registry can be read here."""
    uri = existing_store(Path.cwd())
    if uri is None:
        logger.info("no registry here: the packed model is checked against the manifest only")
        return {}
    try:
        check_store(uri)
        connect(uri)
        from mlflow import MlflowClient

        tags = MlflowClient().get_model_version(name, version).tags
    except Exception as err:  # an unreachable registry must not stop a verified bento serving
        logger.warning("registry not readable (%s): checked against the manifest only", err)
        return {}
    return {f"the registry's {name} v{version}": str(tags.get("weights.sha256", ""))}


def serve(params: Params) -> None:
    manifest_path = params.paths.reports / "package" / "manifest.json"
    if not manifest_path.is_file():
        raise StageError(f"no packaged bento ({manifest_path} is missing): run 'make run' first")
    manifest = json.loads(manifest_path.read_text())
    tag = str(manifest["bento_tag"])
    ensure_verified_bento(manifest, Path(manifest["bento_archive"]))
    expected = {"reports/package/manifest.json": str(manifest["weights_sha256"])}
    try:
        expected |= registry_weights(
            str(manifest["registered_model"]), str(manifest["model_version"])
        )
    except RegistryUnavailable as err:
        logger.warning("%s", err)
    verify_packed_model(packed_model_tag(tag), expected)
    require_free_port(HOST, PORT)
    argv, env = serve_command(tag, HOST, PORT)
    print(f"serving {tag} (model v{manifest['model_version']}) on http://{HOST}:{PORT}", flush=True)
    supervise(argv, env, f"http://{HOST}:{PORT}/readyz", params.package.smoke_test_timeout_s)


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("serve", serve, argv)


if __name__ == "__main__":
    exit_with(main())
