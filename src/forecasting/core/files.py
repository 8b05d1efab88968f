"""File helpers shared by every stage: content hashes and crash-safe writes."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def json_sha256(*parts: Any) -> str:
    """Hex sha256 of ``parts`` as canonical JSON (sorted keys): a hash of configuration."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write a file through a temporary sibling and rename it, so a kill never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_json(path: Path, payload: Any) -> None:
    """Write ``payload`` as indented JSON, atomically."""
    text = json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n"

    def write(target: Path) -> None:
        target.write_text(text)

    write_atomically(path, write)


def read_json(path: Path) -> Any:
    """Read a JSON file, saying which file and stage is missing when it is absent."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run the stage that writes it first")
    return json.loads(path.read_text())
