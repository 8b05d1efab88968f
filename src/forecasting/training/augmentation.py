"""Training-time augmentation: level shifts that persist into the targets.

A demand series moves between regimes (the summer-holiday dip and the rebound after it, a
plant that closes, a new tariff): the level changes at some step and stays changed. Trained
on a few weeks in which such changes happen rarely, the network learns to shrink every level
change it sees back towards the past (out of sample the default model was biased ~200 MW low
through the August rebound of the validation split). Adding to each training window a random
shift that starts inside its input and lasts through its targets teaches it that a change in
the recent level carries on. Validation and test windows are never shifted.
"""

from __future__ import annotations

import torch

from forecasting.model.windows import WindowBatch


def shift_levels(
    batch: WindowBatch, relative_size: float, generator: torch.Generator
) -> WindowBatch:
    """``batch`` with one level shift per window, of N(0, relative_size x the input's std).

    Each shift starts at a random step of the second half of the input and lasts to the last
    target, so the window's recent past and its future share the new level. ``relative_size``
    0 returns ``batch`` itself.
    """
    if relative_size == 0:
        return batch
    inputs, targets = batch.inputs, batch.targets  # [B, L], [B, H]
    count, length = inputs.shape
    device = inputs.device
    # Drawn on the CPU generator whatever the device: the same shifts on a GPU as on a CPU.
    size = torch.randn(count, 1, generator=generator).to(device)
    size = size * relative_size * inputs.std(dim=1, keepdim=True)  # [B, 1]
    start = torch.randint(length // 2, length, (count, 1), generator=generator).to(device)
    after = (torch.arange(length, device=device)[None, :] >= start).to(inputs.dtype)  # [B, L]
    return WindowBatch(inputs + size * after, batch.end_phase, targets + size)
