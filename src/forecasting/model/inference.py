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

from forecasting.core.periods import future_isoformats, on_grid, week_phase_of_nanos
from forecasting.model.network import RecurrentForecaster


class RequestError(ValueError):
    """A request the model cannot answer; the message says what to fix."""


@dataclass(frozen=True)
class Forecast:
    """One series' forecast."""

    timestamps: list[str]
    forecast: list[float]


def _parse_end(end: str | pd.Timestamp | datetime, freq: str) -> pd.Timestamp:
    """The last observation's time: ISO 8601, local like the training data, on the series' grid.

    ``periods.on_grid`` says what the grid is: from midnight for steps within a day, midnight
    of any day for whole days (``7D`` keeps no weekday), the offset's own days for calendar
    steps.
    """
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
    if not on_grid(stamp, freq):
        # On the calendar: a W-SAT week ends on a Saturday, an MS month on the 1st.
        raise RequestError(f"'end' must lie on the series' {freq} grid, got {stamp.isoformat()}")
    return stamp


@dataclass(frozen=True)
class PreparedRequests:
    """Validated series, ready for one forward pass."""

    windows: np.ndarray  # [B, input_length] float32, oldest first
    phases: np.ndarray  # [B] int64: each window's first step's position in the week
    stamps: list[pd.Timestamp]  # [B] the last observation's time per series
    steps: int  # how many of the model's horizon steps to return


def prepare_requests(
    model: RecurrentForecaster,
    values: Sequence[Sequence[float]],
    ends: Sequence[str | pd.Timestamp | datetime],
    horizon: int | None = None,
) -> PreparedRequests:
    """Check and convert requests into model inputs.

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
    # Timestamp.value is nanoseconds since 1970 whatever the unit; _parse_end refused time zones.
    phases = week_phase_of_nanos(np.array([stamp.value for stamp in stamps]), config.freq)
    return PreparedRequests(windows=windows, phases=phases, stamps=stamps, steps=steps)


def run_model(model: RecurrentForecaster, windows: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """The forward pass: windows [B, L] and phases [B] in, forecasts [B, horizon] out."""
    with torch.inference_mode():
        output: np.ndarray = model(torch.from_numpy(windows), torch.from_numpy(phases)).numpy()
    return output


def to_forecasts(prepared: PreparedRequests, output: np.ndarray, freq: str) -> list[Forecast]:
    """Forecasts [B, horizon] -> one ``Forecast`` per series, cut to the requested steps."""
    return [
        Forecast(
            timestamps=future_isoformats(stamp, freq, prepared.steps),
            forecast=output[row, : prepared.steps].astype(float).tolist(),
        )
        for row, stamp in enumerate(prepared.stamps)
    ]


def forecast_many(
    model: RecurrentForecaster,
    values: Sequence[Sequence[float]],
    ends: Sequence[str | pd.Timestamp | datetime],
    horizon: int | None = None,
) -> list[Forecast]:
    """Forecast each series from its most recent ``input_length`` observations.

    Raises:
        RequestError: see ``prepare_requests``.

    """
    prepared = prepare_requests(model, values, ends, horizon)
    output = run_model(model, prepared.windows, prepared.phases)
    return to_forecasts(prepared, output, model.config.freq)
