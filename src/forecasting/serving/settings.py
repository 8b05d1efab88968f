"""The service's settings: one typed object, read from the ``FORECASTER_*`` variables once.

The package stage writes the variables into the Bento from the ``package`` section of
``params.yaml`` (``Package.service_environment``); the container sets them, and a local
``bentoml serve`` gets them from the Bento (``bento.serve_command``). A variable that is unset
takes the value below, which is ``params.yaml``'s (``tests/unit/test_params_defaults.py``
checks it), so a Bento built without them serves as the default pipeline's would.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from forecasting.serving.batching import BatchingConfig
from forecasting.serving.inference_log import LogTarget

# field -> the environment variable that sets it
VARIABLES = {
    "model_tag": "FORECASTER_MODEL_TAG",
    "max_batch_size": "FORECASTER_MAX_BATCH_SIZE",
    "max_wait_ms": "FORECASTER_MAX_WAIT_MS",
    "max_body_bytes": "FORECASTER_MAX_BODY_BYTES",
    "workers": "FORECASTER_WORKERS",
    "access_log": "FORECASTER_ACCESS_LOG",
    "tracing": "FORECASTER_TRACING",
    "inference_log": "FORECASTER_INFERENCE_LOG",
    "inference_log_max_bytes": "FORECASTER_INFERENCE_LOG_MAX_BYTES",
    "inference_log_backups": "FORECASTER_INFERENCE_LOG_BACKUPS",
}
_TRUE, _FALSE = frozenset({"1", "true", "yes"}), frozenset({"0", "false", "no", ""})


class SettingsError(ValueError):
    """A ``FORECASTER_*`` variable holds a value the service cannot use."""


@dataclass(frozen=True)
class ServiceSettings:
    """How the service runs: which model, batching, the body limit, workers, logs, tracing."""

    # The BentoML model to serve: the package stage packs one and names it here.
    model_tag: str = "demand-forecaster:latest"
    max_batch_size: int = 32  # rows one forward pass may take
    max_wait_ms: float = 1.0  # how long a batch may wait for more requests
    max_body_bytes: int = 4194304  # larger bodies get 413 before parsing (a request is ~8 KB)
    workers: int = 2  # server processes, each with its own model and batcher
    access_log: bool = False  # a log line per request
    tracing: bool = False  # BentoML's OpenTelemetry spans per request
    # JSONL of every served forecast ("" = off); relative paths are the server's working dir's.
    inference_log: str = "logs/inference.jsonl"
    inference_log_max_bytes: int = 67108864  # rotate past 64 MiB (~25k records) ...
    inference_log_backups: int = 10  # ... keeping this many rotated files

    def __post_init__(self) -> None:
        for name, low in (("max_batch_size", 1), ("max_wait_ms", 0), ("max_body_bytes", 1024)):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= low):
                raise SettingsError(f"{VARIABLES[name]} must be a number >= {low}, got {value}")
        if self.inference_log_max_bytes < 4096:
            raise SettingsError(
                f"{VARIABLES['inference_log_max_bytes']} must be >= 4096 (a record is ~2 KB), "
                f"got {self.inference_log_max_bytes}"
            )
        if self.inference_log_backups < 0:
            raise SettingsError(
                f"{VARIABLES['inference_log_backups']} must be >= 0, got {self.inference_log_backups}"
            )
        if self.workers < 1:
            raise SettingsError(f"{VARIABLES['workers']} must be >= 1, got {self.workers}")

    @property
    def batching(self) -> BatchingConfig:
        """The micro-batcher's part of the settings."""
        return BatchingConfig(self.max_batch_size, self.max_wait_ms)

    @property
    def log_target(self) -> LogTarget | None:
        """Where the inference log goes, or None when it is off."""
        if not self.inference_log.strip():
            return None
        return LogTarget(
            Path(self.inference_log), self.inference_log_max_bytes, self.inference_log_backups
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ServiceSettings:
        """Read the settings from ``environ`` (the process environment by default).

        Raises:
            SettingsError: naming the variable whose value is not usable.

        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            variable = VARIABLES[field.name]
            raw = environ.get(variable)
            if raw is None:
                continue
            values[field.name] = _parse(variable, raw.strip(), field.default)
        return cls(**values)

    def environment(self) -> dict[str, str]:
        """These settings as the ``FORECASTER_*`` variables that give them back."""
        return {VARIABLES[field.name]: _format(getattr(self, field.name)) for field in fields(self)}


def _parse(variable: str, raw: str, like: object) -> object:
    """``raw`` as the type of the field's default ``like``."""
    try:
        if isinstance(like, bool):
            if raw.lower() not in _TRUE | _FALSE:
                raise ValueError(raw)
            return raw.lower() in _TRUE
        if isinstance(like, int):
            return int(raw)
        if isinstance(like, float):
            return float(raw)
    except ValueError:
        kind = {bool: "0 or 1", int: "an integer", float: "a number"}[type(like)]
        raise SettingsError(f"{variable}={raw!r} is not {kind}") from None
    return raw


def _format(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
