"""Training throughput: the project's loop vs a bare PyTorch loop, same model, data and batch size.

The bare loop is the reference: windows pre-materialised as one tensor, shuffled by index, no
validation, no scheduler, no clipping, no callbacks. The ratio (project / bare) shows what the
project's loop costs on top of the arithmetic. Writes reports/bench/train_throughput.json.

    python benchmarks/train_throughput.py [--epochs 5] [--batch-size 64] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from forecasting.datasets import split_chronologically, training_windows, validation_windows
from forecasting.model import ModelConfig, RecurrentForecaster
from forecasting.sources import ColumnMapping, read_source
from forecasting.training import TrainingConfig, normalised_mse, resolve_device, train_model
from forecasting.windows import WindowBatch

OUTPUT = Path("reports/bench/train_throughput.json")


def bare_loop(
    config: ModelConfig, batch: WindowBatch, epochs: int, batch_size: int, device: torch.device
) -> float:
    """Samples/s of the plainest loop that trains the same model on the same windows."""
    torch.manual_seed(0)
    model = RecurrentForecaster(config).to(device).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    inputs, phases, targets = (t.to(device) for t in (batch.inputs, batch.end_phase, batch.targets))
    count = inputs.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(count, device=device)
        for start in range(0, count, batch_size):
            pick = order[start : start + batch_size]
            optimiser.zero_grad(set_to_none=True)
            loss = normalised_mse(model, WindowBatch(inputs[pick], phases[pick], targets[pick]))
            loss.backward()
            optimiser.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return epochs * count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    frame = read_source("builtin:taylor", ColumnMapping())
    splits = split_chronologically(frame, 0.15, 0.15)
    config = ModelConfig(hidden_size=args.hidden_size, num_layers=1)
    train = training_windows(splits, "30min", config.input_length, config.horizon)
    val = validation_windows(splits, "30min", config.input_length, config.horizon)
    device = resolve_device(args.device)

    bare = bare_loop(
        config, train.gather(torch.arange(len(train))), args.epochs, args.batch_size, device
    )
    # patience > epochs: the project loop runs every epoch, validation included, as in a real run.
    result = train_model(
        config,
        TrainingConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            patience=args.epochs + 1,
            device=args.device,
        ),
        train,
        val,
    )
    report = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "windows": len(train),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "hidden_size": args.hidden_size,
        "bare_samples_per_second": round(bare, 1),
        "project_samples_per_second": round(result.samples_per_second, 1),
        "ratio": round(result.samples_per_second / bare, 3),
        "note": "project time includes per-epoch validation; the bare loop has none",
    }
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"bare loop {bare:,.0f} samples/s | project loop {result.samples_per_second:,.0f} samples/s | "
        f"ratio {report['ratio']:.2f} on {device} -> {OUTPUT}"
    )


if __name__ == "__main__":
    main()
