"""evaluate.engine dask: the fitted baselines as tasks on a real dask cluster, the same numbers."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from forecasting.core.errors import ForecastingError
from forecasting.evaluation.classical import fitted_forecasts
from forecasting.evaluation.engines import dask_client
from tests.unit.test_baselines import _history

SEASONS = [48, 336]  # 336 is skipped on 192 steps; MSTL runs on the daily season


@pytest.fixture(scope="module")
def origins() -> np.ndarray:
    return _history()[0][:3]  # three tiny origins: 192 steps before each


@pytest.fixture(scope="module")
def local(origins: np.ndarray) -> dict[str, np.ndarray]:
    return fitted_forecasts(origins, 24, SEASONS, n_jobs=1, levels=(80.0,))


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A real dask.distributed cluster of two worker processes; its scheduler's address."""
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as running:
        yield running.scheduler_address


def test_the_dask_forecasts_at_a_scheduler_address_equal_the_local_ones(origins, local, cluster):
    from dask.distributed import Client

    with Client(cluster) as client:  # the cluster really has two worker processes
        assert len(client.scheduler_info()["workers"]) == 2
    on_dask = fitted_forecasts(
        origins, 24, SEASONS, levels=(80.0,), engine="dask", engine_address=cluster
    )
    assert set(on_dask) == set(local) >= {"mstl_ets", "mstl_arima", "mstl_arima|lo-80"}
    for name, values in local.items():
        assert on_dask[name].shape == values.shape == (3, 24)
        np.testing.assert_array_equal(on_dask[name], values, err_msg=name)


def test_without_an_address_a_local_cluster_of_classical_jobs_workers_gives_the_same(
    origins, local
):
    on_dask = fitted_forecasts(origins[:2], 24, SEASONS, n_jobs=2, levels=(80.0,), engine="dask")
    for name, values in local.items():
        np.testing.assert_array_equal(on_dask[name], values[:2], err_msg=name)


def test_a_scheduler_that_does_not_answer_is_one_line_naming_the_key():
    # the path fitted_forecasts takes with an address, on a short timeout (its own is 10 s)
    with pytest.raises(ForecastingError) as caught, dask_client("tcp://127.0.0.1:9", 1, 1.0):
        pass
    message = str(caught.value)
    assert "evaluate.engine_address 'tcp://127.0.0.1:9'" in message
    assert "\n" not in message


def test_another_service_at_the_address_is_one_line_naming_the_key():
    """An HTTP server where the scheduler should be (the dashboard's port, say): it accepts and
    waits for a request line, which dask alone would wait on for good."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Server(ThreadingHTTPServer):
        daemon_threads = True  # a handler still waiting on dask's bytes must not block the close

    with Server(("127.0.0.1", 0), BaseHTTPRequestHandler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        address = f"tcp://127.0.0.1:{server.server_address[1]}"
        try:
            with pytest.raises(ForecastingError) as caught, dask_client(address, 1, 2.0):
                pass
        finally:
            server.shutdown()
    message = str(caught.value)
    assert f"evaluate.engine_address {address!r}" in message
    assert "\n" not in message


def test_the_models_scoring_runs_as_one_task_a_batch_on_dask_with_the_local_numbers(
    cluster, caplog
):
    import logging

    from forecasting.evaluation.scoring import ModelScoring, model_forecasts, scored_origins
    from tests.unit.test_scoring_and_decision import _network, _splits

    network = _network()
    origins = scored_origins(_splits(), "30min", 96, 24, origin_step=24, season=48)
    batches = -(-len(origins) // 3)
    assert batches >= 2
    local = model_forecasts(network, origins, ModelScoring(3, "local", None, 1))
    with caplog.at_level(logging.INFO, logger="forecasting.evaluation.engines"):
        on_dask = model_forecasts(network, origins, ModelScoring(3, "dask", cluster, 1))
    assert f"dask: {batches} tasks on 2 workers" in caplog.text
    np.testing.assert_array_equal(on_dask, local)
    # and batches are the one forward pass over every origin, cut up
    whole = model_forecasts(network, origins, ModelScoring(10**6, "local", None, 1))
    np.testing.assert_allclose(local, whole, rtol=1e-5, atol=1e-3)
