"""Which windows an epoch trains on, and which it is scored on: all, or a seeded budget.

With many series the windows grow with the series count (2.4k for the default series, 2.4M for a
thousand like it), and so would an epoch's cost. A budget of ``N`` windows per epoch fixes that
cost: each epoch trains on ``N`` windows drawn without replacement from all of them, a different
draw each epoch, so over the run the model still sees every series. Validation is scored on
all windows, or (``train.val_windows``) on one fixed draw, the same every epoch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized
from typing import Any

import torch
from torch.utils.data import DistributedSampler


class EpochSampler(DistributedSampler[Any]):
    """:class:`DistributedSampler` (shuffled, split across ranks), optionally on a budget.

    ``budget=None`` is DistributedSampler itself, index for index: every window each epoch in a
    permutation seeded by ``seed + epoch``. With a budget, an epoch is the first ``budget``
    indices of that same permutation (without replacement; all windows if there are fewer),
    padded and split across ranks the way DistributedSampler splits the whole set, so the draw
    depends on (seed, epoch) only: the same with or without a resume, on any world size.
    """

    def __init__(
        self, dataset: Sized, num_replicas: int, rank: int, seed: int, budget: int | None
    ) -> None:
        super().__init__(
            dataset,  # type: ignore[arg-type]
            num_replicas=num_replicas,
            rank=rank,
            shuffle=True,
            seed=seed,
        )
        if budget is not None and budget < 1:
            raise ValueError(f"train.windows_per_epoch must be at least 1 or null, not {budget}")
        self.budget = budget
        self.drawn = len(dataset) if budget is None else min(budget, len(dataset))
        self.num_samples = math.ceil(self.drawn / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def __iter__(self) -> Iterator[int]:
        """The indices of this rank for the epoch set by :meth:`set_epoch`."""
        if self.budget is None:
            return super().__iter__()
        generator = torch.Generator()
        generator.manual_seed(self.seed + self.epoch)
        size = len(self.dataset)  # type: ignore[arg-type]
        indices: list[int] = torch.randperm(size, generator=generator)[: self.drawn].tolist()
        # pad with the epoch's first draws so every rank takes as many steps (as DDP needs)
        indices += indices[: self.total_size - len(indices)]
        return iter(indices[self.rank : self.total_size : self.num_replicas])


def validation_sample(windows: int, budget: int | None, seed: int) -> torch.Tensor | None:
    """The validation windows each epoch scores: None for all, else ``budget`` of them [budget].

    Drawn once, seeded by ``seed`` alone and in window order: every epoch (and a resumed run,
    and every rank) scores the same windows, so their losses compare and early stopping holds.
    At 1,000 series the ~560k validation windows cost more than a 16k-window epoch's training.
    """
    if budget is not None and budget < 1:
        raise ValueError(f"train.val_windows must be at least 1 or null, not {budget}")
    if budget is None or budget >= windows:
        return None
    generator = torch.Generator()
    generator.manual_seed(seed)
    return torch.randperm(windows, generator=generator)[:budget].sort().values
