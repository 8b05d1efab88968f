"""What a training run carries from epoch to epoch (and through a checkpoint to its resume)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch


def weights_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of ``model``'s state: later steps do not change it."""
    return {name: t.detach().clone() for name, t in model.state_dict().items()}


@dataclass(frozen=True)
class EpochRecord:
    """One epoch's figures, as logged and plotted."""

    epoch: int
    train_loss: float
    val_loss: float
    val_mae: float
    learning_rate: float
    seconds: float

    def metrics(self) -> dict[str, float]:
        """The figures under the run's metric keys (``split/name``), as MLflow logs each epoch."""
        return {
            "train/loss": self.train_loss,
            "val/loss": self.val_loss,
            "val/mae": self.val_mae,
            "lr": self.learning_rate,
        }


@dataclass
class Progress:
    """Early stopping's state and the run's totals so far."""

    best_loss: float
    best_epoch: int
    best_model: dict[str, torch.Tensor]  # the best validation epoch's weights
    stale: int = 0  # epochs since the best one
    samples: int = 0  # training samples seen, over every rank
    seconds: float = 0.0  # wall time of every epoch, validation included
    step_seconds: float = 0.0  # of which in training steps
    history: list[EpochRecord] = field(default_factory=list)

    @classmethod
    def fresh(cls, model: torch.nn.Module) -> Progress:
        """Before the first epoch: nothing better than ``model``'s initial weights yet."""
        return cls(best_loss=float("inf"), best_epoch=0, best_model=weights_copy(model))

    def record(self, epoch: EpochRecord, model: torch.nn.Module) -> None:
        """Add an epoch; a copy of ``model``'s weights becomes the best if the epoch is."""
        self.history.append(epoch)
        if epoch.val_loss < self.best_loss:
            self.best_loss, self.best_epoch, self.stale = epoch.val_loss, epoch.epoch, 0
            self.best_model = weights_copy(model)
        else:
            self.stale += 1

    def as_payload(self) -> dict[str, Any]:
        """Plain containers and tensors only, so a checkpoint loads with ``weights_only=True``."""
        payload = {f.name: getattr(self, f.name) for f in fields(self)}
        payload["history"] = [asdict(record) for record in self.history]
        return payload

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Progress:
        """The inverse of :meth:`as_payload`."""
        history = [EpochRecord(**record) for record in payload["history"]]
        return cls(**{**payload, "history": history})
