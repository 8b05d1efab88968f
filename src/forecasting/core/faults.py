"""Named instants where the fault suite can kill a process for real (``FORECASTING_FAULT``).

``FORECASTING_FAULT=after_alias_move`` makes the process that reaches ``fault_point
("after_alias_move")`` SIGKILL itself there, exactly as an operator's ``kill -9`` or a power cut
would: no ``finally`` blocks, no atexit hooks. Unset (always, outside tests) it costs one
environment lookup.
"""

from __future__ import annotations

import logging
import os
import signal

logger = logging.getLogger(__name__)

FAULT_ENV = "FORECASTING_FAULT"


def fault_point(name: str) -> None:
    """SIGKILL this process if ``FORECASTING_FAULT`` names ``name``; otherwise do nothing."""
    if os.environ.get(FAULT_ENV) == name:
        logger.warning("%s=%s: killing this process (pid %d) here", FAULT_ENV, name, os.getpid())
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)
