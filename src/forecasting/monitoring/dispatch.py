"""Acting on a trigger: run the retrain command here, or dispatch the retrain workflow on GitHub."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass

logger = logging.getLogger(__name__)
MODES = ("local", "github", "none")


@dataclass(frozen=True)
class Outcome:
    """What the trigger did: ``mode``, the command line, its exit status (None: nothing ran)."""

    mode: str
    command: list[str]
    returncode: int | None
    detail: str


def github_command(workflow: str, reason: str) -> list[str]:
    """``gh workflow run`` of ``workflow``, with the trigger's reason as its input."""
    return ["gh", "workflow", "run", workflow, "-f", f"reason={reason[:300]}"]


def act(mode: str, retrain_command: str, workflow: str, reason: str) -> Outcome:
    """Run the retrain for ``mode`` (local | github | none).

    Raises:
        ValueError: on an unknown mode, or ``github`` without ``gh`` or ``GITHUB_TOKEN``.

    """
    if mode not in MODES:
        raise ValueError(f"MONITOR_TRIGGER={mode!r}: use one of {', '.join(MODES)}")
    if mode == "none":
        return Outcome(mode, [], None, "report only (on_trigger: none): retrain by hand")
    if mode == "github":
        if not os.environ.get("GITHUB_TOKEN") or shutil.which("gh") is None:
            raise ValueError(
                "MONITOR_TRIGGER=github needs the gh CLI and GITHUB_TOKEN (a token that may run "
                "workflows); or set MONITOR_TRIGGER=local to retrain here"
            )
        command = github_command(workflow, reason)
    else:
        command = shlex.split(retrain_command)
    logger.info("trigger: running %s", shlex.join(command))
    done = subprocess.run(command, check=False)
    detail = "ran" if done.returncode == 0 else f"failed with exit status {done.returncode}"
    return Outcome(mode, command, done.returncode, f"{shlex.join(command)} {detail}")
