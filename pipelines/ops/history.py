"""history: print every move of ``champion`` (``make history``), oldest first."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from forecasting.registry import champion
from forecasting.registry.tracking import use_tracking
from pipelines._stage import exit_with, run_stage
from pipelines.params import Params


def show_history(params: Params) -> None:
    name = params.base.registered_model
    use_tracking(Path.cwd(), params.base.experiment)
    events = champion.history(name)
    if not events:
        print(f"{name}: no champion has been promoted yet")
        return
    print(f"{name}: champion history, {len(events)} move(s), oldest first")
    for event in events:
        source = "none" if event.from_version is None else f"v{event.from_version}"
        print(f"{event.at}  {event.action:<8} {source:>5} -> v{event.to_version:<4} by {event.by}")
        print(f"    {event.reason}")


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("history", show_history, argv)


if __name__ == "__main__":
    exit_with(main())
