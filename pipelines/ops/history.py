"""history: print every move of ``champion`` (``make history``), oldest first.

A move left half done by a killed process is repaired first (and the repair is printed), so
what is shown is what the registry holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from forecasting.registry import champion
from forecasting.registry.tracking import use_tracking
from pipelines._stage import exit_with, run_stage
from pipelines.params import Params


def _version(number: str | None) -> str:
    return "none" if number is None else f"v{number}"


def show_history(params: Params) -> None:
    name = params.base.registered_model
    use_tracking(Path.cwd(), params.base.experiment)
    for repaired in champion.repair(name):
        print(f"repaired a half-done move: {repaired.reason}")
    events = champion.history(name)
    if not events:
        print(f"{name}: no champion has been promoted yet")
        return
    print(f"{name}: champion history, {len(events)} move(s), oldest first")
    for event in events:
        print(
            f"{event.at}  {event.action:<8} {_version(event.from_version):>5} -> "
            f"{_version(event.to_version):<5} by {event.by}"
        )
        print(f"    {event.reason}")


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("history", show_history, argv)


if __name__ == "__main__":
    exit_with(main())
