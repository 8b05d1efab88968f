"""Machine faults told in one line; stages turn them into a message and exit 1.

A full disk, an I/O error, a full or locked SQLite store, a tracking store that stopped
answering.

Recognised by type and by the names in an error's chain (MLflow and torch wrap OS errors), so
this module imports neither mlflow nor sqlalchemy.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

FREEABLE = (
    "old raw snapshots (ingest.keep_snapshots), mlartifacts/, models/checkpoints/, the BentoML "
    "store (`bentoml list`, `bentoml models list`)"
)


def _chain(err: BaseException) -> Iterator[BaseException]:
    """``err`` and the errors it was raised from (MLflow and torch wrap OS errors)."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _mount_of(path: str) -> str:
    folder = Path(path).resolve()
    while not folder.exists() or not os.path.ismount(folder):
        if folder.parent == folder:
            break
        folder = folder.parent
    return str(folder)


def _existing(path: Path) -> Path:
    path = path.resolve()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _fullest(candidates: Sequence[Path]) -> str:
    """Of the places a stage writes, the one with the least free space.

    That is where a write failed, when the error itself names no file.
    """
    free = {}
    for candidate in candidates:
        with contextlib.suppress(OSError):
            stats = os.statvfs(_existing(candidate))
            free[str(candidate)] = stats.f_bavail * stats.f_frsize
    return min(free, key=lambda path: free[path]) if free else str(Path.cwd())


def _os_message(err: OSError, outputs: Sequence[Path]) -> str | None:
    where = str(err.filename) if err.filename else None
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        target = where or _fullest(outputs)
        mount = _mount_of(str(_existing(Path(target))))
        return (
            f"no space left on the device while writing {target}: free space on {mount} "
            f"(`df -h {mount}`), e.g. {FREEABLE}, then re-run; nothing already produced was "
            "replaced"
        )
    if err.errno == errno.EIO:
        return f"I/O error on {where or 'the disk'}: check the disk (dmesg) and re-run"
    if err.errno == errno.EROFS:
        return f"{where or 'the output folder'} is on a read-only filesystem: remount it or move it"
    return None


def _names(err: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(err).__mro__}


def fault_message(err: BaseException, outputs: Sequence[Path] = ()) -> str | None:
    """One line for a machine fault somewhere in ``err``'s chain; None if it is not one.

    ``outputs``: where the stage writes, to name the full one when the error names no file.
    """
    for link in _chain(err):
        if isinstance(link, OSError) and (message := _os_message(link, outputs)):
            return message
    text = " ".join(str(link) for link in _chain(err))
    store = os.environ.get("MLFLOW_TRACKING_URI") or "the local store mlflow.db"
    if "database or disk is full" in text:
        return f"the disk holding {store} is full: free space there (e.g. {FREEABLE}), then re-run"
    if "database is locked" in text:
        return f"{store} is locked by another process (a second pipeline?): let it end, re-run"
    unreachable = ("Max retries exceeded", "Connection refused", "timed out", "could not connect")
    for link in _chain(err):
        names = _names(link)
        if names & {"MlflowException", "ConnectionError", "OperationalError"}:
            first = (str(link).strip().splitlines() or [type(link).__name__])[0][:300]
            if names & {"ConnectionError", "OperationalError"} or any(
                word in text for word in unreachable
            ):
                return (
                    f"the tracking store at MLFLOW_TRACKING_URI={store} stopped answering "
                    f"mid-stage ({first}): check that it runs and has space, then re-run"
                )
            return f"an MLflow call against MLFLOW_TRACKING_URI={store} failed: {first}"
    return None
