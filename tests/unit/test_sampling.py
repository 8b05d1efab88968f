"""train.windows_per_epoch: a fixed, seeded draw of windows per epoch, or every window as before;
train.val_windows: one fixed draw of validation windows scored every epoch, or all of them."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DistributedSampler

from forecasting.training.loop import Trainer, evaluate_loss
from forecasting.training.sampling import EpochSampler, validation_sample
from tests.conftest import cpu_run, fit_config, tiny_model_config, two_week_windows

WINDOWS = list(range(1_000))  # a sampler needs only len() of its data set


def _epoch(sampler: DistributedSampler, epoch: int) -> list[int]:
    sampler.set_epoch(epoch)
    return list(sampler)


def test_a_budget_draws_exactly_that_many_distinct_windows_each_epoch():
    sampler = EpochSampler(WINDOWS, num_replicas=1, rank=0, seed=42, budget=64)
    assert len(sampler) == 64
    epochs = [_epoch(sampler, epoch) for epoch in (1, 2, 3)]
    for drawn in epochs:
        assert len(drawn) == len(set(drawn)) == 64  # without replacement
        assert set(drawn) <= set(WINDOWS)
    assert len({tuple(drawn) for drawn in epochs}) == 3  # a fresh draw each epoch


def test_the_draw_depends_on_the_seed_and_the_epoch_only():
    first = EpochSampler(WINDOWS, num_replicas=1, rank=0, seed=42, budget=64)
    again = EpochSampler(WINDOWS, num_replicas=1, rank=0, seed=42, budget=64)
    other = EpochSampler(WINDOWS, num_replicas=1, rank=0, seed=7, budget=64)
    assert _epoch(first, 5) == _epoch(again, 5)  # a resumed run draws the same windows
    assert _epoch(first, 5) != _epoch(other, 5)


def test_ranks_split_one_draw_between_them():
    ranks = [EpochSampler(WINDOWS, num_replicas=2, rank=r, seed=42, budget=64) for r in (0, 1)]
    shards = [_epoch(sampler, 3) for sampler in ranks]
    assert [len(shard) for shard in shards] == [32, 32]
    one = EpochSampler(WINDOWS, num_replicas=1, rank=0, seed=42, budget=64)
    assert sorted(shards[0] + shards[1]) == sorted(_epoch(one, 3))


def test_a_budget_above_the_windows_draws_every_window():
    sampler = EpochSampler(WINDOWS[:10], num_replicas=1, rank=0, seed=42, budget=64)
    assert sorted(_epoch(sampler, 1)) == WINDOWS[:10]


@pytest.mark.parametrize("replicas", [1, 2])
def test_no_budget_is_todays_order_index_for_index(replicas: int):
    for rank in range(replicas):
        ours = EpochSampler(WINDOWS[:999], num_replicas=replicas, rank=rank, seed=42, budget=None)
        today = DistributedSampler(
            WINDOWS[:999], num_replicas=replicas, rank=rank, shuffle=True, seed=42
        )
        assert len(ours) == len(today)
        for epoch in (1, 2, 7):
            assert _epoch(ours, epoch) == _epoch(today, epoch)


def test_a_zero_budget_is_refused_naming_the_key():
    with pytest.raises(ValueError, match=r"train\.windows_per_epoch"):
        EpochSampler(WINDOWS, num_replicas=1, rank=0, seed=42, budget=0)


def test_the_trainer_takes_the_budgets_steps_per_epoch():
    config = tiny_model_config()
    train, val = two_week_windows(config)
    assert len(train) > 40
    trainer = Trainer(
        config, fit_config(batch_size=16, windows_per_epoch=40), cpu_run(), train, val
    )
    assert len(trainer.loader) == 3  # 16 + 16 + 8 windows
    trained = trainer.fit()
    assert trainer.progress.samples == 40 * len(trained.history)
    whole = Trainer(config, fit_config(batch_size=16), cpu_run(), train, val)
    assert len(whole.loader) == -(-len(train) // 16)


def test_the_validation_sample_is_one_sorted_seeded_draw_or_every_window():
    drawn = validation_sample(1_000, 64, seed=42)
    assert drawn is not None and len(drawn) == len(set(drawn.tolist())) == 64
    assert torch.equal(drawn, drawn.sort().values) and int(drawn.max()) < 1_000
    assert torch.equal(drawn, validation_sample(1_000, 64, seed=42))  # type: ignore[arg-type]
    assert not torch.equal(drawn, validation_sample(1_000, 64, seed=1))  # type: ignore[arg-type]
    assert validation_sample(1_000, None, seed=42) is None
    assert validation_sample(1_000, 1_000, seed=42) is None  # the budget covers them all
    with pytest.raises(ValueError, match=r"train\.val_windows"):
        validation_sample(1_000, 0, seed=42)


def test_each_epoch_is_scored_on_the_same_validation_sample():
    config = tiny_model_config()
    train, val = two_week_windows(config)
    budget = len(val) // 3
    fit = fit_config(epochs=2, val_windows=budget, restore_best=False)  # the last epoch is kept
    trainer = Trainer(config, fit, cpu_run(), train, val)
    assert trainer.val_sample is not None and len(trainer.val_sample) == budget
    trained = trainer.fit()
    cpu = torch.device("cpu")
    sampled = evaluate_loss(trained.model, val, cpu, "mse", windows=trainer.val_sample)
    assert trained.history[-1].val_loss == pytest.approx(sampled[0], rel=1e-6)
    assert sampled[0] != pytest.approx(evaluate_loss(trained.model, val, cpu, "mse")[0], rel=1e-6)
