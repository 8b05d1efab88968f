"""Interval levels a request or a params file may ask for: their limits, check and key.

Here, not in :mod:`forecasting.model.intervals`, so the params check needs no model code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MIN_LEVEL, MAX_LEVEL, MAX_LEVELS = 50.0, 99.5, 4


class LevelError(ValueError):
    """Interval levels a request asked for that cannot be served."""


def check_levels(levels: Sequence[float]) -> list[float]:
    """Requested levels, validated (percent, distinct, within the grid, at most a few).

    Raises:
        LevelError: naming what to change.

    """
    chosen = [float(level) for level in levels]
    if len(chosen) > MAX_LEVELS:
        raise LevelError(f"'levels' takes at most {MAX_LEVELS} levels, got {len(chosen)}")
    for level in chosen:
        if not (math.isfinite(level) and MIN_LEVEL <= level <= MAX_LEVEL):
            raise LevelError(
                f"each of 'levels' is a coverage in percent between {MIN_LEVEL:g} and "
                f"{MAX_LEVEL:g}, got {level:g}"
            )
    if len(set(chosen)) != len(chosen):
        raise LevelError("'levels' repeats a level")
    return chosen


def level_key(level: float) -> str:
    """The response key of a level: ``80`` for 80.0, ``97.5`` for 97.5."""
    return f"{level:g}"
