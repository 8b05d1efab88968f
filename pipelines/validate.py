"""validate: check the raw snapshot against the data contract, then split it by time.

Before the contract: a report of missing timestamps and missing values (and, with
``validate.on_gap: fill`` / ``validate.on_missing: fill``, a bounded fill). After it: drift of the new training split against the champion's training data (``on_drift``).
Nothing is written to ``paths.validated`` unless every check passes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from forecasting.core.files import write_atomically, write_json
from forecasting.core.plots import seasonal_shapes, series_overview
from forecasting.data.contract import ContractSettings, validate_frame
from forecasting.data.drift import PROFILE_ARTIFACT, ValueProfile, compare, seasonal_shape
from forecasting.data.gaps import (
    GapError,
    GapReport,
    fill_missing,
    find_gaps,
    find_missing_values,
)
from forecasting.data.snapshots import current_manifest, read_snapshot
from forecasting.data.splits import split_chronologically
from forecasting.registry.problem import Problem, belongs_to
from forecasting.registry.tracking import check_store, connect, existing_store
from forecasting.registry.versions import CHAMPION, version_by_alias
from pipelines._stage import StageError, exit_with, run_stage
from pipelines.params import Params

logger = logging.getLogger("pipelines.validate")


def _to_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path, index=False)


def min_rows(params: Params) -> int:
    """Rows a series needs so that training has one full window and val/test one horizon each."""
    window = params.train.input_length + params.train.horizon
    train_share = 1 - params.validate_.val_fraction - params.validate_.test_fraction
    needed_for_eval = params.train.horizon / min(
        params.validate_.val_fraction, params.validate_.test_fraction
    )
    return math.ceil(max(window / train_share, needed_for_eval))


def current_problem(params: Params, train: pd.DataFrame) -> Problem:
    """The problem these params and this training split pose (for the champion's signature)."""
    return Problem.of(
        params.base.freq,
        params.train.horizon,
        params.train.input_length,
        params.base.unit,
        train["series_id"].unique(),
    )


def foreign_champion(params: Params, problem: Problem) -> str | None:
    """Why the registry champion is no reference for ``problem`` (one line), else None.

    None too when there is no champion; looked up without creating anything.
    """
    uri = existing_store(Path.cwd())
    if uri is None:
        return None
    connect(uri)
    champion = version_by_alias(params.base.registered_model, CHAMPION)
    if champion is None:
        return None
    same, why = belongs_to(champion, problem)
    return None if same else f"champion {why}"


def champion_profile(params: Params) -> tuple[str, ValueProfile] | None:
    """(version, training-data profile) of the registry champion; None when there is none.

    Looked up without creating anything: no local store yet means no champion yet. A registry
    that cannot be read is an error, never "no champion": the drift gate fails closed.

    Raises:
        ForecastingError: if the tracking store or the champion's profile cannot be read.

    """
    uri = existing_store(Path.cwd())
    if uri is None:
        return None
    import mlflow

    check_store(uri)
    connect(uri)
    champion = version_by_alias(params.base.registered_model, CHAMPION)
    if champion is None or not champion.run_id:
        return None
    try:
        data = mlflow.artifacts.load_dict(f"runs:/{champion.run_id}/{PROFILE_ARTIFACT}")
    except Exception as err:
        if not _is_absent(err):
            raise StageError(
                f"the data profile of champion v{champion.version} could not be read from "
                f"MLFLOW_TRACKING_URI={uri} ({str(err).strip()[:200]}), so drift cannot be "
                "checked: make the store reachable and re-run"
            ) from err
        logger.info("champion v%s has no data profile: drift not checked", champion.version)
        return None
    return str(champion.version), ValueProfile.from_dict(data)


def _is_absent(err: Exception) -> bool:
    """Whether a failed artifact read means "no such artifact", not "store unreachable".

    A champion trained before profiles were logged has none; that is not an error.
    """
    if isinstance(err, FileNotFoundError):
        return True
    text = str(err).lower()
    unreachable = ("connection", "timed out", "timeout", "max retries", "refused", "unreachable")
    if any(word in text for word in unreachable):
        return False
    return any(word in text for word in ("not found", "no such file", "does not exist", "404"))


def check_drift(params: Params, train: pd.DataFrame, reports: Path) -> None:
    """Compare the new training values with the champion's; warn or fail past the limits.

    The registry is not a DVC dependency: with ``on_drift: fail`` a new champion can make
    the same data fail, which is the point. ``drift.png`` shows the daily and weekly shape,
    beside the champion's when there is one.
    """
    settings = params.validate_
    shape = seasonal_shape(train, params.base.freq)
    foreign = foreign_champion(params, current_problem(params, train))
    if foreign is not None:  # another frequency or series set: its data is no reference
        logger.info("drift not checked: %s", foreign)
    found = None if foreign else champion_profile(params)
    seasonal_shapes(
        shape,
        (found[1].day_shape, found[1].week_shape) if found else None,
        f"Seasonal shape of the training split vs champion v{found[0]}'s"
        if found
        else "Seasonal shape of the training split (no champion yet)",
        reports / "drift.png",
    )
    if found is None:
        write_json(
            reports / "drift.json", {"checked": False, "reason": foreign or "no champion yet"}
        )
        return
    version, profile = found
    drift = compare(profile, train["value"].to_numpy(), shape)
    shape_over = drift.shape is not None and drift.shape > settings.drift_shape
    over = drift.psi > settings.drift_psi or drift.ks > settings.drift_ks or shape_over
    write_json(
        reports / "drift.json",
        {"checked": True, "champion_version": version, "drifted": over} | drift.as_dict(),
    )
    line = (
        f"training values vs champion v{version}'s: PSI {drift.psi:.3f} (limit "
        f"{settings.drift_psi}), KS {drift.ks:.3f} (limit {settings.drift_ks})"
    )
    if drift.shape is not None:
        # Either shape may be missing (a champion trained on another frequency): quote what is.
        parts = [
            f"{name} {change:.1%}"
            for name, change in (("day", drift.day_shape), ("week", drift.week_shape))
            if change is not None
        ]
        line += (
            f", seasonal shape moved by {drift.shape:.1%} of the mean at most "
            f"({', '.join(parts)}; limit {settings.drift_shape:.0%})"
        )
    if not over:
        logger.info("drift: %s", line)
    elif settings.on_drift == "fail":
        raise StageError(
            f"the data drifted: {line}. If the change is real, set validate.on_drift: warn for "
            "this run (or raise the limits) and let the evaluate gate judge the retrained model."
        )
    else:
        logger.warning("drift: %s", line)


def _fill(
    params: Params, frame: pd.DataFrame, gaps: GapReport, missing: GapReport, reports: Path
) -> tuple[pd.DataFrame, int, int]:
    """Fill what ``on_gap`` / ``on_missing`` allow; write gaps.json either way.

    Returns:
        The frame, the missing timestamps filled and the missing values filled.

    """
    settings = params.validate_
    steps, values = settings.on_gap == "fill", settings.on_missing == "fill"
    if gaps:
        logger.warning("gaps in the snapshot: %s", gaps.summary())
    if missing:
        logger.warning("missing values in the snapshot: %s", missing.summary())
    filled = filled_steps = 0

    def report() -> dict[str, Any]:
        values_report = {**missing.as_dict(), "filled_values": filled - filled_steps}
        return {**gaps.as_dict(), "filled_steps": filled_steps, "missing_values": values_report}

    if (gaps and steps) or (missing and values):
        try:
            frame, filled = fill_missing(
                frame, params.base.freq, settings.max_fill_steps, steps=steps, values=values
            )
        except GapError as err:
            write_json(reports / "gaps.json", report())
            raise StageError(f"{err} Gap report: {reports / 'gaps.json'}") from err
        filled_steps = gaps.missing_steps if steps else 0
        logger.warning(
            "filled %d missing step(s) and %d missing value(s) by linear interpolation",
            filled_steps,
            filled - filled_steps,
        )
    write_json(reports / "gaps.json", report())
    return frame, filled_steps, filled - filled_steps


def validate(params: Params) -> None:
    snapshot = str(current_manifest(params.paths.raw)["snapshot"])
    frame = read_snapshot(params.paths.raw)
    logger.info("checking %s: %d rows", params.paths.raw / snapshot, len(frame))
    reports = params.paths.reports / "validate"
    gaps = find_gaps(frame, params.base.freq)
    bounds = params.validate_.min_value, params.validate_.max_value
    series_overview(
        frame,
        [(gap.series_id, gap.after, gap.before) for gap in gaps.longest],
        ~frame["value"].between(*bounds),  # NaN and inf too
        f"{snapshot}: {len(frame):,} rows; shaded: the longest gaps, x: unusable values",
        reports / "series.png",
    )
    missing = find_missing_values(frame)
    frame, filled, filled_values = _fill(params, frame, gaps, missing, reports)
    settings = ContractSettings(
        freq=params.base.freq,
        min_value=params.validate_.min_value,
        max_value=params.validate_.max_value,
        min_rows_per_series=min_rows(params),
    )
    result = validate_frame(frame, settings, docs_dir=reports / "data_docs")
    write_json(reports / "result.json", result.raw)
    write_json(
        reports / "summary.json",
        {
            "success": result.success,
            "evaluated": result.evaluated,
            "failures": [str(failure) for failure in result.failures],
            "snapshot": snapshot,
            "rows": len(frame),
            "gaps": gaps.count,
            "filled_steps": filled,
            "missing_values": missing.missing_steps,
            "filled_values": filled_values,
        },
    )
    if not result.success:
        gap_hint = (
            f"\nGaps: {gaps.summary()} (validate.on_gap: fill interpolates gaps of up to "
            f"validate.max_fill_steps steps; report: {reports / 'gaps.json'})"
            if gaps
            else ""
        ) + (
            f"\nMissing values: {missing.summary()} (validate.on_missing: fill interpolates runs "
            f"of up to validate.max_fill_steps values; report: {reports / 'gaps.json'})"
            if missing and params.validate_.on_missing == "fail"
            else ""
        )
        raise StageError(
            f"the snapshot broke the data contract.\n{result.summary()}{gap_hint}\n"
            f"Details: {reports / 'result.json'}; Data Docs: {reports / 'data_docs' / 'index.html'}"
        )
    logger.info("contract: %s", result.summary())
    splits = split_chronologically(
        frame, params.validate_.val_fraction, params.validate_.test_fraction
    )
    check_drift(params, splits.train, reports)
    for name in ("train", "val", "test"):
        part = getattr(splits, name)
        write_atomically(params.paths.validated / f"{name}.parquet", partial(_to_parquet, part))
        logger.info(
            "%-5s %5d rows  %s .. %s",
            name,
            len(part),
            part["timestamp"].min(),
            part["timestamp"].max(),
        )


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("validate", validate, argv)


if __name__ == "__main__":
    exit_with(main())
