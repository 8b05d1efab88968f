"""Whether a recorded process still runs: the PID plus its kernel start time names it for good."""

from __future__ import annotations

import os
from pathlib import Path


def process_start(pid: int) -> str:
    """The kernel's start time of ``pid`` (clock ticks since boot), "" where /proc cannot tell.

    With the PID it names one process for good: a PID reused after a wrap differs here.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the name in (...) may hold spaces


def process_gone(pid: int, started: str = "") -> bool:
    """Whether process ``pid`` (of this host) no longer runs, or its PID now names another one."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    return bool(started) and process_start(pid) not in ("", started)
