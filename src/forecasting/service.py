"""The BentoML service ``forecaster``: the registry champion behind ``POST /forecast``.

The model is a BentoML model holding ``weights.safetensors`` + ``model_config.json``; its
metadata records the weights' sha256 from training, checked before the service reports ready.
``FORECASTER_MODEL_TAG`` picks the model at build time (the package stage sets it); inside a
built bento, the one model packed with it is used.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import bentoml
from fastapi import FastAPI
from pydantic import BaseModel, Field

from forecasting.inference import RequestError, forecast_many
from forecasting.model import load_model

# GET routes beside BentoML's POST APIs. Mounted "passively" at the root by BentoML: it only
# answers paths it has a route for, so /forecast, /livez, /metrics etc. are untouched.
info_app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

MODEL_TAG = os.environ.get("FORECASTER_MODEL_TAG", "demand-forecaster:latest")
# Finite floats only: pydantic rejects NaN/Infinity before they reach the model.
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class ForecastResponse(BaseModel):
    """One series' forecast and the registry version that made it."""

    timestamps: list[str]
    forecast: list[float]
    model_version: str


@bentoml.service(
    name="forecaster",
    workers=1,
    traffic={"timeout": 30},
    # One torch thread per worker: on few cores, intra-op threads fight request threads.
    envs=[{"name": "OMP_NUM_THREADS", "value": "1"}, {"name": "MKL_NUM_THREADS", "value": "1"}],
)
@bentoml.asgi_app(info_app, path="/")
class Forecaster:
    """Serves forecasts of the packed model."""

    model_ref = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        import torch

        torch.set_num_threads(1)
        stored: Any = self.model_ref
        metadata = dict(stored.info.metadata)
        self.model = load_model(Path(stored.path), expected_sha256=metadata["weights_sha256"])
        self.model_version = str(metadata["model_version"])
        self.metadata = metadata

    def _answer(
        self, values: list[list[float]], ends: list[str], horizon: int | None
    ) -> list[ForecastResponse]:
        try:
            results = forecast_many(self.model, values, ends, horizon)
        except RequestError as err:
            raise bentoml.exceptions.InvalidArgument(str(err)) from err
        return [
            ForecastResponse(
                timestamps=r.timestamps, forecast=r.forecast, model_version=self.model_version
            )
            for r in results
        ]

    @bentoml.api(route="/forecast")
    def forecast(
        self,
        values: Annotated[list[FiniteFloat], Field(min_length=1, max_length=100_000)],
        end: datetime,
        horizon: Annotated[int | None, Field(ge=1)] = None,
    ) -> ForecastResponse:
        """Forecast one series from its most recent ``values``; ``end`` is the last value's time."""
        return self._answer([values], [end.isoformat()], horizon)[0]

    @bentoml.api(route="/forecast_batch")
    def forecast_batch(
        self,
        series: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=1000)],
        horizon: Annotated[int | None, Field(ge=1)] = None,
    ) -> list[ForecastResponse]:
        """Forecast many series at once: ``series`` is a list of ``{"values": [...], "end": "..."}``."""
        try:
            values = [[float(v) for v in item["values"]] for item in series]
            ends = [str(item["end"]) for item in series]
        except (KeyError, TypeError, ValueError) as err:
            raise bentoml.exceptions.InvalidArgument(
                "each item of 'series' needs 'values' (numbers) and 'end' (a timestamp)"
            ) from err
        return self._answer(values, ends, horizon)

    @info_app.get("/metadata")
    def metadata_endpoint(self) -> dict[str, Any]:
        """What is being served: model name, version, input length, horizon and frequency."""
        config = self.model.config
        return {
            "model_name": self.metadata.get("model_name"),
            "model_version": self.model_version,
            "input_length": config.input_length,
            "horizon": config.horizon,
            "freq": config.freq,
            "weights_sha256": self.metadata.get("weights_sha256"),
            "training_data_range": self.metadata.get("training_data_range"),
        }
