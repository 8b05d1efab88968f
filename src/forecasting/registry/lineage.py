"""The chain behind a registered version, link by link, and whether the links agree.

It reads the registry (version tags), the MLflow run (git commit, params, data and environment
tags), ``dvc.lock`` and the validated data on disk, the validation summary, the package
manifest, the exported Bento archive and the BentoML model store. ``python -m
pipelines.ops.lineage`` prints it.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecasting.core.artifacts import WEIGHTS_FILE
from forecasting.core.files import file_sha256
from forecasting.data.splits import SPLITS
from forecasting.registry.provenance import data_fingerprint, dvc_lock_hashes
from forecasting.registry.versions import CHAMPION, download_model_files, version_by_alias


@dataclass(frozen=True)
class Link:
    """One fact in the chain and, where it can be checked, whether it agrees with the rest."""

    name: str
    value: str
    ok: bool | None = None  # None: recorded, nothing to check it against
    note: str = ""


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _run_links(name: str, version: str, tags: dict[str, str], run: Any) -> list[Link]:
    run_tags = run.data.tags
    return [
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


def _data_links(
    tags: dict[str, str],
    run_tags: dict[str, str],
    raw: Path,
    validated: Path,
    reports: Path,
    lock_file: Path,
) -> list[Link]:
    """dvc.lock against the run's tags, the data on disk against the version, validation, weights."""
    links = []
    locked = dvc_lock_hashes(lock_file, [str(raw), str(validated)])
    for path in (str(raw), str(validated)):
        recorded, current = run_tags.get(f"dvc.{path}.md5"), locked.get(path)
        links.append(
            Link(
                f"dvc.lock {path}",
                str(current),
                None if recorded is None else recorded == current,
                "" if recorded in (None, current) else f"the run trained on {recorded}",
            )
        )
    splits = [validated / f"{split}.parquet" for split in SPLITS]
    on_disk = data_fingerprint(splits) if all(p.is_file() for p in splits) else "missing"
    links.append(
        Link(
            "validated data sha256",
            tags.get("data.sha256", ""),
            on_disk == tags.get("data.sha256"),
            "" if on_disk == tags.get("data.sha256") else f"the data on disk is {on_disk}",
        )
    )
    summary = _read(reports / "validate" / "summary.json")
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
    return links


def _stored_weights_link(name: str, version: str, tags: dict[str, str]) -> Link:
    """The version's weights as the artifact store holds them now, against the recorded sha256.

    A tag only says what was stored once: a deleted or rewritten artifact shows only here.
    """
    recorded = tags.get("weights.sha256", "")
    try:
        with tempfile.TemporaryDirectory(prefix="lineage-") as folder:
            stored = file_sha256(download_model_files(name, version, Path(folder)) / WEIGHTS_FILE)
    except Exception as err:  # any failure to read the store means the files are missing
        reason = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        return Link(
            "stored weights", "missing", False,
            f"the artifact store no longer holds v{version}'s files ({reason}): restore them "
            "from a backup, or `make rollback` / `dvc repro --force train` for a new champion",
        )  # fmt: skip
    return Link(
        "stored weights sha256", stored, stored == recorded,
        "" if stored == recorded else f"the registry recorded {recorded}",
    )  # fmt: skip


def _package_links(version: str, tags: dict[str, str], reports: Path) -> list[Link]:
    """The package manifest against the version, the Bento archive and the BentoML store."""
    manifest = _read(reports / "package" / "manifest.json")
    if not manifest:
        return [Link("bento", "not packaged", False, "run the package stage")]
    packaged = str(manifest.get("model_version"))
    archive = Path(manifest.get("bento_archive", ""))
    actual = file_sha256(archive) if archive.is_file() else "missing"
    links = [
        Link(
            "packaged version",
            packaged,
            packaged == version,
            ""
            if packaged == version
            else "the packaged bento holds another version: re-run package",
        ),
        Link(
            f"bento {manifest.get('bento_tag')} archive sha256",
            str(manifest.get("bento_archive_sha256")),
            actual == manifest.get("bento_archive_sha256"),
            "" if actual == manifest.get("bento_archive_sha256") else f"{archive} is now {actual}",
        ),
    ]
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


def chain(
    name: str,
    version: str | None,
    raw: Path,
    validated: Path,
    reports: Path,
    lock_file: Path = Path("dvc.lock"),
) -> list[Link]:
    """The lineage of a registered version (the champion when ``version`` is None).

    MLflow must already point at the store (``tracking.use_tracking``).

    Args:
        name: the registered model.
        version: the version to trace, or None for the champion.
        raw: the ingest output folder (``paths.raw``).
        validated: the validated splits' folder (``paths.validated``).
        reports: the stages' reports folder (``paths.reports``).
        lock_file: ``dvc.lock``, whose recorded data hashes the run's tags must match.

    Raises:
        ValueError: if ``version`` is None and the model has no champion.

    """
    import mlflow

    client = mlflow.MlflowClient()
    if version is None:
        holder = version_by_alias(name, CHAMPION)
        if holder is None:
            raise ValueError(f"{name} has no champion: run `make run` first")
        version = str(holder.version)
    model_version = client.get_model_version(name, version)
    tags = dict(model_version.tags)
    run = client.get_run(model_version.run_id or tags["run_id"])
    return [
        *_run_links(name, version, tags, run),
        *_data_links(tags, dict(run.data.tags), raw, validated, reports, lock_file),
        _stored_weights_link(name, version, tags),
        *_package_links(version, tags, reports),
    ]


def broken_links(links: list[Link]) -> list[str]:
    """The names of the links that disagree with the rest of the chain."""
    return [link.name for link in links if link.ok is False]
