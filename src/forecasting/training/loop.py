"""Minibatch training with early stopping, a cosine learning-rate schedule and gradient clipping."""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from forecasting.model.network import ModelConfig, RecurrentForecaster
from forecasting.model.windows import WindowBatch, WindowDataset, collate_batch
from forecasting.training import distributed
from forecasting.training.checkpoints import Checkpoint, fingerprint, load_checkpoint
from forecasting.training.distributed import World, current_world, device_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingConfig:
    """How to fit the model (the ``train`` section of ``params.yaml`` minus the architecture)."""

    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 0.01
    weight_decay: float = 1e-4
    patience: int = 30
    # Keep the best validation epoch's weights (True) or the last epoch's (False, as Keras's
    # EarlyStopping without restore_best_weights): at the end of a one-cycle schedule the
    # annealed weights can generalise better than an early epoch that happened to fit val.
    restore_best: bool = False
    grad_clip_norm: float = 1.0
    seed: int = 42
    device: Literal["auto", "cpu", "cuda"] = "auto"
    checkpoint_dir: Path | None = None  # where a checkpoint is written every epoch; None = off
    resume: bool = True  # continue from a checkpoint of the same params and data when present


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
    kept_epoch: int = 0  # whose weights ``model`` holds: best_epoch, or the last (restore_best off)
    seconds: float = 0.0  # wall time of every epoch, validation included
    step_seconds: float = 0.0  # of which in training steps (data, forward, backward, update)
    samples_per_second: float = 0.0  # training samples / step_seconds
    epoch_samples_per_second: float = 0.0  # training samples / seconds
    device: str = "cpu"
    world_size: int = 1


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


def normalised_mse(model: nn.Module, batch: WindowBatch) -> torch.Tensor:
    """MSE in each window's own scale, so every window weighs the same whatever its level.

    ``model`` is the forecaster or its DistributedDataParallel wrapper.
    """
    return _normalised_mse_of(model(batch.inputs, batch.end_phase), batch)


def _normalised_mse_of(forecast: torch.Tensor, batch: WindowBatch) -> torch.Tensor:
    level, scale = RecurrentForecaster.normalise(batch.inputs)
    return nn.functional.mse_loss((forecast - level) / scale, (batch.targets - level) / scale)


@torch.no_grad()
def clip_gradients(grads: list[torch.Tensor], max_norm: float) -> None:
    """Scale ``grads`` in place so their joint L2 norm is at most ``max_norm``.

    The arithmetic of ``nn.utils.clip_grad_norm_`` (same ops, same order, so the same weights)
    for gradients that share one device and dtype, as one model's do. It skips the generic
    version's regrouping of tensors by device and dtype, which costs ~50 us of Python per step:
    ~1 % of a CPU training step.
    """
    norms = torch._foreach_norm(grads, 2.0)
    total = torch.linalg.vector_norm(torch.stack(norms), 2.0)
    torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))


def _to(batch: WindowBatch, device: torch.device) -> WindowBatch:
    return WindowBatch(
        batch.inputs.to(device, non_blocking=True),
        batch.end_phase.to(device, non_blocking=True),
        batch.targets.to(device, non_blocking=True),
    )


@torch.inference_mode()
def evaluate_loss(
    model: RecurrentForecaster, data: WindowDataset, device: torch.device, batch_size: int = 1024
) -> tuple[float, float]:
    """Mean normalised MSE and MAE (in data units) over every window of ``data``."""
    model.eval()
    loss_sum, abs_sum, count = 0.0, 0.0, 0
    for start in range(0, len(data), batch_size):
        items = torch.arange(start, min(start + batch_size, len(data)))
        batch = _to(data.gather(items), device)
        forecast = model(batch.inputs, batch.end_phase)  # one forward pass for both figures
        loss_sum += float(_normalised_mse_of(forecast, batch)) * len(items)
        abs_sum += float((forecast - batch.targets).abs().mean()) * len(items)
        count += len(items)
    return loss_sum / max(count, 1), abs_sum / max(count, 1)


class TrainingInterrupted(RuntimeError):
    """Training stopped on request (SIGTERM) after saving a checkpoint it can resume from."""


StopRequested = Callable[[], bool]


@dataclass
class _Progress:
    """What early stopping and the summary need, carried across epochs and resumes."""

    best_loss: float
    best_epoch: int
    best_model: dict[str, torch.Tensor]
    stale: int = 0
    samples: int = 0
    seconds: float = 0.0
    step_seconds: float = 0.0
    history: list[EpochRecord] = field(default_factory=list)


def _state_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: t.detach().clone() for name, t in model.state_dict().items()}


def _any_rank(flag: bool, world: World, device: torch.device) -> bool:
    """True on every rank if ``flag`` is true on any, so all ranks stop at the same epoch."""
    if not world.distributed:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def run_fingerprint(
    model_config: ModelConfig,
    config: TrainingConfig,
    train_data: WindowDataset,
    val_data: WindowDataset,
    world_size: int,
) -> str:
    """What a checkpoint must match to be resumed: the architecture, the fit, the data, the world."""
    fit = {k: v for k, v in vars(config).items() if k not in ("checkpoint_dir", "resume", "device")}
    return fingerprint(
        model_config.model_dump(), fit, train_data.fingerprint(), val_data.fingerprint(), world_size
    )


def train_model(
    model_config: ModelConfig,
    config: TrainingConfig,
    train_data: WindowDataset,
    val_data: WindowDataset,
    on_epoch: EpochCallback | None = None,
    stop_requested: StopRequested | None = None,
    checkpoint_extra: dict[str, str] | None = None,
) -> TrainResult:
    """Fit a fresh forecaster (or continue a checkpointed one) and return its best epoch's weights.

    Under ``torchrun`` each process trains on its shard of every epoch through
    DistributedDataParallel; every rank scores the whole validation set (so all agree on early
    stopping) and only rank 0 writes checkpoints.

    Raises:
        ValueError: if either data set holds no window.
        TrainingInterrupted: if ``stop_requested`` turned true (the checkpoint is saved first).

    """
    if len(train_data) == 0 or len(val_data) == 0:
        raise ValueError(
            f"no training windows ({len(train_data)}) or validation windows ({len(val_data)}): "
            "the splits are shorter than input_length + horizon"
        )
    world = current_world()
    device = device_for(world, resolve_device(config.device))
    distributed.start(world, device)
    seed_everything(config.seed)
    model = RecurrentForecaster(model_config).to(device)
    trained: nn.Module = (
        nn.parallel.DistributedDataParallel(
            model, device_ids=[device] if device.type == "cuda" else None
        )
        if world.distributed
        else model
    )
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    # Each epoch's order is a permutation seeded by (seed, epoch): the same with or without a
    # resume, and split across ranks under torchrun.
    sampler: DistributedSampler[Any] = DistributedSampler(
        train_data, num_replicas=world.size, rank=world.rank, shuffle=True, seed=config.seed
    )
    loader = DataLoader(
        train_data,
        batch_size=config.batch_size,
        sampler=sampler,
        collate_fn=cast(Callable[[list[Any]], Any], collate_batch),
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser,
        max_lr=config.learning_rate,
        total_steps=config.epochs * len(loader),
        pct_start=0.2,
    )
    this_run = run_fingerprint(model_config, config, train_data, val_data, world.size)
    progress = _Progress(best_loss=math.inf, best_epoch=0, best_model=_state_copy(model))
    first_epoch = 1
    resumed = (
        load_checkpoint(config.checkpoint_dir, this_run)
        if config.checkpoint_dir is not None and config.resume
        else None
    )
    if resumed is not None:
        model.load_state_dict(resumed.model)
        optimiser.load_state_dict(resumed.optimiser)
        scheduler.load_state_dict(resumed.scheduler)
        torch.set_rng_state(resumed.rng)
        progress = _Progress(
            best_loss=resumed.best_loss,
            best_epoch=resumed.best_epoch,
            best_model=resumed.best_model,
            stale=resumed.stale,
            samples=resumed.samples,
            seconds=resumed.seconds,
            step_seconds=resumed.step_seconds,
            history=[EpochRecord(**record) for record in resumed.history],
        )
        first_epoch = resumed.epoch + 1
        logger.info("resuming from the checkpoint after epoch %d", resumed.epoch)

    for epoch in range(first_epoch, config.epochs + 1):
        if progress.stale >= config.patience:
            break  # a checkpoint taken right at the early stop
        epoch_start = time.perf_counter()
        sampler.set_epoch(epoch)
        trained.train()
        # Summed on the device: a float() per step would stall a GPU on every batch.
        loss_sum, epoch_samples = torch.zeros((), device=device), 0
        for batch in loader:
            batch = _to(batch, device)
            optimiser.zero_grad(set_to_none=True)
            loss = normalised_mse(trained, batch)
            loss.backward()
            clip_gradients(
                [p.grad for p in model.parameters() if p.grad is not None], config.grad_clip_norm
            )
            optimiser.step()
            scheduler.step()
            loss_sum += loss.detach() * batch.inputs.shape[0]
            epoch_samples += batch.inputs.shape[0]
        train_loss = float(loss_sum) / max(epoch_samples, 1)
        progress.step_seconds += time.perf_counter() - epoch_start
        val_loss, val_mae = evaluate_loss(model, val_data, device)
        seconds = time.perf_counter() - epoch_start
        progress.samples += epoch_samples * world.size
        progress.seconds += seconds
        record = EpochRecord(
            epoch=epoch,
            train_loss=train_loss,
            val_loss=val_loss,
            val_mae=val_mae,
            learning_rate=float(scheduler.get_last_lr()[0]),
            seconds=seconds,
        )
        progress.history.append(record)
        if val_loss < progress.best_loss:
            progress.best_loss, progress.best_epoch, progress.stale = val_loss, epoch, 0
            progress.best_model = _state_copy(model)
        else:
            progress.stale += 1
        if world.is_main and config.checkpoint_dir is not None:
            Checkpoint(
                fingerprint=this_run,
                epoch=epoch,
                model=_state_copy(model),
                optimiser=optimiser.state_dict(),
                scheduler=scheduler.state_dict(),
                best_loss=progress.best_loss,
                best_epoch=progress.best_epoch,
                best_model=progress.best_model,
                stale=progress.stale,
                samples=progress.samples,
                seconds=progress.seconds,
                step_seconds=progress.step_seconds,
                rng=torch.get_rng_state(),
                history=[asdict(r) for r in progress.history],
                extra=checkpoint_extra or {},
            ).save(config.checkpoint_dir)
        if on_epoch is not None:
            on_epoch(record)
        if progress.stale >= config.patience:
            logger.info("early stop at epoch %d: no val improvement for %d", epoch, progress.stale)
            break
        if _any_rank(stop_requested is not None and stop_requested(), world, device):
            distributed.stop(world)
            raise TrainingInterrupted(
                f"training stopped after epoch {epoch} on request; its checkpoint is in "
                f"{config.checkpoint_dir}: run again to resume"
            )

    distributed.stop(world)
    kept_epoch = progress.history[-1].epoch
    if config.restore_best:
        model.load_state_dict(progress.best_model)
        kept_epoch = progress.best_epoch
    return TrainResult(
        model=model.cpu().eval(),
        history=progress.history,
        best_epoch=progress.best_epoch,
        kept_epoch=kept_epoch,
        seconds=progress.seconds,
        step_seconds=progress.step_seconds,
        samples_per_second=progress.samples / max(progress.step_seconds, 1e-9),
        epoch_samples_per_second=progress.samples / max(progress.seconds, 1e-9),
        device=str(device),
        world_size=world.size,
    )
