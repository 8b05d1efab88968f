"""ingest: snapshot ``ingest.source`` into ``paths.raw`` (Parquet + manifest).

The source is a built-in data set, a local CSV/Parquet file or any fsspec URL (http(s), s3,
gs, ...), optionally pinned by ``ingest.sha256`` and cut at ``ingest.until``. A source that
cannot be read or fails its pin stops the stage before anything is written: the previous
snapshot stays as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from forecasting.sources import ColumnMapping, as_of, fetch, parse, write_snapshot
from pipelines._stage import StageError, exit_with, run_stage
from pipelines.params import Params

logger = logging.getLogger("pipelines.ingest")


def ingest(params: Params) -> None:
    settings = params.ingest
    columns = settings.columns
    fetched = fetch(settings.source, settings.sha256)
    frame = parse(fetched, ColumnMapping(columns.timestamp, columns.value, columns.series_id))
    if frame.empty:
        raise StageError(f"source {settings.source!r} holds no rows")
    frame = as_of(frame, settings.until)
    manifest = write_snapshot(
        frame,
        params.paths.raw,
        settings.source,
        {"source_sha256": fetched.sha256, "until": settings.until},
    )
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
