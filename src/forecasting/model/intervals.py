"""Prediction intervals by split-conformal calibration on rolling validation windows.

After training, the model forecasts every validation window (one per step: rolling origins).
Each error is scaled by its input window's spread (the scale the network normalises by), so one
calibration serves series at any level: score = |actual - forecast| / scale, per lead time. The
half-width of a ``level`` % interval at lead ``h`` is the score quantile at that level (with the
finite-sample correction ceil((n + 1) p) / n) times the request's own scale. The quantiles are
kept for every level on ``LEVEL_GRID`` and interpolated between, in ``calibration.json`` beside
the weights: no refit at serving time, one multiply per bound.

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
    """Scaled-error quantiles per lead time: ``quantiles[h][g]`` at ``LEVEL_GRID[g]``."""

    model_config = ConfigDict(frozen=True)

    method: str = "split conformal on rolling validation windows, errors scaled by input spread"
    windows: int
    levels: list[float]
    quantiles: list[list[float]]  # [horizon][len(levels)]
    _arrays: tuple[np.ndarray, np.ndarray] | None = PrivateAttr(default=None)
    _rows: dict[tuple[tuple[float, ...], int], np.ndarray] = PrivateAttr(default_factory=dict)

    def half_widths(self, level: float) -> np.ndarray:
        """``[horizon]`` scaled half-widths of a ``level`` % interval (interpolated on the grid)."""
        table, grid = self._table()
        right = int(np.clip(np.searchsorted(grid, level), 1, len(grid) - 1))
        share = (level - grid[right - 1]) / (grid[right] - grid[right - 1])
        half: np.ndarray = table[:, right - 1] * (1 - share) + table[:, right] * share
        return half

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

    def _table(self) -> tuple[np.ndarray, np.ndarray]:
        """The quantiles ``[H, G]`` and the level grid as arrays, built once per calibration."""
        if self._arrays is None:
            self._arrays = (np.asarray(self.quantiles), np.asarray(self.levels))
        return self._arrays


def window_scale(windows: np.ndarray) -> np.ndarray:
    """``[B]`` the spread the network normalises each ``[B, L]`` window by (never zero)."""
    level = windows.mean(axis=-1)  # [B]
    centred = windows - level[..., None]  # [B, L]
    # the population std, as np.std, in fewer calls: it runs on every request with levels
    spread = np.sqrt(np.einsum("...l,...l->...", centred, centred) / windows.shape[-1])
    scale: np.ndarray = np.maximum(spread, 1e-3 * np.abs(level) + 1e-6)
    return scale


def calibrate(
    model: RecurrentForecaster, windows: WindowDataset, batch_size: int = 512
) -> Calibration:
    """The calibration of ``model`` on every window of ``windows`` (the validation split)."""
    import torch

    scores = []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(windows), batch_size):
            items = torch.arange(start, min(start + batch_size, len(windows)))
            batch = windows.gather(items)
            forecast = model(batch.inputs, batch.end_phase).numpy()  # [B, H]
            scale = window_scale(batch.inputs.numpy())[:, None]  # [B, 1]
            scores.append(np.abs(batch.targets.numpy() - forecast) / scale)
    if not scores:
        raise ValueError("no validation windows to calibrate the intervals on")
    table = np.concatenate(scores)  # [N, H]
    n = table.shape[0]
    # finite-sample correction: the ceil((n + 1) p)-th smallest score covers >= p of new ones
    corrected = [min(1.0, math.ceil((n + 1) * level / 100) / n) for level in LEVEL_GRID]
    quantiles = np.quantile(table, corrected, axis=0, method="higher").T  # [H, G]
    return Calibration(
        windows=n, levels=list(LEVEL_GRID), quantiles=np.round(quantiles, 6).tolist()
    )


def save_calibration(calibration: Calibration, directory: Path) -> None:
    """Write ``calibration.json`` beside the weights."""
    (directory / CALIBRATION_FILE).write_text(calibration.model_dump_json() + "\n")


def load_calibration(directory: Path) -> Calibration | None:
    """The calibration saved beside a model, or None for a model trained before intervals."""
    path = directory / CALIBRATION_FILE
    return Calibration.model_validate(json.loads(path.read_text())) if path.is_file() else None


def interval_bounds(
    calibration: Calibration, windows: np.ndarray, forecast: np.ndarray, levels: Sequence[float]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{level: (lower, upper)}``, each ``[B, H']``, around ``forecast [B, H']`` (H' <= horizon)."""
    halves = calibration.half_width_rows(levels, forecast.shape[1])  # [n, H']
    spread = halves[:, None, :] * window_scale(windows)[None, :, None]  # [n, B, H']
    lower, upper = forecast[None] - spread, forecast[None] + spread  # [n, B, H'] each
    return {level_key(level): (lower[i], upper[i]) for i, level in enumerate(levels)}
