"""The README is a front door that stays true: its layout tree matches the code, it stays short,
its links resolve, and docs/benchmarks.md is what benchmarks/report.py writes from the JSON."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks.report import load_runs, render

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
MAX_README_LINES = 250
# The trees whose every module the layout must list; packages show as folders, so their
# __init__.py files are not listed.
MODULE_ROOTS = ("src/forecasting", "pipelines")
ENTRY = re.compile(r"^(?P<indent> *)(?P<name>\S+)(?:\s{2,}.*)?$")
LINK = re.compile(r"\]\((?P<target>[^)\s#]+)(?:#[^)]*)?\)")


def layout_block(readme: str) -> list[str]:
    """The lines of the first fenced block after the ``## Layout`` heading."""
    after = readme.split("\n## Layout", 1)
    if len(after) < 2:
        raise AssertionError("README.md has no '## Layout' section with the layout tree")
    fenced = re.search(r"^```[^\n]*\n(.*?)^```", after[1], re.S | re.M)
    if fenced is None:
        raise AssertionError("README.md's '## Layout' section has no fenced tree")
    return fenced.group(1).splitlines()


def tree_paths(lines: list[str]) -> set[str]:
    """Every path the tree names: indentation (two spaces a level) nests names under folders."""
    stack: list[str] = []
    paths: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        match = ENTRY.match(line)
        assert match, f"layout tree line {number} is not 'name  description': {line!r}"
        depth, name = len(match["indent"]) // 2, match["name"]
        assert depth <= len(stack), f"layout tree line {number} is indented under no folder"
        stack = stack[:depth]
        path = "/".join([*stack, name.rstrip("/")])
        paths.add(path)
        if name.endswith("/"):
            stack.append(name.rstrip("/"))
    return paths


def code_modules(root: Path) -> set[str]:
    """Every module and package folder under MODULE_ROOTS (``__init__.py`` files left out)."""
    found: set[str] = set()
    for top in MODULE_ROOTS:
        for path in (root / top).rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            relative = path.relative_to(root)
            found.add(str(relative.parent if path.name == "__init__.py" else relative))
    return found


def layout_problems(readme: str, root: Path) -> list[str]:
    """What the tree misses and what it lists that the code does not have, by exact path."""
    listed = tree_paths(layout_block(readme))
    missing = sorted(code_modules(root) - listed)
    extra = sorted(p for p in listed if not (root / p).exists())
    problems = []
    if missing:
        problems.append(
            "in the code but not in README.md's layout tree (add a line under its folder): "
            + ", ".join(missing)
        )
    if extra:
        problems.append(
            "in README.md's layout tree but not in the repository (remove or rename the line): "
            + ", ".join(extra)
        )
    return problems


def test_the_layout_tree_lists_every_module_and_only_modules_that_exist() -> None:
    problems = layout_problems(README.read_text(), REPO)
    assert not problems, "\n".join(problems)


def test_the_tree_check_names_a_missing_and_an_extra_module(tmp_path: Path) -> None:
    for module in ("src/forecasting/core/files.py", "src/forecasting/core/__init__.py"):
        (tmp_path / module).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / module).write_text("")
    (tmp_path / "pipelines" / "ops").mkdir(parents=True)
    (tmp_path / "pipelines" / "ingest.py").write_text("")
    (tmp_path / "pipelines" / "ops" / "serve.py").write_text("")
    readme = (
        "# x\n\n## Layout\n\n```\n"
        "pipelines/        stages\n"
        "  ingest.py       ingest\n"
        "  ops/            operator commands\n"
        "src/forecasting/  library\n"
        "  core/           shared\n"
        "    files.py      files\n"
        "    gone.py       removed since\n"
        "```\n"
    )
    problems = layout_problems(readme, tmp_path)
    assert problems == [
        "in the code but not in README.md's layout tree (add a line under its folder): "
        "pipelines/ops/serve.py",
        "in README.md's layout tree but not in the repository (remove or rename the line): "
        "src/forecasting/core/gone.py",
    ]


def test_the_readme_is_short() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_README_LINES, (
        f"README.md has {lines} lines (at most {MAX_README_LINES}): move depth into docs/"
    )


def relative_links(page: Path) -> list[str]:
    """Link targets in a markdown page that point into the repository (not URLs)."""
    return [
        m["target"]
        for m in LINK.finditer(page.read_text())
        if "://" not in m["target"] and not m["target"].startswith("mailto:")
    ]


@pytest.mark.parametrize(
    "page", [README, *sorted((REPO / "docs").glob("*.md"))], ids=lambda p: p.name
)
def test_every_relative_link_resolves(page: Path) -> None:
    broken = sorted({t for t in relative_links(page) if not (page.parent / t).exists()})
    assert not broken, f"{page.relative_to(REPO)} links to missing files: {', '.join(broken)}"


def test_the_readme_links_every_docs_page() -> None:
    linked = {(REPO / t).resolve() for t in relative_links(README)}
    pages = {p.resolve() for p in (REPO / "docs").glob("*.md")}
    assert pages, "docs/ holds no pages"
    unlinked = sorted(p.name for p in pages - linked)
    assert not unlinked, f"docs pages the README does not link: {', '.join(unlinked)}"


def test_docs_benchmarks_is_what_the_report_writes_from_the_json() -> None:
    written = (REPO / "docs" / "benchmarks.md").read_text()
    assert written == render(load_runs(REPO / "reports" / "bench")), (
        "docs/benchmarks.md differs from reports/bench/*.json: run "
        "`PYTHONPATH=. python benchmarks/report.py` (make bench does) and commit both"
    )
