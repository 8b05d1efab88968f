"""Minibatch training with early stopping, a one-cycle learning-rate schedule and gradient clipping.

A run is a :class:`Trainer`: constructing it sets everything up (process group, seeds, model,
optimiser, sampler, schedule) and resumes from the run's checkpoint when there is one, reading
it once; :meth:`Trainer.fit` runs the remaining epochs. :func:`train_model` does both.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from forecasting.model.network import ModelConfig, RecurrentForecaster
from forecasting.model.windows import WindowBatch, WindowDataset, collate_batch
from forecasting.training import distributed
from forecasting.training.augmentation import shift_levels
from forecasting.training.checkpoints import Checkpoint, fingerprint, load_checkpoint
from forecasting.training.config import Loss, RunSettings, TrainingConfig
from forecasting.training.distributed import World, current_world, device_for
from forecasting.training.precision import check_precision
from forecasting.training.progress import EpochRecord, Progress
from forecasting.training.sampling import EpochSampler, validation_sample

__all__ = [
    "EpochRecord",
    "RunSettings",
    "TrainResult",
    "Trainer",
    "TrainingConfig",
    "TrainingInterrupted",
    "run_fingerprint",
    "train_model",
]

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """The kept model and how training went."""

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

    @property
    def best(self) -> EpochRecord:
        """The epoch with the lowest validation loss."""
        return self.history[self.best_epoch - 1]

    @property
    def kept(self) -> EpochRecord:
        """The epoch whose weights ``model`` holds."""
        return self.history[self.kept_epoch - 1]

    def summary_metrics(self) -> dict[str, float]:
        """The train stage's DVC metrics: of the kept weights, the ones evaluate scores."""
        kept = self.kept
        return {
            "train/loss": kept.train_loss,
            "val/loss": kept.val_loss,
            "val/mae": kept.val_mae,
            "best_epoch": self.best_epoch,
            "kept_epoch": self.kept_epoch,
            "epochs_run": len(self.history),
            **self._speed(),
        }

    def tracking_metrics(self) -> dict[str, float]:
        """The run's closing MLflow metrics (per-epoch figures are logged as they come)."""
        best, kept = self.best, self.kept
        return {
            "best/val_loss": best.val_loss,
            "best/val_mae": best.val_mae,
            "best_epoch": self.best_epoch,
            "kept/val_loss": kept.val_loss,
            "kept/val_mae": kept.val_mae,
            "kept_epoch": self.kept_epoch,
            **self._speed(),
        }

    def _speed(self) -> dict[str, float]:
        return {
            "train/seconds": self.seconds,
            "train/samples_per_second": self.samples_per_second,
            "train/epoch_samples_per_second": self.epoch_samples_per_second,
        }


EpochCallback = Callable[[EpochRecord], None]
StopRequested = Callable[[], bool]


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; returns a generator for the data order."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def resolve_device(requested: str) -> torch.device:
    """``auto`` picks CUDA when present, else CPU; asking for CUDA without one is an error."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device is 'cuda' but no CUDA device is available; use 'auto'")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def normalised_loss(forecast: torch.Tensor, batch: WindowBatch, kind: Loss) -> torch.Tensor:
    """``kind`` (mse | mae | huber) in each window's own scale: every window weighs the same.

    ``forecast`` and ``batch.targets`` are [B, H]; a window's level and scale are its input's.
    """
    level, scale = RecurrentForecaster.normalise(batch.inputs)
    scaled, target = (forecast - level) / scale, (batch.targets - level) / scale
    if kind == "mae":
        return nn.functional.l1_loss(scaled, target)
    if kind == "huber":
        # delta 1: quadratic within one window std of the target, linear beyond
        return nn.functional.huber_loss(scaled, target, delta=1.0)
    return nn.functional.mse_loss(scaled, target)


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
    model: RecurrentForecaster,
    data: WindowDataset,
    device: torch.device,
    loss: Loss,
    batch_size: int = 1024,
    windows: torch.Tensor | None = None,
) -> tuple[float, float]:
    """Mean normalised ``loss`` and MAE (in data units) over ``windows`` of ``data`` [N] (None: all)."""
    model.eval()
    chosen = torch.arange(len(data)) if windows is None else windows
    loss_sum, abs_sum, count = 0.0, 0.0, 0
    for start in range(0, len(chosen), batch_size):
        items = chosen[start : start + batch_size]
        batch = _to(data.gather(items), device)
        forecast = model(batch.inputs, batch.end_phase)  # one forward pass for both figures
        loss_sum += float(normalised_loss(forecast, batch, loss)) * len(items)
        abs_sum += float((forecast - batch.targets).abs().mean()) * len(items)
        count += len(items)
    return loss_sum / max(count, 1), abs_sum / max(count, 1)


class TrainingInterrupted(RuntimeError):
    """Training stopped on request (SIGTERM) after saving a checkpoint it can resume from."""


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
    """What a checkpoint must match to be resumed: the architecture, the fit, the data, the world.

    Every :class:`TrainingConfig` field counts; :class:`RunSettings` never does.
    """
    return fingerprint(
        model_config.model_dump(),
        asdict(config),
        train_data.fingerprint(),
        val_data.fingerprint(),
        world_size,
    )


def _for_world(model: nn.Module, world: World, device: torch.device) -> nn.Module:
    """The module the steps call: DDP around the model under torchrun, else the model itself."""
    if not world.distributed:
        return model
    ids = [device] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def _check_windows(train_data: WindowDataset, val_data: WindowDataset) -> None:
    if len(train_data) == 0 or len(val_data) == 0:
        raise ValueError(
            f"no training windows ({len(train_data)}) or validation windows ({len(val_data)}): "
            "the splits are shorter than input_length + horizon"
        )


class Trainer:
    """One training run, set up and (when its checkpoint is there) resumed on construction.

    Under ``torchrun`` each process trains on its shard of every epoch through
    DistributedDataParallel; every rank scores the whole validation set (so all agree on early
    stopping) and only rank 0 writes checkpoints.

    Raises:
        ValueError: if either data set holds no window, or CUDA is asked for and absent.

    """

    def __init__(
        self,
        model_config: ModelConfig,
        config: TrainingConfig,
        settings: RunSettings,
        train_data: WindowDataset,
        val_data: WindowDataset,
    ) -> None:
        _check_windows(train_data, val_data)
        self.config, self.settings, self.val_data = config, settings, val_data
        self.world = current_world()
        self.device = device_for(self.world, resolve_device(settings.device))
        check_precision(config.precision, self.device)
        self.val_sample = validation_sample(len(val_data), config.val_windows, config.seed)
        logger.info(
            "%d training windows, %d validation windows%s on %s%s",
            len(train_data),
            len(val_data),
            "" if self.val_sample is None else f" ({len(self.val_sample)} scored each epoch)",
            self.device,
            f", {self.world.size} processes" if self.world.distributed else "",
        )
        distributed.start(self.world, self.device)
        # The order below is the order of draws from the seeded generators: keep it, or the
        # same params give other weights.
        seed_everything(config.seed)
        self.model = RecurrentForecaster(model_config).to(self.device)
        self.trained = _for_world(self.model, self.world, self.device)
        self.optimiser = torch.optim.AdamW(
            self.model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        # Each epoch's order is a permutation seeded by (seed, epoch): the same with or without
        # a resume, and split across ranks under torchrun; with train.windows_per_epoch, only
        # that many windows of it (a fixed cost per epoch however many series).
        self.sampler: DistributedSampler[Any] = EpochSampler(
            train_data,
            num_replicas=self.world.size,
            rank=self.world.rank,
            seed=config.seed,
            budget=config.windows_per_epoch,
        )
        self.loader = DataLoader(
            train_data,
            batch_size=config.batch_size,
            sampler=self.sampler,
            collate_fn=cast(Callable[[list[Any]], Any], collate_batch),
        )
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimiser,
            max_lr=config.learning_rate,
            total_steps=config.epochs * len(self.loader),
            pct_start=0.2,
        )
        self.fingerprint = run_fingerprint(
            model_config, config, train_data, val_data, self.world.size
        )
        self.progress = Progress.fresh(self.model)
        self.resumed = self._resume()

    @property
    def first_epoch(self) -> int:
        """The next epoch to run: 1, or the one after the checkpoint's."""
        return 1 if self.resumed is None else self.resumed.epoch + 1

    @property
    def resumed_extra(self) -> dict[str, str]:
        """What the caller stored with the checkpoint resumed from (empty for a fresh run)."""
        return {} if self.resumed is None else self.resumed.extra

    def _resume(self) -> Checkpoint | None:
        """Load the run's checkpoint, if resuming is on and one of this run is there."""
        directory = self.settings.checkpoint_dir
        if directory is None or not self.settings.resume:
            return None
        checkpoint = load_checkpoint(directory, self.fingerprint)
        if checkpoint is None:
            return None
        self.model.load_state_dict(checkpoint.model)
        self.optimiser.load_state_dict(checkpoint.optimiser)
        self.scheduler.load_state_dict(checkpoint.scheduler)
        torch.set_rng_state(checkpoint.rng)
        if self.device.type == "cuda" and checkpoint.cuda_rng is not None:
            torch.cuda.set_rng_state(checkpoint.cuda_rng, self.device)
        elif (self.device.type == "cuda") != (checkpoint.cuda_rng is not None):
            logger.warning("the checkpoint was taken on another kind of device: dropout differs")
        self.progress = checkpoint.progress
        logger.info("resuming from the checkpoint after epoch %d", checkpoint.epoch)
        return checkpoint

    def _autocast(self) -> contextlib.AbstractContextManager[object]:
        """bf16 autocast of the forward pass; fp32 enters no context at all."""
        if self.config.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _train_epoch(self, epoch: int) -> tuple[float, int]:
        """One pass over this rank's shard; returns the mean training loss and the samples."""
        self.sampler.set_epoch(epoch)
        self.trained.train()
        # The level shifts of (seed, epoch, rank): the same with or without a resume.
        shifts = torch.Generator().manual_seed(
            (self.config.seed * 1_000_003 + epoch) * 1_009 + self.world.rank
        )
        # Summed on the device: a float() per step would stall a GPU on every batch.
        loss_sum, samples = torch.zeros((), device=self.device), 0
        for batch in self.loader:
            batch = shift_levels(_to(batch, self.device), self.config.level_shifts, shifts)
            self.optimiser.zero_grad(set_to_none=True)
            with self._autocast():
                forecast = self.trained(batch.inputs, batch.end_phase)
            # The loss in fp32 whatever the forward's precision (a no-op under fp32).
            loss = normalised_loss(forecast.float(), batch, self.config.loss)
            loss.backward()
            clip_gradients(
                [p.grad for p in self.model.parameters() if p.grad is not None],
                self.config.grad_clip_norm,
            )
            self.optimiser.step()
            self.scheduler.step()
            loss_sum += loss.detach() * batch.inputs.shape[0]
            samples += batch.inputs.shape[0]
        return float(loss_sum) / max(samples, 1), samples

    def _epoch(self, epoch: int) -> EpochRecord:
        """Train one epoch, score the validation set in fp32, and add both to the progress."""
        started = time.perf_counter()
        train_loss, samples = self._train_epoch(epoch)
        self.progress.step_seconds += time.perf_counter() - started
        val_loss, val_mae = evaluate_loss(
            self.model, self.val_data, self.device, self.config.loss, windows=self.val_sample
        )
        seconds = time.perf_counter() - started
        self.progress.samples += samples * self.world.size
        self.progress.seconds += seconds
        record = EpochRecord(
            epoch=epoch,
            train_loss=train_loss,
            val_loss=val_loss,
            val_mae=val_mae,
            learning_rate=float(self.scheduler.get_last_lr()[0]),
            seconds=seconds,
        )
        self.progress.record(record, self.model)
        logger.info(
            "epoch %3d/%d  train %.4f  val %.4f  val MAE %8.1f  lr %.2e  %.1fs",
            epoch,
            self.config.epochs,
            train_loss,
            val_loss,
            val_mae,
            record.learning_rate,
            seconds,
        )
        return record

    def _save_checkpoint(self, epoch: int, extra: dict[str, str]) -> None:
        if not self.world.is_main or self.settings.checkpoint_dir is None:
            return
        Checkpoint(
            fingerprint=self.fingerprint,
            epoch=epoch,
            model=self.model.state_dict(),
            optimiser=self.optimiser.state_dict(),
            scheduler=self.scheduler.state_dict(),
            progress=self.progress,
            rng=torch.get_rng_state(),
            cuda_rng=torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            extra=extra,
        ).save(self.settings.checkpoint_dir)

    def fit(
        self,
        on_epoch: EpochCallback | None = None,
        stop_requested: StopRequested | None = None,
        checkpoint_extra: dict[str, str] | None = None,
    ) -> TrainResult:
        """Run the remaining epochs and return the kept weights (best, or last).

        Raises:
            TrainingInterrupted: if ``stop_requested`` turned true (the checkpoint is saved
                first).

        """
        for epoch in range(self.first_epoch, self.config.epochs + 1):
            if self.progress.stale >= self.config.patience:
                break  # a checkpoint taken right at the early stop
            record = self._epoch(epoch)
            self._save_checkpoint(epoch, checkpoint_extra or {})
            if on_epoch is not None:
                on_epoch(record)
            if self.progress.stale >= self.config.patience:
                logger.info(
                    "early stop at epoch %d: no val improvement for %d", epoch, self.progress.stale
                )
                break
            if _any_rank(stop_requested is not None and stop_requested(), self.world, self.device):
                distributed.stop(self.world)
                raise TrainingInterrupted(
                    f"training stopped after epoch {epoch} on request; its checkpoint is in "
                    f"{self.settings.checkpoint_dir}: run again to resume"
                )
        distributed.stop(self.world)
        return self._result()

    def _result(self) -> TrainResult:
        progress = self.progress
        kept_epoch = progress.history[-1].epoch
        if self.config.restore_best:
            self.model.load_state_dict(progress.best_model)
            kept_epoch = progress.best_epoch
        result = TrainResult(
            model=self.model.cpu().eval(),
            history=progress.history,
            best_epoch=progress.best_epoch,
            kept_epoch=kept_epoch,
            seconds=progress.seconds,
            step_seconds=progress.step_seconds,
            samples_per_second=progress.samples / max(progress.step_seconds, 1e-9),
            epoch_samples_per_second=progress.samples / max(progress.seconds, 1e-9),
            device=str(self.device),
            world_size=self.world.size,
        )
        logger.info(
            "kept epoch %d (val MAE %.1f; best %d at %.1f); %.1fs, %.0f samples/s on %s",
            result.kept_epoch,
            result.kept.val_mae,
            result.best_epoch,
            result.best.val_mae,
            result.seconds,
            result.samples_per_second,
            result.device,
        )
        return result


def train_model(
    model_config: ModelConfig,
    config: TrainingConfig,
    settings: RunSettings,
    train_data: WindowDataset,
    val_data: WindowDataset,
    on_epoch: EpochCallback | None = None,
    stop_requested: StopRequested | None = None,
    checkpoint_extra: dict[str, str] | None = None,
) -> TrainResult:
    """Fit a fresh forecaster (or continue a checkpointed one): ``Trainer(...).fit(...)``.

    Raises:
        ValueError: if either data set holds no window.
        TrainingInterrupted: if ``stop_requested`` turned true (the checkpoint is saved first).

    """
    trainer = Trainer(model_config, config, settings, train_data, val_data)
    return trainer.fit(on_epoch, stop_requested, checkpoint_extra)
