"""Training throughput: the project's loop vs a bare PyTorch loop, same model, data and batch size.

The bare loop is the reference: windows pre-materialised as one tensor, shuffled by index, no
validation, no scheduler, no clipping, no callbacks. ``ratio`` (project / bare, time in training
steps) shows what the project's loop costs on top of the arithmetic; ``ratio_with_validation``
adds the per-epoch validation pass and checkpoint, as the train stage runs them. Writes reports/bench/train_throughput.json.

    make bench, or: PYTHONPATH=. python benchmarks/train_throughput.py [--epochs 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks._meta import run_metadata
from forecasting.data.sources import ColumnMapping, read_source
from forecasting.data.splits import split_chronologically
from forecasting.model.datasets import training_windows, validation_windows
from forecasting.model.network import ModelConfig, RecurrentForecaster
from forecasting.model.windows import WindowBatch
from forecasting.training.loop import TrainingConfig, normalised_mse, resolve_device, train_model
from pipelines.params import load_params
from pipelines.train import model_config

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
    parser.add_argument(
        "--hidden-size", type=int, default=None, help="default: params.yaml's train.hidden_size"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rounds", type=int, default=5, help="alternating runs of each loop")
    args = parser.parse_args()

    params = load_params()
    frame = read_source("builtin:taylor", ColumnMapping())
    splits = split_chronologically(
        frame, params.validate_.val_fraction, params.validate_.test_fraction
    )
    # The model the default pipeline trains, at the benchmark's hidden size if one is given.
    config = model_config(params)
    if args.hidden_size is not None:
        config = config.model_copy(update={"hidden_size": args.hidden_size})
    train = training_windows(splits, "30min", config.input_length, config.horizon)
    val = validation_windows(splits, "30min", config.input_length, config.horizon)
    device = resolve_device(args.device)

    windows = train.gather(torch.arange(len(train)))
    scratch = tempfile.TemporaryDirectory()
    fit = TrainingConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        patience=args.epochs + 1,  # every epoch runs, validation included, as in a real run
        device=args.device,
        # and a checkpoint every epoch, as the train stage writes (never resumed here)
        checkpoint_dir=Path(scratch.name),
        resume=False,
    )
    # Alternate the two loops and keep each one's median, so a noisy neighbour on a shared
    # CPU hits both alike instead of skewing the ratio.
    bare_rounds, project_rounds, with_validation = [], [], []
    for round_ in range(1, args.rounds + 1):
        bare_rounds.append(bare_loop(config, windows, args.epochs, args.batch_size, device))
        result = train_model(config, fit, train, val)
        project_rounds.append(result.samples_per_second)
        with_validation.append(result.epoch_samples_per_second)
        print(
            f"round {round_}/{args.rounds}: bare {bare_rounds[-1]:,.0f} samples/s, "
            f"project {project_rounds[-1]:,.0f} samples/s",
            flush=True,
        )
    bare, project = statistics.median(bare_rounds), statistics.median(project_rounds)
    report = {
        "meta": run_metadata(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "windows": len(train),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "hidden_size": config.hidden_size,
        "bare_samples_per_second": round(bare, 1),
        "project_samples_per_second": round(project, 1),
        # the median of per-round ratios: each round's two loops ran back to back
        "ratio": round(
            statistics.median(p / b for p, b in zip(project_rounds, bare_rounds, strict=True)), 3
        ),
        "project_samples_per_second_with_validation": round(statistics.median(with_validation), 1),
        "ratio_with_validation": round(statistics.median(with_validation) / bare, 3),
        "rounds": args.rounds,
        "bare_rounds": [round(x, 1) for x in bare_rounds],
        "project_rounds": [round(x, 1) for x in project_rounds],
        "note": "ratio: training steps vs the bare loop's steps (data loading, clipping, the "
        "schedule and the loss bookkeeping included); ratio_with_validation adds the per-epoch "
        "validation pass early stopping needs and the per-epoch checkpoint, which the bare loop "
        "does not do",
    }
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"bare loop {bare:,.0f} samples/s | project loop {project:,.0f} samples/s | "
        f"ratio {report['ratio']:.2f} (with validation {report['ratio_with_validation']:.2f}) on {device} -> {OUTPUT}"
    )


if __name__ == "__main__":
    main()
