"""Training throughput: the project's loop against bare PyTorch loops, same data and batch size.

Two references run in the same process, alternating with the project's loop round by round:

- **bare**: the project's own network, windows pre-materialised as one tensor on the device,
  shuffled by index; no validation, scheduler, clipping or callbacks. ``ratio`` (project / bare,
  time in training steps) is what the project's loop costs on top of its network's arithmetic.
- **raw**: a plain ``nn.LSTM`` (cuDNN on CUDA) of the same hidden size and layers over the same
  patches, with a linear head: the fastest recurrent train step PyTorch offers for this data.
  ``ratio_vs_raw`` (project / raw) is the goal on a GPU (>= 0.8 at batch >= 1024).

``ratio_with_validation`` adds the per-epoch validation pass and checkpoint the train stage runs.
``--precision bf16`` runs every loop's forward pass under bf16 autocast. ``--series N`` trains
on N copies of the default series, each scaled and noised (more windows per epoch, so large
batches still take many steps). Writes reports/bench/train_throughput.json (CPU, fp32, one
series), else train_throughput_<device>_<precision>[_<N>series].json.

    make bench, or: PYTHONPATH=src:. python benchmarks/train_throughput.py [--epochs 5]
    on a GPU: ... --device cuda --batch-size 1024 --series 100 [--precision bf16]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from benchmarks._meta import run_metadata
from forecasting.data.sources import ColumnMapping, read_source
from forecasting.data.splits import split_chronologically
from forecasting.model.datasets import training_windows, validation_windows
from forecasting.model.network import ModelConfig, RecurrentForecaster
from forecasting.model.windows import WindowBatch
from forecasting.training.loop import RunSettings, resolve_device, train_model
from pipelines.params import load_params
from pipelines.train import model_config, training_config

REPORTS = Path("reports/bench")


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _timed_epochs(
    step: Callable[[torch.Tensor], None],
    count: int,
    epochs: int,
    batch_size: int,
    device: torch.device,
) -> float:
    """Samples/s of ``epochs`` shuffled passes of ``step`` over index batches of ``count`` rows."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(count, device=device)
        for start in range(0, count, batch_size):
            step(order[start : start + batch_size])
    if device.type == "cuda":
        torch.cuda.synchronize()
    return epochs * count / (time.perf_counter() - started)


def bare_loop(
    config: ModelConfig, batch: WindowBatch, args: argparse.Namespace, device: torch.device
) -> float:
    """Samples/s of the plainest loop that trains the project's network on the same windows."""
    torch.manual_seed(0)
    model = RecurrentForecaster(config).to(device).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    inputs, phases, targets = (t.to(device) for t in (batch.inputs, batch.end_phase, batch.targets))

    def step(pick: torch.Tensor) -> None:
        optimiser.zero_grad(set_to_none=True)
        with _autocast(device, args.precision):
            forecast = model(inputs[pick], phases[pick])
        picked = WindowBatch(inputs[pick], phases[pick], targets[pick])
        loss = nn.functional.mse_loss(*_normalised(forecast.float(), picked))
        loss.backward()
        optimiser.step()

    return _timed_epochs(step, inputs.shape[0], args.epochs, args.batch_size, device)


def _normalised(forecast: torch.Tensor, batch: WindowBatch) -> tuple[torch.Tensor, torch.Tensor]:
    level, scale = RecurrentForecaster.normalise(batch.inputs)
    return (forecast - level) / scale, (batch.targets - level) / scale


class RawLSTM(nn.Module):
    """``nn.LSTM`` over the patches plus a linear head: the reference recurrent train step."""

    def __init__(self, features: int, config: ModelConfig) -> None:
        super().__init__()
        self.lstm = nn.LSTM(features, config.hidden_size, config.num_layers, batch_first=True)
        self.head = nn.Linear(config.hidden_size, config.horizon)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        encoded, _ = self.lstm(patches)  # [B, P, hidden]
        return self.head(encoded[:, -1])  # type: ignore[no-any-return]


def raw_features(config: ModelConfig, batch: WindowBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's input (scaled values + calendar, in patches) and scaled targets, once."""
    level, scale = RecurrentForecaster.normalise(batch.inputs)
    offsets = torch.arange(-config.input_length + 1, 1)
    phases = (batch.end_phase[:, None] + offsets[None, :]) % config.steps_per_week
    calendar = RecurrentForecaster(config)._calendar(phases)  # [N, L, 4]
    steps = torch.cat([((batch.inputs - level) / scale)[..., None], calendar], dim=-1)
    patches = steps.reshape(len(steps), config.input_length // config.patch_length, -1)
    return patches, (batch.targets - level) / scale


def raw_loop(
    config: ModelConfig, batch: WindowBatch, args: argparse.Namespace, device: torch.device
) -> float:
    """Samples/s of a plain (cuDNN on CUDA) LSTM train step on the same patches and batch."""
    torch.manual_seed(0)
    patches, targets = (t.to(device) for t in raw_features(config, batch))
    model = RawLSTM(patches.shape[-1], config).to(device).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)

    def step(pick: torch.Tensor) -> None:
        optimiser.zero_grad(set_to_none=True)
        with _autocast(device, args.precision):
            forecast = model(patches[pick])
        nn.functional.mse_loss(forecast.float(), targets[pick]).backward()
        optimiser.step()

    return _timed_epochs(step, patches.shape[0], args.epochs, args.batch_size, device)


def many_series(frame: pd.DataFrame, count: int, seed: int) -> pd.DataFrame:
    """``count`` copies of the series, each with its own level (x0.5..2) and 1 % noise."""
    if count == 1:
        return frame
    rng = np.random.default_rng(seed)
    copies = []
    for index in range(count):
        values = frame["value"].to_numpy() * rng.uniform(0.5, 2.0)
        values = values * (1 + 0.01 * rng.standard_normal(len(values)))
        copies.append(frame.assign(series_id=f"s{index:04d}", value=values))
    return pd.concat(copies, ignore_index=True)


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--hidden-size", type=int, default=None, help="default: params.yaml's train.hidden_size"
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--series", type=int, default=1, help="copies of the default series")
    parser.add_argument("--rounds", type=int, default=5, help="alternating runs of each loop")
    return parser.parse_args()


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def main() -> None:
    args = _parse()
    params = load_params()
    frame = many_series(
        read_source("builtin:taylor", ColumnMapping()), args.series, params.base.seed
    )
    splits = split_chronologically(
        frame, params.validate_.val_fraction, params.validate_.test_fraction
    )
    # The model the default pipeline trains, at the benchmark's hidden size if one is given.
    config = model_config(params)
    if args.hidden_size is not None:
        config = config.model_copy(update={"hidden_size": args.hidden_size})
    train = training_windows(splits, params.base.freq, config.input_length, config.horizon)
    val = validation_windows(splits, params.base.freq, config.input_length, config.horizon)
    device = resolve_device(args.device)
    windows = train.gather(torch.arange(len(train)))
    scratch = tempfile.TemporaryDirectory()
    fit = dataclasses.replace(
        training_config(params),
        epochs=args.epochs,
        batch_size=args.batch_size,
        patience=args.epochs + 1,  # every epoch runs, validation included, as in a real run
        precision=args.precision,
    )
    # and a checkpoint every epoch, as the train stage writes (never resumed here)
    settings = RunSettings(device=args.device, checkpoint_dir=Path(scratch.name), resume=False)
    if device.type == "cuda":  # CUDA context, cuBLAS/cuDNN handles: not in any round's time
        raw_loop(config, windows, argparse.Namespace(**{**vars(args), "epochs": 1}), device)
    # Alternate the loops and keep each one's median, so a noisy neighbour on a shared
    # machine hits all alike instead of skewing a ratio.
    rounds: dict[str, list[float]] = {"bare": [], "raw": [], "project": [], "validation": []}
    for round_ in range(1, args.rounds + 1):
        rounds["bare"].append(bare_loop(config, windows, args, device))
        rounds["raw"].append(raw_loop(config, windows, args, device))
        result = train_model(config, fit, settings, train, val)
        rounds["project"].append(result.samples_per_second)
        rounds["validation"].append(result.epoch_samples_per_second)
        print(
            f"round {round_}/{args.rounds}: bare {rounds['bare'][-1]:,.0f}, raw "
            f"{rounds['raw'][-1]:,.0f}, project {rounds['project'][-1]:,.0f} samples/s",
            flush=True,
        )
    report = _report(args, device, config, len(train), rounds)
    name = "train_throughput.json"
    if (device.type, args.precision, args.series) != ("cpu", "fp32", 1):
        suffix = f"_{args.series}series" if args.series > 1 else ""
        name = f"train_throughput_{device.type}_{args.precision}{suffix}.json"
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / name).write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"project {report['project_samples_per_second']:,.0f} samples/s | ratio vs bare "
        f"{report['ratio']:.2f} | vs raw {report['ratio_vs_raw']:.2f} (with validation "
        f"{report['ratio_with_validation']:.2f}) on {device} {args.precision} -> {REPORTS / name}"
    )


def _report(
    args: argparse.Namespace,
    device: torch.device,
    config: ModelConfig,
    windows: int,
    rounds: dict[str, list[float]],
) -> dict[str, Any]:
    median = {name: statistics.median(values) for name, values in rounds.items()}

    def paired(reference: str) -> float:
        # the median of per-round ratios: each round's loops ran back to back
        pairs = zip(rounds["project"], rounds[reference], strict=True)
        return round(statistics.median(p / r for p, r in pairs), 3)

    cuda = device.type == "cuda"
    return {
        "meta": run_metadata(),
        "device": str(device),
        "device_name": _device_name(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "torch_threads": torch.get_num_threads(),
        "precision": args.precision,
        "series": args.series,
        "windows": windows,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "hidden_size": config.hidden_size,
        "num_layers": config.num_layers,
        "bare_samples_per_second": round(median["bare"], 1),
        "raw_samples_per_second": round(median["raw"], 1),
        "project_samples_per_second": round(median["project"], 1),
        "ratio": paired("bare"),
        "ratio_vs_raw": paired("raw"),
        "project_samples_per_second_with_validation": round(median["validation"], 1),
        "ratio_with_validation": round(median["validation"] / median["bare"], 3),
        "rounds": args.rounds,
        **{f"{name}_rounds": [round(x, 1) for x in values] for name, values in rounds.items()},
        "note": "ratio: the project's training steps vs the bare loop's on the same network "
        "(data loading, clipping, the schedule and the loss bookkeeping included); ratio_vs_raw: "
        "vs a plain nn.LSTM (cuDNN on CUDA) + linear head on the same patches and batch; "
        "ratio_with_validation adds the per-epoch validation pass and checkpoint",
    }


if __name__ == "__main__":
    main()
