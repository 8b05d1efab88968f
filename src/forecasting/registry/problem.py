"""The forecasting problem a model version belongs to, recorded as version tags.

A champion is compared only with models of its own problem: the same frequency, horizon, input
length, unit and set of series. The signature is written on every registered version as
``problem.*`` tags; validate's drift check and evaluate's champion comparison skip a champion
whose signature differs, and the gate then compares the candidate with the baselines alone.

A version registered before signatures existed has no such tags: it counts as the current
problem only if the frequency, horizon and input length its training run recorded (run params
``freq``, ``horizon``, ``input_length``) are the current ones.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

logger = logging.getLogger(__name__)

TAG_PREFIX = "problem."
LEGACY_FIELDS = ("freq", "horizon", "input_length")  # what a pre-signature run recorded


def series_digest(series_ids: Iterable[object]) -> str:
    """sha256 (first 16 hex digits) of the sorted, distinct series names."""
    names = sorted({str(name) for name in series_ids})
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Problem:
    """What a model forecasts: the signature two comparable models share."""

    freq: str
    horizon: int
    input_length: int
    unit: str
    series: str  # series_digest of the series set
    series_count: int

    @classmethod
    def of(
        cls, freq: str, horizon: int, input_length: int, unit: str, series_ids: Iterable[object]
    ) -> Problem:
        """The problem of a run: its settings and the series it trains on."""
        names = {str(name) for name in series_ids}
        return cls(freq, int(horizon), int(input_length), unit, series_digest(names), len(names))

    def as_tags(self) -> dict[str, str]:
        """``problem.<field>`` tags for a model version."""
        return {f"{TAG_PREFIX}{key}": str(value) for key, value in asdict(self).items()}

    def differences(self, recorded: dict[str, str]) -> list[str]:
        """``field theirs -> ours`` for each recorded field that differs from this problem.

        ``recorded`` maps field names to values as strings; fields not recorded are not compared.
        """
        ours = {key: str(value) for key, value in asdict(self).items()}
        return [
            f"{key} {recorded[key]} -> {ours[key]}"
            for key in ours
            if key in recorded and recorded[key] != ours[key]
        ]


def recorded_signature(tags: dict[str, str], run_params: dict[str, str] | None) -> dict[str, str]:
    """A version's signature fields: its ``problem.*`` tags, else its run's legacy params.

    Returns:
        field -> value; empty when neither is there (nothing known: not comparable).

    """
    signature = {
        key.removeprefix(TAG_PREFIX): value
        for key, value in tags.items()
        if key.startswith(TAG_PREFIX)
    }
    if signature or not run_params:
        return signature
    return {key: str(run_params[key]) for key in LEGACY_FIELDS if key in run_params}


def version_signature(version: Any) -> dict[str, str]:
    """``recorded_signature`` of an MLflow model version (reads its run's params if needed)."""
    tags = dict(getattr(version, "tags", {}) or {})
    if any(key.startswith(TAG_PREFIX) for key in tags) or not getattr(version, "run_id", None):
        return recorded_signature(tags, None)
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        params = dict(MlflowClient().get_run(version.run_id).data.params)
    except MlflowException:
        params = {}
    return recorded_signature(tags, params)


def belongs_to(version: Any, problem: Problem) -> tuple[bool, str]:
    """Whether a registered ``version`` is a model of ``problem``, and if not, why (one line).

    A version with no signature and no recorded settings is not comparable.
    """
    recorded = version_signature(version)
    label = f"v{version.version}"
    if not recorded:
        return False, f"{label} records no problem signature nor the settings it was trained with"
    differences = problem.differences(recorded)
    if differences:
        return False, f"{label} belongs to another problem ({'; '.join(differences)})"
    return True, f"{label} belongs to this problem"
