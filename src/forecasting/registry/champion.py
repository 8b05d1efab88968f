"""Moving the ``champion`` alias safely: compare-and-set under a registry lock, with a history.

MLflow has no atomic compare-and-set for aliases, so every move happens under a lock that works
on any MLflow backend: creating a registered model is atomic (the name is unique), so the
pipeline that manages to create ``<model>.promotion-lock`` holds the lock until it deletes it.
Inside the lock the champion is read again and moved only if it is still the one the candidate
was evaluated against.

Every move is appended to the registered model's tags as ``champion.event.<n>`` (JSON: when,
what, from which version to which, by whom, why), so the history survives in the registry itself
and ``python -m pipelines.ops.history`` can print it.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from forecasting.core.errors import ForecastingError
from forecasting.registry.versions import CHAMPION, set_alias, tag_version, version_by_alias

logger = logging.getLogger(__name__)

EVENT_PREFIX = "champion.event."
LOCK_SUFFIX = ".promotion-lock"


class ChampionChanged(RuntimeError):
    """The champion moved between evaluation and promotion; nothing was overwritten."""


class LockTimeout(ForecastingError):
    """Another pipeline held the promotion lock for too long."""


@dataclass(frozen=True)
class ChampionEvent:
    """One move of the champion alias."""

    at: str
    action: str  # promote | rollback
    from_version: str | None
    to_version: str
    by: str
    reason: str


def actor() -> str:
    """Who moves the alias: the CI run when there is one, else user@host."""
    if os.environ.get("GITHUB_RUN_ID"):
        return (
            f"github-actions run {os.environ['GITHUB_RUN_ID']} "
            f"({os.environ.get('GITHUB_ACTOR', '?')}, {os.environ.get('GITHUB_WORKFLOW', '?')})"
        )
    return f"{getpass.getuser()}@{socket.gethostname()}"


def _client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextmanager
def promotion_lock(
    name: str, timeout_s: float = 60.0, stale_after_s: float = 600.0
) -> Iterator[None]:
    """Hold the registry-wide lock for moving ``name``'s champion.

    A lock older than ``stale_after_s`` (a pipeline killed while holding it) is broken.

    Raises:
        LockTimeout: if the lock stays held by someone else for ``timeout_s``.

    """
    from mlflow.exceptions import MlflowException

    client, lock = _client(), name + LOCK_SUFFIX
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.create_registered_model(
                lock,
                tags={"lock.owner": actor(), "lock.acquired_at": str(time.time())},
                description=f"Held while a pipeline moves the champion of {name}; "
                "deleted when it is done.",
            )
            break
        except MlflowException as err:
            # RESOURCE_DOES_NOT_EXIST: our insert collided with the lock, and the holder released
            # it before the SQL store could read it back to report the collision. Both mean
            # "someone else had it": try again.
            if err.error_code not in {"RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST"}:
                raise
        owner = "another pipeline"
        try:
            held = client.get_registered_model(lock)
            owner = held.tags.get("lock.owner", owner)
            if time.time() - float(held.tags.get("lock.acquired_at", "0")) > stale_after_s:
                logger.warning("breaking a stale promotion lock held by %s", owner)
                client.delete_registered_model(lock)
                continue
        except MlflowException:
            pass  # released (or broken) between our two calls: the next attempt will tell
        if time.monotonic() > deadline:
            raise LockTimeout(
                f"the promotion lock {lock!r} is held by {owner}; if no pipeline is running, "
                "delete that registered model and retry"
            )
        time.sleep(0.1)
    try:
        yield
    finally:
        client.delete_registered_model(lock)


def history(name: str) -> list[ChampionEvent]:
    """Every recorded move of ``name``'s champion, oldest first."""
    from mlflow.exceptions import MlflowException

    try:
        tags = _client().get_registered_model(name).tags
    except MlflowException:
        return []
    numbered = sorted(
        (int(key.removeprefix(EVENT_PREFIX)), value)
        for key, value in tags.items()
        if key.startswith(EVENT_PREFIX)
    )
    return [ChampionEvent(**json.loads(value)) for _, value in numbered]


def _record(name: str, event: ChampionEvent) -> None:
    number = len(history(name)) + 1
    _client().set_registered_model_tag(
        name, f"{EVENT_PREFIX}{number:05d}", json.dumps(asdict(event))
    )


def _current(name: str) -> str | None:
    holder = version_by_alias(name, CHAMPION)
    return None if holder is None else str(holder.version)


def promote(name: str, version: str, expected_champion: str | None, reason: str) -> ChampionEvent:
    """Make ``version`` the champion if the champion is still ``expected_champion``.

    Raises:
        ChampionChanged: if another pipeline moved the champion since it was read.

    """
    with promotion_lock(name):
        current = _current(name)
        if current != expected_champion:
            raise ChampionChanged(
                f"the champion moved from v{expected_champion} to v{current} while v{version} "
                "was being evaluated; it was left as it is: re-run evaluate to compare against "
                f"v{current}"
            )
        event = ChampionEvent(_now(), "promote", current, version, actor(), reason)
        set_alias(name, CHAMPION, version)
        tag_version(
            name,
            version,
            {
                "champion.promoted_at": event.at,
                "champion.promoted_by": event.by,
                "champion.previous": str(current),
                "champion.reason": reason[:4000],
            },
        )
        if current is not None:
            tag_version(
                name, current, {"champion.demoted_at": event.at, "champion.replaced_by": version}
            )
        _record(name, event)
        return event


def rollback(name: str) -> ChampionEvent:
    """Move the champion back to the version it replaced, and record it.

    Raises:
        ValueError: if there is no champion or no earlier champion to return to.

    """
    with promotion_lock(name):
        current = _current(name)
        if current is None:
            raise ValueError(f"{name} has no champion to roll back")
        # Walk back through promotions only, so a second rollback goes further back.
        arrivals = [e for e in history(name) if e.action == "promote" and e.to_version == current]
        previous = arrivals[-1].from_version if arrivals else None
        if previous is None:
            raise ValueError(f"champion v{current} of {name} replaced no earlier champion")
        event = ChampionEvent(
            _now(), "rollback", current, previous, actor(), f"rollback of v{current}"
        )
        set_alias(name, CHAMPION, previous)
        tag_version(
            name, current, {"champion.rolled_back_at": event.at, "champion.demoted_at": event.at}
        )
        tag_version(
            name, previous, {"champion.restored_at": event.at, "champion.restored_from": current}
        )
        _record(name, event)
        return event
