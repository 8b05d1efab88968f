"""ingest: snapshot ``ingest.source`` into ``paths.raw`` (Parquet + manifest)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from forecasting.sources import ColumnMapping, read_source, write_snapshot
from pipelines._stage import StageError, exit_with, run_stage
from pipelines.params import Params

logger = logging.getLogger("pipelines.ingest")


def ingest(params: Params) -> None:
    columns = params.ingest.columns
    frame = read_source(
        params.ingest.source, ColumnMapping(columns.timestamp, columns.value, columns.series_id)
    )
    if frame.empty:
        raise StageError(f"source {params.ingest.source!r} holds no rows")
    manifest = write_snapshot(frame, params.paths.raw, params.ingest.source)
    logger.info(
        "snapshot %s: %d rows, %s .. %s, sha256 %s",
        params.paths.raw,
        manifest["rows"],
        manifest["first_timestamp"],
        manifest["last_timestamp"],
        str(manifest["sha256"])[:12],
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("ingest", ingest, argv)


if __name__ == "__main__":
    exit_with(main())
