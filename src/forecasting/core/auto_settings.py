"""The ``auto`` settings: window, horizon, patches, seasonal base and origin step from ``base.freq``.

A frequency's main season is the week where a day has several steps (336 half hours, 168
hours) or a week has several days (7 days, 5 business days), else the year where it has a few
steps (52 weeks, 12 months, 4 quarters); yearly data has none. From it:

* **horizon**: a day of sub-daily data; two weeks of daily (14) and business-day (10) data; a
  quarter of weekly (13), a year of monthly (12), two years of quarterly (8) data; 4 steps
  without a season;
* **seasonal_lag**: the season, in whole seasons at least the horizon (the base reads the value
  one season before each target); 0 without a season;
* **input_length**: a week and a day of sub-daily data (what the weekly trend reads), 8 weeks
  of daily, 3 years of weekly, 4 years of monthly, 6 years of quarterly data; 16 steps otherwise;
* **patch_length**: the largest divisor of the window that still leaves 16 patches (24 half
  hours: 16 patches of 12 hours);
* **lag_mixture** and **weekly_trend**: on only where a day has several steps (both work on the
  time of day);
* **origin_step**: every 3 hours of sub-daily data (8 origins a day), every step otherwise.

The default series (``30min``) gets 384 / 48 / 24 / 336 / on / on / 6.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import pandas as pd

from forecasting.core.periods import steps_per_day, steps_per_week

AUTO = "auto"
TRAIN_KEYS = (
    "input_length",
    "horizon",
    "patch_length",
    "seasonal_lag",
    "lag_mixture",
    "weekly_trend",
)
EVALUATE_KEYS = ("origin_step",)
MIN_PATCHES = 16  # recurrent steps over the window: enough to read its shape, few enough to be fast
ORIGINS_PER_DAY = 8  # sub-daily test origins: every 3 hours of half-hourly data
# season -> (horizon, input_length) for series whose steps are a day or longer
COARSE = {7: (14, 56), 5: (10, 40), 52: (13, 156), 12: (12, 48), 4: (8, 24)}
NO_SEASON = (4, 16)  # yearly data: four years out from sixteen


@functools.lru_cache(maxsize=64)
def steps_per_year(freq: str) -> int:
    """How many steps of ``freq`` fall in one (non-leap) calendar year."""
    return len(pd.date_range("2001-01-01", "2001-12-31 23:59:59", freq=freq))


def main_season(freq: str) -> int:
    """The main seasonal period of ``freq`` in steps (see the module); 0 if it has none."""
    per_week = steps_per_week(freq)
    if per_week > 1:
        return per_week
    per_year = steps_per_year(freq)
    if 52 <= per_year <= 53:  # weekly
        return 52
    return per_year if 2 <= per_year <= 12 else 0


def patch_for(input_length: int) -> int:
    """The largest divisor of ``input_length`` that leaves at least ``MIN_PATCHES`` patches."""
    limit = max(1, input_length // MIN_PATCHES)
    return max(p for p in range(1, limit + 1) if input_length % p == 0)


def derived_settings(freq: str) -> dict[str, Any]:
    """Every ``auto`` setting for ``freq``: the train keys and ``origin_step``."""
    per_day, season = steps_per_day(freq), main_season(freq)
    if per_day > 1:
        horizon, length = per_day, season + per_day
        sub_daily = True
    else:
        horizon, length = COARSE.get(season, (season, 4 * season)) if season else NO_SEASON
        sub_daily = False
    lag = season * math.ceil(horizon / season) if season else 0
    length = max(length, lag + horizon) if lag else length
    return {
        "input_length": length,
        "horizon": horizon,
        "patch_length": patch_for(length),
        "seasonal_lag": lag,
        "lag_mixture": sub_daily and bool(lag),
        "weekly_trend": sub_daily and steps_per_week(freq) > 1,
        "origin_step": max(1, per_day // ORIGINS_PER_DAY) if sub_daily else 1,
    }


def resolve_auto(raw: dict[str, Any]) -> dict[str, Any]:
    """Replace every ``auto`` in a params mapping's train and evaluate keys; returns what was derived.

    ``raw`` is params.yaml as loaded (changed in place). A frequency pandas cannot read is left
    for the params check to name.
    """
    freq = (raw.get("base") or {}).get("freq")
    sections = {"train": TRAIN_KEYS, "evaluate": EVALUATE_KEYS}
    wanted = [
        (section, key)
        for section, keys in sections.items()
        for key in keys
        if isinstance(raw.get(section), dict) and raw[section].get(key) == AUTO
    ]
    if not wanted or not isinstance(freq, str):
        return {}
    try:
        settings = derived_settings(freq)
    except ValueError:
        return {}
    derived = {}
    for section, key in wanted:
        raw[section][key] = settings[key]
        derived[f"{section}.{key}"] = settings[key]
    return derived
