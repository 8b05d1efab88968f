"""rollback: move ``champion`` back to the version it replaced (not a DVC stage; ``make rollback``).

The move is recorded in the registry's champion history; ``make rollback`` then re-runs the
package stage, so the Bento ships the restored champion.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from forecasting.registry import champion
from forecasting.registry.tracking import use_tracking
from pipelines._stage import exit_with, run_stage
from pipelines.params import Params

logger = logging.getLogger("pipelines.rollback")


def rollback(params: Params) -> None:
    use_tracking(Path.cwd(), params.base.experiment)
    event = champion.rollback(params.base.registered_model)
    if event.action == "repair":
        logger.info("a half-done promotion was undone instead: %s", event.reason)
    logger.info(
        "champion of %s moved back from v%s to v%s (recorded, by %s)",
        params.base.registered_model,
        event.from_version,
        event.to_version,
        event.by,
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("rollback", rollback, argv)


if __name__ == "__main__":
    exit_with(main())
