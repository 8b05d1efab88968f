import numpy as np
import pandas as pd
import torch

from forecasting.model.windows import SeriesArrays, WindowDataset


def _series(n: int, name: str = "a", offset: float = 0.0) -> SeriesArrays:
    return SeriesArrays(
        name, np.arange(n, dtype=np.float32) + offset, np.arange(n, dtype=np.int64) % 7
    )


def test_windows_are_the_slices_around_each_origin():
    data = WindowDataset([_series(20)], input_length=5, horizon=3)
    assert len(data) == 20 - 5 - 3 + 1
    inputs, phase, targets = data[2]
    assert inputs.tolist() == [2, 3, 4, 5, 6]
    assert targets.tolist() == [7, 8, 9]
    assert int(phase) == 6 % 7


def test_windows_share_the_series_storage_instead_of_copying():
    data = WindowDataset([_series(10_000)], input_length=336, horizon=48)
    view = data._flat_view
    assert view.shape == (10_000 - 384 + 1, 384)
    assert view.untyped_storage().data_ptr() == data._values[0].untyped_storage().data_ptr()
    assert view.untyped_storage().nbytes() == 10_000 * 4  # the series once, no window copies


def test_first_origin_and_stride_select_rolling_origins():
    data = WindowDataset([_series(30)], input_length=5, horizon=3, first_origins=[19], stride=4)
    assert data.origins[:, 1].tolist() == [19, 23]
    batch = data.gather(torch.arange(len(data)))
    assert batch.targets[:, 0].tolist() == [20, 24]


def test_batches_mix_series_correctly():
    data = WindowDataset(
        [_series(12, "a"), _series(12, "b", offset=1000)], input_length=4, horizon=2
    )
    batch = data.__getitems__(list(range(len(data))))
    per_series = len(data) // 2
    assert batch.inputs[0, 0] == 0 and batch.inputs[per_series, 0] == 1000
    assert torch.equal(batch.targets[:, 0] - batch.inputs[:, -1], torch.ones(len(data)))


def test_series_shorter_than_a_window_yields_no_window():
    assert len(WindowDataset([_series(6)], input_length=5, horizon=3)) == 0


def test_latest_request_is_the_first_series_last_window_in_time_order():
    from forecasting.data.requests import latest_request

    stamps = pd.date_range("2024-01-01", periods=6, freq="30min")
    frame = pd.DataFrame(
        {
            "timestamp": list(stamps) * 2,
            "value": [1.0, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60],
            "series_id": ["b"] * 6 + ["a"] * 6,
        }
    ).sample(frac=1.0, random_state=0)  # shuffled rows: the order must come from the timestamps
    request = latest_request(frame, 3)
    assert request == {"values": [40.0, 50.0, 60.0], "end": "2024-01-01T02:30:00"}
