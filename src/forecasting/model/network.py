"""The recurrent forecaster: an LSTM/GRU encoder with a direct multi-horizon head.

Why this shape beats a plain LSTM on raw demand:

* **Per-window normalisation.** Each input window is centred and scaled by its own mean and
  standard deviation, so the network learns shapes, not megawatts, and a series at another level
  (or another user's series) needs no global scaler.
* **Residual over a seasonal base** (``seasonal_base.py``). The forecast starts from the value
  one week back (``lag_mixture: false``) or from a learned "similar day" mixture of whole-day
  lags that starts as that value (``lag_mixture: true``, the default in ``params.yaml``), and
  the network learns only the correction, spending its capacity on what the base misses.
* **Calendar features** from the week phase of the last observation: time of day and day of week.
* **Patches.** The encoder reads the window in patches of ``patch_length`` steps (a 336-step week
  read as 14 patches of 24), which is ~24x fewer recurrent steps and trains in seconds on a CPU.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import Tensor, nn

from forecasting.core.artifacts import CONFIG_FILE, SHA_FILE, WEIGHTS_FILE
from forecasting.core.files import file_sha256
from forecasting.model.seasonal_base import FixedLagBase, LagMixtureBase, WeeklyTrend

CALENDAR_FEATURES = 4  # sin/cos of time of day, sin/cos of day of week


# Fields added after models were first saved, with the value every model saved before them
# was trained with (the feature off). ``ModelConfig.from_saved`` fills them in when a
# ``model_config.json`` lacks them, so a champion trained before still loads and forecasts as
# it did; a new field goes here with its "off" value, never with today's default.
LEGACY_FIELDS: dict[str, object] = {
    "lag_mixture": False,
    "weekly_trend": False,
    "lead_weights": False,
    "error_correction": 0,
}


class ModelConfig(BaseModel):
    """Everything needed to rebuild the network and prepare its inputs (saved beside the weights).

    The defaults are the ``train`` section of ``params.yaml`` (and ``base.freq``), so
    ``ModelConfig()`` is the network the default pipeline trains; ``tests/unit/
    test_params_defaults.py`` fails if the two drift apart. ``params.yaml`` stays the source:
    the pipeline passes every field explicitly.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    cell: Literal["lstm", "gru"] = "lstm"
    input_length: int = Field(384, ge=2, description="observations the model reads")
    horizon: int = Field(48, ge=1, description="steps it forecasts")
    hidden_size: int = Field(48, ge=1)
    num_layers: int = Field(1, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    patch_length: int = Field(24, ge=1, description="input steps per recurrent step")
    seasonal_lag: int = Field(
        336,
        ge=0,
        description="the forecast is a residual over the value this many steps back; 0 = off",
    )
    lag_mixture: bool = Field(
        True,
        description="the base is a learned, calendar-dependent mixture of whole-day lags "
        "(starting as seasonal_lag); off: the value seasonal_lag back",
    )
    lead_weights: bool = Field(
        True,
        description="with lag_mixture: its weights and level carries also depend on the lead",
    )
    error_correction: int = Field(
        0,
        ge=0,
        description="with lag_mixture: the base's error over this many last observed steps is "
        "carried forward with a learned weight per lead; 0 = off",
    )
    weekly_trend: bool = Field(
        True,
        description="add a learned share of yesterday's week-on-week change at each target's "
        "time of day to the base (needs input_length >= a day + a week)",
    )
    freq: str = "30min"
    steps_per_day: int = Field(48, ge=1)
    steps_per_week: int = Field(336, ge=1)

    @classmethod
    def from_saved(cls, data: dict[str, Any]) -> ModelConfig:
        """A config read back from a ``model_config.json``, old ones included.

        A key the file lacks because the model was saved before that field existed takes the
        value in ``LEGACY_FIELDS`` (how such a model was trained), not today's default.
        """
        return cls.model_validate({**LEGACY_FIELDS, **data})

    @model_validator(mode="after")
    def _check_shapes(self) -> ModelConfig:
        if self.input_length % self.patch_length:
            raise ValueError(
                f"input_length {self.input_length} must be a multiple of patch_length "
                f"{self.patch_length}"
            )
        if self.seasonal_lag and not self.horizon <= self.seasonal_lag <= self.input_length:
            raise ValueError(
                f"seasonal_lag {self.seasonal_lag} must lie between horizon {self.horizon} and "
                f"input_length {self.input_length} (or be 0 to switch the residual off)"
            )
        if self.error_correction >= self.input_length:
            raise ValueError(
                f"error_correction {self.error_correction} must be below input_length "
                f"{self.input_length}: it backcasts that many of the window's last steps"
            )
        if self.weekly_trend and self.input_length < self.steps_per_day + self.steps_per_week:
            raise ValueError(
                f"weekly_trend compares yesterday with the same day a week earlier: it needs "
                f"input_length >= {self.steps_per_day + self.steps_per_week} (a day + a week), "
                f"got {self.input_length}"
            )
        return self


class RecurrentForecaster(nn.Module):
    """Maps the last ``input_length`` observations to the next ``horizon`` ones."""

    input_offsets: Tensor

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        rnn_class = nn.LSTM if config.cell == "lstm" else nn.GRU
        self.encoder = rnn_class(
            input_size=config.patch_length * (1 + CALENDAR_FEATURES),
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.head = nn.Sequential(
            nn.Linear(config.hidden_size + CALENDAR_FEATURES, config.hidden_size),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden_size, config.horizon),
        )
        self.base: nn.Module | None = None
        if config.seasonal_lag and config.lag_mixture:
            self.base = LagMixtureBase(
                config.input_length,
                config.horizon,
                config.seasonal_lag,
                config.steps_per_day,
                config.steps_per_week,
                lead_weights=config.lead_weights,
                error_correction=config.error_correction,
            )
        elif config.seasonal_lag:
            self.base = FixedLagBase(config.input_length, config.horizon, config.seasonal_lag)
        self.trend: WeeklyTrend | None = None
        if config.weekly_trend:
            self.trend = WeeklyTrend(
                config.input_length, config.horizon, config.steps_per_day, config.steps_per_week
            )
        # Input positions relative to the last observation: -(L-1) .. 0, shape [L].
        self.register_buffer(
            "input_offsets", torch.arange(-config.input_length + 1, 1), persistent=False
        )

    def _calendar(self, phase: Tensor) -> Tensor:
        """Calendar features of week phases: ``[...]`` int -> ``[..., 4]`` float."""
        cfg = self.config
        day_angle = (phase % cfg.steps_per_day).float() * (2 * math.pi / cfg.steps_per_day)
        week_angle = phase.float() * (2 * math.pi / cfg.steps_per_week)
        return torch.stack(
            [day_angle.sin(), day_angle.cos(), week_angle.sin(), week_angle.cos()], dim=-1
        )

    @staticmethod
    def normalise(values: Tensor) -> tuple[Tensor, Tensor]:
        """Per-window level and scale, each ``[B, 1]``; the scale never collapses to zero."""
        level = values.mean(dim=-1, keepdim=True)
        spread = values.std(dim=-1, keepdim=True, unbiased=False)
        floor = 1e-3 * level.abs() + 1e-6  # a flat window must not divide by zero
        return level, torch.maximum(spread, floor)

    def forward(self, values: Tensor, end_phase: Tensor) -> Tensor:
        """Forecast.

        Args:
            values: ``[B, input_length]`` float observations, oldest first.
            end_phase: ``[B]`` int64 week phase of the last observation.

        Returns:
            ``[B, horizon]`` forecasts in the units of ``values``.

        """
        cfg = self.config
        batch = values.shape[0]
        level, scale = self.normalise(values)
        scaled = (values - level) / scale  # [B, L]
        phases = (end_phase[:, None] + self.input_offsets[None, :]) % cfg.steps_per_week
        steps = torch.cat([scaled[..., None], self._calendar(phases)], dim=-1)  # [B, L, 5]
        patches = steps.reshape(batch, cfg.input_length // cfg.patch_length, -1)  # [B, P, 5p]
        encoded, _ = self.encoder(patches)  # [B, P, hidden]
        first_future = self._calendar((end_phase + 1) % cfg.steps_per_week)  # [B, 4]
        residual: Tensor = self.head(torch.cat([encoded[:, -1], first_future], dim=-1))  # [B, H]
        return self.add_seasonal(residual, scaled, end_phase) * scale + level

    def add_seasonal(self, residual: Tensor, scaled: Tensor, end_phase: Tensor) -> Tensor:
        """``residual [B, H]`` plus the seasonal base and weekly trend of ``scaled [B, L]``.

        They carry the forecast's level: under bf16 autocast (train.precision) they stay fp32,
        or bf16's 8-bit mantissa costs ~50x the forward error of the encoder and head alone
        (measured on the default model). A no-op in fp32.
        """
        with torch.autocast(scaled.device.type, enabled=False):
            if self.base is not None:
                residual = residual + self.base(scaled, end_phase)
            if self.trend is not None:
                residual = residual + self.trend(scaled)
            return residual


def seasonal_forecast(model: RecurrentForecaster, values: Tensor, end_phase: Tensor) -> Tensor:
    """The forecast of ``model``'s seasonal base and weekly trend alone: ``[B, horizon]``.

    The forward pass without the recurrent network's residual, so evaluate can show what the
    network itself adds (issue 18: "score the base alone too"). A model with neither (a plain
    forecast) has no base: zeros in the window's scale, i.e. every step at the window's mean.
    """
    level, scale = model.normalise(values)
    scaled = (values - level) / scale  # [B, L]
    nothing = torch.zeros(values.shape[0], model.config.horizon, dtype=values.dtype)
    return model.add_seasonal(nothing, scaled, end_phase) * scale + level


def save_model(model: RecurrentForecaster, directory: Path) -> str:
    """Write weights (safetensors) and config (JSON) to ``directory``.

    Returns:
        The sha256 of the weights file, recorded so loaders can verify what they load.

    """
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    state = {
        name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()
    }
    save_file(state, str(directory / WEIGHTS_FILE))
    (directory / CONFIG_FILE).write_text(model.config.model_dump_json(indent=2) + "\n")
    digest = file_sha256(directory / WEIGHTS_FILE)
    (directory / SHA_FILE).write_text(json.dumps(digest) + "\n")
    return digest


def load_model(directory: Path, expected_sha256: str | None = None) -> RecurrentForecaster:
    """Rebuild a forecaster from ``directory`` without unpickling anything.

    Raises:
        FileNotFoundError: if the weights or config are missing.
        ValueError: if the weights do not match ``expected_sha256`` or the config.

    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights, config_path = directory / WEIGHTS_FILE, directory / CONFIG_FILE
    for required in (weights, config_path):
        if not required.is_file():
            raise FileNotFoundError(f"model file {required} is missing")
    if expected_sha256 is not None:
        actual = file_sha256(weights)
        if actual != expected_sha256:
            raise ValueError(
                f"weights {weights} have sha256 {actual}, expected {expected_sha256}: "
                "refusing to load a file that is not the one trained"
            )
    config = ModelConfig.from_saved(json.loads(config_path.read_text()))
    model = RecurrentForecaster(config)
    try:
        state = load_file(str(weights))
    except SafetensorError as err:
        raise ValueError(f"{weights} is not a safetensors file: {err}") from err
    model.load_state_dict(state)
    return model.eval()
