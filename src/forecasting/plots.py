"""Pictures people read faster than tables: learning curves and forecasts against actuals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt

    return plt


def learning_curve(
    epochs: Sequence[int], train: Sequence[float], val: Sequence[float], best: int, path: Path
) -> None:
    """Train and validation loss by epoch, with the kept (best) epoch marked."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.plot(epochs, train, label="train loss", marker="o", markersize=3)
    axis.plot(epochs, val, label="validation loss", marker="o", markersize=3)
    axis.axvline(best, color="grey", linestyle="--", label=f"best epoch ({best})")
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
    axis.set(xlabel="steps from the forecast origin", ylabel="value", title=title)
    axis.legend(fontsize=8, ncol=2)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def error_by_horizon(errors: Mapping[str, np.ndarray], path: Path) -> None:
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
    axis.set(xlabel="steps ahead", ylabel="MAE", title="Test error by horizon step")
    axis.legend(fontsize=8, ncol=2)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
