"""The BentoML service ``forecaster``: the registry champion behind ``POST /forecast``.

The model is a BentoML model holding ``weights.safetensors`` + ``model_config.json``; its
metadata records the weights' sha256 from training, checked before the service reports ready.
The package stage packs one model into the Bento and names it in ``FORECASTER_MODEL_TAG``.

Concurrent ``/forecast`` requests share forward passes through a ``MicroBatcher``. Every setting
(model, batching, body limit, workers, access log, tracing) is one ``ServiceSettings``, read
from the ``FORECASTER_*`` variables once, when the server loads this module; the package stage
writes them into the Bento from the ``package`` section of ``params.yaml``.
"""

from __future__ import annotations

import functools
import gc
from pathlib import Path
from typing import Any

import bentoml
import pydantic_core
from fastapi import FastAPI
from starlette.responses import JSONResponse, Response

from forecasting.core.levels import LevelError, check_levels
from forecasting.model.inference import RequestError, prepare_requests, run_model, to_forecasts
from forecasting.model.intervals import interval_bounds, load_calibration
from forecasting.model.network import load_model
from forecasting.serving.batching import MicroBatcher
from forecasting.serving.guard import InFlight, RequestGuard
from forecasting.serving.inference_log import InferenceLog
from forecasting.serving.schema import (
    ApiContract,
    BatchResponse,
    ForecastResponse,
    SeriesItem,
    model_shape,
    request_specs,
)
from forecasting.serving.settings import ServiceSettings

# GET routes beside BentoML's POST APIs. Mounted "passively" at the root by BentoML: it only
# answers paths it has a route for, so /forecast, /livez, /metrics etc. are untouched.
info_app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

Levels = list[float] | None  # interval coverages in percent, see ``schema.request_specs``

# Read once per process. BentoML takes the worker count, the access log and tracing from the
# decorator below, when `bentoml serve` (or a build) loads this module: for a server process
# that is its start-up. Nothing else reads the environment; a caller that wants other settings
# (``bento.in_process_service``) passes its own ``ServiceSettings`` to the class.
SETTINGS = ServiceSettings.from_environment()
IN_FLIGHT = InFlight()  # counted by the RequestGuard, read by the batcher
# Rows per forward pass: shows the micro-batcher at work under load (beside BentoML's metrics).
BATCH_ROWS = bentoml.metrics.Histogram(
    name="forecaster_batch_rows",
    documentation="Series per forward pass of the micro-batcher",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
# The served schema states the model's exact input_length, horizon and time grid (the contract).
REQUESTS = request_specs(model_shape(SETTINGS.model_tag))


@bentoml.service(
    name="forecaster",
    workers=SETTINGS.workers,
    # A log line per request costs ~0.4 ms here; /metrics counts every request either way.
    logging={"access": {"enabled": SETTINGS.access_log}},
    traffic={"timeout": 30},
    # BentoML's sampler records every request's OpenTelemetry spans even at sample rate 0 (its
    # access log prints their ids); nothing reads them without an exporter, and on two cores
    # they cost ~25 % of the throughput. Excluding every URL skips the tracing middleware.
    tracing={} if SETTINGS.tracing else {"excluded_urls": [".*"]},
    # One torch thread per worker: on few cores, intra-op threads fight request threads.
    envs=[{"name": "OMP_NUM_THREADS", "value": "1"}, {"name": "MKL_NUM_THREADS", "value": "1"}],
)
@bentoml.asgi_app(info_app, path="/")
class Forecaster:
    """Serves forecasts of the packed model (``settings.model_tag``)."""

    def __init__(self, settings: ServiceSettings = SETTINGS) -> None:
        import torch

        torch.set_num_threads(1)
        self.settings = settings
        # The model store in use: the Bento's own inside a container, else BENTOML_HOME's.
        stored: Any = bentoml.models.get(settings.model_tag)
        metadata = dict(stored.info.metadata)
        self.model = load_model(Path(stored.path), expected_sha256=metadata["weights_sha256"])
        self.calibration = load_calibration(Path(stored.path))
        self.model_version = str(metadata["model_version"])
        self.metadata = metadata
        # Every served forecast, for monitoring (None when FORECASTER_INFERENCE_LOG is empty).
        target = settings.log_target
        self.inference_log = InferenceLog(target) if target is not None else None
        self.batcher = MicroBatcher(
            functools.partial(run_model, self.model),
            settings.batching,
            on_batch=BATCH_ROWS.observe,
            alone=lambda: IN_FLIGHT.count <= 1,
        )
        # BentoML builds each API's local caller anew (inspect.signature and all) every time it
        # looks the method up, which it does on every request (~4 % of the CPU). The callers do
        # not change, so bind them once; an instance attribute shadows the API descriptor.
        for name in ("forecast", "forecast_batch"):
            setattr(self, name, getattr(self, name))
        # Everything loaded so far lives as long as the worker: keep it out of the cyclic
        # garbage collector, whose full passes over it stalled ~1 % of requests by ~100 ms.
        gc.collect()
        gc.freeze()

    async def _answer(
        self,
        values: list[list[float]],
        ends: list[str],
        horizon: int | None,
        levels: list[float] | None,
        *,
        batch: bool,
        series_ids: list[str | None],
    ) -> Response:
        """A ``ForecastResponse`` (a list of them if ``batch``), or a 400 saying what to fix."""
        try:
            prepared = prepare_requests(self.model, values, ends, horizon)
            chosen = self._levels(levels)
        except (RequestError, LevelError) as err:
            # The same {"error": ...} body as every other refusal (BentoML's InvalidArgument
            # would wrap it in a list).
            return JSONResponse({"error": str(err)}, status_code=400)
        output = await self.batcher.submit(prepared.windows, prepared.phases)
        forecasts = to_forecasts(prepared, output, self.model.config.freq)
        answers: list[dict[str, Any]] = [
            {
                "timestamps": r.timestamps,
                "forecast": r.forecast,
                "model_version": self.model_version,
            }
            for r in forecasts
        ]
        if chosen and self.calibration is not None:
            bounds = interval_bounds(
                self.calibration,
                prepared.windows,
                prepared.phases,
                output[:, : prepared.steps],
                chosen,
            )
            for row, answer in enumerate(answers):
                answer["lower"] = {k: lo[row].tolist() for k, (lo, _) in bounds.items()}
                answer["upper"] = {k: hi[row].tolist() for k, (_, hi) in bounds.items()}
        if self.inference_log is not None:  # queued only: written by the log's own thread
            self.inference_log.record(
                ends=ends,
                series_ids=series_ids,
                horizon=prepared.steps,
                freq=self.model.config.freq,
                model_version=self.model_version,
                forecasts=[r.forecast for r in forecasts],
                windows=prepared.windows,
            )
        return _json_answer(answers if batch else answers[0])

    def _levels(self, levels: list[float] | None) -> list[float]:
        """The interval levels asked for, checked; none when not asked."""
        if not levels:
            return []
        if self.calibration is None:
            raise LevelError(
                f"model v{self.model_version} was trained before prediction intervals: ask "
                "without 'levels', or retrain and re-package it (`make run`)"
            )
        return check_levels(levels)

    # Async APIs: validation and the (batched) forward pass run on the worker's event loop.
    @bentoml.api(route="/forecast", input_spec=REQUESTS.forecast, output_spec=ForecastResponse)
    async def forecast(
        self,
        values: list[float],
        end: str,
        horizon: int | None = None,
        levels: Levels = None,
        series_id: str | None = None,
    ) -> Response:
        """Forecast one series from its last ``input_length`` values; ``end`` is the last one's time."""
        return await self._answer(
            [values], [end], horizon, levels, batch=False, series_ids=[series_id]
        )

    @bentoml.api(route="/forecast_batch", input_spec=REQUESTS.batch, output_spec=BatchResponse)
    async def forecast_batch(
        self, series: list[SeriesItem], horizon: int | None = None, levels: Levels = None
    ) -> Response:
        """Forecast many series at once: ``series`` is a list of ``{"values": [...], "end": "..."}``."""
        return await self._answer(
            [item.values for item in series],
            [item.end for item in series],
            horizon,
            levels,
            batch=True,
            series_ids=[getattr(item, "series_id", None) for item in series],
        )

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
            "training_data_range": {
                "start": self.metadata.get("training_data_start") or None,
                "end": self.metadata.get("training_data_end") or None,
            },
        }


def _json_answer(content: Any) -> Response:
    """A 200 with ``content`` as JSON, serialised once by pydantic-core.

    BentoML's own path for a returned model validates it again, dumps it to Python and to JSON,
    and streams the result in chunks: ~40 us more per request, ~5 % of the throughput here.
    """
    return Response(pydantic_core.to_json(content), media_type="application/json")


# The decorator turned the class into a bentoml Service, which mypy cannot see.
Forecaster.add_asgi_middleware(  # type: ignore[attr-defined]
    ApiContract, paths=frozenset({"/forecast", "/forecast_batch"})
)
Forecaster.add_asgi_middleware(  # type: ignore[attr-defined]
    RequestGuard,
    max_body_bytes=SETTINGS.max_body_bytes,
    json_paths=frozenset({"/forecast", "/forecast_batch"}),
    in_flight=IN_FLIGHT,
)
