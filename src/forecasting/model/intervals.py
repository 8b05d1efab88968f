"""Prediction intervals by split-conformal calibration on rolling validation windows.

After training, the model forecasts every validation window (one per step: rolling origins).
Each error is scaled by its input window's spread (the scale the network normalises by), so one
calibration serves series at any level: score = |actual - forecast| / scale. Each lead's scores
are divided by their mean and pooled over the leads, and the half-width of a ``level`` % interval
at lead ``h`` is the pooled quantile at that level (with the finite-sample correction
ceil((n + 1) p) / n) times lead ``h``'s mean score, times the request's own scale. Pooled, a
short validation split still resolves its quantiles: a quarterly series' 11 validation windows
give 88 scores, where 11 per lead made every bound from 80 % up the largest error seen (the 80 %
and 95 % intervals equally wide); on the default data, whose validation split gives ~560
windows, the pooled form also scored a little better on the folds (docs/model.md).
The quantiles are
kept for every level on ``LEVEL_GRID`` and interpolated between, in ``calibration.json`` beside
the weights: no refit at serving time, one multiply per bound.

Sub-daily errors depend on the time of day as well as on the lead (the evening peak misses by
twice what the night does), so each half-width is also multiplied by a time-of-day factor: the
score quantile over the targets at that time of day divided by the quantile over all of them,
raised to ``time_of_day`` (0: by lead only; 1: the full factor). Chosen on validation folds
(docs/model.md): 0.5, the factor shrunk halfway, had the lowest Winkler score at both levels.

Validation windows overlap and were also used to pick the epoch, so coverage is checked where
it counts: on the test origins, in evaluate.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, PrivateAttr

from forecasting.core.artifacts import CALIBRATION_FILE
from forecasting.core.levels import MAX_LEVEL, MIN_LEVEL, level_key

if TYPE_CHECKING:  # torch only where the calibration is computed, not where it is read
    from forecasting.model.network import RecurrentForecaster
    from forecasting.model.windows import WindowDataset

# Levels in percent, every half point from 50 to 99.5: what a request may ask for.
LEVEL_GRID = tuple(float(x) for x in np.round(np.arange(MIN_LEVEL, MAX_LEVEL + 0.25, 0.5), 1))


ROW_CACHE = 64  # combinations of levels and horizon whose half-widths a calibration keeps


class Calibration(BaseModel):
    """Scaled-error quantiles per lead time: ``quantiles[h][g]`` at ``LEVEL_GRID[g]``.

    ``factors[t][g]``, when present, multiplies them for targets at step ``t`` of the day.
    A calibration written before the time-of-day factors reads with none (``steps_per_day`` 1).
    """

    model_config = ConfigDict(frozen=True)

    method: str = "split conformal on rolling validation windows, errors scaled by input spread"
    windows: int
    levels: list[float]
    quantiles: list[list[float]]  # [horizon][len(levels)]
    steps_per_day: int = 1
    time_of_day: float = 0.0  # the power the factors were raised to
    factors: list[list[float]] | None = None  # [steps_per_day][len(levels)]
    _arrays: tuple[np.ndarray, np.ndarray] | None = PrivateAttr(default=None)
    _rows: dict[tuple[tuple[float, ...], int], np.ndarray] = PrivateAttr(default_factory=dict)

    def half_widths(self, level: float) -> np.ndarray:
        """``[horizon]`` scaled half-widths of a ``level`` % interval by lead (before factors)."""
        table, grid = self._table()
        return _interpolate(table, grid, level)

    def half_width_rows(self, levels: Sequence[float], steps: int) -> np.ndarray:
        """``[len(levels), steps]``: ``half_widths`` of each level over the first ``steps`` leads.

        It runs on every request that asks for intervals, and the small numpy calls cost ~30 us
        a level: each combination is built once and kept (up to ``ROW_CACHE`` of them, since a
        client may ask for any level in the range; the rest are built per request).
        """
        key = (tuple(levels), steps)
        rows = self._rows.get(key)
        if rows is None:
            rows = np.stack([self.half_widths(level)[:steps] for level in levels])
            rows.setflags(write=False)  # shared by the requests that ask for the same levels
            if len(self._rows) < ROW_CACHE:
                self._rows[key] = rows
        return rows

    def factor_rows(self, levels: Sequence[float]) -> np.ndarray | None:
        """``[len(levels), steps_per_day]`` time-of-day factors, or None without any."""
        if self.factors is None:
            return None
        key = (tuple(levels), -1)  # in the same small cache as the rows
        rows = self._rows.get(key)
        if rows is None:
            table, grid = np.asarray(self.factors), self._table()[1]
            rows = np.stack([_interpolate(table, grid, level) for level in levels])
            rows.setflags(write=False)
            if len(self._rows) < ROW_CACHE:
                self._rows[key] = rows
        return rows

    def _table(self) -> tuple[np.ndarray, np.ndarray]:
        """The quantiles ``[H, G]`` and the level grid as arrays, built once per calibration."""
        if self._arrays is None:
            self._arrays = (np.asarray(self.quantiles), np.asarray(self.levels))
        return self._arrays


def _interpolate(table: np.ndarray, grid: np.ndarray, level: float) -> np.ndarray:
    """Column ``level`` of ``table [N, G]``, linear between the grid's levels: ``[N]``."""
    right = int(np.clip(np.searchsorted(grid, level), 1, len(grid) - 1))
    share = (level - grid[right - 1]) / (grid[right] - grid[right - 1])
    column: np.ndarray = table[:, right - 1] * (1 - share) + table[:, right] * share
    return column


def target_steps_of_day(end_phases: np.ndarray, steps: int, steps_per_day: int) -> np.ndarray:
    """``[B, steps]``: each target's step of the day, from the week phase of its window's end."""
    return (np.asarray(end_phases)[:, None] + np.arange(1, steps + 1)[None, :]) % steps_per_day


def _conformal_quantiles(scores: np.ndarray) -> np.ndarray:
    """``[G]`` or ``[G, H]``: quantiles of ``scores [n]`` / ``[n, H]`` at every grid level."""
    n = scores.shape[0]
    # finite-sample correction: the ceil((n + 1) p)-th smallest score covers >= p of new ones
    corrected = [min(1.0, math.ceil((n + 1) * level / 100) / n) for level in LEVEL_GRID]
    quantiles: np.ndarray = np.quantile(scores, corrected, axis=0, method="higher")
    return quantiles


def _time_of_day_factors(
    table: np.ndarray, steps_of_day: np.ndarray, steps_per_day: int, power: float
) -> np.ndarray:
    """``[steps_per_day, G]``: (quantile at that step of the day / overall quantile) ** power.

    ``table`` and ``steps_of_day`` are ``[N, H]``; a step of the day with no scores, or an
    overall quantile of 0, keeps a factor of 1.
    """
    overall = _conformal_quantiles(table.ravel())  # [G]
    factors = np.ones((steps_per_day, len(LEVEL_GRID)))
    for step in range(steps_per_day):
        chosen = table[steps_of_day == step]
        if len(chosen):
            ratio = np.divide(
                _conformal_quantiles(chosen), overall, out=np.ones_like(overall),
                where=overall > 0,
            )  # fmt: skip
            factors[step] = ratio**power
    return factors


def window_scale(windows: np.ndarray) -> np.ndarray:
    """``[B]`` the spread the network normalises each ``[B, L]`` window by (never zero)."""
    level = windows.mean(axis=-1)  # [B]
    centred = windows - level[..., None]  # [B, L]
    # the population std, as np.std, in fewer calls: it runs on every request with levels
    spread = np.sqrt(np.einsum("...l,...l->...", centred, centred) / windows.shape[-1])
    scale: np.ndarray = np.maximum(spread, 1e-3 * np.abs(level) + 1e-6)
    return scale


def calibrate(
    model: RecurrentForecaster, windows: WindowDataset, time_of_day: float, batch_size: int = 512
) -> Calibration:
    """The calibration of ``model`` on every window of ``windows`` (the validation split).

    ``time_of_day`` is the power of the time-of-day factors (0: none; ignored for daily or
    coarser data).
    """
    import torch

    scores, steps_of_day = [], []
    per_day = model.config.steps_per_day
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(windows), batch_size):
            items = torch.arange(start, min(start + batch_size, len(windows)))
            batch = windows.gather(items)
            forecast = model(batch.inputs, batch.end_phase).numpy()  # [B, H]
            scale = window_scale(batch.inputs.numpy())[:, None]  # [B, 1]
            scores.append(np.abs(batch.targets.numpy() - forecast) / scale)
            steps_of_day.append(
                target_steps_of_day(batch.end_phase.numpy(), forecast.shape[1], per_day)
            )
    if not scores:
        raise ValueError("no validation windows to calibrate the intervals on")
    table = np.concatenate(scores)  # [N, H]
    lead_scale = table.mean(axis=0)  # [H]
    pooled = table / np.where(lead_scale > 0, lead_scale, 1.0)  # [N, H], each lead's mean 1
    factors = None
    # only where a day is whole steps that tile the week, so phase % steps is the time of day
    if time_of_day > 0 and per_day > 1 and model.config.steps_per_week % per_day == 0:
        factors = _time_of_day_factors(pooled, np.concatenate(steps_of_day), per_day, time_of_day)
    return Calibration(
        method=(
            "split conformal on rolling validation windows, errors scaled by input spread, "
            "pooled over leads in units of each lead's mean"
            + (f", by lead x (by time of day)^{time_of_day:g}" if factors is not None else "")
        ),
        windows=table.shape[0],
        levels=list(LEVEL_GRID),
        quantiles=np.round(lead_scale[:, None] * _conformal_quantiles(pooled.ravel()), 6).tolist(),
        steps_per_day=per_day,
        time_of_day=time_of_day if factors is not None else 0.0,
        factors=None if factors is None else np.round(factors, 6).tolist(),
    )


def save_calibration(calibration: Calibration, directory: Path) -> None:
    """Write ``calibration.json`` beside the weights."""
    (directory / CALIBRATION_FILE).write_text(calibration.model_dump_json() + "\n")


def load_calibration(directory: Path) -> Calibration | None:
    """The calibration saved beside a model, or None for a model trained before intervals."""
    path = directory / CALIBRATION_FILE
    return Calibration.model_validate(json.loads(path.read_text())) if path.is_file() else None


def interval_bounds(
    calibration: Calibration,
    windows: np.ndarray,
    end_phases: np.ndarray,
    forecast: np.ndarray,
    levels: Sequence[float],
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{level: (lower, upper)}``, each ``[B, H']``, around ``forecast [B, H']`` (H' <= horizon).

    ``windows`` are the inputs ``[B, L]`` and ``end_phases`` ``[B]`` the week phase of each
    one's last observation (the model's own inputs).
    """
    steps = forecast.shape[1]
    halves = calibration.half_width_rows(levels, steps)  # [n, H']
    spread = halves[:, None, :] * window_scale(windows)[None, :, None]  # [n, B, H']
    factors = calibration.factor_rows(levels)  # [n, steps_per_day] or None
    if factors is not None:
        of_day = target_steps_of_day(end_phases, steps, calibration.steps_per_day)  # [B, H']
        spread = spread * factors[:, of_day]
    lower, upper = forecast[None] - spread, forecast[None] + spread  # [n, B, H'] each
    return {level_key(level): (lower[i], upper[i]) for i, level in enumerate(levels)}
