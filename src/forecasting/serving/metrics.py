"""The service's own Prometheus metrics, beside BentoML's on ``/metrics``.

Kept out of ``service.py`` so that re-importing the service (to pack another model in the same
process) does not register the same metric twice.
"""

from __future__ import annotations

import bentoml

# Rows per forward pass: shows the micro-batcher at work under load.
BATCH_ROWS = bentoml.metrics.Histogram(
    name="forecaster_batch_rows",
    documentation="Series per forward pass of the micro-batcher",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
