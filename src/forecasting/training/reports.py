"""The train stage's files: metrics (DVC JSON), the learning curve as CSV and as a plot."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forecasting.core.files import write_atomically, write_json
from forecasting.core.plots import learning_curve
from forecasting.training.loop import TrainResult

METRICS_FILE = "metrics.json"
CURVE_FILE = "learning_curve.csv"
CURVE_PLOT = "learning_curve.png"


def write_reports(result: TrainResult, folder: Path) -> Path:
    """Write ``metrics.json``, ``learning_curve.csv`` and ``.png`` to ``folder``.

    Returns:
        The plot's path, to log with the run.

    """
    write_json(folder / METRICS_FILE, result.summary_metrics())
    curve = pd.DataFrame([vars(r) for r in result.history])
    write_atomically(folder / CURVE_FILE, lambda p: curve.to_csv(p, index=False))
    learning_curve(
        curve["epoch"].tolist(),
        curve["train_loss"].tolist(),
        curve["val_loss"].tolist(),
        result.best_epoch,
        result.kept_epoch,
        folder / CURVE_PLOT,
    )
    return folder / CURVE_PLOT
