"""Per-epoch training checkpoints: everything needed to continue as if never interrupted.

A checkpoint holds the model, optimiser and scheduler state, the epoch, the early-stopping state
(best loss, best weights, epochs without improvement), the history so far, the torch RNG state
(dropout) and a fingerprint of the configuration and data it belongs to. It is written atomically
every epoch, so a ``kill -9`` at any moment leaves the last complete epoch on disk, and it is read
with ``weights_only=True``: tensors and plain containers only, never pickled code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from forecasting.core.files import json_sha256, write_atomically

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
    best_loss: float
    best_epoch: int
    best_model: dict[str, torch.Tensor]
    stale: int
    samples: int
    seconds: float
    step_seconds: float
    rng: torch.Tensor
    history: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)  # e.g. the MLflow run to continue

    def save(self, directory: Path) -> None:
        """Write atomically: a kill mid-write leaves the previous checkpoint intact."""
        payload = dict(vars(self))
        write_atomically(directory / CHECKPOINT_FILE, lambda path: torch.save(payload, path))


def load_checkpoint(directory: Path, expected_fingerprint: str) -> Checkpoint | None:
    """The checkpoint in ``directory`` if it belongs to this configuration and data, else None."""
    path = directory / CHECKPOINT_FILE
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        checkpoint = Checkpoint(**payload)
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
