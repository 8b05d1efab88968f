"""Where and when a benchmark ran: every benchmark's JSON carries this under ``"meta"``.

A figure without its date, commit and processor cannot be compared with a later one: speed
follows the instruction set (AVX2 vs AVX-512 machines of the same size differ by up to 3x per
forward pass here), and the code moves. ``benchmarks/report.py`` prints these beside each figure.
"""

from __future__ import annotations

import contextlib
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forecasting.registry.provenance import cpu_name, git_commit

REPO = Path(__file__).resolve().parents[1]


def instruction_set() -> str | None:
    """The widest vector extension the processor reports (Linux /proc/cpuinfo), else None."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX")):
                    if flag in flags:
                        return name
                return None
    return None


def run_metadata() -> dict[str, Any]:
    """Date (UTC), git commit (and whether the tree differed from it), processor, cores."""
    commit, dirty = git_commit(REPO)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "dirty": dirty,
        "processor": cpu_name(),
        "instruction_set": instruction_set(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
