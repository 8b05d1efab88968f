"""``params.yaml`` read into typed, validated sections (one per stage, plus base and paths)."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from forecasting.data.timestamps import EPOCH_UNITS, check_timezone


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Base(Section):
    seed: int
    freq: str
    experiment: str
    registered_model: str
    unit: str = Field("", max_length=20)  # the values' unit, for reports; "" = none given


class Paths(Section):
    raw: Path
    validated: Path
    models: Path
    checkpoints: Path = Path("models/checkpoints")
    bento: Path
    reports: Path


class Columns(Section):
    timestamp: str = "timestamp"
    value: str = "value"
    series_id: str | None = None


class Csv(Section):
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    decimal: str = Field(default=".", min_length=1, max_length=1)
    encoding: str = "utf-8"

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, name: str) -> str:
        try:
            codecs.lookup(name)
        except LookupError as err:
            raise ValueError(f"unknown encoding {name!r}; e.g. utf-8, latin-1, cp1252") from err
        return name


class Ingest(Section):
    source: str
    columns: Columns = Columns()
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    until: str | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    keep_snapshots: int | None = Field(default=None, ge=1)
    timestamp_format: str | None = None
    timezone: str | None = None
    csv: Csv = Csv()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str | None) -> str | None:
        return None if name is None else check_timezone(name)

    @field_validator("timestamp_format")
    @classmethod
    def _a_pattern(cls, fmt: str | None) -> str | None:
        if fmt is not None and fmt not in EPOCH_UNITS and "%" not in fmt:
            raise ValueError(
                f"{fmt!r} is not a strftime pattern (like '%d/%m/%Y %H:%M') nor one of "
                f"{sorted(EPOCH_UNITS)}"
            )
        return fmt


class Validate(Section):
    val_fraction: float = Field(gt=0, lt=1)
    test_fraction: float = Field(gt=0, lt=1)
    min_value: float
    max_value: float
    on_gap: Literal["fail", "fill"] = "fail"
    max_fill_steps: int = Field(default=4, ge=1, le=10_000)
    on_drift: Literal["warn", "fail"] = "warn"
    drift_psi: float = Field(default=0.25, gt=0)
    drift_ks: float = Field(default=0.2, gt=0, le=1)
    drift_shape: float = Field(default=0.1, gt=0)

    @model_validator(mode="after")
    def _bounds(self) -> Validate:
        if self.min_value >= self.max_value:
            raise ValueError("validate.min_value must be below validate.max_value")
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError("validate.val_fraction + validate.test_fraction must be below 1")
        return self


class Train(Section):
    cell: Literal["lstm", "gru"]
    input_length: int = Field(ge=2)
    horizon: int = Field(ge=1)
    hidden_size: int = Field(ge=1)
    num_layers: int = Field(ge=1)
    dropout: float = Field(ge=0, lt=1)
    patch_length: int = Field(ge=1)
    seasonal_lag: int = Field(ge=0)
    lag_mixture: bool = True
    weekly_trend: bool = False
    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    patience: int = Field(ge=1)
    restore_best: bool = True
    grad_clip_norm: float = Field(gt=0)
    device: Literal["auto", "cpu", "cuda"]
    resume: bool = True


class Evaluate(Section):
    origin_step: int = Field(ge=1)
    min_improvement: float = Field(ge=0, lt=1)
    require_beating_baselines: bool = True
    promotion: Literal["auto", "manual"] = "auto"
    baseline_confidence: float = Field(0.9, ge=0, le=1)
    champion_confidence: float = Field(0.5, ge=0, le=1)
    bootstrap_resamples: int = Field(10_000, ge=100)
    holt_winters_weeks: int = Field(4, ge=0, description="history per Holt-Winters fit; 0 = off")


class Package(Section):
    smoke_test_timeout_s: float = Field(gt=0)
    parity_tolerance: float = Field(gt=0)
    parity_cases: int = Field(default=16, ge=1, le=256)
    max_batch_size: int = Field(default=32, ge=1, le=1024)
    max_wait_ms: float = Field(default=0.0, ge=0, le=1000)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    workers: int = Field(default=1, ge=1, le=64)
    access_log: bool = False
    tracing: bool = False

    def service_environment(self) -> dict[str, str]:
        """The service's settings, as the ``FORECASTER_*`` variables the bento carries."""
        return {
            "FORECASTER_MAX_BATCH_SIZE": str(self.max_batch_size),
            "FORECASTER_MAX_WAIT_MS": str(self.max_wait_ms),
            "FORECASTER_MAX_BODY_BYTES": str(self.max_body_bytes),
            "FORECASTER_WORKERS": str(self.workers),
            "FORECASTER_ACCESS_LOG": "1" if self.access_log else "0",
            "FORECASTER_TRACING": "1" if self.tracing else "0",
        }


class Tracking(Section):
    timeout_s: float = Field(gt=0, le=600)
    max_retries: int = Field(ge=0, le=10)


class Params(Section):
    base: Base
    paths: Paths
    tracking: Tracking
    ingest: Ingest
    validate_: Validate = Field(alias="validate")
    train: Train
    evaluate: Evaluate
    package: Package


class ParamsError(ValueError):
    """``params.yaml`` is missing or holds an invalid value."""


def load_params(path: Path = Path("params.yaml")) -> Params:
    """Read and validate ``params.yaml``.

    Raises:
        ParamsError: naming each invalid key and why.

    """
    if not path.is_file():
        raise ParamsError(f"{path} not found: run stages from the repository root")
    try:
        raw = yaml.safe_load(path.read_text())
        return Params.model_validate(raw)
    except yaml.YAMLError as err:
        raise ParamsError(f"{path} is not valid YAML: {err}") from err
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']).replace('validate_', 'validate')}: {e['msg']}"
            for e in err.errors()
        )
        raise ParamsError(f"{path} has invalid values: {problems}") from err
