"""The MLflow ``python_function`` flavour of the forecaster, loaded from tensors, not pickles.

Logged with ``loader_module="forecasting.pyfunc_model"``: MLflow calls :func:`_load_pyfunc`
with the folder holding ``weights.safetensors`` and ``model_config.json``. Input is a DataFrame
with one row per series: ``values`` (a list of floats, oldest first) and ``end`` (the ISO
timestamp of the last value). Output has one row per series: ``timestamps`` and ``forecast``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from forecasting.core.artifacts import SHA_FILE
from forecasting.model.inference import forecast_many
from forecasting.model.network import RecurrentForecaster, load_model


class PyfuncForecaster:
    """What ``mlflow.pyfunc.load_model(...).predict`` calls."""

    def __init__(self, model: RecurrentForecaster) -> None:
        self.model = model

    def predict(
        self, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Forecast every row of ``model_input``."""
        horizon = (params or {}).get("horizon")
        results = forecast_many(
            self.model,
            [list(v) for v in model_input["values"]],
            list(model_input["end"]),
            None if horizon is None else int(horizon),
        )
        return pd.DataFrame(
            {
                "timestamps": [r.timestamps for r in results],
                "forecast": [r.forecast for r in results],
            }
        )


def _load_pyfunc(data_path: str) -> PyfuncForecaster:
    folder = Path(data_path)
    expected = (
        json.loads((folder / SHA_FILE).read_text()) if (folder / SHA_FILE).is_file() else None
    )
    return PyfuncForecaster(load_model(folder, expected_sha256=expected))
