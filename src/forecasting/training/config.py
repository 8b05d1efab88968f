"""The two halves of a training run's settings: what the weights depend on, and where it runs.

:class:`TrainingConfig` is fingerprinted: a checkpoint is resumed only by a run with the same
values (and the same architecture, data and world size). :class:`RunSettings` is never part of
the fingerprint, so a new infrastructure field cannot make every checkpoint foreign. Neither
carries a default: every value comes from ``params.yaml`` (the ``train`` section and
``base.seed``), the one place a pipeline default lives.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Precision = Literal["fp32", "bf16"]
Device = Literal["auto", "cpu", "cuda"]
Loss = Literal["mse", "mae", "huber"]


@dataclass(frozen=True)
class TrainingConfig:
    """How to fit the model: everything beside the architecture that the weights depend on."""

    epochs: int
    batch_size: int
    learning_rate: float  # the one-cycle schedule's peak
    weight_decay: float
    patience: int  # early stop after this many epochs without a better validation loss
    # Keep the best validation epoch's weights (True) or the last epoch's (False, as Keras's
    # EarlyStopping without restore_best_weights): at the end of a one-cycle schedule the
    # annealed weights can generalise better than an early epoch that happened to fit val.
    restore_best: bool
    grad_clip_norm: float
    # What each step minimises, in each window's own scale: mse | mae (the metric evaluate
    # reports and the gate judges) | huber (quadratic within one window std, linear beyond).
    loss: Loss
    # Each training window gets a level shift of N(0, this x its input's std) from a random
    # step of its input's second half through its targets (training/augmentation.py); 0: none.
    level_shifts: float
    seed: int
    # bf16: the forward pass under autocast (the loss, the gradients and the weights stay
    # fp32), on CUDA or on the CPU: CPU autocast runs it too (slower on CPUs without bf16
    # units, but the same code path as on a GPU). It changes the arithmetic, so it is
    # fingerprinted like the rest.
    precision: Precision
    # None: every training window each epoch; N: N windows drawn each epoch, without replacement
    # and seeded by (seed, epoch), so an epoch costs the same however many series there are. It
    # changes which windows the weights saw, so it is fingerprinted.
    windows_per_epoch: int | None
    # None: every validation window scores each epoch; N: a fixed draw of N (seeded by seed),
    # the same every epoch so epochs compare. It changes which epoch is kept, so it is
    # fingerprinted.
    val_windows: int | None


@dataclass(frozen=True)
class RunSettings:
    """Where and how a run executes, never what it computes (not fingerprinted)."""

    device: Device  # auto: CUDA when present, else CPU
    checkpoint_dir: Path | None  # a checkpoint is written here every epoch; None: none
    resume: bool  # continue from a checkpoint of the same config and data when there is one
