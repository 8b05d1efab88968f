"""The reference baselines (naive, seasonal naive, from statsforecast) and the baselines' cache.

The reference methods read the model's own input windows (``[K, L]``, ending at its test origins),
so they are scored on exactly the model's targets and need no more data than the model sees; a
seasonal one is left out when the window is shorter than its season. The fitted methods (AutoETS,
MSTL) are in ``classical.py``. statsmodels' Holt-Winters, the fitted baseline here before, was
dropped: statsforecast's ETS cannot hold a weekly season of 336 steps (24 at most), MSTL with an
ETS trend is the library's exponential smoothing for it, and Holt-Winters scored 446 MW every 3 h,
no better than seasonal naive week (447).

Fits cost seconds (MSTL with an AutoARIMA trend the most), so fitted results are cached on disk
under a key of their exact inputs and settings (:func:`cached`): a re-run where only the model
changed reuses them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecasting.core.files import write_atomically

logger = logging.getLogger(__name__)

REFERENCE = ("naive", "seasonal_naive_day", "seasonal_naive_week", "seasonal_naive_year")
CACHE_FORMAT = "1"  # bump when what a cached file holds changes


def forecast_each(
    models: list[Any], history: np.ndarray, horizon: int, n_jobs: int
) -> dict[str, np.ndarray]:
    """Statsforecast ``models`` at each of the ``[K, M]`` histories: alias -> ``[K, horizon]``."""
    from statsforecast import StatsForecast

    origins, length = history.shape
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(origins), length),
            "ds": np.tile(np.arange(length), origins),
            "y": np.asarray(history, dtype=np.float64).ravel(),
        }
    )
    result = StatsForecast(models=models, freq=1, n_jobs=n_jobs).forecast(df=frame, h=horizon)
    result = result.sort_values(["unique_id", "ds"])
    return {
        str(m.alias): result[str(m.alias)].to_numpy(dtype=np.float64).reshape(origins, horizon)
        for m in models
    }


def reference_forecasts(
    inputs: np.ndarray, horizon: int, day: int, week: int, year: int = 0
) -> dict[str, np.ndarray]:
    """Naive and seasonal naive (a day, a week, a year back) on the model's own windows ``[K, L]``.

    ``year`` is the yearly season of weekly and coarser data (52, 12, 4 steps; 0: none), where a
    day and a week are one step. A seasonal one is left out when its season is a single step,
    repeats a shorter one, or is longer than the window.
    """
    from statsforecast.models import Naive, SeasonalNaive

    models: list[Any] = [Naive(alias="naive")]
    seasons: tuple[tuple[str, int], ...] = (
        ("seasonal_naive_day", day),
        ("seasonal_naive_week", week),
    )
    seasons += (("seasonal_naive_year", year),) if year not in (day, week) else ()
    for name, season in seasons:
        if 1 < season <= inputs.shape[1]:
            models.append(SeasonalNaive(season_length=season, alias=name))
    return forecast_each(models, inputs, horizon, n_jobs=1)  # no fitting: one process is fastest


def cache_key(history: np.ndarray, settings: dict[str, Any]) -> str:
    """sha256 of the exact histories (shape and float64 bytes), the settings and statsforecast's version.

    The histories hold every value a fit reads (the data before each test origin), so the key
    changes with the data, the origins, the window or any setting, and with nothing else.
    """
    from importlib.metadata import version

    digest = hashlib.sha256()
    values = np.ascontiguousarray(history, dtype=np.float64)
    digest.update(repr((values.shape, sorted(settings.items()), version("statsforecast"))).encode())
    digest.update(CACHE_FORMAT.encode())
    digest.update(values.tobytes())
    return digest.hexdigest()


def cached(
    folder: Path | None,
    key: str,
    compute: Callable[[], dict[str, np.ndarray]],
) -> dict[str, np.ndarray]:
    """``compute()``'s forecasts, read from ``folder/<key>.npz`` when an earlier run stored them.

    ``folder`` None: no cache. A file that cannot be read is recomputed and rewritten.
    """
    if folder is None:
        return compute()
    path = folder / f"{key}.npz"
    if path.is_file():
        try:
            with np.load(path) as stored:
                found = {name: stored[name] for name in stored.files}
            logger.info("statsforecast baselines from the cache (%s)", path)
            return found
        except (OSError, ValueError) as error:  # a torn or foreign file: refit, then overwrite
            logger.warning("baseline cache %s unreadable (%s): refitting", path, error)
    result = compute()
    folder.mkdir(parents=True, exist_ok=True)

    def save(target: Path) -> None:
        with target.open("wb") as handle:
            np.savez(handle, **result)  # type: ignore[arg-type]  # numpy stubs misread **arrays

    write_atomically(path, save)
    return result
