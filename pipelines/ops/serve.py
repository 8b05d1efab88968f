"""serve: run the packaged Bento locally, as its container would (``make serve``).

Reads reports/package/manifest.json, imports the exported archive into the BentoML store if it
is not there (a fresh clone after ``dvc pull``), then replaces itself with ``bentoml serve``
carrying the bento's own settings and packed model. Not a DVC stage.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from forecasting.serving.bento import serve_command
from pipelines._stage import StageError, exit_with, run_stage
from pipelines.params import Params

HOST = os.environ.get("SERVE_HOST", "127.0.0.1")
PORT = int(os.environ.get("SERVE_PORT", "3000"))


def ensure_imported(tag: str, archive: Path) -> None:
    """Put bento ``tag`` in the local store from its exported archive if it is missing."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        bentoml.get(tag)
    except NotFound:
        if not archive.is_file():
            raise StageError(
                f"bento {tag} is neither in the BentoML store nor at {archive}: run 'make run' "
                "(or 'dvc pull') first"
            ) from None
        bentoml.import_bento(str(archive.resolve()))


def serve(params: Params) -> None:
    manifest_path = params.paths.reports / "package" / "manifest.json"
    if not manifest_path.is_file():
        raise StageError(f"no packaged bento ({manifest_path} is missing): run 'make run' first")
    manifest = json.loads(manifest_path.read_text())
    ensure_imported(manifest["bento_tag"], Path(manifest["bento_archive"]))
    argv, env = serve_command(manifest["bento_tag"], HOST, PORT)
    print(
        f"serving {manifest['bento_tag']} (model v{manifest['model_version']}) on http://{HOST}:{PORT}"
    )
    os.execve(argv[0], argv, env)


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("serve", serve, argv)


if __name__ == "__main__":
    exit_with(main())
