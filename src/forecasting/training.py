"""Minibatch training with early stopping, a cosine learning-rate schedule and gradient clipping."""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from forecasting.model import ModelConfig, RecurrentForecaster
from forecasting.windows import WindowBatch, WindowDataset, collate_batch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingConfig:
    """How to fit the model (the ``train`` section of ``params.yaml`` minus the architecture)."""

    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    patience: int = 6
    grad_clip_norm: float = 1.0
    seed: int = 42
    device: Literal["auto", "cpu", "cuda"] = "auto"


@dataclass(frozen=True)
class EpochRecord:
    """One epoch's figures, as logged and plotted."""

    epoch: int
    train_loss: float
    val_loss: float
    val_mae: float
    learning_rate: float
    seconds: float


@dataclass
class TrainResult:
    """The best model (by validation loss) and how training went."""

    model: RecurrentForecaster
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0
    samples_per_second: float = 0.0
    device: str = "cpu"


EpochCallback = Callable[[EpochRecord], None]


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; returns a generator for the data order."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def resolve_device(requested: str) -> torch.device:
    """``auto`` picks CUDA when present, else CPU; asking for CUDA without one is an error."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but no CUDA device is available; use 'auto'")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def normalised_mse(model: RecurrentForecaster, batch: WindowBatch) -> torch.Tensor:
    """MSE in each window's own scale, so every window weighs the same whatever its level."""
    forecast = model(batch.inputs, batch.end_phase)
    level, scale = model.normalise(batch.inputs)
    return nn.functional.mse_loss((forecast - level) / scale, (batch.targets - level) / scale)


def _to(batch: WindowBatch, device: torch.device) -> WindowBatch:
    return WindowBatch(
        batch.inputs.to(device, non_blocking=True),
        batch.end_phase.to(device, non_blocking=True),
        batch.targets.to(device, non_blocking=True),
    )


@torch.no_grad()
def evaluate_loss(
    model: RecurrentForecaster, data: WindowDataset, device: torch.device, batch_size: int = 1024
) -> tuple[float, float]:
    """Mean normalised MSE and MAE (in data units) over every window of ``data``."""
    model.eval()
    loss_sum, abs_sum, count = 0.0, 0.0, 0
    for start in range(0, len(data), batch_size):
        items = torch.arange(start, min(start + batch_size, len(data)))
        batch = _to(data.gather(items), device)
        loss_sum += float(normalised_mse(model, batch)) * len(items)
        forecast = model(batch.inputs, batch.end_phase)
        abs_sum += float((forecast - batch.targets).abs().mean()) * len(items)
        count += len(items)
    return loss_sum / max(count, 1), abs_sum / max(count, 1)


def train_model(
    model_config: ModelConfig,
    config: TrainingConfig,
    train_data: WindowDataset,
    val_data: WindowDataset,
    on_epoch: EpochCallback | None = None,
) -> TrainResult:
    """Fit a fresh forecaster and return the weights of its best validation epoch.

    Raises:
        ValueError: if either data set holds no window.

    """
    if len(train_data) == 0 or len(val_data) == 0:
        raise ValueError(
            f"no training windows ({len(train_data)}) or validation windows ({len(val_data)}): "
            "the splits are shorter than input_length + horizon"
        )
    generator = seed_everything(config.seed)
    device = resolve_device(config.device)
    model = RecurrentForecaster(model_config).to(device)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    steps_per_epoch = math.ceil(len(train_data) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser,
        max_lr=config.learning_rate,
        total_steps=config.epochs * steps_per_epoch,
        pct_start=0.2,
    )
    loader = DataLoader(
        train_data,
        batch_size=config.batch_size,
        shuffle=True,
        generator=generator,
        collate_fn=cast(Callable[[list[Any]], Any], collate_batch),
        drop_last=False,
    )
    result = TrainResult(model=model, device=str(device))
    best_loss, best_state, stale, samples = math.inf, copy.deepcopy(model.state_dict()), 0, 0
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        model.train()
        loss_sum = 0.0
        for batch in loader:
            batch = _to(batch, device)
            optimiser.zero_grad(set_to_none=True)
            loss = normalised_mse(model, batch)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
            optimiser.step()
            scheduler.step()
            loss_sum += float(loss.detach()) * batch.inputs.shape[0]
            samples += batch.inputs.shape[0]
        val_loss, val_mae = evaluate_loss(model, val_data, device)
        record = EpochRecord(
            epoch=epoch,
            train_loss=loss_sum / len(train_data),
            val_loss=val_loss,
            val_mae=val_mae,
            learning_rate=float(scheduler.get_last_lr()[0]),
            seconds=time.perf_counter() - epoch_start,
        )
        result.history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if val_loss < best_loss:
            best_loss, stale, result.best_epoch = val_loss, 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= config.patience:
                logger.info("early stop at epoch %d: no val improvement for %d", epoch, stale)
                break
    result.seconds = time.perf_counter() - started
    result.samples_per_second = samples / max(result.seconds, 1e-9)
    model.load_state_dict(best_state)
    result.model = model.cpu().eval()
    return result
