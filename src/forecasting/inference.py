"""Turning requests (recent values + the timestamp of the last one) into forecasts.

Shared by the MLflow pyfunc model, the Bento service and the package stage's parity check, so
every path forecasts with exactly the same arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import torch

from forecasting.model import RecurrentForecaster
from forecasting.periods import future_timestamps, step_of, week_phase


class RequestError(ValueError):
    """A request the model cannot answer; the message says what to fix."""


@dataclass(frozen=True)
class Forecast:
    """One series' forecast."""

    timestamps: list[str]
    forecast: list[float]


def _parse_end(end: str | pd.Timestamp | datetime, freq: str) -> pd.Timestamp:
    """The last observation's time: ISO 8601, local like the training data, on the series' grid."""
    try:
        stamp = pd.Timestamp(end)
    except (ValueError, TypeError) as err:
        raise RequestError(f"'end' must be an ISO 8601 timestamp, got {end!r}") from err
    if stamp is pd.NaT:
        raise RequestError("'end' must be a timestamp, got NaT")
    if stamp.tzinfo is not None:
        # The series' calendar (time of day, day of week) is local time without an offset;
        # converting silently would shift every calendar feature.
        raise RequestError(
            f"'end' must be a local timestamp without a time zone, like the training data; "
            f"got {end!s}"
        )
    step = step_of(freq)
    if stamp.floor(step) != stamp:
        raise RequestError(f"'end' must lie on the series' {freq} grid, got {stamp.isoformat()}")
    return stamp


def forecast_many(
    model: RecurrentForecaster,
    values: Sequence[Sequence[float]],
    ends: Sequence[str | pd.Timestamp | datetime],
    horizon: int | None = None,
) -> list[Forecast]:
    """Forecast each series from its most recent observations.

    Each series holds exactly ``input_length`` values, oldest first: a shorter or longer one is
    refused rather than silently cut, so a client that sends the wrong window hears about it.

    Raises:
        RequestError: on a wrong number of values, non-finite values, a bad timestamp or horizon.

    """
    config = model.config
    steps = config.horizon if horizon is None else horizon
    if not 1 <= steps <= config.horizon:
        raise RequestError(f"'horizon' must be between 1 and {config.horizon}, got {steps}")
    if len(values) != len(ends):
        raise RequestError("each series needs its own 'end' timestamp")
    windows = np.empty((len(values), config.input_length), dtype=np.float32)
    for row, series in enumerate(values):
        if len(series) != config.input_length:
            raise RequestError(
                f"'values' needs exactly {config.input_length} observations (the model's "
                f"input_length), got {len(series)}"
            )
        window = np.asarray(series, dtype=np.float64)
        if not np.all(np.isfinite(window)) or np.any(np.abs(window) > np.finfo(np.float32).max):
            raise RequestError("'values' must be finite numbers (no NaN, Infinity or overflow)")
        windows[row] = window
    stamps = [_parse_end(end, config.freq) for end in ends]
    phases = week_phase(pd.DatetimeIndex(stamps), config.freq)
    with torch.inference_mode():
        output = model(torch.from_numpy(windows), torch.from_numpy(phases)).numpy()
    return [
        Forecast(
            timestamps=[t.isoformat() for t in future_timestamps(stamp, config.freq, steps)],
            forecast=output[row, :steps].astype(float).tolist(),
        )
        for row, stamp in enumerate(stamps)
    ]
