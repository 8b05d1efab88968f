"""A grid search over train settings, scored on validation data only, over rolling folds.

Each grid point trains a fresh model on the training windows and is scored by its kept epoch's
MAE over the rolling validation origins (every step of the validation split): the objective the
train stage already reports as ``val/mae``. With ``tune.folds`` above 1 it is scored again on
earlier blocks of the training split, each as long as the validation split and validated by a
model trained on what comes before it (``validation_folds``), and the folds' MAEs are averaged:
a setting has to hold over weeks of different kinds, not one fortnight. The test split is never
read (``validation_splits`` loads only train and val), so it stays for evaluate to score once
per candidate.

The chosen values are written back into ``params.yaml`` line by line, keeping every comment.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from forecasting.data.splits import Splits


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in order (the first key varies slowest)."""
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


def validation_splits(directory: Path) -> Splits:
    """The train and validation splits, and an empty test split: tuning never reads it.

    Raises:
        FileNotFoundError: if the train or validation split is missing.

    """
    frames = []
    for name in ("train", "val"):
        path = directory / f"{name}.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run the validate stage first")
        frames.append(pd.read_parquet(path))
    return Splits(frames[0], frames[1], frames[1].iloc[0:0])


def validation_folds(splits: Splits, folds: int) -> list[Splits]:
    """``folds`` rolling train/validation splits of ``splits``; the first is ``splits`` itself.

    Fold ``k`` validates each series on the ``k``-th block of as many steps as its validation
    split, counted back from the end of its validation split, and trains on every step before
    that block. Nothing after a fold's validation block is used by it.

    Raises:
        ValueError: naming ``tune.folds`` when a fold would leave a series no training data.

    """
    whole = pd.concat([splits.train, splits.val], ignore_index=True)
    whole = whole.sort_values("series_id", kind="stable").reset_index(drop=True)  # time kept
    block = whole["series_id"].map(splits.val.groupby("series_id").size()).to_numpy()  # [rows]
    back = whole.groupby("series_id", sort=False).cumcount(ascending=False).to_numpy()
    rows = whole.groupby("series_id", sort=False)["series_id"].transform("size").to_numpy()
    if (rows <= folds * block).any():
        raise ValueError(
            f"tune.folds {folds} leaves a series no training data (each fold takes as many "
            "steps as the validation split): lower tune.folds"
        )
    result = []
    for fold in range(folds):
        val = (back >= fold * block) & (back < (fold + 1) * block)
        train = back >= (fold + 1) * block
        result.append(
            Splits(
                whole[train].reset_index(drop=True),
                whole[val].reset_index(drop=True),
                whole.iloc[0:0],
            )
        )
    return result


def best_point(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The row with the lowest validation MAE (the first of equals: the grid's order)."""
    scored = [row for row in rows if row.get("val_mae") is not None]
    if not scored:
        raise ValueError("no grid point could be trained: see the reasons in the table")
    return min(scored, key=lambda row: float(row["val_mae"]))


def _yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_choice(path: Path, section: str, values: Mapping[str, Any]) -> list[str]:
    """Set ``section.key: value`` for each of ``values`` in params.yaml, comments kept.

    Returns the keys whose line changed.

    Raises:
        KeyError: if a key is not a line of ``section``.

    """
    lines = path.read_text().splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == f"{section}:"), None)
    if start is None:
        raise KeyError(f"params.yaml has no section {section!r}")
    changed = []
    for key, value in values.items():
        pattern = re.compile(rf"^(  {re.escape(key)}:\s*)(\S+)(\s*(#.*)?\n?)$")
        for index in range(start + 1, len(lines)):
            line = lines[index]
            if line.strip() and not line.startswith(" "):
                raise KeyError(f"params.yaml has no key {section}.{key}")
            match = pattern.match(line)
            if match:
                old, new = match.group(2), _yaml_value(value)
                width = len(match.group(1)) + len(old)
                head = f"{match.group(1).rstrip()} {new}"
                tail = match.group(3)
                # keep the comment column where the old value left it
                head = head.ljust(width) if tail.strip() else head
                lines[index] = head + (tail if tail.strip() else "\n")
                if old != new:
                    changed.append(key)
                break
        else:
            raise KeyError(f"params.yaml has no key {section}.{key}")
    path.write_text("".join(lines))
    return changed
