"""lineage: print the chain behind the champion (or ``--version N``) and flag broken links.

It reads the registry (version tags), the MLflow run (git commit, params, data and environment
tags), ``dvc.lock`` and the validated data on disk, the validation summary, the package
manifest, the exported Bento archive and the BentoML model store, and checks that they agree.
Exit status 1 when a link is broken, so CI can gate on it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecasting.core.files import file_sha256
from forecasting.data.splits import SPLITS
from forecasting.registry.provenance import data_fingerprint, dvc_lock_hashes
from forecasting.registry.tracking import use_tracking
from forecasting.registry.versions import CHAMPION, version_by_alias
from forecasting.serving.container import image_lineage
from pipelines.params import ParamsError, load_params

logger = logging.getLogger("pipelines.lineage")


@dataclass(frozen=True)
class Link:
    """One fact in the chain and, where it can be checked, whether it agrees with the rest."""

    name: str
    value: str
    ok: bool | None = None  # None: recorded, nothing to check it against
    note: str = ""


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def chain(params_path: Path, version: str | None) -> list[Link]:
    """The lineage of a registered version (the champion when ``version`` is None)."""
    import mlflow

    params = load_params(params_path)
    name = params.base.registered_model
    use_tracking(Path.cwd(), params.base.experiment)
    client = mlflow.MlflowClient()
    if version is None:
        holder = version_by_alias(name, CHAMPION)
        if holder is None:
            raise ValueError(f"{name} has no champion: run `make run` first")
        version = str(holder.version)
    model_version = client.get_model_version(name, version)
    tags = model_version.tags
    run = client.get_run(model_version.run_id or tags["run_id"])
    run_tags = run.data.tags
    links = [
        Link("registered model", f"{name} v{version}"),
        Link("MLflow run", run.info.run_id),
        Link("git commit", f"{run_tags.get('git.commit')} (dirty: {run_tags.get('git.dirty')})"),
        Link("params sha256", run_tags.get("params.sha256", "not recorded")),
        Link(
            "environment",
            f"python {run_tags.get('env.python')}, torch {run_tags.get('env.torch')}, "
            f"cuda {run_tags.get('env.cuda')}, {run_tags.get('env.device_name')}"
            + (f" ({run_tags['env.cpu_capability']})" if "env.cpu_capability" in run_tags else ""),
        ),
    ]
    locked = dvc_lock_hashes(Path("dvc.lock"), [str(params.paths.raw), str(params.paths.validated)])
    for path in (str(params.paths.raw), str(params.paths.validated)):
        recorded, current = run_tags.get(f"dvc.{path}.md5"), locked.get(path)
        links.append(
            Link(
                f"dvc.lock {path}",
                str(current),
                None if recorded is None else recorded == current,
                "" if recorded in (None, current) else f"the run trained on {recorded}",
            )
        )
    splits = [params.paths.validated / f"{split}.parquet" for split in SPLITS]
    on_disk = data_fingerprint(splits) if all(p.is_file() for p in splits) else "missing"
    links.append(
        Link(
            "validated data sha256",
            tags.get("data.sha256", ""),
            on_disk == tags.get("data.sha256"),
            "" if on_disk == tags.get("data.sha256") else f"the data on disk is {on_disk}",
        )
    )
    summary = _read(params.paths.reports / "validate" / "summary.json")
    links.append(
        Link(
            "validation",
            "passed" if summary.get("success") else "failed or missing",
            bool(summary.get("success")),
        )
    )
    links.append(
        Link(
            "weights sha256",
            tags.get("weights.sha256", ""),
            tags.get("weights.sha256") == run_tags.get("weights.sha256"),
        )
    )
    manifest = _read(params.paths.reports / "package" / "manifest.json")
    if not manifest:
        links.append(Link("bento", "not packaged", False, "run the package stage"))
        return links
    links.append(
        Link(
            "packaged version",
            str(manifest.get("model_version")),
            str(manifest.get("model_version")) == version,
            ""
            if str(manifest.get("model_version")) == version
            else "the packaged bento holds another version: re-run package",
        )
    )
    archive = Path(manifest.get("bento_archive", ""))
    actual = file_sha256(archive) if archive.is_file() else "missing"
    links.append(
        Link(
            f"bento {manifest.get('bento_tag')} archive sha256",
            str(manifest.get("bento_archive_sha256")),
            actual == manifest.get("bento_archive_sha256"),
            "" if actual == manifest.get("bento_archive_sha256") else f"{archive} is now {actual}",
        )
    )
    links += container_links(params.paths.reports / "package", manifest)
    try:
        import bentoml

        stored = bentoml.models.get(manifest["bentoml_model"])
        packed_sha = str(stored.info.metadata.get("weights_sha256"))
        links.append(
            Link("bento model weights sha256", packed_sha, packed_sha == tags.get("weights.sha256"))
        )
    except Exception as err:  # not in this machine's store: report, do not fail the chain
        links.append(
            Link(
                "bento model",
                str(manifest.get("bentoml_model")),
                None,
                f"not in the local store ({type(err).__name__})",
            )
        )
    return links


def container_links(package_reports: Path, manifest: dict[str, Any]) -> list[Link]:
    """The image built by ``make container``: its labels against the manifest, and its digest."""
    facts = image_lineage(_read(package_reports / "container.json"), manifest)
    return [Link(fact.name, fact.value, fact.ok, fact.note) for fact in facts]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.ops.lineage", description=__doc__)
    parser.add_argument("--version", help="a registered version (default: the champion)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        links = chain(args.params, args.version)
    except (ParamsError, ValueError, KeyError) as err:
        print(f"lineage failed: {err}", file=sys.stderr)
        return 1
    marks = {True: "ok", False: "BROKEN", None: "  "}
    for link in links:
        print(
            f"{marks[link.ok]:>6}  {link.name:<34} {link.value}"
            + (f"  <- {link.note}" if link.note else "")
        )
    broken = [link.name for link in links if link.ok is False]
    print("chain complete" if not broken else f"{len(broken)} broken link(s): {', '.join(broken)}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
