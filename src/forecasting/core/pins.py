"""The one pin list of the runtime stack: ``pyproject.toml``'s ``[project] dependencies``.

The logged MLflow model and the Bento name the packages they need; their exact versions are
read here from the installed ``forecasting`` distribution's metadata (which ``pip install -e .``
writes from ``pyproject.toml``), so a version is written once, in ``pyproject.toml``.
"""

from __future__ import annotations

import importlib.metadata
import re

DISTRIBUTION = "forecasting"
# "name==version", optionally followed by an environment marker ("; extra == 'dev'").
_EXACT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;,]+)\s*$")


class PinError(LookupError):
    """A package is not pinned exactly among the distribution's dependencies."""


def canonical_name(name: str) -> str:
    """A package name as PEP 503 compares them: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_requirements(distribution: str = DISTRIBUTION) -> list[str]:
    """The installed distribution's runtime requirements (extras such as ``dev`` left out).

    Raises:
        PinError: if ``distribution`` is not installed.

    """
    try:
        requirements = importlib.metadata.requires(distribution) or []
    except importlib.metadata.PackageNotFoundError as err:
        raise PinError(
            f"the {distribution!r} package is not installed: run `make setup` "
            "(pip install -e .) so its pinned dependencies can be read"
        ) from err
    return [r for r in requirements if "extra" not in r.partition(";")[2]]


def exact_pins(names: list[str], distribution: str = DISTRIBUTION) -> list[str]:
    """``name==version`` for each of ``names``, as pinned in ``pyproject.toml``, in that order.

    Raises:
        PinError: naming each package that is missing or not pinned with ``==`` there.

    """
    pinned: dict[str, str] = {}
    ranged: set[str] = set()
    for requirement in declared_requirements(distribution):
        spec = requirement.partition(";")[0]
        match = _EXACT.match(spec)
        if match is None:
            ranged.add(canonical_name(re.split(r"[\s<>=!~\[(]", spec.strip(), maxsplit=1)[0]))
            continue
        pinned[canonical_name(match.group(1))] = f"{match.group(1)}=={match.group(2)}"
    missing = [name for name in names if canonical_name(name) not in pinned]
    if missing:
        problems = [
            f"{name} ({'not pinned with ==' if canonical_name(name) in ranged else 'not listed'})"
            for name in missing
        ]
        raise PinError(
            f"pyproject.toml [project] dependencies must pin exactly: {', '.join(problems)}"
        )
    return [pinned[canonical_name(name)] for name in names]
