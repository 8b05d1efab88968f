"""dvc.yaml lists, for every stage, each project file its code imports.

A stage whose code changed must run again: DVC only knows what ``deps`` names, so a module left
out (say the request schema a bento is built from) changes nothing downstream when edited.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
# Imported by name, not by an import statement: the package stage builds the bento from it.
LOADED_BY_NAME = {"package": ["forecasting.serving.service"]}


def _file_of(module: str) -> Path | None:
    base = ROOT / ("src" if module.startswith("forecasting") else "") / module.replace(".", "/")
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _project_imports(path: Path) -> set[str]:
    """Modules of this project that ``path`` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found |= {n for n in names if n.split(".")[0] in ("forecasting", "pipelines")}
    return {name for name in found if _file_of(name) is not None}


def _closure(modules: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += _project_imports(_file_of(module))  # type: ignore[arg-type]
    files = {_file_of(module) for module in seen}
    return {str(f.relative_to(ROOT)) for f in files if f is not None and f.name != "__init__.py"}


@pytest.mark.parametrize("stage", list(STAGES))
def test_every_module_a_stage_imports_is_one_of_its_deps(stage):
    imported = _closure([f"pipelines.{stage}", *LOADED_BY_NAME.get(stage, [])])
    missing = sorted(imported - set(STAGES[stage]["deps"]))
    assert not missing, f"dvc.yaml stage {stage!r} needs these deps: {missing}"


def test_the_service_module_named_for_the_bento_is_the_one_checked():
    from forecasting.serving.bento import SERVICE_IMPORT

    assert SERVICE_IMPORT.split(":")[0] in LOADED_BY_NAME["package"]
