"""Where an artifact came from: the git commit and the hash of the data."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from forecasting.files import file_sha256


def git_commit(repo_root: Path) -> tuple[str, bool]:
    """The HEAD commit and whether the work tree has uncommitted changes ("unknown" outside git)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo_root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo_root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return commit, bool(dirty)


def data_fingerprint(files: list[Path]) -> str:
    """One sha256 over the named files' contents (in the given order): the data a model saw."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()
