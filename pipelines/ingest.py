"""ingest: snapshot ``ingest.source`` into ``paths.raw`` (Parquet + manifest).

The source is a built-in data set, a local CSV/Parquet file or any fsspec URL (http(s), s3,
gs, ...), optionally pinned by ``ingest.sha256`` and cut at ``ingest.until``. A source that
cannot be read or fails its pin stops the stage before anything is written. Each ingest adds a
new, read-only snapshot folder beside the old ones and points ``manifest.json`` at it; no
snapshot is ever edited (``forecasting.data.snapshots``). ``ingest.keep_snapshots`` (default: keep
all) then deletes all but the current one and the most recently written others.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from forecasting.data.fetching import fetch
from forecasting.data.snapshots import prune_snapshots, write_snapshot
from forecasting.data.sources import ColumnMapping, TableFormat, as_of, parse
from pipelines._stage import StageError, exit_with, run_stage
from pipelines.params import Params

logger = logging.getLogger("pipelines.ingest")


def ingest(params: Params) -> None:
    settings = params.ingest
    columns, dialect = settings.columns, settings.csv
    table = TableFormat(
        delimiter=dialect.delimiter,
        decimal=dialect.decimal,
        encoding=dialect.encoding,
        timestamp_format=settings.timestamp_format,
        timezone=settings.timezone,
    )
    fetched = fetch(settings.source, settings.sha256, settings.timeout_s)
    if fetched.is_builtin:
        logger.info("loading the built-in data set %s", settings.source)
    else:
        logger.info("read %s: %d bytes, sha256 %s", settings.source, fetched.size, fetched.sha256)
    frame = parse(
        fetched, ColumnMapping(columns.timestamp, columns.value, columns.series_id), table
    )
    if frame.empty:
        raise StageError(f"source {settings.source!r} holds no rows")
    frame = as_of(frame, settings.until, settings.timezone)
    manifest = write_snapshot(
        frame,
        params.paths.raw,
        settings.source,
        {
            "source_sha256": fetched.sha256,
            "until": settings.until,
            "timezone": settings.timezone,
            "timestamp_format": settings.timestamp_format,
        },
    )
    logger.info(
        "%s %s: %d rows in %d series, %s .. %s",
        "new snapshot" if manifest["created"] else "unchanged rows, current snapshot stays",
        params.paths.raw / str(manifest["snapshot"]),
        manifest["rows"],
        manifest["series_count"],
        manifest["first_timestamp"],
        manifest["last_timestamp"],
    )
    if settings.keep_snapshots is not None:
        deleted = prune_snapshots(params.paths.raw, settings.keep_snapshots)
        if deleted:
            logger.info(
                "keep_snapshots %d: deleted %d older snapshot(s): %s",
                settings.keep_snapshots,
                len(deleted),
                ", ".join(deleted),
            )


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("ingest", ingest, argv)


if __name__ == "__main__":
    exit_with(main())
