"""The loop's state across a checkpoint (RNG streams included) and its bf16 precision option."""

from __future__ import annotations

from dataclasses import MISSING, fields
from pathlib import Path

import pytest
import torch
import yaml

from forecasting.core.errors import ForecastingError
from forecasting.training.checkpoints import CHECKPOINT_FILE, Checkpoint, load_checkpoint
from forecasting.training.config import RunSettings, TrainingConfig
from forecasting.training.distributed import current_world
from forecasting.training.loop import Trainer, TrainingInterrupted, run_fingerprint, train_model
from forecasting.training.precision import runs_bf16
from forecasting.training.progress import EpochRecord, Progress
from pipelines.params import ParamsError, load_params
from tests.conftest import (
    REPO_ROOT,
    cpu_run,
    fit_config,
    tiny_model_config,
    two_week_windows,
)

# Dropout high enough that every step draws from the RNG: a resume that lost the stream's
# position would train other weights.
CONFIG = tiny_model_config(
    num_layers=2, dropout=0.3, lag_mixture=True, lead_weights=True, error_correction=2
)


def _data():
    return two_week_windows(CONFIG)


def _weights_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(t, b.state_dict()[n]) for n, t in a.state_dict().items())


def _interrupted_then_resumed(settings: RunSettings, fit: TrainingConfig, after: int):
    train, val = _data()
    seen: list[int] = []
    with pytest.raises(TrainingInterrupted, match="run again to resume"):
        train_model(
            CONFIG,
            fit,
            settings,
            train,
            val,
            lambda r: seen.append(r.epoch),
            lambda: len(seen) >= after,
        )
    resumed = Trainer(CONFIG, fit, settings, train, val)
    assert resumed.first_epoch == after + 1
    return resumed.fit()


def test_a_resumed_run_continues_every_stream_and_ends_with_the_same_weights(tmp_path):
    fit = fit_config(epochs=4, patience=10, level_shifts=0.2)  # the shifts resume too
    train, val = _data()
    straight = train_model(CONFIG, fit, cpu_run(), train, val)
    resumed = _interrupted_then_resumed(cpu_run(tmp_path), fit, after=2)
    assert _weights_equal(straight.model, resumed.model)
    assert [r.val_loss for r in resumed.history] == [r.val_loss for r in straight.history]
    assert resumed.best_epoch == straight.best_epoch


def test_a_checkpoint_round_trips_progress_and_rng_states(tmp_path):
    weights = {"w": torch.arange(3.0)}
    progress = Progress(1.5, 2, weights, stale=1, samples=64, seconds=2.0, step_seconds=1.0)
    progress.history.append(EpochRecord(1, 2.0, 1.7, 30.0, 1e-3, 1.0))
    progress.history.append(EpochRecord(2, 1.9, 1.5, 29.0, 2e-3, 1.0))
    cuda_rng = torch.cuda.get_rng_state() if torch.cuda.is_available() else None
    saved = Checkpoint("abc", 2, weights, {}, {}, progress, torch.get_rng_state(), cuda_rng, {})
    saved.save(tmp_path)
    loaded = load_checkpoint(tmp_path, "abc")
    assert loaded is not None
    assert loaded.progress.history == progress.history
    assert (loaded.progress.best_loss, loaded.progress.stale) == (1.5, 1)
    assert torch.equal(loaded.progress.best_model["w"], weights["w"])
    assert torch.equal(loaded.rng, saved.rng)
    assert (loaded.cuda_rng is None) == (cuda_rng is None)
    assert load_checkpoint(tmp_path, "another run") is None
    (tmp_path / CHECKPOINT_FILE).write_bytes(b"not a checkpoint")
    assert load_checkpoint(tmp_path, "abc") is None  # unreadable: start over, never crash


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_resume_continues_the_cuda_rng_stream(tmp_path):
    settings = RunSettings(device="cuda", checkpoint_dir=tmp_path, resume=True)
    fit = fit_config(epochs=4, patience=10, level_shifts=0.2)  # the shifts resume too
    train, val = _data()
    straight = train_model(CONFIG, fit, RunSettings("cuda", None, False), train, val)
    resumed = _interrupted_then_resumed(settings, fit, after=2)
    # the resumed run started from the CUDA generator's state the checkpoint holds
    settings_again = RunSettings(device="cuda", checkpoint_dir=tmp_path, resume=True)
    seen: list[int] = []
    with pytest.raises(TrainingInterrupted):
        train_model(CONFIG, fit, settings_again, train, val, seen.append, lambda: len(seen) >= 1)
    checkpoint = load_checkpoint(tmp_path, run_fingerprint(CONFIG, fit, train, val, 1))
    assert checkpoint is not None and checkpoint.cuda_rng is not None
    trainer = Trainer(CONFIG, fit, settings_again, train, val)
    assert torch.equal(torch.cuda.get_rng_state(trainer.device), checkpoint.cuda_rng)
    # cuDNN's kernels need not be bit-deterministic: the figures, not the bits, must agree
    for ours, theirs in zip(resumed.history, straight.history, strict=True):
        assert ours.val_loss == pytest.approx(theirs.val_loss, rel=1e-3)


def test_bf16_on_the_cpu_autocasts_the_forward_pass_and_keeps_fp32_weights_and_loss():
    train, val = _data()
    if not runs_bf16("cpu"):  # an AVX2-only CPU: oneDNN has no bf16 LSTM/GRU, said in one line
        with pytest.raises(ForecastingError, match=r"train\.precision: fp32.*$"):
            train_model(CONFIG, fit_config(epochs=2, precision="bf16"), cpu_run(), train, val)
        return
    fp32 = train_model(CONFIG, fit_config(epochs=2), cpu_run(), train, val)
    bf16 = train_model(CONFIG, fit_config(epochs=2, precision="bf16"), cpu_run(), train, val)
    assert all(t.dtype == torch.float32 for t in bf16.model.state_dict().values())
    assert not _weights_equal(fp32.model, bf16.model)  # the forward really ran in bf16
    for low, full in zip(bf16.history, fp32.history, strict=True):
        assert low.train_loss == pytest.approx(full.train_loss, rel=0.05)
        assert low.val_mae == pytest.approx(full.val_mae, rel=0.05)


def test_every_training_setting_but_the_infrastructure_changes_the_fingerprint():
    train, val = _data()
    fit = fit_config()
    base = run_fingerprint(CONFIG, fit, train, val, 1)
    changed = {
        "epochs": 4, "batch_size": 16, "learning_rate": 0.1, "weight_decay": 0.0, "patience": 1,
        "restore_best": False, "grad_clip_norm": 2.0, "loss": "mae", "level_shifts": 0.1,
        "windows_per_epoch": 100, "val_windows": 50, "seed": 1, "precision": "bf16",
    }  # fmt: skip
    assert set(changed) == {f.name for f in fields(TrainingConfig)}
    for name, value in changed.items():
        other = TrainingConfig(**{**vars(fit), name: value})
        assert run_fingerprint(CONFIG, other, train, val, 1) != base, name
    assert run_fingerprint(CONFIG, fit, train, val, 2) != base


def test_the_library_configs_carry_no_defaults():
    for config in (TrainingConfig, RunSettings):
        defaults = [
            f.name for f in fields(config) if (f.default, f.default_factory) != (MISSING,) * 2
        ]
        assert defaults == [], config


def test_each_train_key_reaches_exactly_one_config():
    from pipelines.params import Train
    from pipelines.train import model_config, training_config

    params = load_params(REPO_ROOT / "params.yaml")
    model, fit = model_config(params), training_config(params)
    infrastructure = {f.name for f in fields(RunSettings)} - {"checkpoint_dir"}
    reached = {
        "model": set(Train.model_fields) & set(type(model).model_fields),
        "fit": set(Train.model_fields) & set(vars(fit)),
        "infrastructure": set(Train.model_fields) & infrastructure,
        # what the logged model offers beside its forecast: the pyfunc's default levels
        "logged model": {"interval_levels"},
        # how the intervals are calibrated after training (model/intervals.py)
        "calibration": {"interval_time_of_day"},
    }
    assert sum(len(keys) for keys in reached.values()) == len(Train.model_fields)
    assert set().union(*reached.values()) == set(Train.model_fields)
    for key in reached["model"]:
        assert getattr(model, key) == getattr(params.train, key), key
    for key in reached["fit"]:
        assert getattr(fit, key) == getattr(params.train, key), key


@pytest.mark.parametrize(("value", "ok"), [("fp32", True), ("bf16", True), ("fp16", False)])
def test_train_precision_is_fp32_or_bf16(tmp_path: Path, value: str, ok: bool):
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["train"]["precision"] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    if ok:
        assert load_params(path).train.precision == value
    else:
        with pytest.raises(
            ParamsError, match=r"train\.precision: Input should be 'fp32' or 'bf16'"
        ):
            load_params(path)


def test_torchrun_at_world_size_one_still_takes_the_distributed_path(monkeypatch):
    assert not current_world().distributed
    for name, value in {
        "RANK": "0",
        "WORLD_SIZE": "1",
        "MASTER_ADDR": "x",
        "MASTER_PORT": "1",
    }.items():
        monkeypatch.setenv(name, value)
    world = current_world()
    assert world.distributed and world.is_main and world.size == 1
