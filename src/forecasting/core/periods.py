"""Calendar arithmetic for regular series: steps per day/week, the grid, and the phase of a time.

Two kinds of frequency:

* **Fixed steps** (``30min``, ``h``, ``D``, ``7D``): one step is a fixed length of time. The
  arithmetic is integer nanoseconds, cached per frequency string: the service runs it on every
  request.
* **Calendar steps** (``B``, ``W-SAT``, ``MS``, ``ME``, ``QS``, ``QE``, ``YS``, ``YE`` ...): a
  step follows the calendar (a month is not 30 days, a week ends on its own weekday, a business
  day skips the weekend). pandas' offsets say where the grid lies.

The model never sees raw timestamps. It sees the *week phase* of the last observation (how many
steps after Monday 00:00 it lies), from which the time of day and day of week of every input and
output step follow. Frequencies with no daily or weekly season (a week or coarser) have one step
per day and per week, so the phase is always 0 and the calendar terms are constant.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pandas.tseries.offsets import BaseOffset, BusinessDay, BusinessHour, CustomBusinessHour

# 1970-01-05 was a Monday; phases are counted from any Monday 00:00 (UTC-naive).
_MONDAY = pd.Timestamp("1970-01-05")
_DAY = pd.Timedelta(days=1)
_WEEK = 7 * _DAY
_DAY_NANOS = _DAY.value
_INTRADAY_CALENDAR = (BusinessHour, CustomBusinessHour)  # calendar steps shorter than a day


@functools.lru_cache(maxsize=64)
def offset_of(freq: str) -> BaseOffset:
    """The pandas offset of a frequency string such as ``"30min"``, ``"W-SAT"`` or ``"MS"``.

    Raises:
        ValueError: naming the frequency and pandas' own hint (e.g. ``'M'`` -> ``'ME'``).

    """
    try:
        offset = to_offset(freq)
    except (ValueError, TypeError) as err:
        # pandas wraps its own advice ("'M' is no longer supported ... use 'ME'"): keep it.
        found = re.search(r"\w+\([\"'](.* .*)[\"']\)", str(err))
        hint = f" ({found.group(1).rstrip('.')})" if found else ""
        raise ValueError(
            f"frequency {freq!r} is not a pandas frequency{hint}; use one such as '30min', "
            "'h', 'D', 'B', 'W-SUN', 'MS', 'ME', 'QS', 'QE', 'YS' or 'YE'"
        ) from err
    if offset is None or offset.n <= 0:
        raise ValueError(f"frequency {freq!r} must step forward in time")
    return offset


@functools.lru_cache(maxsize=64)
def is_fixed(freq: str) -> bool:
    """Whether one step of ``freq`` is a fixed length of time (``30min``, ``D``, ``7D``)."""
    offset = offset_of(freq)
    try:
        pd.Timedelta(offset)
    except (ValueError, TypeError):
        return False
    return True


@functools.lru_cache(maxsize=64)  # called per request by the service; frequencies are few
def step_of(freq: str) -> pd.Timedelta:
    """Return the length of one step of a fixed frequency such as ``"30min"`` or ``"D"``.

    Raises:
        ValueError: if the frequency is not a fixed length of time (months, business days), or
            is one that neither divides a day nor is a whole number of days.

    """
    if not is_fixed(freq):
        raise ValueError(
            f"frequency {freq!r} is not a fixed step (it follows the calendar); use the calendar "
            "functions of forecasting.core.periods"
        )
    step = pd.Timedelta(offset_of(freq))
    if step <= pd.Timedelta(0) or (
        _DAY % step != pd.Timedelta(0) and step % _DAY != pd.Timedelta(0)
    ):
        raise ValueError(f"frequency {freq!r} must divide a day or be a whole number of days")
    return step


def check_freq(freq: str) -> str:
    """``freq`` if the pipeline can work on it.

    Any calendar offset, or a fixed step that divides a day or is a whole number of days.

    Raises:
        ValueError: saying why and what to use instead.

    """
    if is_fixed(freq):
        step_of(freq)
    else:
        offset_of(freq)
    return freq


@functools.lru_cache(maxsize=64)  # Timedelta arithmetic, ~8 us a call
def steps_per_day(freq: str) -> int:
    """Steps in one day (1 for daily or coarser data, and for calendar steps)."""
    if not is_fixed(freq):
        return 1
    step = step_of(freq)
    return max(1, int(_DAY // step))


@functools.lru_cache(maxsize=64)  # as above; the service needs it once per request
def steps_per_week(freq: str) -> int:
    """Steps in one week: 5 for business days, 1 for weekly or coarser data.

    A whole number of days that does not divide a week (``2D``) has no weekly season: 1.
    """
    if not is_fixed(freq):
        offset = offset_of(freq)
        return 5 if type(offset) is BusinessDay and offset.n == 1 else 1
    step = step_of(freq)
    if _WEEK % step != pd.Timedelta(0):
        return 1
    return max(1, int(_WEEK // step))


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
    per_week = steps_per_week(freq)
    if is_fixed(freq):
        offsets = (np.asarray(nanos, dtype=np.int64) - _MONDAY.value) // step_of(freq).value
        phases: np.ndarray = offsets % per_week
        return phases
    days = (np.asarray(nanos, dtype=np.int64) - _MONDAY.value) // _DAY_NANOS
    if per_week == 5:  # business days: the weekday, Monday 0 .. Friday 4
        weekday: np.ndarray = np.minimum(days % 7, 4)
        return weekday
    return np.zeros(len(days), dtype=np.int64)


@functools.lru_cache(maxsize=64)  # the service checks every request's 'end'
def _grid_unit(freq: str) -> pd.Timedelta | None:
    """What a fixed-step time must be a multiple of (from midnight); None for calendar steps."""
    return min(step_of(freq), _DAY) if is_fixed(freq) else None


def on_grid(stamp: pd.Timestamp, freq: str) -> bool:
    """Whether ``stamp`` is a time a series of frequency ``freq`` can have.

    Fixed steps that divide a day lie on a grid from midnight; whole days (``D``, ``7D``) at
    midnight on any day (a ``7D`` series may end on any weekday: the model does not keep the
    series' own); calendar steps where pandas' offset puts them (``W-SAT`` on Saturdays, ``MS``
    on the 1st), at midnight unless they are business hours.
    """
    unit = _grid_unit(freq)
    if unit is not None:
        return bool(stamp.floor(unit) == stamp)
    offset = offset_of(freq)
    if not offset.is_on_offset(stamp):
        return False
    return isinstance(offset, _INTRADAY_CALENDAR) or stamp == stamp.normalize()


def _calendar_positions(nanos: np.ndarray, freq: str) -> np.ndarray:
    """Positions on a calendar grid [N] float64: whole steps on it, ``k + 0.5`` between steps.

    Counted along ``pd.date_range`` from the earliest timestamp's step (rolled back), so only
    differences between positions mean anything.
    """
    positions = np.full(len(nanos), np.nan)
    valid = nanos != np.iinfo(np.int64).min  # NaT
    if not valid.any():
        return positions
    offset = offset_of(freq)
    base = offset.base  # n = 1: the grid of a multiple starts at the first observation's step
    first, last = pd.Timestamp(nanos[valid].min()), pd.Timestamp(nanos[valid].max())
    start = first if isinstance(offset, _INTRADAY_CALENDAR) else first.normalize()
    start = base.rollback(start)
    grid = pd.date_range(start, last + offset, freq=offset).as_unit("ns").asi8  # [G]
    index = np.searchsorted(grid, nanos[valid], side="right") - 1
    exact = grid[index] == nanos[valid]
    positions[valid] = index + np.where(exact, 0.0, 0.5)
    return positions


def steps_between(earlier: np.ndarray, later: np.ndarray, freq: str) -> np.ndarray:
    """Steps of ``freq`` from each ``earlier`` to each ``later`` time [N] -> float64 [N].

    Both are ``datetime64[ns]`` arrays (NaT gives NaN). A whole number is a regular step (1) or
    a gap (> 1); a fraction means a time off the series' grid.
    """
    earlier = np.asarray(earlier, dtype="datetime64[ns]")
    later = np.asarray(later, dtype="datetime64[ns]")
    if is_fixed(freq):
        step = np.timedelta64(step_of(freq).value, "ns")
        ratio: np.ndarray = (later - earlier) / step
        return ratio
    nanos = np.concatenate([earlier, later]).view(np.int64)
    positions = _calendar_positions(nanos, freq)
    difference: np.ndarray = positions[len(earlier) :] - positions[: len(earlier)]
    return difference


def grid_between(first: pd.Timestamp, last: pd.Timestamp, freq: str) -> pd.DatetimeIndex:
    """Every step of ``freq`` from ``first`` to ``last`` (both on the grid), inclusive."""
    if is_fixed(freq):
        return pd.date_range(first, last, freq=step_of(freq))
    return pd.date_range(first, last, freq=offset_of(freq))


def future_timestamps(end: pd.Timestamp, freq: str, horizon: int) -> pd.DatetimeIndex:
    """The ``horizon`` timestamps that follow ``end`` at the series frequency."""
    if is_fixed(freq):
        step = step_of(freq)
        return pd.date_range(start=end + step, periods=horizon, freq=step)
    offset = offset_of(freq)
    return pd.date_range(start=end + offset, periods=horizon, freq=offset)


def future_isoformats(end: pd.Timestamp, freq: str, horizon: int) -> list[str]:
    """``future_timestamps`` as ISO 8601 strings, as ``Timestamp.isoformat`` writes them.

    Vectorised: formatting timestamps one by one costs the service more than its forward pass.
    """
    if not is_fixed(freq):  # calendar steps: a few per request, months of unequal length
        return [stamp.isoformat() for stamp in future_timestamps(end, freq, horizon)]
    step_nanos = step_of(freq).value
    if step_nanos % 10**9 or end.value % 10**9:
        # isoformat's fractional-second rules, rare enough to take the slow path
        return [stamp.isoformat() for stamp in future_timestamps(end, freq, horizon)]
    first = end.to_datetime64().astype("datetime64[s]")
    stamps = first + np.arange(1, horizon + 1) * np.timedelta64(step_nanos // 10**9, "s")
    texts: list[str] = np.datetime_as_string(stamps, unit="s").tolist()
    return texts
