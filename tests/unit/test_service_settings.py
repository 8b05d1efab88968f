"""The service's FORECASTER_* settings: one typed object, read once."""

from __future__ import annotations

from pathlib import Path

import pytest

import forecasting
from forecasting.serving.batching import BatchingConfig
from forecasting.serving.settings import VARIABLES, ServiceSettings, SettingsError

SERVING = Path(forecasting.__file__).parent / "serving"


def test_variables_are_parsed_into_their_types():
    settings = ServiceSettings.from_environment(
        {
            "FORECASTER_MODEL_TAG": "demand-forecaster:v3-abc",
            "FORECASTER_MAX_BATCH_SIZE": "8",
            "FORECASTER_MAX_WAIT_MS": "2.5",
            "FORECASTER_MAX_BODY_BYTES": "65536",
            "FORECASTER_WORKERS": " 3 ",
            "FORECASTER_ACCESS_LOG": "1",
            "FORECASTER_TRACING": "false",
            "UNRELATED": "ignored",
        }
    )
    assert settings == ServiceSettings(
        model_tag="demand-forecaster:v3-abc",
        max_batch_size=8,
        max_wait_ms=2.5,
        max_body_bytes=65536,
        workers=3,
        access_log=True,
        tracing=False,
    )
    assert settings.batching == BatchingConfig(max_batch_size=8, max_wait_ms=2.5)


def test_the_environment_it_writes_reads_back_the_same():
    settings = ServiceSettings(model_tag="m:1", max_wait_ms=0.0, workers=4, tracing=True)
    environment = settings.environment()
    assert set(environment) == set(VARIABLES.values())
    assert ServiceSettings.from_environment(environment) == settings


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FORECASTER_WORKERS", "two", "FORECASTER_WORKERS='two' is not an integer"),
        ("FORECASTER_WORKERS", "0", "FORECASTER_WORKERS must be >= 1"),
        ("FORECASTER_MAX_WAIT_MS", "soon", "FORECASTER_MAX_WAIT_MS='soon' is not a number"),
        ("FORECASTER_MAX_WAIT_MS", "-1", "FORECASTER_MAX_WAIT_MS must be a number >= 0"),
        ("FORECASTER_MAX_WAIT_MS", "nan", "FORECASTER_MAX_WAIT_MS must be a number >= 0"),
        ("FORECASTER_MAX_BATCH_SIZE", "0", "FORECASTER_MAX_BATCH_SIZE must be a number >= 1"),
        ("FORECASTER_MAX_BODY_BYTES", "10", "FORECASTER_MAX_BODY_BYTES must be a number >= 1024"),
        ("FORECASTER_TRACING", "maybe", "FORECASTER_TRACING='maybe' is not 0 or 1"),
    ],
)
def test_an_unusable_value_names_its_variable(variable, value, message):
    with pytest.raises(SettingsError, match=message):
        ServiceSettings.from_environment({variable: value})


def test_nothing_reloads_the_service_or_reaches_into_bentoml_internals():
    bento = (SERVING / "bento.py").read_text()
    assert "reload" not in bento
    assert "bentoml._internal" not in bento
    assert not (SERVING / "metrics.py").exists()  # the metric lives in service.py again
    service = (SERVING / "service.py").read_text()
    assert service.count("ServiceSettings.from_environment(") == 1
    assert 'name="forecaster_batch_rows"' in service  # the Prometheus name is unchanged
