import pytest
import torch

from forecasting.model.windows import WindowBatch
from forecasting.training.augmentation import shift_levels


def _batch(count: int = 64, length: int = 96, horizon: int = 24) -> WindowBatch:
    torch.manual_seed(0)
    return WindowBatch(
        torch.randn(count, length) * 5 + 100,
        torch.arange(count),
        torch.randn(count, horizon) + 100,
    )


def test_each_window_gets_one_step_inside_its_input_that_lasts_through_its_targets():
    batch = _batch()
    shifted = shift_levels(batch, 0.5, torch.Generator().manual_seed(1))
    added_in, added_out = shifted.inputs - batch.inputs, shifted.targets - batch.targets
    for row_in, row_out in zip(added_in, added_out, strict=True):
        size = row_out[0]
        assert torch.allclose(row_out, size.expand_as(row_out))  # one level through the targets
        start = int((row_in.abs() > 0).nonzero()[0]) if size.abs() > 0 else None
        assert start is not None and 48 <= start < 96  # it starts in the input's second half
        assert torch.allclose(row_in[start:], size.expand(96 - start), atol=1e-4)
        assert torch.equal(row_in[:start], torch.zeros(start))
    assert torch.equal(shifted.end_phase, batch.end_phase)


def test_the_shift_is_scaled_to_each_windows_spread_and_seeded():
    batch = _batch(count=4000)
    one = shift_levels(batch, 0.2, torch.Generator().manual_seed(7))
    sizes = (one.targets - batch.targets)[:, 0] / batch.inputs.std(dim=1)
    assert sizes.mean().abs() < 0.02 and sizes.std() == pytest.approx(0.2, rel=0.05)
    again = shift_levels(batch, 0.2, torch.Generator().manual_seed(7))
    assert torch.equal(one.inputs, again.inputs) and torch.equal(one.targets, again.targets)
    other = shift_levels(batch, 0.2, torch.Generator().manual_seed(8))
    assert not torch.equal(one.targets, other.targets)


def test_size_zero_leaves_the_batch_as_it_is():
    batch = _batch()
    assert shift_levels(batch, 0.0, torch.Generator()) is batch
