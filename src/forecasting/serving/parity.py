"""Parity: the registry model, the service class in-process and the served bento must agree.

Three ways to the same forecasts, each through its own entry point:

* ``registry``: ``mlflow.pyfunc.load_model("models:/<name>/<version>").predict`` (what a batch
  job or ``mlflow models serve`` would answer);
* ``service``: the BentoML service class instantiated in this process, its API method awaited;
* ``http``: the built bento under ``bentoml serve``, over HTTP, requests sent concurrently so
  they go through the micro-batcher together.

The package stage fails when any of them differs from the registry by more than the tolerance,
relative to the forecast's size: the model computes in float32, whose rounding at 30,000 MW is
~0.002 MW, and a batch of 16 rounds differently from a batch of 1 (other matmul kernels), so
paths that batch differently agree to ~1e-7 relative, never bit for bit.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pandas as pd

from forecasting.core.levels import level_key

Request = dict[str, Any]  # {"values": [...], "end": "..."}


@dataclass(frozen=True)
class ParityReport:
    """How far the service and the served bento are from the registry model."""

    cases: int
    service_vs_registry: float  # max |difference| / max(|registry|, 1) over every case and step
    http_vs_registry: float
    service_abs: float  # max |difference|, in the series' units
    http_abs: float
    service_versions: frozenset[str]  # model_version each answer named
    http_versions: frozenset[str]

    def problems(self, tolerance: float, version: str) -> list[str]:
        """What breaks parity, in words; empty when it holds."""
        found = []
        for path, gap in (("service", self.service_vs_registry), ("http", self.http_vs_registry)):
            if not gap <= tolerance:  # also catches NaN
                found.append(
                    f"the {path} forecasts differ from the registry model by {gap:.3g} relative "
                    f"(tolerance {tolerance:g})"
                )
        for path, versions in (("service", self.service_versions), ("http", self.http_versions)):
            if versions != {version}:
                found.append(
                    f"the {path} answers name version(s) {sorted(versions)}, not {version}"
                )
        return found

    def as_dict(self) -> dict[str, Any]:
        """The figures, for the package manifest."""
        return {
            "cases": self.cases,
            "max_relative_difference": {
                "service_vs_registry": self.service_vs_registry,
                "http_vs_registry": self.http_vs_registry,
            },
            "max_abs_difference": {
                "service_vs_registry": self.service_abs,
                "http_vs_registry": self.http_abs,
            },
        }


def _rows(answers: Sequence[Mapping[str, Any]], levels: Sequence[float]) -> np.ndarray:
    """[N, horizon * (1 + 2 levels)]: each answer's forecast, then its bounds level by level."""
    keys = [level_key(level) for level in levels]
    return np.asarray(
        [
            [
                *a["forecast"],
                *(x for k in keys for x in (*a["lower"][k], *a["upper"][k])),
            ]
            for a in answers
        ],
        dtype=np.float64,
    )


def registry_forecasts(
    model_uri: str, requests: Sequence[Request], levels: Sequence[float] = ()
) -> np.ndarray:
    """Forecasts [N, horizon] (and bounds at ``levels``) from the MLflow pyfunc at ``model_uri``."""
    import mlflow

    model = mlflow.pyfunc.load_model(model_uri)
    frame = pd.DataFrame(
        {"values": [r["values"] for r in requests], "end": [r["end"] for r in requests]}
    )
    predicted = model.predict(frame, params={"levels": list(levels)} if levels else None)
    return _rows(predicted.to_dict("records"), levels)


def service_forecasts(
    service: Any, requests: Sequence[Request], levels: Sequence[float] = ()
) -> tuple[np.ndarray, set[str]]:
    """Forecasts [N, horizon] (and bounds) and the versions named, from an in-process service.

    Raises:
        RuntimeError: if any request is not answered with 200.

    """

    async def ask_all() -> list[Any]:
        try:
            return await asyncio.gather(
                *(
                    service.forecast(values=r["values"], end=r["end"], levels=list(levels) or None)
                    for r in requests
                )
            )
        finally:
            await service.batcher.close()

    answers = asyncio.run(ask_all())  # JSON responses, as the APIs give them over HTTP
    refused = [a for a in answers if a.status_code != 200]
    if refused:
        raise RuntimeError(
            f"the service refused {len(refused)} of {len(answers)} valid requests in-process; "
            f"first: {refused[0].status_code} {bytes(refused[0].body)[:300]!r}"
        )
    bodies = [json.loads(bytes(answer.body)) for answer in answers]
    return _rows(bodies, levels), {str(b["model_version"]) for b in bodies}


def http_forecasts(
    url: str, requests: Sequence[Request], levels: Sequence[float] = ()
) -> tuple[np.ndarray, set[str]]:
    """Forecasts [N, horizon] (and bounds) and the versions named, from ``POST {url}/forecast``.

    Raises:
        RuntimeError: if any request is not answered with 200.

    """

    async def ask_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        f"{url}/forecast",
                        json={**r, "levels": list(levels)} if levels else dict(r),
                    )
                    for r in requests
                )
            )

    answers = asyncio.run(ask_all())
    refused = [a for a in answers if a.status_code != 200]
    if refused:
        raise RuntimeError(
            f"the served bento refused {len(refused)} of {len(answers)} valid requests; first: "
            f"{refused[0].status_code} {refused[0].text[:300]}"
        )
    bodies = [a.json() for a in answers]
    return _rows(bodies, levels), {str(b["model_version"]) for b in bodies}


def check_parity(
    model_uri: str,
    service: Any,
    url: str,
    requests: Sequence[Request],
    levels: Sequence[float] = (),
) -> ParityReport:
    """Forecast ``requests`` (with bounds at ``levels``) three ways and measure the differences."""
    expected = registry_forecasts(model_uri, requests, levels)
    in_process, service_versions = service_forecasts(service, requests, levels)
    served, http_versions = http_forecasts(url, requests, levels)

    def gaps(other: np.ndarray) -> tuple[float, float]:
        """(relative, absolute) largest difference from the registry's forecasts."""
        if other.shape != expected.shape:
            return float("inf"), float("inf")
        difference = np.abs(other - expected)
        relative = difference / np.maximum(np.abs(expected), 1.0)
        return float(np.max(relative)), float(np.max(difference))

    (service_rel, service_abs), (http_rel, http_abs) = gaps(in_process), gaps(served)
    return ParityReport(
        cases=len(requests),
        service_vs_registry=service_rel,
        http_vs_registry=http_rel,
        service_abs=service_abs,
        http_abs=http_abs,
        service_versions=frozenset(service_versions),
        http_versions=frozenset(http_versions),
    )


def smoke_test(
    registry_uri: str,
    bento: tuple[str, str],
    requests: Sequence[dict[str, Any]],
    tolerance: float,
    timeout_s: float,
    levels: Sequence[float] = (),
) -> ParityReport:
    """Serve a built bento; require parity with the registry model and a 4xx on a bad payload.

    With ``levels``, the interval bounds at those levels are part of the parity.

    Args:
        registry_uri: ``models:/<name>/<version>``, the version the bento must serve.
        bento: (BentoML model tag, bento tag).
        requests: the recorded windows to forecast on every path.
        tolerance: the largest relative difference allowed between paths.
        timeout_s: how long the server may take to become ready.
        levels: interval levels whose bounds must agree too (none: the forecast alone).

    Raises:
        ForecastingError: naming what broke parity or what the server answered.

    """
    from forecasting.core.errors import ForecastingError
    from forecasting.serving.bento import in_process_service, serve_bento
    from forecasting.serving.settings import VARIABLES

    bento_model, bento_tag = bento
    # The parity forecasts are of past windows, not served ones: keep them out of the log
    # that monitoring scores as live traffic.
    quiet = {VARIABLES["inference_log"]: ""}
    service = in_process_service(bento_model, {**os.environ, **quiet})
    with serve_bento(bento_tag, timeout_s=timeout_s, environment=quiet) as server:
        try:
            parity = check_parity(registry_uri, service, server.url, requests, levels)
        except RuntimeError as err:
            raise ForecastingError(str(err)) from err
        bad = httpx.post(f"{server.url}/forecast", json={"values": [1.0], "end": "x"}, timeout=30)
        if not 400 <= bad.status_code < 500:
            raise ForecastingError(
                f"the built bento answered an invalid payload with {bad.status_code}, not 4xx"
            )
    problems = parity.problems(tolerance, registry_uri.rsplit("/", 1)[1])
    if problems:
        raise ForecastingError(f"parity check of {bento_tag} failed: " + "; ".join(problems))
    return parity
