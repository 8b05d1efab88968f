"""package: build the ``forecaster`` Bento from the registry champion and prove it serves.

The proof is a parity check on recent windows: the registry model (MLflow pyfunc), the
service class in-process and the built bento over HTTP must give the same forecasts.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from forecasting.core.files import file_sha256, write_json
from forecasting.data.requests import recent_requests
from forecasting.data.splits import read_splits
from forecasting.model.intervals import load_calibration
from forecasting.model.network import load_model
from forecasting.registry.champion import repair
from forecasting.registry.tracking import use_tracking
from forecasting.registry.versions import (
    CHAMPION,
    download_model_files,
    serving_metadata,
    tag_run,
    version_by_alias,
)
from forecasting.serving.bento import (
    build_bento,
    export_bento,
    import_model,
    model_tag,
    packed_model_tag,
)
from forecasting.serving.parity import smoke_test
from forecasting.serving.verification import stored_bento_path, tree_sha256, verify_packed_model
from pipelines._stage import StageError, exit_with, run_stage
from pipelines.params import Params

logger = logging.getLogger("pipelines.package")


def package(params: Params) -> None:
    name = params.base.registered_model
    use_tracking(Path.cwd(), params.base.experiment)
    repair(name)  # never ship a champion whose move was left half done
    champion = version_by_alias(name, CHAMPION)
    if champion is None:
        raise StageError(
            f"registered model {name!r} has no '{CHAMPION}' alias yet: no model has passed the "
            "evaluate gate. Check reports/evaluate/promotion.json for why."
        )
    version, weights_sha = str(champion.version), champion.tags.get("weights.sha256", "")
    if not weights_sha:
        raise StageError(
            f"{name} v{version} has no weights.sha256 tag; it was not registered by evaluate"
        )
    with tempfile.TemporaryDirectory() as scratch:
        files = download_model_files(name, version, Path(scratch))
        model = load_model(files, expected_sha256=weights_sha)
        # a champion trained before intervals serves none: its parity covers the forecast alone
        levels = params.train.interval_levels if load_calibration(files) is not None else []
        metadata = serving_metadata(name, champion)
        bento_model = import_model(files, model_tag(name, version, weights_sha), metadata)
    bento_tag = build_bento(
        bento_model,
        Path.cwd() / "src",
        labels={"model_name": name, "model_version": version, "weights_sha256": weights_sha[:12]},
        environment=params.package.service_environment(),
    )
    archive = export_bento(bento_tag, params.paths.bento / "forecaster.bento")
    logger.info("built %s around %s; exported to %s", bento_tag, bento_model, archive)
    # What the smoke test serves is the registry's model: refused (both hashes named) otherwise.
    verify_packed_model(packed_model_tag(bento_tag), {f"the registry's v{version}": weights_sha})
    stored = stored_bento_path(bento_tag)

    splits = read_splits(params.paths.validated)
    # All splits together, so a test split shorter than one window still yields full requests.
    history = pd.concat([splits.train, splits.val, splits.test], ignore_index=True)
    cases, p = params.package.parity_cases, params.package
    requests = recent_requests(history, model.config.input_length, cases, stride=7)
    parity = smoke_test(
        f"models:/{name}/{version}", (bento_model, bento_tag), requests, p.parity_tolerance,
        p.smoke_test_timeout_s, levels,
    )  # fmt: skip
    manifest = {
        "registered_model": name,
        "model_version": version,
        "weights_sha256": weights_sha,
        "bentoml_model": bento_model,
        "bento_tag": bento_tag,
        "bento_archive": str(params.paths.bento / "forecaster.bento"),
        "bento_archive_sha256": file_sha256(archive),
        "bento_tree_sha256": tree_sha256(stored) if stored is not None else None,
        "parity": {"status": "passed", "tolerance": p.parity_tolerance, "levels": levels}
        | parity.as_dict(),
        "service_environment": params.package.service_environment(),
    }
    write_json(params.paths.reports / "package" / "manifest.json", manifest)
    tag_run(
        champion.run_id, {"bento.tag": bento_tag, "bento.sha256": manifest["bento_archive_sha256"]}
    )
    logger.info(
        "parity holds on %d requests: service vs registry %.2g relative, http %.2g relative",
        parity.cases, parity.service_vs_registry, parity.http_vs_registry,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("package", package, argv)


if __name__ == "__main__":
    exit_with(main())
