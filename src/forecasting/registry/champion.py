"""Moving the ``champion`` alias safely: compare-and-set under a registry lock, with a history.

MLflow has no atomic compare-and-set for aliases, so every move happens under a lock that works
on any MLflow backend: creating a registered model is atomic (the name is unique), so the
pipeline that manages to create ``<model>.promotion-lock`` holds the lock until it deletes it.
Inside the lock the champion is read again and moved only if it is still the one the candidate
was evaluated against.

Every move is appended to the registered model's tags as ``champion.event.<n>`` (JSON: when,
what, from which version to which, by whom, why), so the history survives in the registry itself
and ``python -m pipelines.ops.history`` can print it.

A move is crash-safe: its intent (``champion.pending``: the event and its number) is written
before the alias moves and deleted after the move is recorded. Whoever takes the lock next
(``repair``: the next promotion or rollback, ``make history``, ``make lineage``, evaluate and
package) finds a pending intent left by a killed process and finishes it: a promotion whose
record is missing is undone (the rerun of evaluate promotes it again, with its decision file), a
rollback is completed (the operator asked for it), and each repair is itself recorded. A lock
whose holder is a dead process on this host is broken at once.
"""

from __future__ import annotations

import contextlib
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
from forecasting.core.faults import fault_point
from forecasting.core.processes import process_gone, process_start
from forecasting.registry.versions import (
    CHAMPION,
    RegistryUnavailable,
    set_alias,
    tag_version,
    version_by_alias,
)

logger = logging.getLogger(__name__)

EVENT_PREFIX = "champion.event."
PENDING_TAG = "champion.pending"
LOCK_SUFFIX = ".promotion-lock"


class ChampionChanged(RuntimeError):
    """The champion moved between evaluation and promotion; nothing was overwritten."""


class LockTimeout(ForecastingError):
    """Another pipeline held the promotion lock for too long."""


@dataclass(frozen=True)
class ChampionEvent:
    """One move of the champion alias."""

    at: str
    action: str  # promote | rollback | repair (an interrupted move undone)
    from_version: str | None
    to_version: str | None  # None only when a repair undid the very first promotion
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


def _lock_tags() -> dict[str, str]:
    pid = os.getpid()
    return {
        "lock.owner": actor(),
        "lock.acquired_at": str(time.time()),
        "lock.host": socket.gethostname(),
        "lock.pid": str(pid),
        "lock.pid_start": process_start(pid),
    }


def holder_gone(tags: dict[str, str]) -> bool:
    """Whether a lock's holder is known dead: a process on this host that no longer runs.

    A holder on another host (or one that recorded no PID) is never presumed dead; only age
    (``stale_after_s``) breaks its lock.
    """
    if tags.get("lock.host") != socket.gethostname() or not tags.get("lock.pid", "").isdigit():
        return False
    return process_gone(int(tags["lock.pid"]), tags.get("lock.pid_start", ""))


def _break_if_abandoned(client: Any, lock: str, stale_after_s: float) -> str:
    """Delete ``lock`` if its holder is gone or it is older than ``stale_after_s``.

    Returns who holds it (for the timeout message). Raises MlflowException if it vanished.
    """
    tags = client.get_registered_model(lock).tags
    owner = str(tags.get("lock.owner", "another pipeline"))
    if tags.get("lock.pid"):
        owner += f" (pid {tags['lock.pid']} on {tags.get('lock.host', '?')})"
    if holder_gone(tags):
        logger.warning(
            "breaking the promotion lock of %s: its process %s on %s is gone (killed while "
            "holding it)",
            owner,
            tags.get("lock.pid"),
            tags.get("lock.host"),
        )
        client.delete_registered_model(lock)
    elif time.time() - float(tags.get("lock.acquired_at", "0")) > stale_after_s:
        logger.warning("breaking a stale promotion lock held by %s", owner)
        client.delete_registered_model(lock)
    return owner


@contextmanager
def promotion_lock(
    name: str, timeout_s: float = 60.0, stale_after_s: float = 600.0
) -> Iterator[None]:
    """Hold the registry-wide lock for moving ``name``'s champion.

    A lock whose holder is a dead process on this host is broken at once; one older than
    ``stale_after_s`` (a holder on another machine that never came back) is broken too. Only a
    live holder is waited for.

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
                tags=_lock_tags(),
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
        # MlflowException: released (or broken) between our two calls: the next attempt tells
        with contextlib.suppress(MlflowException):
            owner = _break_if_abandoned(client, lock, stale_after_s)
        if time.monotonic() > deadline:
            here = f"on {socket.gethostname()})" in owner
            raise LockTimeout(
                f"the promotion lock {lock!r} is held by {owner}, "
                + (
                    "a live process: wait for it to finish (or, if it hangs, stop it and retry)"
                    if here
                    else "which this machine cannot check: if no pipeline is running there, "
                    f"delete the registered model {lock!r} and retry"
                )
            )
        time.sleep(0.1)
    try:
        yield
    finally:
        client.delete_registered_model(lock)


def _model_tags(name: str) -> dict[str, str]:
    """The registered model's tags; {} when the model does not exist yet.

    Raises:
        RegistryUnavailable: if the registry cannot be read (never taken for "no history").

    """
    from mlflow.exceptions import MlflowException

    try:
        return dict(_client().get_registered_model(name).tags)
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return {}
        raise RegistryUnavailable.from_error(err) from err


def _numbered(tags: dict[str, str]) -> list[tuple[int, ChampionEvent]]:
    found = sorted(
        (int(key.removeprefix(EVENT_PREFIX)), value)
        for key, value in tags.items()
        if key.startswith(EVENT_PREFIX)
    )
    return [(number, ChampionEvent(**json.loads(value))) for number, value in found]


def history(name: str) -> list[ChampionEvent]:
    """Every recorded move of ``name``'s champion, oldest first.

    Raises:
        RegistryUnavailable: if the registry cannot be read.

    """
    return [event for _, event in _numbered(_model_tags(name))]


def _event_tag(number: int) -> str:
    return f"{EVENT_PREFIX}{number:05d}"


def _version_tags(event: ChampionEvent) -> dict[str, dict[str, str]]:
    """The tags a move writes on the versions it touches, by version (written and undone alike)."""
    if event.action == "promote" and event.to_version is not None:
        touched = {
            event.to_version: {
                "champion.promoted_at": event.at,
                "champion.promoted_by": event.by,
                "champion.previous": str(event.from_version),
                "champion.reason": event.reason[:4000],
            }
        }
        if event.from_version is not None:
            touched[event.from_version] = {
                "champion.demoted_at": event.at,
                "champion.replaced_by": event.to_version,
            }
        return touched
    if event.action == "rollback" and event.from_version and event.to_version:
        return {
            event.from_version: {
                "champion.rolled_back_at": event.at,
                "champion.demoted_at": event.at,
            },
            event.to_version: {
                "champion.restored_at": event.at,
                "champion.restored_from": event.from_version,
            },
        }
    return {}


def _clear_version_tags(name: str, event: ChampionEvent) -> None:
    """Delete the tags ``event`` wrote (those that still hold its values)."""
    client = _client()
    for version, tags in _version_tags(event).items():
        current = client.get_model_version(name, version).tags
        for key, value in tags.items():
            if current.get(key) == value:
                client.delete_model_version_tag(name, version, key)


def _set_pending(name: str, number: int, event: ChampionEvent) -> None:
    payload = json.dumps({"number": number, "event": asdict(event)})
    _client().set_registered_model_tag(name, PENDING_TAG, payload)


def _apply(name: str, event: ChampionEvent) -> ChampionEvent:
    """Move the alias as ``event`` says, crash-safely: intent, move, record, done (lock held)."""
    numbered = _numbered(_model_tags(name))
    number = (numbered[-1][0] if numbered else 0) + 1
    _set_pending(name, number, event)
    fault_point("after_promotion_intent")
    assert event.to_version is not None
    set_alias(name, CHAMPION, event.to_version)
    fault_point("after_alias_move")
    for version, tags in _version_tags(event).items():
        tag_version(name, version, tags)
    client = _client()
    client.set_registered_model_tag(name, _event_tag(number), json.dumps(asdict(event)))
    fault_point("after_promotion_record")
    client.delete_registered_model_tag(name, PENDING_TAG)
    return event


def _current(name: str) -> str | None:
    holder = version_by_alias(name, CHAMPION)
    return None if holder is None else str(holder.version)


def _record_repair(name: str, event: ChampionEvent) -> ChampionEvent:
    numbered = _numbered(_model_tags(name))
    number = (numbered[-1][0] if numbered else 0) + 1
    _client().set_registered_model_tag(name, _event_tag(number), json.dumps(asdict(event)))
    return event


def _finish_pending(name: str, pending: dict[str, Any]) -> ChampionEvent | None:
    """Finish a move a killed process left half done; returns the event that now records it."""
    client = _client()
    number, event = int(pending["number"]), ChampionEvent(**pending["event"])
    recorded = _event_tag(number) in _model_tags(name)
    current = _current(name)
    moved = current == event.to_version
    outcome: ChampionEvent | None = None
    if recorded or (moved and event.action == "rollback"):
        # Recorded (killed just before cleaning up), or a rollback the operator asked for.
        for version, tags in _version_tags(event).items():
            tag_version(name, version, tags)
        client.set_registered_model_tag(name, _event_tag(number), json.dumps(asdict(event)))
        logger.warning(
            "repaired: completed the interrupted %s v%s -> v%s (history event %d)",
            event.action,
            event.from_version,
            event.to_version,
            number,
        )
        outcome = event
    elif moved:
        # The alias moved but nothing recorded why: undo it, so no champion ships unrecorded.
        if event.from_version is None:
            client.delete_registered_model_alias(name, CHAMPION)
        else:
            set_alias(name, CHAMPION, event.from_version)
        _clear_version_tags(name, event)
        outcome = _record_repair(
            name,
            ChampionEvent(
                _now(),
                "repair",
                event.to_version,
                event.from_version,
                actor(),
                f"undid the interrupted promotion of v{event.to_version} (started {event.at} by "
                f"{event.by}, killed before it was recorded); `dvc repro` evaluates it again",
            ),
        )
        logger.warning("repaired: %s", outcome.reason)
    else:
        _clear_version_tags(name, event)
        logger.warning(
            "repaired: dropped the intent of an interrupted %s to v%s that never moved the "
            "alias (the champion is still v%s)",
            event.action,
            event.to_version,
            current,
        )
    client.delete_registered_model_tag(name, PENDING_TAG)
    return outcome


def _adopt_unrecorded(name: str) -> ChampionEvent | None:
    """Record a champion the history does not explain, so history, rollback and lineage agree.

    That is a move interrupted before crash-safe promotion existed, or an alias moved by hand.
    """
    events = history(name)
    last = events[-1].to_version if events else None
    current = _current(name)
    if current is None or current == last:
        return None
    event = ChampionEvent(
        _now(),
        "promote",
        last,
        current,
        actor(),
        f"recorded by repair: the alias was found on v{current} with no record of its move "
        f"from v{last} (an interrupted promotion, or an alias moved by hand)",
    )
    for version, tags in _version_tags(event).items():
        tag_version(name, version, tags)
    logger.warning("repaired: %s", event.reason)
    return _record_repair(name, event)


def _repair_locked(name: str) -> list[ChampionEvent]:
    repaired: list[ChampionEvent] = []
    pending = _model_tags(name).get(PENDING_TAG)
    if pending:
        finished = _finish_pending(name, json.loads(pending))
        if finished is not None:
            repaired.append(finished)
    adopted = _adopt_unrecorded(name)
    if adopted is not None:
        repaired.append(adopted)
    return repaired


def needs_repair(name: str) -> bool:
    """Whether a half-done move is visible (reads only).

    That is a pending intent, a held lock whose holder is gone, or a champion the history does
    not explain.
    """
    from mlflow.exceptions import MlflowException

    if PENDING_TAG in _model_tags(name):
        return True
    try:
        lock_tags = _client().get_registered_model(name + LOCK_SUFFIX).tags
        if holder_gone(lock_tags):
            return True
    except MlflowException:
        pass
    events = history(name)
    return _current(name) != (events[-1].to_version if events else None)


def repair(name: str) -> list[ChampionEvent]:
    """Detect and finish any half-done move of ``name``'s champion; returns what it recorded.

    Cheap when there is nothing to do (reads only, takes no lock).

    Raises:
        RegistryUnavailable: if the registry cannot be read.
        LockTimeout: if a live process holds the lock for too long.

    """
    if not needs_repair(name):
        return []
    with promotion_lock(name):
        return _repair_locked(name)


def incumbent(name: str, run_id: str) -> Any | None:
    """The champion a candidate from ``run_id`` is compared with.

    Normally the champion; but when the champion already is a version of ``run_id`` (an
    evaluate of that run promoted it and was killed before writing its decision), the version
    it replaced, so the rerun reaches the same decision instead of comparing the run with itself.
    """
    holder = version_by_alias(name, CHAMPION)
    if holder is None or holder.run_id != run_id:
        return holder
    arrivals = [
        e
        for e in history(name)
        if e.action == "promote" and e.to_version == str(holder.version) and e.from_version
    ]
    if not arrivals or arrivals[-1].from_version is None:
        return None
    return _client().get_model_version(name, arrivals[-1].from_version)


def promote(name: str, version: str, expected_champion: str | None, reason: str) -> ChampionEvent:
    """Make ``version`` the champion if the champion is still ``expected_champion``.

    Promoting again a version that this very move already made champion (a rerun of an
    interrupted evaluate) returns the recorded event and changes nothing.

    Raises:
        ChampionChanged: if another pipeline moved the champion since it was read.

    """
    with promotion_lock(name):
        _repair_locked(name)
        current = _current(name)
        if current == version and current != expected_champion:
            done = [e for e in history(name) if e.action == "promote" and e.to_version == version]
            if done and done[-1].from_version == expected_champion:
                logger.info("v%s is already the champion (promoted %s)", version, done[-1].at)
                return done[-1]
        if current != expected_champion:
            raise ChampionChanged(
                f"the champion moved from v{expected_champion} to v{current} while v{version} "
                "was being evaluated; it was left as it is: re-run evaluate to compare against "
                f"v{current}"
            )
        return _apply(name, ChampionEvent(_now(), "promote", current, version, actor(), reason))


def rollback(name: str) -> ChampionEvent:
    """Move the champion back to the version it replaced, and record it.

    A half-done move found first is repaired instead: an undone promotion (the champion is
    already back where it was) or a completed rollback is returned without moving further.

    Raises:
        ValueError: if there is no champion or no earlier champion to return to.

    """
    with promotion_lock(name):
        for repaired in _repair_locked(name):
            if repaired.action in {"repair", "rollback"}:
                return repaired
        current = _current(name)
        if current is None:
            raise ValueError(f"{name} has no champion to roll back")
        # Walk back through promotions only, so a second rollback goes further back.
        arrivals = [e for e in history(name) if e.action == "promote" and e.to_version == current]
        previous = arrivals[-1].from_version if arrivals else None
        if previous is None:
            raise ValueError(f"champion v{current} of {name} replaced no earlier champion")
        return _apply(
            name,
            ChampionEvent(
                _now(), "rollback", current, previous, actor(), f"rollback of v{current}"
            ),
        )
