"""Every method scored at the same test origins: the model, the baselines and the champion.

The test origins are the model's own rolling-origin test windows (``model.datasets.test_windows``);
every other forecaster is asked for a forecast at exactly these origins, so each one is scored
on the same ``[origins, horizon]`` targets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from forecasting.data.splits import Splits
from forecasting.evaluation.engines import Engine, map_on_dask, process_count
from forecasting.evaluation.metrics import mase_scale, score
from forecasting.model.datasets import test_windows
from forecasting.model.inference import run_model
from forecasting.model.network import RecurrentForecaster
from forecasting.model.windows import WindowDataset

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoredOrigins:
    """The test windows, materialised: what every forecaster sees and is scored against."""

    windows: WindowDataset
    inputs: np.ndarray  # [K, L] float32, the model's input windows, oldest first
    phases: np.ndarray  # [K] int64, week phase of each window's first step
    actual: np.ndarray  # [K, H] float64, the targets every method is scored on
    series: np.ndarray  # [K] the series id of each origin
    scale: np.ndarray  # [K] MASE denominator of each origin's series
    times: np.ndarray  # [K, H + 1] datetime64: each origin's last observation, then its targets
    daily: np.ndarray  # [K] bool, the one-a-day subset (every steps_per_day from the first origin)
    origin_step: int
    steps_per_day: int

    def __len__(self) -> int:
        return len(self.actual)

    @property
    def daily_step(self) -> int:
        """The one-a-day protocol's step: a day of steps, or ``origin_step`` if that is longer."""
        return max(self.steps_per_day, self.origin_step)

    @property
    def last(self) -> int:
        """Index of the last origin (the one the forecast plot and table show)."""
        return len(self) - 1


def mase_scales(train: pd.DataFrame, season: int) -> dict[str, float]:
    """MASE denominator of every series, from its training split (seasonal naive in-sample MAE)."""
    return {
        str(sid): mase_scale(part["value"].to_numpy(), season)
        for sid, part in train.groupby("series_id", sort=True)
    }


def _target_times(splits: Splits, windows: WindowDataset) -> np.ndarray:
    """``[K, H + 1]`` timestamps: each window's last input, then its targets, from its own series."""
    history = pd.concat([splits.train, splits.val, splits.test], ignore_index=True)
    stamps = [
        part["timestamp"].to_numpy(dtype="datetime64[ns]")
        for _, part in history.sort_values(["series_id", "timestamp"], kind="stable").groupby(
            "series_id", sort=True
        )
    ]
    index = windows.origins.numpy()
    steps = np.arange(windows.horizon + 1)
    return np.stack([stamps[n][p + steps] for n, p in index]) if len(index) else np.empty((0, 0))


def scored_origins(
    splits: Splits, freq: str, input_length: int, horizon: int, origin_step: int, season: int
) -> ScoredOrigins:
    """The rolling-origin test windows, one every ``origin_step`` steps, with MASE scales.

    ``season`` (steps in a day) is the seasonal naive lag of the MASE denominator and the
    spacing of the one-a-day subset (``daily``): the origins a whole number of days after each
    series' first, which with ``origin_step`` dividing a day are exactly the one-a-day protocol.

    Raises:
        ValueError: if the test split is shorter than one horizon (no origin to score).

    """
    windows = test_windows(splits, freq, input_length, horizon, origin_step)
    if len(windows) == 0:
        raise ValueError("the test split is shorter than one horizon: no forecast origin to score")
    batch = windows.gather(torch.arange(len(windows)))
    series_ids = sorted(str(s) for s in splits.train["series_id"].unique())
    scales = mase_scales(splits.train, season)
    index = windows.origins.numpy()
    series = np.array([series_ids[int(n)] for n in index[:, 0]])  # [K]
    first = {n: index[index[:, 0] == n, 1].min() for n in np.unique(index[:, 0])}
    offset = index[:, 1] - np.array([first[n] for n in index[:, 0]])
    return ScoredOrigins(
        windows=windows,
        inputs=batch.inputs.numpy(),
        phases=batch.end_phase.numpy(),
        actual=batch.targets.numpy().astype(np.float64),
        series=series,
        scale=np.array([scales[s] for s in series]),
        times=_target_times(splits, windows),
        daily=offset % max(season, origin_step) == 0,
        origin_step=origin_step,
        steps_per_day=season,
    )


@dataclass(frozen=True)
class ModelScoring:
    """How the networks' forward passes over the test origins run (``evaluate.model_*``)."""

    batch: int  # windows a forward pass: memory follows the batch, not the origins
    engine: Engine  # local: here; dask: one task a batch, the model sent along
    engine_address: str | None  # the dask scheduler; None: a local cluster of ``workers``
    workers: int  # processes of that local cluster (-1: one per core)


def _forward(model: RecurrentForecaster, part: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return run_model(model, *part)


def forward_in_batches(
    model: RecurrentForecaster, inputs: np.ndarray, phases: np.ndarray, scoring: ModelScoring
) -> np.ndarray:
    """``run_model`` over windows ``[K, L]`` and phases ``[K]``, ``scoring.batch`` at a time.

    Returns ``[K, H]`` float64. Every batch is the same computation wherever it runs, so the
    numbers on dask are the local ones.
    """
    step = max(scoring.batch, 1)
    parts = [(inputs[at : at + step], phases[at : at + step]) for at in range(0, len(inputs), step)]
    if scoring.engine == "dask" and parts:
        workers = process_count(scoring.workers, len(parts))
        outputs = map_on_dask(partial(_forward, model), parts, scoring.engine_address, workers)
    else:
        outputs = [run_model(model, *part) for part in parts]
    if not outputs:
        return np.zeros((0, model.config.horizon), dtype=np.float64)
    return np.concatenate(outputs).astype(np.float64)


def model_forecasts(
    model: RecurrentForecaster, origins: ScoredOrigins, scoring: ModelScoring
) -> np.ndarray:
    """The model's forecasts ``[K, H]`` (float64) at every test origin."""
    return forward_in_batches(model, origins.inputs, origins.phases, scoring)


def base_forecasts(
    model: RecurrentForecaster, origins: ScoredOrigins, batch: int
) -> np.ndarray | None:
    """The model's seasonal base alone ``[K, H]`` (float64) at every origin; None without one."""
    import torch

    from forecasting.model.network import seasonal_forecast

    if model.base is None and model.trend is None:
        return None
    parts = []
    with torch.inference_mode():
        for at in range(0, len(origins.inputs), batch):
            values = torch.from_numpy(origins.inputs[at : at + batch])
            phases = torch.from_numpy(origins.phases[at : at + batch])
            parts.append(seasonal_forecast(model.eval(), values, phases).numpy())
    return np.concatenate(parts).astype(np.float64)


def champion_forecasts(
    champion: RecurrentForecaster,
    splits: Splits,
    freq: str,
    origin_step: int,
    origins: ScoredOrigins,
    scoring: ModelScoring,
) -> np.ndarray | None:
    """The champion's forecasts at the same origins, or None when it cannot be scored there.

    The champion reads its own input length (it may predate a change of ``input_length``), at
    the same origins and over the same horizon; a champion with another horizon cannot be
    compared.
    """
    config = champion.config
    own = test_windows(splits, freq, config.input_length, origins.windows.horizon, origin_step)
    if config.horizon != origins.windows.horizon or not torch.equal(
        own.origins, origins.windows.origins
    ):
        return None
    batch = own.gather(torch.arange(len(own)))
    return forward_in_batches(champion, batch.inputs.numpy(), batch.end_phase.numpy(), scoring)


def _table(
    actual: np.ndarray,
    forecasts: dict[str, np.ndarray],
    scale: np.ndarray,
    champion: tuple[str, np.ndarray] | None,
    base: np.ndarray | None,
) -> dict[str, Any]:
    table: dict[str, Any] = {
        "model": score(actual, forecasts["model"], scale),
        "baselines": {
            name: score(actual, f, scale) for name, f in forecasts.items() if name != "model"
        },
        "origins": len(actual),
    }
    if base is not None:  # the model's own seasonal base, without the network: not a baseline
        table["model_base"] = score(actual, base, scale)
    if champion is not None:
        version, values = champion
        table["champion"] = {"version": version, **score(actual, values, scale)}
    return table


def score_report(
    origins: ScoredOrigins,
    forecasts: dict[str, np.ndarray],
    champion: tuple[str, np.ndarray] | None,
    base: np.ndarray | None = None,
) -> dict[str, Any]:
    """The ``metrics.json`` report: the model, every baseline and the champion, same targets.

    The top level scores every origin (``origin_step`` apart, the protocol the gate judges);
    ``daily`` scores the one-a-day subset of the same forecasts, for continuity with earlier
    reports of 12 daily origins.

    Args:
        origins: the test origins.
        forecasts: ``"model"`` and each baseline's name -> ``[K, H]`` forecasts.
        champion: (version, ``[K, H]`` forecasts) of the champion, or None.
        base: the model's seasonal base alone ``[K, H]`` (``base_forecasts``), or None.

    """
    day = origins.daily
    report = _table(origins.actual, forecasts, origins.scale, champion, base)
    report["origin_step"] = origins.origin_step
    report["daily"] = {
        **_table(
            origins.actual[day],
            {name: f[day] for name, f in forecasts.items()},
            origins.scale[day],
            None if champion is None else (champion[0], champion[1][day]),
            None if base is None else base[day],
        ),
        "origin_step": origins.daily_step,
    }
    return report


def best_baseline(report: dict[str, Any], classical: bool = True) -> tuple[str, float]:
    """The baseline with the lowest MAE: (name, MAE); ``classical=False`` leaves out the fitted ones."""
    from forecasting.evaluation.classical import FITTED

    maes = {
        name: float(m["mae"])
        for name, m in report["baselines"].items()
        if classical or name not in FITTED
    }
    return min(maes.items(), key=lambda item: item[1])


def champion_comparison(
    network: RecurrentForecaster | None,
    version: str | None,
    splits: Splits,
    freq: str,
    origins: ScoredOrigins,
    scoring: ModelScoring,
) -> tuple[str, np.ndarray] | None:
    """(version, ``[K, H]`` forecasts) of the champion at these origins; None when it has none.

    A champion that cannot be scored here (another horizon or origins) is logged and left out.
    """
    if network is None or version is None:
        return None
    forecast = champion_forecasts(network, splits, freq, origins.origin_step, origins, scoring)
    if forecast is None:
        logger.warning("champion v%s cannot be scored on these origins", version)
        return None
    return version, forecast


def gated_verdict(
    report: dict[str, Any],
    origins: ScoredOrigins,
    forecasts: dict[str, np.ndarray],
    champion: tuple[str | None, np.ndarray | None],
    policy: Any,
    unit: str,
    gate_on_classical: bool,
    foreign: str | None = None,
) -> Any:
    """The gate's verdict against the best gated baseline; its reason names a better ungated one.

    ``foreign``: why the registered champion belongs to another problem; the model is then
    compared with the baselines alone (one registered name: a new problem's model replaces it).
    """
    from dataclasses import replace

    from forecasting.evaluation.decision import judge, ungated_note

    gated = best_baseline(report, gate_on_classical)[0]
    verdict = judge(origins.actual, forecasts, gated, champion, policy, unit)
    verdict = replace(verdict, reason=verdict.reason + ungated_note(report, gated, unit))
    if foreign:
        reason = verdict.reason.removeprefix("no champion yet; ")
        verdict = replace(verdict, reason=f"{foreign}, compared with the baselines alone: {reason}")
    return verdict


def history_before(
    splits: Splits,
    freq: str,
    wanted: int,
    least: int,
    horizon: int,
    origins: ScoredOrigins,
) -> np.ndarray | None:
    """The ``[K, M]`` float64 histories that end at the test origins.

    ``wanted`` steps each, fewer when the data before the test split is shorter; None when that
    is under ``least`` steps or ``wanted`` is 0.

    Raises:
        ValueError: if the history windows do not line up with the test origins.

    """
    before_test = pd.concat([splits.train, splits.val]).groupby("series_id").size().min()
    length = int(min(wanted, before_test))
    if wanted == 0 or length < max(least, 1):
        return None
    history = test_windows(splits, freq, length, horizon, origins.origin_step)
    if not torch.equal(history.origins, origins.windows.origins):
        raise ValueError("baseline history windows do not line up with the test origins")
    inputs = history.gather(torch.arange(len(history))).inputs.numpy()
    return np.asarray(inputs, dtype=np.float64)


@dataclass(frozen=True)
class BaselineSettings:
    """How the fitted baselines run (``evaluate.classical_*``) and where their results are kept."""

    weeks: int  # history per fit, in weeks; 0: fitted baselines off
    jobs: int  # processes (-1: one per core); with dask and no address, the local workers
    arima_approximation: bool
    engine: Engine  # local: a process pool here; dask: a task per origin on a dask cluster
    engine_address: str | None  # the dask scheduler; None: a local cluster of ``jobs`` workers
    cache: Path | None  # folder of cached results; None: always refit
    levels: tuple[float, ...] = ()  # interval coverages (%) MSTL's bounds are returned for


Bounds = dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]  # method -> level -> (lower, upper)


def method_forecasts(
    model: RecurrentForecaster,
    origins: ScoredOrigins,
    splits: Splits,
    freq: str,
    settings: BaselineSettings,
    scoring: ModelScoring,
) -> tuple[dict[str, np.ndarray], Bounds]:
    """Every method's forecasts ``[K, H]`` at ``origins``, and the fitted baselines' bounds.

    The model comes first, then each baseline; the bounds are at ``settings.levels``. The reference baselines read the model's own input windows; the fitted ones
    ``settings.weeks`` weeks before each origin, from the cache when nothing they read changed.
    """
    from forecasting.core.auto_settings import main_season
    from forecasting.evaluation.baselines import cache_key, cached, reference_forecasts
    from forecasting.evaluation.classical import BOUND, fitted_forecasts

    config = model.config
    day, week, horizon = config.steps_per_day, config.steps_per_week, config.horizon
    forecasts: dict[str, np.ndarray] = {"model": model_forecasts(model, origins, scoring)}
    # weekly and coarser data: its yearly season (52, 12, 4 steps), four of them for the fits
    year = main_season(freq) if week == 1 else 0
    forecasts |= reference_forecasts(origins.inputs.astype(np.float64), horizon, day, week, year)
    wanted = max(settings.weeks * max(week, 1), 4 * year) if settings.weeks else 0
    history = history_before(splits, freq, wanted, 2, horizon, origins)
    if history is None:
        if settings.weeks:
            logger.warning("fitted baselines skipped: too little history before the test split")
        return forecasts, {}
    seasons = sorted({day, week, year} - {0})
    inputs = {"horizon": horizon, "seasons": seasons, "approx": settings.arima_approximation}
    key = cache_key(history, inputs | {"levels": list(settings.levels)})
    logger.info("fitted baselines at %d origins on %d steps each", *history.shape)
    fitted = cached(
        settings.cache,
        key,
        lambda: fitted_forecasts(
            history,
            horizon,
            seasons,
            settings.jobs,
            settings.arima_approximation,
            settings.levels,
            settings.engine,
            settings.engine_address,
        ),
    )
    bounds: Bounds = {}
    for name, values in fitted.items():
        if BOUND in name:  # "mstl_arima|lo-80"
            method, bound = name.split(BOUND)
            side, level = bound.split("-", 1)
            pair = bounds.setdefault(method, {}).setdefault(level, (values, values))
            bounds[method][level] = (values, pair[1]) if side == "lo" else (pair[0], values)
        else:
            forecasts[name] = values
    return forecasts, bounds
