"""The /forecast_batch benchmark's request: 256 distinct series the service accepts."""

import json

import numpy as np

from benchmarks.serve_batch import batch_body, in_process_seconds
from forecasting.model.network import RecurrentForecaster
from forecasting.serving.schema import MAX_BATCH_SERIES, BatchRequest
from tests.conftest import tiny_model_config


def test_the_batch_is_256_distinct_series_of_the_payloads_shape_that_the_schema_accepts():
    config = tiny_model_config()
    rng = np.random.default_rng(1)
    payload = {
        "values": (30_000 + 500 * rng.standard_normal(96)).tolist(),
        "end": "2024-01-07T23:30",
    }
    body = batch_body(payload)
    request = BatchRequest.model_validate_json(body)
    assert len(request.series) == MAX_BATCH_SERIES
    windows = np.array([item.values for item in request.series])  # [256, 96]
    assert windows.shape == (MAX_BATCH_SERIES, config.input_length)
    assert len({item.series_id for item in request.series}) == MAX_BATCH_SERIES
    assert len(np.unique(windows.round(0), axis=0)) == MAX_BATCH_SERIES  # no two alike
    assert windows.mean(axis=1).min() < 0.6 * 30_000 < 1.4 * 30_000 < windows.mean(axis=1).max()
    assert {item.end for item in request.series} == {payload["end"]}
    seconds = in_process_seconds(RecurrentForecaster(config).eval(), body, repeats=2)
    assert len(seconds) == 2 and all(second > 0 for second in seconds)
    assert json.loads(body)["series"][0]["series_id"] == "s000"
