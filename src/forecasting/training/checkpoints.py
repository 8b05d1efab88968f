"""Per-epoch training checkpoints: everything needed to continue as if never interrupted.

A checkpoint holds the model, optimiser and scheduler state, the epoch, the run's
:class:`~forecasting.training.progress.Progress` (early-stopping state, best weights, totals,
history), the torch RNG states (CPU, and the training device's CUDA generator when on CUDA:
dropout draws from it there) and a fingerprint of the configuration and data it belongs to. It
is written atomically every epoch, so a ``kill -9`` at any moment leaves the last complete epoch
on disk, and it is read with ``weights_only=True``: tensors and plain containers only, never
pickled code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from forecasting.core.files import json_sha256, write_atomically
from forecasting.training.progress import Progress

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"


def fingerprint(*parts: Any) -> str:
    """A short digest of the configuration and data a checkpoint may be resumed with."""
    return json_sha256(*parts)[:16]


@dataclass
class Checkpoint:
    """The state of a training run at the end of ``epoch``."""

    fingerprint: str
    epoch: int
    model: dict[str, torch.Tensor]
    optimiser: dict[str, Any]
    scheduler: dict[str, Any]
    progress: Progress
    rng: torch.Tensor  # torch's CPU generator
    cuda_rng: torch.Tensor | None  # the training device's CUDA generator; None off CUDA
    extra: dict[str, str]  # e.g. the MLflow run to continue

    def save(self, directory: Path) -> None:
        """Write atomically: a kill mid-write leaves the previous checkpoint intact."""
        payload = {**vars(self), "progress": self.progress.as_payload()}
        write_atomically(directory / CHECKPOINT_FILE, lambda path: torch.save(payload, path))


def load_checkpoint(directory: Path, expected_fingerprint: str) -> Checkpoint | None:
    """The checkpoint in ``directory`` if it belongs to this configuration and data, else None."""
    path = directory / CHECKPOINT_FILE
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        checkpoint = Checkpoint(
            **{**payload, "progress": Progress.from_payload(payload["progress"])}
        )
    except Exception as err:  # a corrupt or foreign file: start over rather than crash
        logger.warning("ignoring unreadable checkpoint %s: %s", path, err)
        return None
    if checkpoint.fingerprint != expected_fingerprint:
        logger.info(
            "checkpoint %s belongs to other params or data (%s, expected %s); starting fresh",
            path,
            checkpoint.fingerprint,
            expected_fingerprint,
        )
        return None
    return checkpoint


def remove_checkpoint(directory: Path) -> None:
    """Drop the checkpoint once the run it belongs to has finished."""
    (directory / CHECKPOINT_FILE).unlink(missing_ok=True)
