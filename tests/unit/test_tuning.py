"""The grid and the write-back into params.yaml, on the real params.yaml text."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from forecasting.data.splits import Splits, split_chronologically
from forecasting.training.tuning import best_point, grid_points, validation_folds, write_choice
from tests.conftest import REPO_ROOT, synthetic_series


def test_the_grid_is_every_combination_in_order():
    assert grid_points({"a": [1, 2], "b": ["x", "y"]}) == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"},
    ]  # fmt: skip
    assert (
        best_point([{"val_mae": None}, {"val_mae": 3.0, "k": 1}, {"val_mae": 2.0, "k": 2}])["k"]
        == 2
    )
    with pytest.raises(ValueError, match="no grid point"):
        best_point([{"val_mae": None}])


def test_the_choice_is_written_into_the_train_section_keeping_every_comment(tmp_path: Path):
    path = tmp_path / "params.yaml"
    original = (REPO_ROOT / "params.yaml").read_text()
    path.write_text(original)
    rate = yaml.safe_load(original)["train"]["learning_rate"]  # today's: written, not a change
    hidden = 64 if yaml.safe_load(original)["train"]["hidden_size"] != 64 else 32
    changed = write_choice(
        path, "train", {"hidden_size": hidden, "learning_rate": rate, "lag_mixture": False}
    )
    text = path.read_text()
    data = yaml.safe_load(text)
    assert (data["train"]["hidden_size"], data["train"]["learning_rate"]) == (hidden, rate)
    assert data["train"]["lag_mixture"] is False and changed == ["hidden_size", "lag_mixture"]
    # only those lines changed, and each kept its comment
    before, after = original.splitlines(), text.splitlines()
    assert len(before) == len(after)
    differ = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert len(differ) == 2 and all(b.split("#", 1)[1] == a.split("#", 1)[1] for b, a in differ)
    assert data["tune"]["grid"]["hidden_size"] == [32, 48, 64]  # the grid itself is untouched
    with pytest.raises(KeyError, match=r"train\.nonsense"):
        write_choice(path, "train", {"nonsense": 1})


def test_each_fold_validates_on_the_block_before_the_last_and_trains_only_on_what_precedes_it():
    frames = [synthetic_series(days, seed=n).assign(series_id=name) for n, (name, days) in
              enumerate((("long", 20), ("short", 12)))]  # fmt: skip
    splits = split_chronologically(pd.concat(frames, ignore_index=True), 0.15, 0.15)
    splits = Splits(splits.train, splits.val, splits.test.iloc[0:0])  # as tuning reads them
    folds = validation_folds(splits, 3)
    pd.testing.assert_frame_equal(folds[0].train, splits.train)
    pd.testing.assert_frame_equal(folds[0].val, splits.val)
    for name, rows in splits.val.groupby("series_id").size().items():
        blocks = [fold.val[fold.val["series_id"] == name]["timestamp"] for fold in folds]
        trains = [fold.train[fold.train["series_id"] == name]["timestamp"] for fold in folds]
        assert [len(block) for block in blocks] == [rows] * 3  # each as long as the val split
        for earlier, later in zip(blocks[1:], blocks[:-1], strict=True):
            assert earlier.max() < later.min()  # fold k + 1's block is just before fold k's
        for block, train in zip(blocks, trains, strict=True):
            assert train.max() < block.min() and len(train) > 0  # nothing after is trained on
    with pytest.raises(ValueError, match=r"tune\.folds 9 leaves a series no training data"):
        validation_folds(splits, 9)
