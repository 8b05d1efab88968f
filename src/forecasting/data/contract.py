"""The data contract: a Great Expectations suite every snapshot must pass before training.

Great Expectations checks columns, not sequences, so the per-series checks (strictly increasing
timestamps, a regular step) run on two derived columns: ``seconds_since_previous``, the time
since the previous timestamp of the same series, and ``steps_since_previous``, the same in steps
of the series' frequency on its calendar (a month after a month is 1 step whatever its length;
a fraction is a time off the grid). Both are null on each series' first row, which value
expectations skip. Importing Great Expectations costs seconds, so it is imported inside the functions here
and never by training or serving code.
"""

from __future__ import annotations

import logging
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)

SUITE_NAME = "series_contract"
GAP_COLUMN = "seconds_since_previous"
STEPS_COLUMN = "steps_since_previous"
ROWS_COLUMN = "rows_in_series"
EXAMPLE_ROWS = 3  # offending rows quoted per failed expectation


@dataclass(frozen=True)
class ContractSettings:
    """The thresholds of the contract (``validate.contract`` in ``params.yaml``)."""

    freq: str
    min_value: float
    max_value: float
    min_rows_per_series: int


def min_rows_per_series(
    input_length: int, horizon: int, val_fraction: float, test_fraction: float
) -> int:
    """Rows a series needs so that training has one full window and val/test one horizon each."""
    train_share = 1 - val_fraction - test_fraction
    needed_for_eval = horizon / min(val_fraction, test_fraction)
    return math.ceil(max((input_length + horizon) / train_share, needed_for_eval))


@dataclass(frozen=True)
class Failure:
    """One failed expectation, in words a person can act on."""

    expectation: str
    column: str | None
    why: str
    observed: str
    examples: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f" on column '{self.column}'" if self.column else ""
        text = f"{self.expectation}{where}: {self.why}; observed {self.observed}"
        return "".join([text, *(f"\n      e.g. {example}" for example in self.examples)])


@dataclass
class ContractResult:
    """The outcome of one validation: success, the failures, and GE's JSON result."""

    success: bool
    evaluated: int
    failures: list[Failure] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """Plain-language summary, one line per failed expectation."""
        if self.success:
            return f"all {self.evaluated} expectations passed"
        lines = [f"{len(self.failures)} of {self.evaluated} expectations failed:"]
        lines += [f"  - {failure}" for failure in self.failures]
        return "\n".join(lines)


def with_derived_columns(frame: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Add the per-series columns the suite checks.

    They are the time and the steps of ``freq`` since the previous row, and the row count.
    """
    from forecasting.core.periods import steps_between

    by_series = frame.groupby("series_id", sort=False)
    previous = by_series["timestamp"].shift()
    return frame.assign(
        **{
            GAP_COLUMN: by_series["timestamp"].diff().dt.total_seconds(),
            STEPS_COLUMN: steps_between(
                previous.to_numpy(dtype="datetime64[ns]"),
                frame["timestamp"].to_numpy(dtype="datetime64[ns]"),
                freq,
            ),
            ROWS_COLUMN: by_series["value"].transform("size"),
        }
    )


def _expectations(settings: ContractSettings) -> list[tuple[Any, str]]:
    """The suite: (expectation, why it matters) pairs.

    Long on purpose: the whole suite in one place, one expectation and its reason per entry.
    """
    import great_expectations as gx

    e = gx.expectations
    return [
        (
            e.ExpectTableColumnsToMatchSet(
                column_set=[
                    "series_id",
                    "timestamp",
                    "value",
                    GAP_COLUMN,
                    STEPS_COLUMN,
                    ROWS_COLUMN,
                ],
                exact_match=True,
            ),
            "the snapshot must have exactly the canonical columns",
        ),
        (
            e.ExpectColumnValuesToBeOfType(column="value", type_="float64"),
            "the target must be numeric",
        ),
        (
            e.ExpectColumnValuesToBeOfType(column="timestamp", type_="datetime64[ns]"),
            "timestamps must parse as date-times",
        ),
        (e.ExpectColumnValuesToNotBeNull(column="series_id"), "every row needs a series"),
        (e.ExpectColumnValuesToNotBeNull(column="timestamp"), "every row needs a timestamp"),
        (
            e.ExpectColumnValuesToNotBeNull(column="value"),
            "missing or non-numeric target values (NaN) cannot be trained on",
        ),
        (
            # Both bounds set: this is also what rejects +/-inf.
            e.ExpectColumnValuesToBeBetween(
                column="value", min_value=settings.min_value, max_value=settings.max_value
            ),
            f"values must be finite and plausible, within [{settings.min_value}, {settings.max_value}]",
        ),
        (
            e.ExpectCompoundColumnsToBeUnique(column_list=["series_id", "timestamp"]),
            "each series may have one value per timestamp (duplicated timestamps)",
        ),
        (
            e.ExpectColumnValuesToBeBetween(column=GAP_COLUMN, min_value=0, strict_min=True),
            "timestamps must be strictly increasing within each series (unsorted or repeated)",
        ),
        (
            e.ExpectColumnValuesToBeBetween(column=STEPS_COLUMN, min_value=1, max_value=1),
            f"the series must be regular at {settings.freq}, one step apart on its calendar; "
            "whole numbers above 1 are gaps, fractions are timestamps off the grid",
        ),
        (
            # Value expectations pass vacuously on an empty frame: count rows explicitly.
            e.ExpectTableRowCountToBeBetween(min_value=1),
            "the snapshot must not be empty",
        ),
        (
            e.ExpectColumnValuesToBeBetween(
                column=ROWS_COLUMN, min_value=settings.min_rows_per_series
            ),
            f"every series needs at least {settings.min_rows_per_series} rows for input window + "
            "horizon on every split (or lower train.input_length / train.horizon)",
        ),
    ]


def _example(checked: pd.DataFrame, index: Any, column: str | None, freq: str) -> str:
    """One offending row in words: its series and time, and what is wrong with it."""
    row = checked.loc[index]
    stamp = row["timestamp"]
    at = f"series {row['series_id']!r} at {stamp.isoformat() if pd.notna(stamp) else 'NaT'}"
    if column == GAP_COLUMN:
        previous = stamp - pd.Timedelta(seconds=float(row[GAP_COLUMN]))
        return f"{at}: {row[GAP_COLUMN]:g} s after the previous row ({previous.isoformat()})"
    if column == STEPS_COLUMN:
        previous = stamp - pd.Timedelta(seconds=float(row[GAP_COLUMN]))
        return (
            f"{at}: {row[STEPS_COLUMN]:g} step(s) of {freq} after the previous row "
            f"({previous.isoformat()})"
        )
    if column == ROWS_COLUMN:
        return f"series {row['series_id']!r} has {row[ROWS_COLUMN]} rows"
    if column is None:  # the compound (series, timestamp) uniqueness
        return f"{at}: more than one row"
    return f"{at}: value {float(row['value'])!r}"


@dataclass(frozen=True)
class Outcome:
    """One expectation's result on one chunk of whole series, or summed over chunks.

    Every per-series check holds within a series, and a chunk holds whole series: the
    snapshot's verdict is the chunks' verdicts together, their counts added.
    """

    expectation: str
    column: str | None
    why: str
    success: bool
    element_count: int = 0
    missing_count: int = 0
    unexpected_count: int | None = None  # None: not a per-row expectation
    observed: Any = None  # a table-level observation (the columns, the row count)
    error: str | None = None
    examples: tuple[str, ...] = ()

    def plus(self, other: Outcome) -> Outcome:
        """This outcome and the same expectation's on another chunk, together."""
        observed = self.observed
        if isinstance(observed, int) and isinstance(other.observed, int):
            observed += other.observed  # the row count
        elif self.success and not other.success:
            observed = other.observed  # the column set that failed
        unexpected = None
        if self.unexpected_count is not None or other.unexpected_count is not None:
            unexpected = (self.unexpected_count or 0) + (other.unexpected_count or 0)
        return Outcome(
            self.expectation,
            self.column,
            self.why,
            self.success and other.success,
            self.element_count + other.element_count,
            self.missing_count + other.missing_count,
            unexpected,
            observed,
            self.error or other.error,
            (self.examples + other.examples)[:EXAMPLE_ROWS],
        )

    def failure(self) -> Failure:
        """The failed expectation in words; its counts are those of every chunk seen."""
        if self.observed is not None:
            observed = f"{self.observed!r}"
        elif self.unexpected_count is not None:
            checked = self.element_count - self.missing_count
            share = 100 * self.unexpected_count / checked if checked else 0.0
            observed = (
                f"{self.unexpected_count} unexpected of {self.element_count} rows ({share:.2f}%)"
            )
        elif self.error:
            observed = f"an error: {self.error}"
        else:
            observed = "a failure"
        return Failure(self.expectation, self.column, self.why, observed, self.examples)


def _outcome(result: Any, why: str, checked: pd.DataFrame, freq: str) -> Outcome:
    config = result.expectation_config
    kwargs = dict(config.kwargs)
    details = result.result or {}
    column = kwargs.get("column") or (
        ",".join(kwargs["column_list"]) if "column_list" in kwargs else None
    )
    examples: list[str] = []
    for index in details.get("partial_unexpected_index_list") or []:
        example = _example(checked, index, kwargs.get("column"), freq)
        if example not in examples:
            examples.append(example)
        if len(examples) == EXAMPLE_ROWS:
            break
    raised = result.exception_info and result.exception_info.get("raised_exception")
    return Outcome(
        config.type,
        column,
        why,
        bool(result.success),
        int(details.get("element_count") or 0),
        int(details.get("missing_count") or 0),
        None if "unexpected_count" not in details else int(details["unexpected_count"]),
        details.get("observed_value"),
        str(result.exception_info.get("exception_message")) if raised else None,
        tuple(examples) if not result.success else (),
    )


def _data_docs_action(context: Any, docs_dir: Path) -> Any:
    """A checkpoint action that writes the HTML Data Docs site to ``docs_dir`` (replaced)."""
    import great_expectations as gx

    if docs_dir.exists():
        shutil.rmtree(docs_dir)
    context.add_data_docs_site(
        site_name="validate",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir.resolve()),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    return gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["validate"])


class Contract:
    """The suite in one Great Expectations context, run on one chunk of whole series at a time.

    Built once: a context and a checkpoint cost about a second, a chunk's run far less.
    ``result()`` is the verdict on every chunk checked so far.
    """

    def __init__(self, settings: ContractSettings, docs_dir: Path | None = None) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        # This module sets its own logger to INFO at import, to announce a temporary docs folder.
        logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
        self.settings = settings
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)  # the stage logs
        source = context.data_sources.add_pandas("snapshot")
        batch = source.add_dataframe_asset("series").add_batch_definition_whole_dataframe("all")
        suite = context.suites.add(gx.ExpectationSuite(name=SUITE_NAME))
        self._reasons: dict[str, str] = {}
        for expectation, why in _expectations(settings):
            expectation.meta = {"why": why}
            self._reasons[str(suite.add_expectation(expectation).id)] = why
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name="snapshot_contract", data=batch, suite=suite)
        )
        actions = [] if docs_dir is None else [_data_docs_action(context, docs_dir)]
        self._checkpoint = context.checkpoints.add(
            gx.Checkpoint(name="contract", validation_definitions=[definition], actions=actions)
        )
        self._outcomes: dict[str, Outcome] = {}
        self._raw: list[dict[str, Any]] = []

    def check(self, frame: pd.DataFrame) -> None:
        """Run the suite on ``frame``: canonical rows of whole series (no series cut short)."""
        checked = with_derived_columns(frame, self.settings.freq)
        run = self._checkpoint.run(batch_parameters={"dataframe": checked})
        validation = next(iter(run.run_results.values()))
        for item in validation.results:
            key = str(getattr(item.expectation_config, "id", ""))
            outcome = _outcome(item, self._reasons.get(key, ""), checked, self.settings.freq)
            seen = self._outcomes.get(key)
            self._outcomes[key] = outcome if seen is None else seen.plus(outcome)
        self._raw.append(validation.to_json_dict())

    @property
    def passed(self) -> bool:
        """Whether every chunk checked so far met every expectation."""
        return all(outcome.success for outcome in self._outcomes.values())

    def result(self) -> ContractResult:
        """The verdict on every chunk checked; ``raw`` is GE's result (a list of them per chunk)."""
        outcomes = list(self._outcomes.values())
        success = all(outcome.success for outcome in outcomes)
        raw = self._raw[0] if len(self._raw) == 1 else {"success": success, "chunks": self._raw}
        return ContractResult(
            success=success,
            evaluated=len(outcomes),
            failures=[outcome.failure() for outcome in outcomes if not outcome.success],
            raw=raw,
        )


def validate_frame(
    frame: pd.DataFrame, settings: ContractSettings, docs_dir: Path | None = None
) -> ContractResult:
    """Validate a canonical frame against the contract, in one go.

    Args:
        frame: canonical ``series_id, timestamp, value`` rows.
        settings: the contract's thresholds.
        docs_dir: where to write the HTML Data Docs site (replaced if present); None for none.

    Returns:
        The result; it never raises on failed expectations (check ``success``).

    """
    contract = Contract(settings, docs_dir)
    contract.check(frame)
    return contract.result()


def summary_record(
    result: ContractResult, snapshot: str, rows: int, counts: dict[str, int]
) -> dict[str, Any]:
    """``reports/validate/summary.json``: the verdict, its failures, the snapshot and the counts.

    ``counts`` holds ``gaps``, ``filled_steps``, ``missing_values`` and ``filled_values``.
    """
    return {
        "success": result.success,
        "evaluated": result.evaluated,
        "failures": [str(failure) for failure in result.failures],
        "snapshot": snapshot,
        "rows": rows,
        **counts,
    }
