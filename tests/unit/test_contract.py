import numpy as np
import pandas as pd
import pytest

from forecasting.data.contract import ContractSettings, validate_frame
from forecasting.data.sources import ColumnMapping, canonical
from forecasting.data.splits import short_test_split, split_chronologically
from tests.conftest import synthetic_series

SETTINGS = ContractSettings(freq="30min", min_value=0, max_value=100_000, min_rows_per_series=200)


def _frame(days: int = 7) -> pd.DataFrame:
    return canonical(synthetic_series(days=days), ColumnMapping(), "test")


def test_clean_series_passes_and_writes_data_docs(tmp_path):
    result = validate_frame(_frame(), SETTINGS, docs_dir=tmp_path / "docs")
    assert result.success, result.summary()
    assert (tmp_path / "docs" / "index.html").is_file()
    assert result.raw["success"] is True


def _broken(kind: str) -> pd.DataFrame:
    frame = _frame()
    if kind == "nan":
        frame.loc[10, "value"] = np.nan
    elif kind == "inf":
        frame.loc[10, "value"] = np.inf
    elif kind == "negative":
        frame.loc[10, "value"] = -5.0
    elif kind == "duplicate":
        frame = (
            pd.concat([frame, frame.iloc[[10]]])
            .sort_values("timestamp", kind="stable")
            .reset_index(drop=True)
        )
    elif kind == "gap":
        frame = frame.drop(index=range(10, 14)).reset_index(drop=True)
    elif kind == "unsorted":
        frame.loc[[10, 11], "timestamp"] = frame.loc[[11, 10], "timestamp"].to_numpy()
    elif kind == "short":
        frame = frame.iloc[:50]
    elif kind == "empty":
        frame = frame.iloc[:0]
    return frame


@pytest.mark.parametrize(
    ("kind", "expectation", "words"),
    [
        ("nan", "expect_column_values_to_not_be_null", "NaN"),
        ("inf", "expect_column_values_to_be_between", "finite"),
        ("negative", "expect_column_values_to_be_between", "plausible"),
        ("duplicate", "expect_compound_columns_to_be_unique", "duplicated"),
        ("gap", "expect_column_values_to_be_between", "gaps"),
        ("unsorted", "expect_column_values_to_be_between", "strictly increasing"),
        ("short", "expect_column_values_to_be_between", "at least 200 rows"),
        ("empty", "expect_table_row_count_to_be_between", "not be empty"),
    ],
)
def test_each_defect_fails_with_a_plain_reason(kind, expectation, words):
    result = validate_frame(_broken(kind), SETTINGS)
    assert not result.success
    assert any(f.expectation == expectation and words in f.why for f in result.failures), (
        result.summary()
    )
    assert "expectations failed" in result.summary()


@pytest.mark.parametrize(
    ("kind", "example"),
    [
        ("nan", "series 'series' at 2024-01-01T05:00:00: value nan"),
        ("inf", "series 'series' at 2024-01-01T05:00:00: value inf"),
        ("duplicate", "series 'series' at 2024-01-01T05:00:00: more than one row"),
        (
            "gap",
            "series 'series' at 2024-01-01T07:00:00: 5 step(s) of 30min after the previous row "
            "(2024-01-01T04:30:00)",
        ),
        ("short", "series 'series' has 50 rows"),
    ],
)
def test_failures_quote_the_offending_rows(kind, example):
    summary = validate_frame(_broken(kind), SETTINGS).summary()
    assert f"e.g. {example}" in summary, summary


def test_chronological_splits_keep_time_order_without_overlap():
    splits = split_chronologically(_frame(days=10), val_fraction=0.2, test_fraction=0.1)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (336, 96, 48)
    assert splits.train["timestamp"].max() < splits.val["timestamp"].min()
    assert splits.val["timestamp"].max() < splits.test["timestamp"].min()


def test_a_test_split_shorter_than_the_season_of_any_series_is_named():
    # two series: 5 weeks (test: 336 steps, a week) and 3 weeks (test: 202 steps, 4.2 days)
    long, short = _frame(days=35), _frame(days=21).assign(series_id="short")
    splits = split_chronologically(pd.concat([long, short]), val_fraction=0.15, test_fraction=0.2)
    warning = short_test_split(splits.test, "30min")
    assert warning is not None and "202 steps" in warning and "validate.test_fraction" in warning
    assert short_test_split(splits.test[splits.test["series_id"] != "short"], "30min") is None
    assert short_test_split(splits.test, "YS") is None  # yearly: no season to cover
