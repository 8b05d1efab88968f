"""``params.yaml`` read into typed, validated sections (one per stage, plus base and paths)."""

from __future__ import annotations

import codecs
import copy
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from forecasting.core.auto_settings import resolve_auto
from forecasting.core.levels import MAX_LEVEL, MAX_LEVELS, MIN_LEVEL
from forecasting.core.periods import check_freq, steps_per_day, steps_per_week
from forecasting.data.timestamps import EPOCH_UNITS, check_timezone


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Base(Section):
    seed: int
    freq: str
    experiment: str
    registered_model: str
    unit: str = Field(max_length=20)  # the values' unit, for reports; "" = none given

    @field_validator("freq")
    @classmethod
    def _known_freq(cls, freq: str) -> str:
        return check_freq(freq)


class Paths(Section):
    raw: Path
    validated: Path
    models: Path
    checkpoints: Path
    bento: Path
    reports: Path
    cache: Path


# Columns and Csv keep defaults (equal to params.yaml's, which tests/unit/test_params_defaults.py
# checks) so that one column or one CSV option can be set without restating the others; every
# other key is required.
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
    columns: Columns
    sha256: str | None = Field(pattern=r"^[0-9a-fA-F]{64}$")
    until: str | None
    timeout_s: float = Field(gt=0)
    keep_snapshots: int | None = Field(ge=1)
    timestamp_format: str | None
    timezone: str | None
    csv: Csv

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
    on_gap: Literal["fail", "fill"]
    on_missing: Literal["fail", "fill"]
    max_fill_steps: int = Field(ge=1, le=10_000)
    rows_per_chunk: int = Field(ge=1)
    on_drift: Literal["warn", "fail"]
    drift_psi: float = Field(gt=0)
    drift_ks: float = Field(gt=0, le=1)
    drift_shape: float = Field(gt=0)

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
    lag_mixture: bool
    lead_weights: bool
    error_correction: int = Field(ge=0)
    weekly_trend: bool
    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    windows_per_epoch: int | None = Field(ge=1)
    val_windows: int | None = Field(ge=1)
    learning_rate: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    patience: int = Field(ge=1)
    restore_best: bool
    grad_clip_norm: float = Field(gt=0)
    loss: Literal["mse", "mae", "huber"]
    level_shifts: float = Field(ge=0)
    device: Literal["auto", "cpu", "cuda"]
    precision: Literal["fp32", "bf16"]
    resume: bool
    interval_time_of_day: float = Field(ge=0, le=1)
    interval_levels: list[Annotated[float, Field(ge=MIN_LEVEL, le=MAX_LEVEL)]] = Field(
        min_length=1, max_length=MAX_LEVELS
    )


class Evaluate(Section):
    origin_step: int = Field(ge=1)
    min_improvement: float = Field(ge=0, lt=1)
    require_beating_baselines: bool
    promotion: Literal["auto", "manual"]
    baseline_confidence: float = Field(ge=0, le=1)
    champion_confidence: float = Field(ge=0, le=1)
    classical_weeks: int = Field(ge=0, description="history per statsforecast fit; 0 = off")
    classical_jobs: int = Field(ge=-1, description="processes for the statsforecast fits")
    engine: Literal["local", "dask"]
    engine_address: str | None = Field(min_length=1)
    model_batch: int = Field(ge=1)
    arima_approximation: bool
    gate_on_classical: bool
    coverage_tolerance: float | None = Field(gt=0, lt=1)


class Package(Section):
    smoke_test_timeout_s: float = Field(gt=0)
    parity_tolerance: float = Field(gt=0)
    parity_cases: int = Field(ge=1, le=256)
    max_batch_size: int = Field(ge=1, le=1024)
    max_wait_ms: float = Field(ge=0, le=1000)
    max_body_bytes: int = Field(ge=1024)
    workers: int = Field(ge=1, le=64)
    access_log: bool
    tracing: bool
    inference_log: str = Field(max_length=1000)
    inference_log_max_bytes: int = Field(ge=4096)
    inference_log_backups: int = Field(ge=0, le=1000)

    def service_environment(self) -> dict[str, str]:
        """The service's settings, as the ``FORECASTER_*`` variables the bento carries."""
        return {
            "FORECASTER_MAX_BATCH_SIZE": str(self.max_batch_size),
            "FORECASTER_MAX_WAIT_MS": str(self.max_wait_ms),
            "FORECASTER_MAX_BODY_BYTES": str(self.max_body_bytes),
            "FORECASTER_WORKERS": str(self.workers),
            "FORECASTER_ACCESS_LOG": "1" if self.access_log else "0",
            "FORECASTER_TRACING": "1" if self.tracing else "0",
            "FORECASTER_INFERENCE_LOG": self.inference_log,
            "FORECASTER_INFERENCE_LOG_MAX_BYTES": str(self.inference_log_max_bytes),
            "FORECASTER_INFERENCE_LOG_BACKUPS": str(self.inference_log_backups),
        }


class Monitor(Section):
    max_error_ratio: float = Field(gt=1)
    sustained_days: int = Field(ge=1, le=365)
    drift_level: float = Field(gt=0)
    on_trigger: Literal["local", "github", "none"]
    retrain_command: str = Field(min_length=1)
    workflow: str = Field(pattern=r"^[\w.-]+\.ya?ml$")


class Tracking(Section):
    timeout_s: float = Field(gt=0, le=600)
    max_retries: int = Field(ge=0, le=10)


# Train keys a grid may not vary: where a run executes, or what the logged model offers.
UNTUNABLE = frozenset({"device", "resume", "interval_levels"})


class Tune(Section):
    grid: dict[str, list[Any]] = Field(min_length=1)
    seeds: list[int] = Field(min_length=1, max_length=20)
    folds: int = Field(ge=1, le=10)
    write: bool

    @field_validator("grid")
    @classmethod
    def _train_keys(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        unknown = sorted(set(grid) - set(Train.model_fields) | set(grid) & UNTUNABLE)
        if unknown:
            raise ValueError(f"tune.grid keys must be train keys to tune, not {unknown}")
        empty = sorted(key for key, values in grid.items() if not values)
        if empty:
            raise ValueError(f"tune.grid.{empty[0]} lists no value to try")
        return grid


class Params(Section):
    base: Base
    paths: Paths
    tracking: Tracking
    ingest: Ingest
    validate_: Validate = Field(alias="validate")
    train: Train
    evaluate: Evaluate
    package: Package
    monitor: Monitor
    tune: Tune
    # "section.key" -> the value an ``auto`` became (``core.auto_settings``), for logs and reports
    _derived: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def derived(self) -> dict[str, Any]:
        """The settings derived from ``base.freq`` because params.yaml said ``auto``."""
        return dict(self._derived)

    @model_validator(mode="wrap")
    @classmethod
    def _resolve_auto(cls, data: Any, handler: ModelWrapValidatorHandler[Params]) -> Params:
        """``auto`` train and evaluate keys become the values ``base.freq`` calls for."""
        derived: dict[str, Any] = {}
        if isinstance(data, dict):
            data = copy.deepcopy(data)
            derived = resolve_auto(data)
        params = handler(data)
        params._derived = derived or params._derived
        return params

    @model_validator(mode="after")
    def _train_fits_the_frequency(self) -> Params:
        problems = train_fits_freq(self.train, self.base.freq)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def train_fits_freq(train: Train, freq: str) -> list[str]:
    """Why these train settings cannot work at frequency ``freq``, one line each naming the key.

    Checked before any tensor exists, so a wrong combination is a params error, not an
    IndexError from inside torch.
    """
    length, horizon, per_day = train.input_length, train.horizon, steps_per_day(freq)
    per_week = steps_per_week(freq)
    problems = []
    if length % train.patch_length:
        problems.append(
            f"train.patch_length {train.patch_length} must divide train.input_length {length}"
        )
    if train.seasonal_lag and not horizon <= train.seasonal_lag <= length:
        problems.append(
            f"train.seasonal_lag {train.seasonal_lag} must lie between train.horizon {horizon} "
            f"and train.input_length {length} (or be 0: no seasonal base)"
        )
    if train.seasonal_lag and train.lag_mixture and length < per_day:
        problems.append(
            f"train.lag_mixture compares the last day's level with each lag's: "
            f"train.input_length {length} must be at least a day ({per_day} steps), or set "
            "train.lag_mixture: false"
        )
    if train.weekly_trend and per_day == 1:
        problems.append(
            f"train.weekly_trend needs a daily season, which base.freq {freq} has not: set "
            "train.weekly_trend: false"
        )
    elif train.weekly_trend and horizon > per_day:
        problems.append(
            f"train.weekly_trend reads yesterday at each target's time of day: train.horizon "
            f"{horizon} must be at most a day ({per_day} steps), or set train.weekly_trend: false"
        )
    elif train.weekly_trend and length < per_day + per_week:
        problems.append(
            f"train.weekly_trend compares yesterday with a week before: train.input_length "
            f"{length} must be at least a day + a week ({per_day + per_week} steps)"
        )
    return problems


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
            # A cross-section check (loc empty) names its keys in its own message.
            f"{'.'.join(str(p) for p in e['loc']).replace('validate_', 'validate')}: "
            * bool(e["loc"])
            + str(e["msg"]).removeprefix("Value error, ")
            for e in err.errors()
        )
        raise ParamsError(f"{path} has invalid values: {problems}") from err
