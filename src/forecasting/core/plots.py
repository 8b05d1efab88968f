"""Pictures people read faster than tables: the data, learning curves, forecasts against actuals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt

    return plt


def _labelled(quantity: str, unit: str) -> str:
    return f"{quantity} ({unit})" if unit else quantity


def learning_curve(
    epochs: Sequence[int],
    train: Sequence[float],
    val: Sequence[float],
    best: int,
    kept: int,
    path: Path,
) -> None:
    """Train and validation loss by epoch, with the best and the kept epoch marked."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.plot(epochs, train, label="train loss", marker="o", markersize=3)
    axis.plot(epochs, val, label="validation loss", marker="o", markersize=3)
    axis.axvline(best, color="grey", linestyle="--", label=f"best validation epoch ({best})")
    if kept != best:
        axis.axvline(kept, color="black", linestyle=":", label=f"kept epoch ({kept})")
    axis.set(xlabel="epoch", ylabel="MSE (per-window scale)", title="Learning curve", yscale="log")
    axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def forecast_vs_actual(
    history: np.ndarray,
    actual: np.ndarray,
    forecasts: Mapping[str, np.ndarray],
    title: str,
    path: Path,
    unit: str = "",
) -> None:
    """The end of the input window, the actuals after it, and each forecaster's forecast."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(9, 4))
    past = np.arange(-len(history), 0)
    future = np.arange(len(actual))
    axis.plot(past, history, color="black", linewidth=1, label="history")
    axis.plot(future, actual, color="black", linewidth=2, label="actual")
    for name, values in forecasts.items():
        axis.plot(
            future,
            values,
            linewidth=1.5 if name == "model" else 1,
            label=name,
            linestyle="-" if name == "model" else "--",
        )
    axis.axvline(-0.5, color="grey", linewidth=0.8)
    axis.set(xlabel="steps from the forecast origin", ylabel=_labelled("value", unit), title=title)
    axis.legend(fontsize=8, ncol=2)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def error_by_horizon(errors: Mapping[str, np.ndarray], path: Path, unit: str = "") -> None:
    """Mean absolute error at each step ahead, one line per forecaster (``errors[name]`` is ``[H]``)."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8, 4))
    for name, values in errors.items():
        axis.plot(
            np.arange(1, len(values) + 1),
            values,
            linewidth=2 if name == "model" else 1,
            linestyle="-" if name == "model" else "--",
            label=name,
        )
    axis.set(
        xlabel="steps ahead", ylabel=_labelled("MAE", unit), title="Test error by horizon step"
    )
    axis.legend(fontsize=8, ncol=2)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


SHOWN_SERIES = 4  # series drawn in the validation overview
SHOWN_POINTS = 10_000  # points drawn per series; longer series are thinned for the picture only


def series_overview(
    frame: pd.DataFrame,
    gaps: Sequence[tuple[str, pd.Timestamp, pd.Timestamp]],
    bad_values: pd.Series,
    title: str,
    path: Path,
) -> None:
    """The first few series over time, gaps shaded and unusable values marked.

    Args:
        frame: canonical ``series_id, timestamp, value`` rows.
        gaps: (series, last time before, first time after) of the gaps to shade.
        bad_values: ``[rows]`` bool, values that are missing, infinite or out of range.
        title: the figure's title.
        path: where to write the PNG.

    """
    plt = _pyplot()
    # Integer codes (names sorted; missing names are -1): comparing 10^7 names as text is slow.
    codes, uniques = pd.factorize(frame["series_id"], sort=True)
    names = [str(name) for name in uniques[:SHOWN_SERIES]]
    figure, axes = plt.subplots(
        max(len(names), 1), 1, figsize=(10, 2.2 * max(len(names), 1) + 0.6), squeeze=False
    )
    for number, (axis, name) in enumerate(zip(axes[:, 0], names, strict=False)):
        rows = codes == number
        part, bad = frame.loc[rows], bad_values.to_numpy()[rows]
        step = max(1, len(part) // SHOWN_POINTS)
        axis.plot(part["timestamp"].iloc[::step], part["value"].iloc[::step], linewidth=0.6)
        for series, after, before in gaps:
            if series == name:
                axis.axvspan(after, before, color="tab:red", alpha=0.25, linewidth=0)
        marked = part.loc[bad]
        if len(marked):
            level = part["value"].replace([np.inf, -np.inf], np.nan).median()
            axis.plot(
                marked["timestamp"],
                np.full(len(marked), level if np.isfinite(level) else 0.0),
                "x",
                color="tab:red",
                label=f"{len(marked)} unusable value(s)",
            )
            axis.legend(fontsize=8, loc="upper right")
        axis.set_ylabel(name, fontsize=8)
    axes[0, 0].set_title(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def seasonal_shapes(
    new: tuple[np.ndarray, np.ndarray],
    reference: tuple[Sequence[float], Sequence[float]] | None,
    title: str,
    path: Path,
) -> None:
    """The daily and weekly shape (share of the mean) of new data, beside the champion's."""
    plt = _pyplot()
    figure, (by_step, by_day) = plt.subplots(1, 2, figsize=(10, 3.4), width_ratios=(3, 1))
    for axis, values, reference_values, label in (
        (by_step, new[0], reference[0] if reference else None, "step of the day"),
        (by_day, new[1], reference[1] if reference else None, "day of the week (Mon = 0)"),
    ):
        if reference_values is not None and len(reference_values) == len(values):
            axis.plot(reference_values, color="grey", linestyle="--", label="champion's data")
        axis.plot(values, color="tab:blue", label="new training data")
        axis.set(xlabel=label, ylabel="share of the mean")
    by_step.legend(fontsize=8)
    by_step.set_title(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def fan_chart(
    actual: np.ndarray,
    forecast: np.ndarray,
    bounds: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: Path,
    unit: str = "",
) -> None:
    """The last origins' forecasts joined end to end, each level's band shaded around them.

    ``actual`` and ``forecast`` are ``[K, H]`` for K consecutive origins; ``bounds`` maps a level
    ("80") to its ``[K, H]`` lower and upper bounds. Widest band first, so narrower ones show.
    """
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(10, 4))
    steps = np.arange(actual.size)
    by_width = sorted(bounds.items(), key=lambda item: -float(item[0]))
    for shade, (level, (lower, upper)) in zip((0.18, 0.35, 0.5, 0.65), by_width, strict=False):
        axis.fill_between(
            steps, lower.ravel(), upper.ravel(), color="tab:blue", alpha=shade,
            label=f"{level} % interval", linewidth=0,
        )  # fmt: skip
    axis.plot(steps, forecast.ravel(), color="tab:blue", linewidth=1.2, label="model")
    axis.plot(steps, actual.ravel(), color="black", linewidth=1, label="actual")
    for origin in range(1, actual.shape[0]):
        axis.axvline(origin * actual.shape[1] - 0.5, color="grey", linewidth=0.5)
    axis.set(
        xlabel="steps (one forecast per origin, origins marked)",
        ylabel=_labelled("value", unit),
        title="The last test origins: forecast and prediction intervals",
    )
    axis.legend(fontsize=8, ncol=4)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def coverage_by_lead(coverage: Mapping[str, Sequence[float]], path: Path) -> None:
    """Empirical coverage at each step ahead per level, against its nominal level."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8, 4))
    for level, values in coverage.items():
        line = axis.plot(
            np.arange(1, len(values) + 1), 100 * np.asarray(values), label=f"{level} %"
        )
        axis.axhline(float(level), color=line[0].get_color(), linestyle=":", linewidth=1)
    axis.set(
        xlabel="steps ahead",
        ylabel="test actuals inside the interval (%)",
        title="Interval coverage by horizon step (dotted: nominal)",
    )
    axis.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def live_vs_expected(
    days: Sequence[pd.Timestamp],
    live: Sequence[float],
    naive: Sequence[float],
    alarms: Sequence[bool],
    expected: float,
    limit: float,
    leads: tuple[Sequence[int], Sequence[float], Sequence[float | None]],
    title: str,
    path: Path,
    unit: str = "",
) -> None:
    """Live MAE by day against the test MAE and the trigger's limit; and by lead time.

    Args:
        days: each judged day.
        live: the served model's MAE on each day.
        naive: seasonal naive's MAE on the same targets.
        alarms: whether each day alarmed (marked in red).
        expected: the champion's test MAE.
        limit: the live MAE that counts as decayed (test MAE x the ratio).
        leads: (lead times, live MAE at each, test MAE at each or None).
        title: the figure's title.
        path: where the PNG goes.
        unit: the values' unit, for the axes.

    """
    plt = _pyplot()
    figure, (by_day, by_lead) = plt.subplots(1, 2, figsize=(12, 4), width_ratios=(3, 2))
    by_day.plot(days, live, marker="o", markersize=3, label="live MAE (served model)")
    by_day.plot(days, naive, linestyle="--", color="grey", label="seasonal naive, same targets")
    by_day.axhline(expected, color="tab:green", label=f"test MAE ({expected:.4g})")
    by_day.axhline(limit, color="tab:red", linestyle=":", label=f"trigger limit ({limit:.4g})")
    flagged = [(d, v) for d, v, a in zip(days, live, alarms, strict=True) if a]
    if flagged:
        by_day.scatter(*zip(*flagged, strict=True), color="tab:red", zorder=3, label="alarm day")
    by_day.set(xlabel="day of the forecast's origin", ylabel=_labelled("MAE", unit), title=title)
    by_day.tick_params(axis="x", labelrotation=30)
    by_day.legend(fontsize=8)
    steps, live_by_lead, test_by_lead = leads
    by_lead.plot(steps, live_by_lead, label="live")
    if any(v is not None for v in test_by_lead):
        by_lead.plot(steps, [np.nan if v is None else v for v in test_by_lead], label="test")
    by_lead.set(xlabel="lead time (steps)", ylabel=_labelled("MAE", unit), title="By lead time")
    by_lead.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
