"""lineage: print the chain behind the champion (or ``--version N``) and flag broken links.

The chain itself is ``forecasting.registry.lineage.chain``. Exit status 1 when a link is broken,
so CI can gate on it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from forecasting.core.errors import ForecastingError
from forecasting.registry import champion
from forecasting.registry.lineage import Link, broken_links, chain
from forecasting.registry.tracking import use_tracking
from forecasting.serving.container import image_lineage
from pipelines.params import ParamsError, load_params


def read_json_or_empty(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def container_links(package_reports: Path) -> list[Link]:
    """The image built by ``make container``: its labels against the manifest, and its digest."""
    manifest = read_json_or_empty(package_reports / "manifest.json")
    if not manifest:
        return []
    facts = image_lineage(read_json_or_empty(package_reports / "container.json"), manifest)
    return [Link(fact.name, fact.value, fact.ok, fact.note) for fact in facts]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.ops.lineage", description=__doc__)
    parser.add_argument("--version", help="a registered version (default: the champion)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        params = load_params(args.params)
        use_tracking(Path.cwd(), params.base.experiment)
        champion.repair(params.base.registered_model)  # a half-done move first: the chain is true
        paths = params.paths
        links = chain(
            params.base.registered_model, args.version, paths.raw, paths.validated, paths.reports
        )
        links += container_links(paths.reports / "package")
    except (ParamsError, ValueError, KeyError, ForecastingError) as err:
        print(f"lineage failed: {err}", file=sys.stderr)
        return 1
    marks = {True: "ok", False: "BROKEN", None: "  "}
    for link in links:
        print(
            f"{marks[link.ok]:>6}  {link.name:<34} {link.value}"
            + (f"  <- {link.note}" if link.note else "")
        )
    broken = broken_links(links)
    print("chain complete" if not broken else f"{len(broken)} broken link(s): {', '.join(broken)}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
