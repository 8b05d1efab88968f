"""The container's entry point: check the bento in the image, then serve it under supervision.

``make container`` writes ``env/docker/expected.json`` into the image: the content hash of the
bento's code and settings (every file but ``env/`` and the packed models) and the packed
model's weights sha256, both taken from the bento verified against
``reports/package/manifest.json`` at build time. At every start the entry point hashes the
bento again and refuses, in one line naming both hashes, an image whose files were changed
since (a patched ``service.py``, swapped weights). Then `bentoml serve` runs as a supervised
child: a worker that cannot load stops the container with a non-zero exit instead of BentoML's
endless restarts behind a hanging ``/readyz``; SIGTERM stops it cleanly.

Arguments are `bentoml serve`'s (``--host``, ``--port``...); ``PORT`` sets the port, as in
BentoML's own image.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from forecasting.core.artifacts import WEIGHTS_FILE
from forecasting.core.errors import ForecastingError
from forecasting.core.files import file_sha256

logger = logging.getLogger(__name__)

EXPECTED_FILE = Path("env") / "docker" / "expected.json"
ENTRYPOINT_FILE = Path("env") / "docker" / "entrypoint.sh"
# Replaces BentoML's entrypoint.sh in the image: the same venv, then this module.
ENTRYPOINT_SCRIPT = """#!/usr/bin/env bash
set -Eeuo pipefail
source /app/.venv/bin/activate
export PYTHONPATH="$BENTO_PATH/src${PYTHONPATH:+:$PYTHONPATH}"
exec python -m forecasting.serving.entrypoint "$@"
"""
# Not part of the checked content: the image's environment (rewritten for the build) and the
# packed models (their weights are checked on their own), and bytecode Python may write.
UNHASHED_TOP = frozenset({"env", "models"})


class ImageRefused(ForecastingError):
    """The bento inside the image is not the one it was built from; nothing was served."""


def code_sha256(bento: Path) -> str:
    """Hex sha256 over a bento folder's code and settings (relative path and content)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in bento.rglob("*") if p.is_file()):
        relative = path.relative_to(bento)
        if relative.parts[0] in UNHASHED_TOP or "__pycache__" in relative.parts:
            continue
        digest.update(f"{relative.as_posix()}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def packed_weights(bento: Path) -> list[Path]:
    """The weights files of the models packed in a bento folder (its ``models/``)."""
    return sorted((bento / "models").rglob(WEIGHTS_FILE))


def write_expected(bento: Path, weights_sha256: str, bento_tag: str) -> dict[str, str]:
    """Record what the image must hold, and install the checking entry point, in ``bento``."""
    expected = {
        "bento_tag": bento_tag,
        "code_sha256": code_sha256(bento),
        "weights_sha256": weights_sha256,
    }
    (bento / EXPECTED_FILE).parent.mkdir(parents=True, exist_ok=True)
    (bento / EXPECTED_FILE).write_text(json.dumps(expected, indent=2) + "\n")
    (bento / ENTRYPOINT_FILE).write_text(ENTRYPOINT_SCRIPT)
    (bento / ENTRYPOINT_FILE).chmod(0o755)
    return expected


def verify_bento(bento: Path) -> dict[str, str]:
    """Check ``bento`` (the image's ``$BENTO_PATH``) against its ``expected.json``.

    Raises:
        ImageRefused: naming both hashes at the first difference.

    """
    rebuild = "rebuild the image with `make container` from a verified package"
    try:
        expected = json.loads((bento / EXPECTED_FILE).read_text())
    except (OSError, ValueError) as err:
        raise ImageRefused(f"{bento / EXPECTED_FILE} cannot be read ({err}): {rebuild}") from None
    code = code_sha256(bento)
    if code != expected["code_sha256"]:
        raise ImageRefused(
            f"the bento in this image has content sha256 {code}, but it was built with "
            f"{expected['code_sha256']} ({expected['bento_tag']}): its files were changed, so "
            f"it is not served; {rebuild}"
        )
    weights = packed_weights(bento)
    if len(weights) != 1:
        raise ImageRefused(f"the image packs {len(weights)} model weights files, not 1: {rebuild}")
    actual = file_sha256(weights[0])
    if actual != expected["weights_sha256"]:
        raise ImageRefused(
            f"the packed model's weights have sha256 {actual}, but the image was built with "
            f"{expected['weights_sha256']}: they were changed, so they are not served; {rebuild}"
        )
    return dict(expected)


def _option(args: Sequence[str], name: str) -> str | None:
    """The value of ``--name value`` or ``--name=value`` in ``args``, if given."""
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Verify the image's bento, then serve it until stopped; non-zero on any failure."""
    from forecasting.serving.processes import require_free_port, supervise

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = list(sys.argv[1:] if argv is None else argv)
    bento = Path(os.environ.get("BENTO_PATH", "/home/bentoml/bento"))
    try:
        expected = verify_bento(bento)
        port = _option(args, "--port") or os.environ.get("PORT") or "3000"
        host = _option(args, "--host") or "0.0.0.0"
        probe = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host
        require_free_port(probe, int(port))
        argv_serve = ["bentoml", "serve", str(bento), *_without(args, "--port"), "--port", port]
        logger.info(
            "verified %s (content %s): serving", expected["bento_tag"], expected["code_sha256"][:12]
        )
        timeout = float(os.environ.get("FORECASTER_START_TIMEOUT_S", "180"))
        supervise(argv_serve, dict(os.environ), f"http://{probe}:{port}/readyz", timeout)
    except ForecastingError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 2
    return 0


def _without(args: Sequence[str], name: str) -> list[str]:
    """``args`` with ``--name value`` and ``--name=value`` removed."""
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(f"{name}="):
            kept.append(arg)
    return kept


if __name__ == "__main__":
    sys.exit(main())
