"""Rewrite each dvc.yaml stage's code deps to the project modules its code imports.

Run after adding, moving or importing a module: ``.venv/bin/python .ci/sync_dvc_deps.py``.
``tests/unit/test_dvc_deps.py`` fails while a stage misses one (it uses the same closure).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.unit.test_dvc_deps import LOADED_BY_NAME, STAGES, _closure  # noqa: E402

CODE = re.compile(r"^      - (pipelines|src)/\S+\.py\n", re.M)


def main() -> None:
    """Rewrite the code deps of every stage in dvc.yaml."""
    text = (ROOT / "dvc.yaml").read_text()
    for stage in STAGES:
        own = f"pipelines/{stage}.py"
        files = sorted(_closure([f"pipelines.{stage}", *LOADED_BY_NAME.get(stage, [])]) - {own})
        block = "".join(f"      - {path}\n" for path in [own, *files])
        start = text.index(f"\n  {stage}:\n")
        deps = text.index("    deps:\n", start) + len("    deps:\n")
        end = deps
        while True:
            match = CODE.match(text, end)
            if match is None:
                break
            end = match.end()
        text = text[:deps] + block + text[end:]
    (ROOT / "dvc.yaml").write_text(text)


if __name__ == "__main__":
    main()
