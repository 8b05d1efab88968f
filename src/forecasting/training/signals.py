"""SIGTERM (CI cancelling a job, ``kill``) as a request to stop after the current epoch."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


def stop_on_sigterm() -> Callable[[], bool]:
    """Install a SIGTERM handler (main thread only); returns whether a stop was requested.

    Pass the result as ``stop_requested`` to the trainer: it checkpoints the epoch, then stops.
    """
    requested = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        logger.warning("signal %d: stopping after this epoch and saving a checkpoint", signum)
        requested.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handle)
    return requested.is_set
