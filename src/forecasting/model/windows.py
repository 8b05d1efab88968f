"""Forecast windows indexed lazily into a series.

A window is (the ``input_length`` observations ending at an *origin*, the origin's week phase,
the ``horizon`` observations after it). Nothing is materialised per window: the data set keeps
the series end to end in one ``[N]`` tensor and an index of origins, and a batch is gathered
from a strided ``unfold`` view only when it is asked for. Memory grows with series length, not
length × window.
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
        # All series end to end in one tensor (each series a view into it), so a batch is one
        # indexing op whatever series its windows come from. Windows never straddle two
        # series: every origin below has its full span inside its own series.
        lengths = [len(one.values) for one in series]
        self._flat_values = torch.from_numpy(
            np.concatenate([np.asarray(one.values, dtype=np.float32) for one in series])
            if series
            else np.empty(0, np.float32)
        )
        self._flat_phases = torch.from_numpy(
            np.concatenate([np.asarray(one.phases, dtype=np.int64) for one in series])
            if series
            else np.empty(0, np.int64)
        )
        starts = np.cumsum([0, *lengths], dtype=np.int64)[:-1]  # [series] first positions
        self._values = [self._flat_values[a : a + n] for a, n in zip(starts, lengths, strict=True)]
        self._phases = [self._flat_phases[a : a + n] for a, n in zip(starts, lengths, strict=True)]
        index: list[np.ndarray] = []
        for number, length in enumerate(lengths):
            first = max(input_length - 1, first_origins[number] if first_origins else 0)
            origins = np.arange(first, length - horizon, stride, dtype=np.int64)
            index.append(np.stack([np.full_like(origins, number), origins], axis=1))
        self._index = torch.from_numpy(
            np.concatenate(index) if index else np.empty((0, 2), np.int64)
        )
        span = input_length + horizon
        # [total - L - H + 1, L + H] strided view: no copy.
        self._flat_view = (
            self._flat_values.unfold(0, span, 1)
            if len(self._flat_values) >= span
            else self._flat_values.new_empty((0, span))
        )
        # [K] each window's origin as a position in the flat tensor
        self._origin_at = torch.from_numpy(starts)[self._index[:, 0]] + self._index[:, 1]

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
        origin = self._origin_at[items]  # [B]
        windows = self._flat_view[origin - (self.input_length - 1)]  # [B, L + H], a copy
        return WindowBatch(
            windows[:, : self.input_length].contiguous(),
            self._flat_phases[origin],
            windows[:, self.input_length :].contiguous(),
        )


def collate_batch(batch: WindowBatch) -> WindowBatch:
    """``DataLoader`` collate for ``__getitems__``: the batch is already assembled."""
    return batch
