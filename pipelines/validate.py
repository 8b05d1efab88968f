"""validate: check the raw snapshot against the data contract, then split it by time.

Before the contract: a report of missing timestamps and missing values (and, with
``validate.on_gap: fill`` / ``validate.on_missing: fill``, a bounded fill). After it: drift of
the new training split against the champion's training data (``on_drift``). Nothing is written
to ``paths.validated`` unless every check passes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from forecasting.core.files import write_json
from forecasting.core.plots import series_overview
from forecasting.data.contract import (
    ContractSettings,
    min_rows_per_series,
    summary_record,
    validate_frame,
)
from forecasting.data.drift import DriftLimits
from forecasting.data.gaps import (
    GapError,
    apply_fill_policy,
    fill_hint,
    find_gaps,
    find_missing_values,
    gap_report,
)
from forecasting.data.snapshots import current_manifest, read_snapshot
from forecasting.data.splits import short_test_split, split_chronologically, write_splits
from forecasting.registry.problem import Problem
from forecasting.registry.reference import drift_against_champion
from pipelines._stage import StageError, exit_with, run_stage
from pipelines.params import Params

logger = logging.getLogger("pipelines.validate")


def check_drift(params: Params, train: pd.DataFrame, reports: Path) -> None:
    """Compare the new training values with the champion's; warn or fail past the limits."""
    v, t = params.validate_, params.train
    problem = Problem.of(
        params.base.freq, t.horizon, t.input_length, params.base.unit, train["series_id"].unique()
    )
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
    frame = read_snapshot(params.paths.raw)
    logger.info("checking %s: %d rows", params.paths.raw / snapshot, len(frame))
    reports = params.paths.reports / "validate"
    gaps, missing = find_gaps(frame, params.base.freq), find_missing_values(frame)
    series_overview(
        frame,
        [(gap.series_id, gap.after, gap.before) for gap in gaps.longest],
        ~frame["value"].between(v.min_value, v.max_value),  # NaN and inf too
        f"{snapshot}: {len(frame):,} rows; shaded: the longest gaps, x: unusable values",
        reports / "series.png",
    )
    fill = (v.on_gap == "fill", v.on_missing == "fill")
    try:
        filled = apply_fill_policy(frame, params.base.freq, v.max_fill_steps, fill, (gaps, missing))
    except GapError as err:
        write_json(reports / "gaps.json", gap_report(gaps, missing))
        raise StageError(f"{err} Gap report: {reports / 'gaps.json'}") from err
    write_json(reports / "gaps.json", filled.report)
    frame = filled.frame
    rows = min_rows_per_series(t.input_length, t.horizon, v.val_fraction, v.test_fraction)
    settings = ContractSettings(params.base.freq, v.min_value, v.max_value, rows)
    result = validate_frame(frame, settings, docs_dir=reports / "data_docs")
    write_json(reports / "result.json", result.raw)
    counts = {"gaps": gaps.count, "filled_steps": filled.filled_steps}
    counts |= {"missing_values": missing.missing_steps, "filled_values": filled.filled_values}
    summary = summary_record(result, snapshot, len(frame), counts)
    write_json(reports / "summary.json", summary)
    if not result.success:
        hint = fill_hint(gaps, missing, fill[1], str(reports / "gaps.json"))
        raise StageError(
            f"the snapshot broke the data contract.\n{result.summary()}{hint}\n"
            f"Details: {reports / 'result.json'}; Data Docs: {reports / 'data_docs' / 'index.html'}"
        )
    logger.info("contract: %s", result.summary())
    splits = split_chronologically(frame, v.val_fraction, v.test_fraction)
    check_drift(params, splits.train, reports)
    if (short := short_test_split(splits.test, params.base.freq)) is not None:
        logger.warning("%s", short)
    write_splits(splits, params.paths.validated)


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("validate", validate, argv)


if __name__ == "__main__":
    exit_with(main())
