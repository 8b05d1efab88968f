"""Whether this device can run the network's recurrent cells in bf16, asked before training.

CPU autocast runs LSTM and GRU cells through oneDNN, which has bf16 kernels for them only on
CPUs with AVX-512 (or AMX); on an AVX2-only CPU the first forward pass fails deep inside torch
with "could not create a primitive descriptor". A two-step forward and backward of each cell
here turns that into one line naming the setting, before any epoch runs.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from forecasting.core.errors import ForecastingError


@functools.lru_cache(maxsize=8)
def runs_bf16(device_type: str) -> bool:
    """Whether an LSTM and a GRU run forward and backward under bf16 autocast on this device."""
    generator = torch.Generator().manual_seed(0)  # the global RNG stays untouched
    inputs = torch.randn(1, 2, 2, generator=generator).to(device_type)  # [B, T, F]
    try:
        for cell in (nn.LSTM, nn.GRU):
            layer = cell(2, 2, batch_first=True).to(device_type)
            with torch.autocast(device_type, dtype=torch.bfloat16):
                output, _ = layer(inputs)
            output.float().sum().backward()
    except RuntimeError:
        return False
    return True


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse ``bf16`` where the recurrent cells cannot run it, naming what to set instead.

    Raises:
        ForecastingError: if ``precision`` is bf16 and ``device`` has no bf16 LSTM/GRU kernels.

    """
    if precision == "bf16" and not runs_bf16(device.type):
        capability = torch.backends.cpu.get_cpu_capability() if device.type == "cpu" else ""
        raise ForecastingError(
            f"train.precision: bf16 cannot run the LSTM/GRU on this {device.type}"
            + (
                f" (torch's CPU capability is {capability}; oneDNN's bf16 cells need AVX-512)"
                if capability
                else ""
            )
            + ": set train.precision: fp32, or train on a CUDA device"
        )
