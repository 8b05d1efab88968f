"""statsforecast's fitted methods at every test origin, each refitted on the history before it.

AutoETS and MSTL (with an ETS and an AutoARIMA trend) take the ``[K, M]`` histories that end at the
model's own test origins (``scoring.history_before``), so their ``[K, H]`` forecasts are scored on
exactly the model's targets. statsforecast's ETS keeps at most 24 seasonal states (its forecast of
a longer season is empty), so AutoETS runs only on a season of at most 24 steps; on half-hourly
data MSTL with an ETS trend is the exponential-smoothing baseline. Origins are fitted in parallel
processes (``n_jobs``), or as tasks on a dask cluster (``engine="dask"``, see ``engines``).
"""

from __future__ import annotations

import logging
from functools import partial

import numpy as np

from forecasting.evaluation.engines import Engine, map_on_dask, process_count

logger = logging.getLogger(__name__)

FITTED = ("auto_ets", "mstl_ets", "mstl_arima")  # gated only with evaluate.gate_on_classical
ETS_MAX_SEASON = 24  # statsforecast's ETS state holds 24 seasonal values at most


def usable_seasons(seasons: list[int], history: int) -> list[int]:
    """The seasons (> 1 step) with at least two full periods in ``history`` steps, ascending."""
    return sorted({s for s in seasons if s > 1 and history >= 2 * s})


def _ets_season(usable: list[int]) -> int | None:
    """AutoETS's season: the longest usable one of <= 24 steps, 1 without any; None: skip it."""
    short = [s for s in usable if s <= ETS_MAX_SEASON]
    if short:
        return short[-1]
    return None if usable else 1


BOUND = "|"  # "mstl_arima|lo-80": a bound of a method's interval, beside its forecast


def _fit_origin(
    series: np.ndarray,
    horizon: int,
    usable: list[int],
    ets_season: int | None,
    approximation: bool,
    levels: tuple[float, ...] = (),
) -> dict[str, np.ndarray]:
    """The fitted methods at one origin: AutoETS, then one MSTL decomposition for both trends.

    ``MSTL(trend_forecaster=T).forecast`` decomposes, forecasts the seasonally adjusted series
    with ``T`` and adds each season's last period; both MSTL rows share the decomposition here
    (it is ~60 % of an MSTL-ETS fit), which gives exactly MSTL's forecasts
    (``tests/unit/test_baselines.py`` compares them with ``statsforecast.models.MSTL``).
    """
    from statsforecast.models import AutoARIMA, AutoETS, _predict_mstl_seas
    from statsforecast.mstl import mstl

    found: dict[str, np.ndarray] = {}
    if ets_season is not None:
        found["auto_ets"] = AutoETS(season_length=ets_season).forecast(y=series, h=horizon)["mean"]
    if usable:
        parts = mstl(x=series, period=usable)
        adjusted = parts[["trend", "remainder"]].sum(axis=1).to_numpy()
        seasonal = _predict_mstl_seas(parts, h=horizon, season_length=usable)
        for name, trend in (
            ("mstl_ets", AutoETS(model="ZZN")),
            ("mstl_arima", AutoARIMA(approximation=approximation)),
        ):
            # MSTL's intervals are its trend model's, shifted by the (fixed) seasonal forecast
            # statsforecast names a bound after the level as given: "lo-80" for 80, not 80.0
            asked = [int(x) if float(x).is_integer() else x for x in levels]
            out = trend.forecast(y=adjusted, h=horizon, level=asked or None)  # type: ignore[arg-type]
            found[name] = out["mean"] + seasonal
            for level in asked:
                for side in ("lo", "hi"):
                    found[f"{name}{BOUND}{side}-{level:g}"] = out[f"{side}-{level}"] + seasonal
    return found


def _fit_origins(
    history: np.ndarray,
    horizon: int,
    usable: list[int],
    ets_season: int | None,
    approximation: bool,
    levels: tuple[float, ...] = (),
) -> list[dict[str, np.ndarray]]:
    import warnings

    with warnings.catch_warnings():
        # ARIMA's optimiser chatter ("possible convergence problem"): a poor fit shows in its MAE.
        warnings.simplefilter("ignore", UserWarning)
        return [
            _fit_origin(row, horizon, usable, ets_season, approximation, levels) for row in history
        ]


def _warm(usable: bool, ets_season: int | None, approximation: bool) -> None:
    """Compile each method with numba once in this process, on a short made-up series."""
    warm = 100.0 + np.sin(np.arange(64) * np.pi / 2)
    _fit_origins(warm[None, :], 2, [4] if usable else [], ets_season and 4, approximation)


def fitted_forecasts(
    history: np.ndarray,
    horizon: int,
    seasons: list[int],
    n_jobs: int = 1,
    arima_approximation: bool = True,
    levels: tuple[float, ...] = (),
    engine: Engine = "local",
    engine_address: str | None = None,
) -> dict[str, np.ndarray]:
    """AutoETS and MSTL (ETS and ARIMA trends) at every origin, each on the history before it.

    Args:
        history: ``[K, M]`` the ``M`` observations before each origin, oldest first.
        horizon: steps to forecast.
        seasons: the series' seasonal periods in steps (day and week, from ``core.periods``);
            those without two full periods of history are skipped, with a log line.
        n_jobs: processes the origins are fitted in (-1: one per core).
        arima_approximation: AutoARIMA selects its order on the conditional sum of squares, as
            R's ``auto.arima`` does by default on series longer than 150 points.
        levels: interval coverages (%) whose bounds MSTL also returns, as
            ``"mstl_arima|lo-80"``-style keys (the trend model's intervals plus the seasons).
        engine: ``local`` fits in ``n_jobs`` processes here; ``dask`` makes each origin a task
            on a dask cluster (the same numbers).
        engine_address: with ``dask``, the scheduler's address; None: a local cluster of
            ``n_jobs`` worker processes.

    Returns:
        method name -> ``[K, horizon]`` float64 forecasts, in the origins' order.

    Raises:
        ForecastingError: with ``dask``, when no scheduler answers at ``engine_address``.

    """
    from concurrent.futures import ProcessPoolExecutor

    origins, length = history.shape
    usable = usable_seasons(seasons, length)
    skipped = sorted(set(seasons) - set(usable) - {1})
    if skipped:
        logger.info("seasons %s skipped: fewer than two periods in %d steps", skipped, length)
    if not usable:
        logger.info("MSTL skipped: no season with two full periods in %d steps", length)
    ets_season = _ets_season(usable)
    if ets_season is None:
        logger.info(
            "AutoETS skipped: seasons %s exceed ETS's %d; MSTL covers them", usable, ETS_MAX_SEASON
        )
    history = np.asarray(history, dtype=np.float64)
    workers = process_count(n_jobs, origins)
    fit = partial(
        _fit_origins, horizon=horizon, usable=usable, ets_season=ets_season,
        approximation=arima_approximation, levels=tuple(levels),
    )  # fmt: skip
    warm = partial(_warm, bool(usable), ets_season, arima_approximation)
    if engine == "dask":
        # one task per origin: a cluster of many workers balances them; each worker is warmed
        rows = [
            row
            for part in map_on_dask(fit, list(history[:, None, :]), engine_address, workers, warm)
            for row in part
        ]
        return _stacked(rows)
    # numba compiles each method on its first call (seconds, whatever the series): once here,
    # so that forked workers inherit the compiled code.
    warm()
    if workers <= 1:
        rows = fit(history)
    else:
        chunks = np.array_split(history, workers)
        with ProcessPoolExecutor(max_workers=workers) as pool:
            rows = [row for part in pool.map(fit, chunks) for row in part]
    return _stacked(rows)


def _stacked(rows: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Method name -> ``[K, horizon]`` from each origin's forecasts."""
    return {name: np.stack([row[name] for row in rows]).astype(np.float64) for name in rows[0]}
