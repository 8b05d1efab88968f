"""Where the fitted baselines and the model's scoring run: here, or as tasks on a dask cluster.

Each test origin's fits are independent (``classical._fit_origins`` on one history row), so past
one machine they become one dask task each: on a local ``dask.distributed`` cluster of
``evaluate.classical_jobs`` worker processes when ``evaluate.engine_address`` is null, or on the
scheduler at that address (``dask scheduler`` + ``dask worker`` on other machines, with this
package installed there). The same function on the same rows gives the same numbers either way.
The model's forward passes over the test windows are tasks too, one per ``evaluate.model_batch``
windows (``scoring.forward_in_batches``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from forecasting.core.errors import ForecastingError

logger = logging.getLogger(__name__)

Engine = Literal["local", "dask"]
ENGINES: tuple[Engine, ...] = ("local", "dask")
# A scheduler that does not answer within this is a wrong address or a stopped cluster: say so
# in one line rather than waiting dask's default 30 s.
CONNECT_TIMEOUT_S = 10.0

T = TypeVar("T")
R = TypeVar("R")


def process_count(n_jobs: int, tasks: int) -> int:
    """Processes for ``tasks`` independent tasks: ``n_jobs`` (-1: one per core), at most ``tasks``."""
    return max(1, min((os.cpu_count() or 1) if n_jobs == -1 else max(n_jobs, 1), tasks))


async def _probe(address: str, timeout_s: float) -> None:
    """Connect and take the peer's handshake within ``timeout_s``, then hang up.

    ``Client(address, timeout=...)`` bounds the TCP connect but not the handshake read after it
    (distributed 2026.8 ``comm.core.connect``): a peer that accepts and stays silent, such as
    an HTTP server waiting for a request line, would hang the stage for good.
    """
    from distributed.comm.core import connect

    comm = await asyncio.wait_for(connect(address, timeout=timeout_s), timeout_s)
    await comm.close()


@contextmanager
def dask_client(
    address: str | None, workers: int, timeout_s: float = CONNECT_TIMEOUT_S
) -> Iterator[Any]:
    """A ``dask.distributed`` client: of a local cluster of ``workers`` processes, or at ``address``.

    Raises:
        ForecastingError: naming ``evaluate.engine_address`` when no scheduler answers there.

    """
    from dask.distributed import Client, LocalCluster

    if address is None:
        # one thread a worker: the fits are CPU-bound Python/numba, threads would share the GIL
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # any free port: never fight another cluster for 8787
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    try:
        asyncio.run(_probe(address, timeout_s))
        client = Client(address, timeout=timeout_s)
    # Whatever fails while connecting means no working scheduler there: a refused port
    # (OSError), a silent one (TimeoutError), a malformed address (ValueError), or another
    # service answering, e.g. the dashboard's HTTP on 8787, whose reply dask reads as a frame
    # length of exabytes (MemoryError). Each is one line naming the key, not a traceback.
    except Exception as err:
        said = str(err).splitlines()[0][:160] if str(err) else f"nothing within {timeout_s:g} s"
        raise ForecastingError(
            f"evaluate.engine_address {address!r}: no dask scheduler answered there "
            f"({type(err).__name__}: {said}); check the address (the scheduler listens on "
            f"8786 by default, its dashboard on 8787), start one (`dask scheduler`, then "
            "`dask worker <address>` on each machine) or set evaluate.engine_address to null "
            "for a local cluster"
        ) from err
    with client:
        yield client


def map_on_dask(
    function: Callable[[T], R],
    items: Sequence[T],
    address: str | None,
    workers: int,
    warm: Callable[[], object] | None = None,
) -> list[R]:
    """``[function(item) for item in items]``, one dask task per item, in the items' order.

    ``warm`` runs once on every worker first (numba compiles statsforecast's methods on their
    first call in each process: seconds, paid once per worker rather than inside a task).
    """
    with dask_client(address, workers) as client:
        logger.info(
            "dask: %d tasks on %d workers at %s",
            len(items),
            len(client.scheduler_info().get("workers", {})),
            client.scheduler.address,
        )
        if warm is not None:
            client.run(warm)
        futures = client.map(function, list(items), pure=False)
        return list(client.gather(futures))
