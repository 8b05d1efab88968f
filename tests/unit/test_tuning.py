"""The grid and the write-back into params.yaml, on the real params.yaml text."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from forecasting.training.tuning import best_point, grid_points, write_choice
from tests.conftest import REPO_ROOT


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
