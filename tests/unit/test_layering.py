"""The library's dependency rules, read from the import statements of every module.

core <- data <- model <- training / evaluation / registry <- serving <- monitoring <- pipelines
(monitoring reads the serving log's format; serving never imports monitoring): a package
imports only from its own layer or below, the packages of one layer never form a cycle, core/
and data/ never import torch or mlflow (ingest and validate must not pay for them), and the
Bento ships every module its service imports.
"""

from __future__ import annotations

import ast
import fnmatch
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "forecasting"
LAYER = {"core": 0, "data": 1, "model": 2, "training": 3, "evaluation": 3, "registry": 3}
LAYER["serving"] = 4
LAYER["monitoring"] = 5
HEAVY = ("torch", "mlflow")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path) -> set[str]:
    """Every module named by an import statement in ``path``, at any depth of its code."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return names


def _package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "forecasting" and parts[1] in LAYER else None


def _package_edges(modules: dict[str, Path]) -> dict[tuple[str, str], list[str]]:
    """(importer package, imported package) -> the importing modules, across packages only."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for module, path in modules.items():
        source = _package_of(module)
        for name in _imports(path):
            target = _package_of(name)
            if source and target and target != source:
                edges[(source, target)].append(module)
    return edges


def layer_violations(modules: dict[str, Path]) -> list[str]:
    """Imports that go up the layers, or out of the library into pipelines/."""
    problems = [
        f"{module} imports {name} (the library never imports pipelines/)"
        for module, path in modules.items()
        for name in _imports(path)
        if name.split(".")[0] == "pipelines"
    ]
    for (source, target), importers in sorted(_package_edges(modules).items()):
        if LAYER[target] > LAYER[source]:
            problems.append(
                f"{source}/ (layer {LAYER[source]}) imports {target}/ "
                f"(layer {LAYER[target]}) in {sorted(set(importers))}"
            )
    return problems


def package_cycles(modules: dict[str, Path]) -> list[list[str]]:
    """Cycles between packages (a depth-first search over the package graph)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target in _package_edges(modules):
        graph[source].add(target)
    cycles, state = [], dict.fromkeys(LAYER, 0)  # 0 unseen, 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state[nxt] == 1:
                cycles.append(
                    [*stack[stack.index(nxt) :], node, nxt] if nxt in stack else [node, nxt]
                )
            elif state[nxt] == 0:
                visit(nxt, [*stack, node])
        state[node] = 2

    for package in LAYER:
        if state[package] == 0:
            visit(package, [])
    return cycles


def heavy_imports(modules: dict[str, Path], packages: tuple[str, ...]) -> list[str]:
    return [
        f"{module} imports {name}"
        for module, path in modules.items()
        if _package_of(module) in packages
        for name in _imports(path)
        if name.split(".")[0] in HEAVY
    ]


def test_packages_import_only_their_own_layer_or_below():
    assert not layer_violations(_modules())


def test_the_packages_of_a_layer_form_no_cycle():
    assert not package_cycles(_modules())


def test_core_and_data_import_neither_torch_nor_mlflow():
    assert not heavy_imports(_modules(), ("core", "data"))


def test_the_bento_ships_every_module_its_service_imports():
    from forecasting.serving.bento import BENTO_INCLUDE, SERVICE_MODULE

    modules = _modules()
    needed, todo = set(), [SERVICE_MODULE]
    while todo:
        module = todo.pop()
        if module in needed or module not in modules:
            continue
        needed.add(module)
        todo += [n for n in _imports(modules[module]) if n.startswith("forecasting")]
        parent = module.rsplit(".", 1)[0]
        todo.append(parent)  # a package's __init__ runs before its modules
    files = {str(modules[m].relative_to(SRC)) for m in needed}
    unshipped = sorted(f for f in files if not any(fnmatch.fnmatch(f, p) for p in BENTO_INCLUDE))
    assert not unshipped, f"add these to BENTO_INCLUDE: {unshipped}"
    shipped = {
        str(p.relative_to(SRC))
        for p in PACKAGE.rglob("*.py")
        if any(fnmatch.fnmatch(str(p.relative_to(SRC)), pat) for pat in BENTO_INCLUDE)
    }
    assert not any("/training/" in f or "/evaluation/" in f for f in shipped), (
        "the Bento ships training or evaluation code it does not run"
    )


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("forecasting.core.bad", "import torch\n", "heavy"),
        ("forecasting.data.bad", "from forecasting.model.network import ModelConfig\n", "layer"),
        ("forecasting.model.bad", "from pipelines.params import Params\n", "layer"),
        ("forecasting.registry.bad", "from forecasting.serving import bento\n", "layer"),
        ("forecasting.serving.bad", "from forecasting.monitoring import trigger\n", "layer"),
    ],
)
def test_the_rules_catch_a_broken_import(tmp_path, module, source, expected):
    """Each rule fails on a module that breaks it (so the checks above can fail)."""
    path = tmp_path / "bad.py"
    path.write_text(source)
    modules = {**_modules(), module: path}
    if expected == "heavy":
        assert heavy_imports(modules, ("core", "data")) == [f"{module} imports torch"]
    else:
        assert any(
            module in problem or "registry/" in problem for problem in layer_violations(modules)
        )


def test_a_cycle_between_sibling_packages_is_found(tmp_path):
    first, second = tmp_path / "a.py", tmp_path / "b.py"
    first.write_text("from forecasting.evaluation import gate\n")
    second.write_text("from forecasting.training import loop\n")
    modules = {**_modules(), "forecasting.training.a": first, "forecasting.evaluation.b": second}
    assert package_cycles(modules)
