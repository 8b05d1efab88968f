"""One pin list: pyproject.toml's dependencies, read back for the MLflow model and the Bento."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest

from forecasting.core.pins import PinError, canonical_name, declared_requirements, exact_pins

REPO_ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def _pins(requirements: list[str]) -> dict[str, str]:
    """canonical name -> the version pinned with ==, for the exact pins among ``requirements``."""
    pins = {}
    for requirement in requirements:
        match = re.match(r"^\s*([A-Za-z0-9._-]+)\s*==\s*([^\s;,]+)", requirement)
        if match:
            pins[canonical_name(match[1])] = match[2]
    return pins


def test_the_installed_metadata_is_pyprojects_dependency_list():
    """A stale install (pyproject edited, `make setup` not re-run) would pin old versions."""
    installed = declared_requirements()
    name = re.compile(r"^\s*([A-Za-z0-9._-]+)")
    assert {canonical_name(name.match(r)[1]) for r in installed} == {
        canonical_name(name.match(r)[1]) for r in PYPROJECT
    }
    assert _pins(installed) == _pins(PYPROJECT)


def test_exact_pins_are_pyprojects_in_the_order_asked_and_what_is_installed():
    pins = exact_pins(["torch", "NumPy", "safetensors", "pydantic"])
    declared = _pins(PYPROJECT)
    assert pins == [
        f"torch=={declared['torch']}",
        f"numpy=={declared['numpy']}",
        f"safetensors=={declared['safetensors']}",
        f"pydantic=={declared['pydantic']}",
    ]
    for pin in pins:
        package, version = pin.split("==")
        # the local build label (torch's "+cpu") is not part of the pin
        assert importlib.metadata.version(package).split("+")[0] == version


def test_a_package_not_pinned_exactly_or_not_listed_is_refused_by_name():
    with pytest.raises(PinError, match=r"pyyaml \(not pinned with ==\), left-pad \(not listed\)"):
        exact_pins(["torch", "pyyaml", "left-pad"])


def test_a_missing_distribution_says_how_to_install_it():
    with pytest.raises(PinError, match="make setup"):
        exact_pins(["torch"], distribution="no-such-distribution-here")


def test_the_bento_and_the_mlflow_model_take_their_pins_from_pyproject():
    from forecasting.registry.training_run import MODEL_REQUIREMENTS
    from forecasting.serving.bento import SERVICE_DISTRIBUTIONS, service_packages

    declared = _pins(PYPROJECT)
    bento = service_packages()
    assert f"torch=={declared['torch']}+cpu" in bento  # the CPU build keeps CUDA out of the image
    assert [p for p in bento if not p.startswith("torch==")] == [
        f"{name}=={declared[canonical_name(name)]}"
        for name in SERVICE_DISTRIBUTIONS
        if name != "torch"
    ]
    logged = list(MODEL_REQUIREMENTS)
    assert logged == [
        f"{name}=={declared[name]}"
        for name in ("torch", "safetensors", "numpy", "pandas", "pydantic", "mlflow")
    ]


def test_no_version_is_written_a_second_time():
    exact_version = re.compile(r"[A-Za-z0-9]==\d")
    for path in (
        REPO_ROOT / "src/forecasting/serving/bento.py",
        REPO_ROOT / "src/forecasting/registry/training_run.py",
        REPO_ROOT / "Makefile",
    ):
        assert not exact_version.search(path.read_text()), path


NODEPS = REPO_ROOT / "requirements-nodeps.txt"


def test_the_no_deps_pins_are_exact_installed_once_and_kept_out_of_the_bento():
    """statsforecast's stack is pinned in requirements-nodeps.txt (its metadata says pandas<3)."""
    lines = [
        line.strip()
        for line in NODEPS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    pins = _pins(lines)
    assert len(pins) == len(lines) and "statsforecast" in pins  # every line pinned with ==
    for name, version in pins.items():
        assert importlib.metadata.version(name) == version, name
    assert not set(pins) & set(_pins(PYPROJECT)), "a version written a second time"
    from forecasting.serving.bento import SERVICE_DISTRIBUTIONS

    assert not {canonical_name(n) for n in SERVICE_DISTRIBUTIONS} & set(pins)
    assert "requirements-nodeps.txt" in (REPO_ROOT / "Makefile").read_text()


def test_statsforecast_fits_mstl_under_this_pandas():
    import numpy as np
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoETS

    steps = np.arange(4 * 48)
    frame = pd.DataFrame(
        {
            "unique_id": "a",
            "ds": pd.date_range("2000-06-05", periods=len(steps), freq="30min"),
            "y": 100 + 10 * np.sin(2 * np.pi * steps / 48),
        }
    )
    model = MSTL(season_length=[48], trend_forecaster=AutoETS(model="ZZN"))
    forecast = StatsForecast(models=[model], freq="30min").forecast(df=frame, h=48)
    assert pd.__version__.startswith("3.")
    np.testing.assert_allclose(forecast["MSTL"].to_numpy(), frame["y"].to_numpy()[-48:], atol=0.5)
