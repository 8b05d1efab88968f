"""validate: check the raw snapshot against the data contract, then split it by time.

Before the contract: a report of missing timestamps and missing values (and, with
``validate.on_gap: fill`` / ``validate.on_missing: fill``, a bounded fill). After it: drift of
the new training split against the champion's training data (``on_drift``). The snapshot is
read and checked one chunk of whole series at a time (``validate.rows_per_chunk``), so memory
stays bounded whatever its size. Nothing is written to ``paths.validated`` unless every check
passes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from forecasting.core.files import write_json
from forecasting.core.plots import series_overview
from forecasting.data.checks import CheckSettings, SnapshotCheck, check_snapshot
from forecasting.data.contract import ContractSettings, min_rows_per_series, summary_record
from forecasting.data.drift import DriftLimits
from forecasting.data.gaps import fill_hint, gap_report, log_gaps_and_fill, too_long_error
from forecasting.data.snapshots import (
    current_manifest,
    series_chunks,
    snapshot_file,
    snapshot_rows,
)
from forecasting.data.splits import SplitWriter, short_test_warning
from forecasting.registry.problem import Problem
from forecasting.registry.reference import drift_against_champion
from pipelines._stage import StageError, exit_with, run_stage
from pipelines.params import Params

logger = logging.getLogger("pipelines.validate")


def check_drift(params: Params, found: SnapshotCheck, reports: Path) -> None:
    """Compare the new training values with the champion's; warn or fail past the limits."""
    v, t = params.validate_, params.train
    base, train = params.base, found.train
    assert train is not None  # the contract passed: every series has a training split
    problem = Problem.of(base.freq, t.horizon, t.input_length, base.unit, found.series)
    limits = DriftLimits(v.drift_psi, v.drift_ks, v.drift_shape)
    name = params.base.registered_model
    verdict = drift_against_champion(Path.cwd(), name, problem, train, limits, reports)
    if verdict is None:
        return
    if not verdict.drifted:
        logger.info("drift: %s", verdict.line)
    elif v.on_drift == "fail":
        raise StageError(
            f"the data drifted: {verdict.line}. If the change is real, set validate.on_drift: "
            "warn for this run (or raise the limits) and let the evaluate gate judge the model."
        )
    else:
        logger.warning("drift: %s", verdict.line)


def validate(params: Params) -> None:
    v, t = params.validate_, params.train
    snapshot = str(current_manifest(params.paths.raw)["snapshot"])
    path = snapshot_file(params.paths.raw)
    rows = snapshot_rows(path)
    logger.info("checking %s: %d rows, %d a chunk", path.parent, rows, v.rows_per_chunk)
    reports = params.paths.reports / "validate"
    needed = min_rows_per_series(t.input_length, t.horizon, v.val_fraction, v.test_fraction)
    contract = ContractSettings(params.base.freq, v.min_value, v.max_value, needed)
    fill = (v.on_gap == "fill", v.on_missing == "fill")
    settings = CheckSettings(contract, fill, v.max_fill_steps, v.val_fraction, v.test_fraction)
    with SplitWriter(params.paths.validated) as splits:
        chunks = series_chunks(path, v.rows_per_chunk)
        found = check_snapshot(chunks, settings, splits, docs_dir=reports / "data_docs")
        overview = found.overview
        series_overview(
            overview,
            [(gap.series_id, gap.after, gap.before) for gap in found.gaps.longest],
            ~overview["value"].between(v.min_value, v.max_value),  # NaN and inf too
            f"{snapshot}: {rows:,} rows; shaded: the longest gaps, x: unusable values",
            reports / "series.png",
        )
        log_gaps_and_fill(found.gaps, found.missing, found.filled_steps, found.filled_values)
        if found.too_long:
            write_json(reports / "gaps.json", gap_report(found.gaps, found.missing))
            err = too_long_error(found.too_long, v.max_fill_steps)
            raise StageError(f"{err} Gap report: {reports / 'gaps.json'}")
        report = gap_report(found.gaps, found.missing, found.filled_steps, found.filled_values)
        write_json(reports / "gaps.json", report)
        result = found.contract
        assert result is not None  # the checks run to the end unless a run was too long
        write_json(reports / "result.json", result.raw)
        counts = {"gaps": found.gaps.count, "filled_steps": found.filled_steps}
        counts |= {"missing_values": found.missing.missing_steps}
        counts |= {"filled_values": found.filled_values}
        write_json(reports / "summary.json", summary_record(result, snapshot, found.rows, counts))
        if not result.success:
            hint = fill_hint(found.gaps, found.missing, fill[1], str(reports / "gaps.json"))
            raise StageError(
                f"the snapshot broke the data contract.\n{result.summary()}{hint}\nDetails: "
                f"{reports / 'result.json'}; Data Docs: {reports / 'data_docs' / 'index.html'}"
            )
        logger.info("contract: %s", result.summary())
        check_drift(params, found, reports)
        if (short := short_test_warning(found.shortest_test, params.base.freq)) is not None:
            logger.warning("%s", short)
        splits.commit()


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("validate", validate, argv)


if __name__ == "__main__":
    exit_with(main())
