"""The MLflow ``python_function`` flavour of the forecaster, loaded from tensors, not pickles.

Logged with ``loader_module="forecasting.pyfunc_model"``: MLflow calls :func:`_load_pyfunc`
with the folder holding ``weights.safetensors`` and ``model_config.json``. Input is a DataFrame
with one row per series: ``values`` (a list of floats, oldest first) and ``end`` (the ISO
timestamp of the last value). Output has one row per series: ``timestamps`` and ``forecast``,
and with the ``levels`` param (80 and 95 by default, from the signature) ``lower`` and ``upper``,
each mapping a level ("80") to its bounds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from forecasting.core.artifacts import SHA_FILE
from forecasting.core.levels import LevelError, check_levels
from forecasting.model.inference import prepare_requests, run_model, to_forecasts
from forecasting.model.intervals import Calibration, interval_bounds, load_calibration
from forecasting.model.network import RecurrentForecaster, load_model


class PyfuncForecaster:
    """What ``mlflow.pyfunc.load_model(...).predict`` calls."""

    def __init__(self, model: RecurrentForecaster, calibration: Calibration | None = None) -> None:
        self.model, self.calibration = model, calibration

    def predict(
        self, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Forecast every row of ``model_input``; ``params``: ``horizon``, interval ``levels``.

        Raises:
            RequestError: on a bad request (see ``inference.prepare_requests``).
            LevelError: on levels that cannot be served, or levels for a model without them.

        """
        horizon, levels = (params or {}).get("horizon"), (params or {}).get("levels") or []
        prepared = prepare_requests(
            self.model,
            [list(v) for v in model_input["values"]],
            list(model_input["end"]),
            None if horizon is None else int(horizon),
        )
        output = run_model(self.model, prepared.windows, prepared.phases)
        results = to_forecasts(prepared, output, self.model.config.freq)
        frame = pd.DataFrame(
            {
                "timestamps": [r.timestamps for r in results],
                "forecast": [r.forecast for r in results],
            }
        )
        if levels:
            if self.calibration is None:
                raise LevelError("this model was trained before prediction intervals: no levels")
            bounds = interval_bounds(
                self.calibration,
                prepared.windows,
                prepared.phases,
                output[:, : prepared.steps],
                check_levels(levels),
            )
            frame["lower"] = [
                {k: lo[i].tolist() for k, (lo, _) in bounds.items()} for i in frame.index
            ]
            frame["upper"] = [
                {k: hi[i].tolist() for k, (_, hi) in bounds.items()} for i in frame.index
            ]
        return frame


def _load_pyfunc(data_path: str) -> PyfuncForecaster:
    folder = Path(data_path)
    expected = (
        json.loads((folder / SHA_FILE).read_text()) if (folder / SHA_FILE).is_file() else None
    )
    return PyfuncForecaster(load_model(folder, expected_sha256=expected), load_calibration(folder))
