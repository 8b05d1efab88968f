"""What every stage shares: logging, params, and turning failures into an exit code and a message.

Besides the stage's own errors, the faults of the machine are caught here and told in one line
naming what to do: a full disk or an I/O error (with the path and what to free), a full or
locked SQLite store, an MLflow store that stopped answering mid-stage.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from forecasting.core.errors import ForecastingError
from forecasting.core.failures import fault_message
from forecasting.registry.tracking import bound_requests
from pipelines.params import Params, ParamsError, load_params

logger = logging.getLogger("pipelines")


class StageError(RuntimeError):
    """A stage cannot go on; the message tells the user what to do."""


def parse_args(stage: str, argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"python -m pipelines.{stage}", description=f"The {stage} stage."
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file")
    return parser.parse_args(argv)


def run_stage(stage: str, body: Callable[[Params], None], argv: Sequence[str] | None) -> int:
    """Run a stage body with validated params; return 0, or 1 with a one-paragraph error."""
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s {stage:>8} %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("alembic", "urllib3", "great_expectations", "mlflow.store", "httpx", "bentoml"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = parse_args(stage, argv)
    outputs: list[Path] = [Path.cwd()]
    try:
        params = load_params(args.params)
        outputs = [Path(str(p)) for p in params.paths.model_dump().values()] + outputs
        bound_requests(params.tracking.timeout_s, params.tracking.max_retries)
        if params.derived and stage in {"validate", "train", "evaluate"}:
            shown = ", ".join(f"{k.split('.')[-1]} {v}" for k, v in params.derived.items())
            logger.info("auto settings for base.freq %s: %s", params.base.freq, shown)
        body(params)
    except (StageError, ParamsError, ValueError, FileNotFoundError, ForecastingError) as err:
        logger.error("%s failed: %s", stage, err)
        return 1
    except Exception as err:
        message = fault_message(err, outputs)
        if message is None:
            raise
        logger.error("%s failed: %s", stage, message)
        return 1
    return 0


def exit_with(code: int) -> None:
    sys.exit(code)
