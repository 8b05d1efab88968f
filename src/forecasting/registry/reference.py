"""The champion's training-data profile, the reference validate measures drift against.

Looked up without creating anything (no local store yet means no champion yet), and never
"no champion" when the registry cannot be read: the drift gate fails closed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from forecasting.core.errors import ForecastingError
from forecasting.data.drift import (
    PROFILE_ARTIFACT,
    DriftLimits,
    DriftVerdict,
    TrainingValues,
    ValueProfile,
    check_against,
)
from forecasting.registry.problem import Problem, belongs_to
from forecasting.registry.tracking import check_store, connect, existing_store
from forecasting.registry.versions import CHAMPION, version_by_alias

logger = logging.getLogger(__name__)
_UNREACHABLE = ("connection", "timed out", "timeout", "max retries", "refused", "unreachable")
_ABSENT = ("not found", "no such file", "does not exist", "404")


@dataclass(frozen=True)
class Reference:
    """The champion's profile, or why there is none to compare with (``skipped``)."""

    version: str | None = None
    profile: ValueProfile | None = None
    skipped: str = "no champion yet"


def _is_absent(err: Exception) -> bool:
    """Whether a failed artifact read means "no such artifact", not "store unreachable".

    A champion trained before profiles were logged has none; that is not an error.
    """
    if isinstance(err, FileNotFoundError):
        return True
    text = str(err).lower()
    if any(word in text for word in _UNREACHABLE):
        return False
    return any(word in text for word in _ABSENT)


def champion_reference(repo_root: Path, name: str, problem: Problem) -> Reference:
    """The profile of ``name``'s champion, if it forecasts the same ``problem``.

    Raises:
        ForecastingError: if the tracking store or the champion's profile cannot be read.

    """
    uri = existing_store(repo_root)
    if uri is None:
        return Reference()
    import mlflow

    check_store(uri)
    connect(uri)
    champion = version_by_alias(name, CHAMPION)
    if champion is None or not champion.run_id:
        return Reference()
    same, why = belongs_to(champion, problem)
    if not same:  # another frequency or series set: its data is no reference
        return Reference(str(champion.version), skipped=f"champion {why}")
    try:
        data = mlflow.artifacts.load_dict(f"runs:/{champion.run_id}/{PROFILE_ARTIFACT}")
    except Exception as err:
        if not _is_absent(err):
            raise ForecastingError(
                f"the data profile of champion v{champion.version} could not be read from "
                f"MLFLOW_TRACKING_URI={uri} ({str(err).strip()[:200]}), so drift cannot be "
                "checked: make the store reachable and re-run"
            ) from err
        logger.info("champion v%s has no data profile: drift not checked", champion.version)
        return Reference(str(champion.version), skipped="the champion has no data profile")
    return Reference(str(champion.version), ValueProfile.from_dict(data), skipped="")


def drift_against_champion(
    repo_root: Path,
    name: str,
    problem: Problem,
    train: TrainingValues,
    limits: DriftLimits,
    reports: Path,
) -> DriftVerdict | None:
    """``check_against`` the registry champion's training profile (``drift.png`` either way).

    None when there is nothing to compare with (no champion, or one of another problem); the
    reason is logged. The registry is not a DVC dependency: a new champion can make the same
    data drift, which is the point.

    Raises:
        ForecastingError: if a store exists but cannot be read (drift fails closed).

    """
    reference = champion_reference(repo_root, name, problem)
    found = None
    if reference.profile is not None and reference.version is not None:
        found = (reference.version, reference.profile)
    else:
        logger.info("drift not checked: %s", reference.skipped)
    return check_against(train, found, limits, reports, reference.skipped)
