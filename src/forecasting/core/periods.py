"""Calendar arithmetic for regular series: steps per day/week and the phase of a timestamp.

The model never sees raw timestamps. It sees the *week phase* of the last observation (how many
steps after Monday 00:00 it lies), from which the time of day and day of week of every input and
output step follow. This keeps the model's inputs plain tensors, identical in training,
evaluation, MLflow and the Bento service.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

# 1970-01-05 was a Monday; phases are counted from any Monday 00:00 (UTC-naive).
_MONDAY = pd.Timestamp("1970-01-05")
_DAY = pd.Timedelta(days=1)


@functools.lru_cache(maxsize=64)  # called per request by the service; frequencies are few
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


@functools.lru_cache(maxsize=64)  # Timedelta arithmetic, ~8 us a call
def steps_per_day(freq: str) -> int:
    """Steps in one day (1 for daily or coarser data)."""
    step = step_of(freq)
    return max(1, int(_DAY // step))


@functools.lru_cache(maxsize=64)  # as above; the service needs it once per request
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
    return week_phase_of_nanos(index.as_unit("ns").asi8, freq)


def week_phase_of_nanos(nanos: np.ndarray, freq: str) -> np.ndarray:
    """``week_phase`` of wall-clock times given as int64 nanoseconds since 1970 [N] -> [N].

    Integer arithmetic: pandas index arithmetic costs the service more than its forward pass.
    """
    offsets = (np.asarray(nanos, dtype=np.int64) - _MONDAY.value) // step_of(freq).value
    phases: np.ndarray = offsets % steps_per_week(freq)
    return phases


def future_timestamps(end: pd.Timestamp, freq: str, horizon: int) -> pd.DatetimeIndex:
    """The ``horizon`` timestamps that follow ``end`` at the series frequency."""
    step = step_of(freq)
    return pd.date_range(start=end + step, periods=horizon, freq=step)


def future_isoformats(end: pd.Timestamp, freq: str, horizon: int) -> list[str]:
    """``future_timestamps`` as ISO 8601 strings, as ``Timestamp.isoformat`` writes them.

    Vectorised: formatting timestamps one by one costs the service more than its forward pass.
    """
    step_nanos = step_of(freq).value
    if step_nanos % 10**9 or end.value % 10**9:
        # isoformat's fractional-second rules, rare enough to take the slow path
        return [stamp.isoformat() for stamp in future_timestamps(end, freq, horizon)]
    first = end.to_datetime64().astype("datetime64[s]")
    stamps = first + np.arange(1, horizon + 1) * np.timedelta64(step_nanos // 10**9, "s")
    texts: list[str] = np.datetime_as_string(stamps, unit="s").tolist()
    return texts
