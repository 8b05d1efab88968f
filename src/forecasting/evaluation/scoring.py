"""Every method scored at the same test origins: the model, the baselines and the champion.

The test origins are the model's own rolling-origin test windows (``model.datasets.test_windows``);
every other forecaster is asked for a forecast at exactly these origins, so each one is scored
on the same ``[origins, horizon]`` targets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from forecasting.data.splits import Splits
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

    def __len__(self) -> int:
        return len(self.actual)

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


def scored_origins(
    splits: Splits, freq: str, input_length: int, horizon: int, origin_step: int, season: int
) -> ScoredOrigins:
    """The rolling-origin test windows, one every ``origin_step`` steps, with MASE scales.

    ``season`` (steps in a day) is the seasonal naive lag of the MASE denominator.

    Raises:
        ValueError: if the test split is shorter than one horizon (no origin to score).

    """
    windows = test_windows(splits, freq, input_length, horizon, origin_step)
    if len(windows) == 0:
        raise ValueError("the test split is shorter than one horizon: no forecast origin to score")
    batch = windows.gather(torch.arange(len(windows)))
    series_ids = sorted(str(s) for s in splits.train["series_id"].unique())
    scales = mase_scales(splits.train, season)
    series = np.array([series_ids[int(n)] for n in windows.origins[:, 0]])  # [K]
    return ScoredOrigins(
        windows=windows,
        inputs=batch.inputs.numpy(),
        phases=batch.end_phase.numpy(),
        actual=batch.targets.numpy().astype(np.float64),
        series=series,
        scale=np.array([scales[s] for s in series]),
    )


def model_forecasts(model: RecurrentForecaster, origins: ScoredOrigins) -> np.ndarray:
    """The model's forecasts ``[K, H]`` (float64) at every test origin, in one forward pass."""
    return np.asarray(run_model(model, origins.inputs, origins.phases), dtype=np.float64)


def champion_forecasts(
    champion: RecurrentForecaster,
    splits: Splits,
    freq: str,
    origin_step: int,
    origins: ScoredOrigins,
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
    return np.asarray(
        run_model(champion, batch.inputs.numpy(), batch.end_phase.numpy()), dtype=np.float64
    )


def score_report(
    origins: ScoredOrigins,
    forecasts: dict[str, np.ndarray],
    champion: tuple[str, np.ndarray] | None,
) -> dict[str, Any]:
    """The ``metrics.json`` report: the model, every baseline and the champion, same targets.

    Args:
        origins: the test origins.
        forecasts: ``"model"`` and each baseline's name -> ``[K, H]`` forecasts.
        champion: (version, ``[K, H]`` forecasts) of the champion, or None.

    """
    report: dict[str, Any] = {
        "model": score(origins.actual, forecasts["model"], origins.scale),
        "baselines": {
            name: score(origins.actual, f, origins.scale)
            for name, f in forecasts.items()
            if name != "model"
        },
        "origins": len(origins),
    }
    if champion is not None:
        version, values = champion
        report["champion"] = {"version": version, **score(origins.actual, values, origins.scale)}
    return report


CLASSICAL_PREFIX = "sf_"  # the statsforecast baselines' names in the report


def best_baseline(report: dict[str, Any], classical: bool = True) -> tuple[str, float]:
    """The baseline with the lowest MAE: (name, MAE); ``classical=False`` leaves out statsforecast's."""
    maes = {
        name: float(m["mae"])
        for name, m in report["baselines"].items()
        if classical or not name.startswith(CLASSICAL_PREFIX)
    }
    return min(maes.items(), key=lambda item: item[1])


def gated_verdict(
    report: dict[str, Any],
    origins: ScoredOrigins,
    forecasts: dict[str, np.ndarray],
    champion: tuple[str | None, np.ndarray | None],
    policy: Any,
    unit: str,
    gate_on_classical: bool,
) -> Any:
    """The gate's verdict against the best gated baseline; its reason names a better ungated one."""
    from dataclasses import replace

    from forecasting.evaluation.decision import judge, ungated_note

    gated = best_baseline(report, gate_on_classical)[0]
    verdict = judge(origins.actual, forecasts, gated, champion, policy, unit)
    return replace(verdict, reason=verdict.reason + ungated_note(report, gated, unit))


def holt_winters_forecasts(
    splits: Splits,
    freq: str,
    horizon: int,
    season: int,
    weeks: int,
    origin_step: int,
    origins: ScoredOrigins,
) -> np.ndarray | None:
    """Holt-Winters forecasts ``[K, H]`` at the same origins, or None when it cannot run.

    Each origin refits on the ``weeks`` weeks before it (less when the history is shorter, at
    least two seasons), which needs more history than the model's input window.

    Raises:
        ValueError: if the history windows do not line up with the test origins.

    """
    from forecasting.evaluation.baselines import holt_winters

    if season < 2:  # weekly or coarser, 7D: no weekly season to fit (statsmodels refuses 1)
        logger.info("Holt-Winters baseline skipped: %s has no weekly season", freq)
        return None
    history = history_before(
        splits, freq, weeks * season, 2 * season, horizon, origin_step, origins
    )
    if history is None:
        logger.warning(
            "Holt-Winters baseline skipped: it needs two weeks (%d steps) of history before the "
            "test split",
            2 * season,
        )
        return None
    logger.info("fitting Holt-Winters at %d origins on %d steps each", *history.inputs.shape)
    return holt_winters(history.inputs.numpy(), horizon, season)


def history_before(
    splits: Splits,
    freq: str,
    wanted: int,
    least: int,
    horizon: int,
    origin_step: int,
    origins: ScoredOrigins,
) -> Any:
    """The ``[K, M]`` histories that end at the test origins, as a gathered window batch.

    ``wanted`` steps each, fewer when the data before the test split is shorter; None when that
    is under ``least`` steps or ``wanted`` is 0.

    Raises:
        ValueError: if the history windows do not line up with the test origins.

    """
    before_test = pd.concat([splits.train, splits.val]).groupby("series_id").size().min()
    length = int(min(wanted, before_test))
    if wanted == 0 or length < max(least, 1):
        return None
    history = test_windows(splits, freq, length, horizon, origin_step)
    if not torch.equal(history.origins, origins.windows.origins):
        raise ValueError("baseline history windows do not line up with the test origins")
    return history.gather(torch.arange(len(history)))


def classical_baseline_forecasts(
    splits: Splits,
    freq: str,
    horizon: int,
    seasons: tuple[int, int],
    weeks: int,
    n_jobs: int,
    origin_step: int,
    origins: ScoredOrigins,
) -> dict[str, np.ndarray]:
    """The statsforecast methods (seasonal naive, AutoETS, MSTL) at the same origins ``[K, H]``.

    Each fits on the ``weeks`` weeks before its origin (``seasons`` = steps per day and week).
    """
    from forecasting.evaluation.classical import classical_forecasts

    week = max(seasons[1], 1)
    history = history_before(splits, freq, weeks * week, 2, horizon, origin_step, origins)
    if history is None:
        if weeks:
            logger.warning("statsforecast baselines skipped: too little history before the test")
        return {}
    inputs = history.inputs.numpy().astype(np.float64)
    logger.info("fitting statsforecast baselines at %d origins on %d steps each", *inputs.shape)
    found = classical_forecasts(inputs, horizon, sorted(set(seasons)), n_jobs)
    return {f"{CLASSICAL_PREFIX}{name}": values for name, values in found.items()}


def method_forecasts(
    model: RecurrentForecaster,
    origins: ScoredOrigins,
    splits: Splits,
    freq: str,
    holt_winters_weeks: int,
    origin_step: int,
    classical: tuple[int, int],
) -> dict[str, np.ndarray]:
    """Every method's forecasts ``[K, H]`` at ``origins``: the model, then each baseline.

    ``classical`` is (weeks of history, processes) for the statsforecast baselines; 0 weeks: off.
    """
    from forecasting.evaluation.baselines import baseline_forecasters

    config = model.config
    forecasts: dict[str, np.ndarray] = {"model": model_forecasts(model, origins)}
    for method, forecaster in baseline_forecasters(
        config.input_length, config.horizon, config.steps_per_day, config.steps_per_week
    ).items():
        forecasts[method] = forecaster(origins.inputs.astype(np.float64), origins.phases)
    holt_winters = holt_winters_forecasts(
        splits, freq, config.horizon, config.steps_per_week, holt_winters_weeks, origin_step,
        origins,
    )  # fmt: skip
    if holt_winters is not None:
        forecasts["holt_winters"] = holt_winters
    seasons = (config.steps_per_day, config.steps_per_week)
    forecasts |= classical_baseline_forecasts(
        splits, freq, config.horizon, seasons, *classical, origin_step, origins
    )
    return forecasts
