"""What the champion was expected to do: its test MAE (overall and by lead), and its inputs.

From the registry when a store exists (the version's ``test.mae`` tag, its run's data profiles);
otherwise from ``reports/evaluate`` (the last evaluation, which names the version it scored).
Served inputs are held against the champion's **served profile** (``data.drift.served_profile``):
its test split's values, the training split's daily and weekly shapes, and the level of its last
test input window, the latest level it was scored at. Its training split alone would be the
wrong reference after a retrain that follows a level shift: the new champion's test split holds
the shifted days (the gate passed it on them), its training split does not, and drift against
it would alarm, and retrain, until the shift had aged into the training split. A champion
logged before served profiles existed falls back to its training profile.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from forecasting.data.drift import PROFILE_ARTIFACT, SERVED_PROFILE_ARTIFACT, ValueProfile

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Expectation:
    """The served champion's expected error and inputs."""

    version: str | None
    test_mae: float | None
    by_lead: dict[int, float]  # lead -> test MAE at that lead (the last evaluation's)
    profile: ValueProfile | None
    source: str  # where it came from, for the report
    profile_of: str | None = None  # "test split" | "training split" (an older champion) | None


def _by_lead(reports: Path) -> dict[int, float]:
    path = reports / "evaluate" / "error_by_horizon.csv"
    if not path.is_file():
        return {}
    with path.open() as rows:
        return {int(row["step"]): float(row["model"]) for row in csv.DictReader(rows)}


def from_reports(reports: Path) -> Expectation:
    """The last evaluation's figures (``reports/evaluate``), when no registry can be read."""
    from forecasting.core.files import read_json

    promotion = reports / "evaluate" / "promotion.json"
    if not promotion.is_file():
        return Expectation(None, None, {}, None, "none: no registry and no reports/evaluate")
    decision = read_json(promotion)
    return Expectation(
        str(decision.get("version")) if decision.get("version") is not None else None,
        float(decision["model_mae"]) if decision.get("model_mae") is not None else None,
        _by_lead(reports),
        None,
        str(promotion),
    )


def champion_expectation(repo_root: Path, name: str, reports: Path) -> Expectation:
    """The registry champion's test MAE and profile; the reports' when there is no store.

    Raises:
        ForecastingError: if a store exists but cannot be reached (names MLFLOW_TRACKING_URI).

    """
    from forecasting.registry.tracking import check_store, connect, existing_store
    from forecasting.registry.versions import CHAMPION, version_by_alias

    uri = existing_store(repo_root)
    if uri is None:
        return from_reports(reports)
    check_store(uri)
    connect(uri)
    champion = version_by_alias(name, CHAMPION)
    if champion is None:
        return from_reports(reports)
    import mlflow

    profile, profile_of = None, None
    for artifact, split in (
        (SERVED_PROFILE_ARTIFACT, "test split"),
        (PROFILE_ARTIFACT, "training split"),
    ):
        try:
            data = mlflow.artifacts.load_dict(f"runs:/{champion.run_id}/{artifact}")
        except Exception as err:  # an older champion: the next profile, or no drift judged
            logger.info("champion v%s: no readable %s (%s)", champion.version, artifact, err)
            continue
        profile, profile_of = ValueProfile.from_dict(data), split
        break
    if profile is None:
        logger.warning(
            "champion v%s has no readable data profile: drift not judged", champion.version
        )
    mae = champion.tags.get("test.mae")
    version = str(champion.version)
    local = from_reports(reports)
    return Expectation(
        version,
        float(mae) if mae else local.test_mae,
        local.by_lead if local.version == version else {},
        profile,
        f"registry {name} v{version}",
        profile_of,
    )
