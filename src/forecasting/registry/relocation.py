"""A local store copied (or moved) with its workspace keeps its artifacts in its own workspace.

MLflow records absolute artifact locations: an experiment's, each run's, each model version's
source. A workspace copied with ``cp -a`` keeps pointing at the original's ``mlartifacts/``:
its new runs would write there, and its registry would read the original's files. Before
MLflow opens such a store, every recorded path under the other workspace's ``mlartifacts/`` is
rewritten to this one's, in one transaction; when the copy lacks ``mlartifacts/`` and the
original still has it, it is copied first, so nothing a version names goes missing.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

logger = logging.getLogger(__name__)


def _recorded_locations(database: Path) -> list[str]:
    """The distinct ``file:`` artifact locations the store's experiments record."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        try:
            rows = connection.execute(
                "SELECT DISTINCT artifact_location FROM experiments "
                "WHERE artifact_location LIKE 'file:%'"
            ).fetchall()
        except sqlite3.DatabaseError:  # not initialised yet, or not MLflow's: MLflow will say
            return []
    return [str(row[0]) for row in rows]


def _rewrite(database: Path, old: str, new: str) -> int:
    """Replace the prefix ``old`` with ``new`` in every text value of the store; rows changed."""
    changed = 0
    with sqlite3.connect(database) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for table in tables:
            columns = connection.execute(f'PRAGMA table_info("{table}")').fetchall()
            texts = [c[1] for c in columns if any(t in c[2].upper() for t in ("CHAR", "TEXT"))]
            for column in texts:
                # the location itself, or a path under it (not a sibling sharing its prefix)
                cursor = connection.execute(
                    f'UPDATE "{table}" SET "{column}" = ? || substr("{column}", ?) '
                    f'WHERE "{column}" = ? OR substr("{column}", 1, ?) = ?',
                    (new, len(old) + 1, old, len(old) + 1, f"{old}/"),
                )
                changed += cursor.rowcount
    return changed


def relocate_copied_store(database: Path, artifacts: Path) -> bool:
    """Point a copied store's artifact paths at ``artifacts`` (this workspace's); True if it did.

    Only locations that are another workspace's artifact folder (named like ``artifacts``) are
    moved; an experiment deliberately given another location keeps it.

    Raises:
        OSError: if the original's artifacts cannot be copied here.
        sqlite3.Error: if the store cannot be rewritten.

    """
    if not database.is_file():
        return False
    own = artifacts.resolve()
    moved = False
    for recorded in _recorded_locations(database):
        original = Path(unquote(urlparse(recorded).path))
        if original == own or original.name != own.name:
            continue
        if not own.exists() and original.is_dir():
            logger.warning("copying %s to %s, the copied store's artifacts", original, own)
            shutil.copytree(original, own)
        changed = _rewrite(database, recorded, own.as_uri())
        changed += _rewrite(database, str(original), str(own))
        logger.warning(
            "%s was copied from another workspace: its artifact paths pointed at %s; %d records "
            "now point at %s, so this workspace reads and writes its own artifacts",
            database.name,
            original,
            changed,
            own,
        )
        moved = True
    return moved
