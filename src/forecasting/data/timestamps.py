"""Reading a column of timestamps the way the user declared it, into naive wall-clock times.

The pipeline keeps time-zone-naive timestamps: demand follows the local clock, and the service
takes ``end`` without an offset. ``ingest.timezone`` names the zone that clock is in. Timestamps
written with UTC offsets are converted into it; naive ones are taken to be in it already. With no
zone set, a file whose timestamps carry one single offset keeps its wall-clock times, and one that
mixes offsets (daylight saving) is refused, because no single clock is implied.
"""

from __future__ import annotations

import logging
import re
import warnings
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

EPOCH_UNITS = {"unix": "s", "unix_ms": "ms"}  # timestamp_format values for numeric epochs
EXAMPLES = 3  # bad values quoted in an error
_OFFSET = re.compile(r"(?:Z|[+-]\d\d(?::?\d\d)?)$")


class TimestampError(ValueError):
    """The timestamp column cannot be read as declared; the message says what to set."""


def check_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone (``UTC``, ``Europe/London``).

    Raises:
        ValueError: naming the unknown zone.

    """
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"unknown time zone {name!r}; use an IANA name like 'UTC'") from err
    return name


def _examples(raw: pd.Series, bad: np.ndarray) -> str:
    positions = np.flatnonzero(bad)[:EXAMPLES]
    # +2: a person counts file lines from 1, and line 1 is the header.
    return ", ".join(f"{raw.iloc[p]!r} (line {p + 2})" for p in positions)


def _refuse_unparsed(raw: pd.Series, parsed: pd.Series, how: str, column: str) -> None:
    bad = (parsed.isna() & raw.notna()).to_numpy()
    if bad.any():
        raise TimestampError(
            f"column {column!r}: {int(bad.sum())} value(s) are not timestamps {how}, e.g. "
            f"{_examples(raw, bad)}. Set ingest.timestamp_format to the pattern your file uses "
            "(strftime codes, e.g. '%d/%m/%Y %H:%M', or unix / unix_ms for epoch numbers)."
        )


def _to_wall_clock(parsed: pd.Series, timezone: str | None) -> pd.Series:
    if timezone is not None:
        parsed = parsed.dt.tz_convert(timezone)
    # With no zone set, a file with one offset (or a Parquet column with one zone) keeps its
    # own wall clock: that is unambiguous.
    return parsed.dt.tz_localize(None)


def _naive_iso_by_arrow(raw: pd.Series) -> pd.Series | None:
    """Naive ISO 8601 text parsed by Arrow's C++ cast (~8x pandas' parser), else None.

    Anything else (offsets, other formats, a bad value) returns None for pandas to read and
    explain.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if raw.dtype != "str":
        return None
    try:
        cast = pc.cast(pa.array(raw.array), pa.timestamp("ns"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError):
        return None
    return pd.Series(cast.to_numpy(zero_copy_only=False), index=raw.index)


def _parse_strings(raw: pd.Series, fmt: str | None, timezone: str | None, column: str) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pandas' dayfirst hint: we log our own
        try:
            if fmt is not None:
                parsed = pd.to_datetime(raw, format=fmt, errors="coerce")
                _refuse_unparsed(raw, parsed, f"in ingest.timestamp_format {fmt!r}", column)
                return parsed
            fast = _naive_iso_by_arrow(raw)
            if fast is not None:
                return fast
            parsed = pd.to_datetime(raw, format="ISO8601", errors="coerce")
            if parsed.notna().sum() == raw.notna().sum():
                return parsed
            first = raw.dropna().iloc[0] if raw.notna().any() else ""
            guessed = pd.tseries.api.guess_datetime_format(str(first))
            if guessed is None:
                _refuse_unparsed(raw, parsed, "in ISO 8601 or any format pandas recognises", column)
            parsed = pd.to_datetime(raw, format=guessed, errors="coerce")
            _refuse_unparsed(raw, parsed, f"in the format {guessed!r} of the first row", column)
        except ValueError as err:
            if "Mixed timezones" not in str(err):
                raise TimestampError(f"column {column!r}: {err}") from err
            return _mixed_offsets(raw, fmt, timezone, column)
    logger.warning(
        "column %r is not ISO 8601: read as %r, as the first row %r suggests. If day and month "
        "are swapped, set ingest.timestamp_format.",
        column,
        guessed,
        first,
    )
    return parsed


def _mixed_offsets(raw: pd.Series, fmt: str | None, timezone: str | None, column: str) -> pd.Series:
    with_offset = raw.astype("str").str.strip().str.contains(_OFFSET, na=False).to_numpy()
    without = raw.notna().to_numpy() & ~with_offset
    if without.any():
        raise TimestampError(
            f"column {column!r} mixes timestamps with a UTC offset and without one, e.g. "
            f"{_examples(raw, without)} beside {_examples(raw, with_offset)}: write every "
            "timestamp the same way"
        )
    if timezone is None:
        raise TimestampError(
            f"column {column!r} mixes UTC offsets (daylight saving?), e.g. "
            f"{_examples(raw, with_offset)}: set ingest.timezone to the zone the series should be "
            "kept in ('UTC' keeps every step regular; a local zone repeats and skips an hour at "
            "the clock changes)"
        )
    parsed = pd.to_datetime(raw, format=fmt or "ISO8601", errors="coerce", utc=True)
    _refuse_unparsed(raw, parsed, "with UTC offsets", column)
    return parsed


def parse_timestamps(
    raw: pd.Series, fmt: str | None = None, timezone: str | None = None, column: str = "timestamp"
) -> np.ndarray:
    """The naive ``datetime64[ns]`` wall-clock times of ``raw``, in ``timezone`` when set.

    Missing cells stay ``NaT`` (the data contract reports them with the rest).

    Args:
        raw: the column as read: strings, numbers (with ``fmt`` ``unix``/``unix_ms``) or datetimes.
        fmt: a strftime pattern, ``unix``/``unix_ms``, or None for ISO 8601 (else the format
            the first row suggests, which must then hold for every row).
        timezone: the zone to keep the series in; None: the file's own wall clock.
        column: the column's name in the user's file, for messages.

    Raises:
        TimestampError: naming the column, examples of the bad values and the setting to change.

    """
    if fmt in EPOCH_UNITS:
        numbers = pd.to_numeric(raw, errors="coerce")
        _refuse_unparsed(raw, numbers, f"as {fmt} epoch numbers", column)
        parsed = pd.to_datetime(numbers, unit=EPOCH_UNITS[fmt], utc=True)
    elif pd.api.types.is_datetime64_any_dtype(raw.dtype):
        parsed = raw
    elif pd.api.types.is_numeric_dtype(raw.dtype) and raw.notna().any():
        if fmt is None:
            raise TimestampError(
                f"column {column!r} holds numbers, not date-times: if they count seconds (or "
                "milliseconds) since 1970, set ingest.timestamp_format: unix (or unix_ms); if "
                "they are dates written as digits (19580329), set it to their pattern ('%Y%m%d')"
            )
        # Dates written as digits (19580329) and read as numbers: parse their digits.
        digits = raw.map(
            lambda v: f"{v:.0f}" if float(v).is_integer() else str(v), na_action="ignore"
        )
        parsed = _parse_strings(digits.astype("str"), fmt, timezone, column)
    else:
        parsed = _parse_strings(raw, fmt, timezone, column)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = _to_wall_clock(parsed, timezone)
    wall_clock: np.ndarray = parsed.astype("datetime64[ns]").to_numpy()
    return wall_clock
