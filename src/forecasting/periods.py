"""Calendar arithmetic for regular series: steps per day/week and the phase of a timestamp.

The model never sees raw timestamps. It sees the *week phase* of the last observation (how many
steps after Monday 00:00 it lies), from which the time of day and day of week of every input and
output step follow. This keeps the model's inputs plain tensors, identical in training,
evaluation, MLflow and the Bento service.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# 1970-01-05 was a Monday; phases are counted from any Monday 00:00 (UTC-naive).
_MONDAY = pd.Timestamp("1970-01-05")
_DAY = pd.Timedelta(days=1)


def step_of(freq: str) -> pd.Timedelta:
    """Return the length of one step of a pandas frequency string such as ``"30min"`` or ``"D"``.

    Raises:
        ValueError: if the frequency is not a fixed length of time (months, business days).

    """
    try:
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"frequency {freq!r} is not a fixed step; use one such as '30min', 'h' or 'D'"
        ) from err
    if step <= pd.Timedelta(0) or (
        _DAY % step != pd.Timedelta(0) and step % _DAY != pd.Timedelta(0)
    ):
        raise ValueError(f"frequency {freq!r} must divide a day or be a whole number of days")
    return step


def steps_per_day(freq: str) -> int:
    """Steps in one day (1 for daily or coarser data)."""
    step = step_of(freq)
    return max(1, int(_DAY // step))


def steps_per_week(freq: str) -> int:
    """Steps in one week (1 for weekly or coarser data)."""
    step = step_of(freq)
    return max(1, int((7 * _DAY) // step))


def week_phase(timestamps: pd.DatetimeIndex | pd.Series, freq: str) -> np.ndarray:
    """Return, for each timestamp, its step index within the week (0 = Monday 00:00).

    Time zones are dropped (wall-clock time is what drives demand).

    Returns:
        int64 array of shape ``[len(timestamps)]`` with values in ``[0, steps_per_week)``.

    """
    index = pd.DatetimeIndex(timestamps)
    if index.tz is not None:
        index = index.tz_localize(None)
    step = step_of(freq)
    offsets = (index - _MONDAY) // step
    return np.asarray(offsets, dtype=np.int64) % steps_per_week(freq)


def future_timestamps(end: pd.Timestamp, freq: str, horizon: int) -> pd.DatetimeIndex:
    """The ``horizon`` timestamps that follow ``end`` at the series frequency."""
    step = step_of(freq)
    return pd.DatetimeIndex([end + step * (k + 1) for k in range(horizon)])
