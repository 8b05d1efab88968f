"""Forecast windows indexed lazily into a series.

A window is (the ``input_length`` observations ending at an *origin*, the origin's week phase,
the ``horizon`` observations after it). Nothing is materialised per window: the data set keeps
one ``[N]`` tensor per series and an index of origins, and a batch is gathered from a strided
``unfold`` view only when it is asked for. Memory grows with series length, not length × window.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset


@dataclass(frozen=True)
class SeriesArrays:
    """One regular series as arrays: values ``[N]`` float32, week phases ``[N]`` int64."""

    series_id: str
    values: np.ndarray
    phases: np.ndarray

    def __post_init__(self) -> None:
        if self.values.shape != self.phases.shape or self.values.ndim != 1:
            raise ValueError("values and phases must be 1-D arrays of the same length")


@dataclass(frozen=True)
class WindowBatch:
    """A batch of windows: ``inputs [B, L]``, ``end_phase [B]``, ``targets [B, H]``."""

    inputs: Tensor
    end_phase: Tensor
    targets: Tensor


class WindowDataset(Dataset[tuple[Tensor, Tensor, Tensor]]):
    """Windows whose origins lie in ``[first_origin, last_origin]`` of each series, every ``stride`` steps.

    ``first_origin``/``last_origin`` are positions in each series; an origin needs
    ``input_length - 1`` observations before it and ``horizon`` after it, and origins that lack
    them are skipped. This lets a validation or test window read its inputs from the preceding
    split while its targets stay inside its own split.
    """

    def __init__(
        self,
        series: Sequence[SeriesArrays],
        input_length: int,
        horizon: int,
        first_origins: Sequence[int] | None = None,
        stride: int = 1,
    ) -> None:
        self.input_length, self.horizon = input_length, horizon
        self._values: list[Tensor] = []
        self._phases: list[Tensor] = []
        self._views: list[Tensor] = []
        index: list[np.ndarray] = []
        for number, one in enumerate(series):
            values = torch.from_numpy(np.ascontiguousarray(one.values, dtype=np.float32))
            self._values.append(values)
            self._phases.append(torch.from_numpy(np.ascontiguousarray(one.phases, dtype=np.int64)))
            # [N - L - H + 1, L + H] strided view: no copy.
            span = input_length + horizon
            self._views.append(values.unfold(0, span, 1) if len(values) >= span else values[:0])
            first = max(input_length - 1, first_origins[number] if first_origins else 0)
            origins = np.arange(first, len(values) - horizon, stride, dtype=np.int64)
            index.append(np.stack([np.full_like(origins, number), origins], axis=1))
        self._index = torch.from_numpy(
            np.concatenate(index) if index else np.empty((0, 2), np.int64)
        )

    def __len__(self) -> int:
        return int(self._index.shape[0])

    @property
    def origins(self) -> Tensor:
        """``[K, 2]`` (series number, origin position) of every window."""
        return self._index

    def fingerprint(self) -> str:
        """sha256 of every series' values and phases and of the origin index."""
        digest = hashlib.sha256()
        for values, phases in zip(self._values, self._phases, strict=True):
            digest.update(values.numpy().tobytes())
            digest.update(phases.numpy().tobytes())
        digest.update(self._index.numpy().tobytes())
        digest.update(f"{self.input_length}/{self.horizon}".encode())
        return digest.hexdigest()

    def __getitem__(self, item: int) -> tuple[Tensor, Tensor, Tensor]:
        batch = self.gather(torch.tensor([item]))
        return batch.inputs[0], batch.end_phase[0], batch.targets[0]

    def __getitems__(self, items: list[int]) -> WindowBatch:
        """Batched fetch used by ``DataLoader``: one gather per series, not one per window."""
        return self.gather(torch.as_tensor(items, dtype=torch.int64))

    def gather(self, items: Tensor) -> WindowBatch:
        """Materialise the windows ``items`` (positions in this data set) as one batch."""
        rows = self._index[items]
        span_start = rows[:, 1] - (self.input_length - 1)  # window start = origin - L + 1
        inputs = torch.empty((len(items), self.input_length), dtype=torch.float32)
        targets = torch.empty((len(items), self.horizon), dtype=torch.float32)
        end_phase = torch.empty(len(items), dtype=torch.int64)
        for number in rows[:, 0].unique().tolist():
            mask = rows[:, 0] == number
            windows = self._views[number][span_start[mask]]  # [b, L + H]
            inputs[mask] = windows[:, : self.input_length]
            targets[mask] = windows[:, self.input_length :]
            end_phase[mask] = self._phases[number][rows[mask, 1]]
        return WindowBatch(inputs, end_phase, targets)


def collate_batch(batch: WindowBatch) -> WindowBatch:
    """``DataLoader`` collate for ``__getitems__``: the batch is already assembled."""
    return batch
