"""What is served is what was packaged, checked against ``reports/package/manifest.json``.

The Bento archive, the stored Bento and its model's weights are checked (the weights against
the registry too, where it is reachable) before anything is served.

The package stage records the archive's sha256 and a content hash of the built Bento
(``tree_sha256``: every file but the packed models, whose weights are checked on their own).
``make serve`` refuses, in one line naming both hashes, an archive or stored Bento that differs,
and a packed model whose weights are not the manifest's or the registry's.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from forecasting.core.artifacts import WEIGHTS_FILE
from forecasting.core.errors import ForecastingError
from forecasting.core.files import file_sha256

logger = logging.getLogger(__name__)

REBUILD = "rebuild it with `dvc repro --force --single-item package`"


class BentoRefused(ForecastingError):
    """The Bento (or its model) is not the one the manifest describes; nothing was served."""


def tree_sha256(folder: Path) -> str:
    """Hex sha256 over a Bento folder's files (relative path and content), packed models aside."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder)
        if relative.parts[0] == "models":
            continue
        digest.update(f"{relative.as_posix()}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def stored_bento_path(tag: str) -> Path | None:
    """The folder of bento ``tag`` in the local BentoML store, or None when it is not there."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        return Path(bentoml.get(tag).path)
    except NotFound:
        return None


def import_archive(archive: Path) -> None:
    """Import a ``.bento`` archive into the store; a corrupt one is one line, not a traceback.

    Raises:
        BentoRefused: if the archive cannot be read.

    """
    import bentoml

    try:
        bentoml.import_bento(str(archive.resolve()))
    except Exception as err:  # LZMAError, tarfile.ReadError, EOFError, BentoMLException...
        first = (str(err).strip().splitlines() or [""])[0][:200]
        raise BentoRefused(
            f"the bento archive {archive} cannot be read ({type(err).__name__}: {first}): it is "
            f"corrupt or truncated; {REBUILD}, or restore it with `dvc checkout {archive}`"
        ) from None


def verify_archive(archive: Path, expected: str) -> None:
    """Refuse an archive whose sha256 is not the manifest's.

    Raises:
        BentoRefused: naming both hashes.

    """
    actual = file_sha256(archive)
    if actual != expected:
        raise BentoRefused(
            f"the bento archive {archive} has sha256 {actual}, but reports/package/manifest.json "
            f"records {expected}: it changed after packaging, so it is not served; {REBUILD}, "
            f"or restore it with `dvc checkout {archive}`"
        )


def ensure_verified_bento(manifest: dict[str, Any], archive: Path) -> None:
    """Make the store's bento the manifest's, or refuse.

    The archive is verified, imported when the store lacks the bento, and re-imported over a
    stored copy whose content differs (refused when no verified archive can replace it).

    Raises:
        BentoRefused: if the archive or the stored bento is not the packaged one.

    """
    import bentoml

    tag = str(manifest["bento_tag"])
    verified = archive.is_file()
    if verified:
        verify_archive(archive, str(manifest["bento_archive_sha256"]))
    stored = stored_bento_path(tag)
    if stored is None:
        if not verified:
            raise BentoRefused(
                f"bento {tag} is neither in the BentoML store nor at {archive}: run 'make run' "
                "(or 'dvc pull') first"
            )
        import_archive(archive)
        stored = stored_bento_path(tag)
    expected_tree = manifest.get("bento_tree_sha256")
    if not expected_tree or stored is None:
        return
    tree = tree_sha256(stored)
    if tree != expected_tree and verified:
        logger.warning("stored bento %s differs from its verified archive: re-importing it", tag)
        bentoml.delete(tag)
        import_archive(archive)
        stored = stored_bento_path(tag)
        tree = tree_sha256(stored) if stored is not None else "missing"
    if tree != expected_tree:
        raise BentoRefused(
            f"bento {tag} in the BentoML store has content sha256 {tree}, but "
            f"reports/package/manifest.json records {expected_tree}: it was changed, so it is not "
            f"served; delete it (`bentoml delete {tag}`) and restore {archive}, or {REBUILD}"
        )


def verify_packed_model(model_tag: str, expected: dict[str, str]) -> str:
    """Check the weights of BentoML model ``model_tag`` against each expected sha256.

    ``expected`` maps where a hash comes from ("the manifest", "the registry's v3") to it.
    Returns the weights' sha256.

    Raises:
        BentoRefused: naming both hashes at the first disagreement.

    """
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        weights = Path(bentoml.models.get(model_tag).path) / WEIGHTS_FILE
    except NotFound:
        raise BentoRefused(
            f"model {model_tag} packed with the bento is not in the BentoML store: {REBUILD}"
        ) from None
    actual = file_sha256(weights) if weights.is_file() else "missing"
    for source, sha in expected.items():
        if sha and actual != sha:
            raise BentoRefused(
                f"the packed model {model_tag} has weights sha256 {actual}, but {source} says "
                f"{sha}: it is not served; {REBUILD}"
            )
    return actual
