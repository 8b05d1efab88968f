"""The forecast APIs' request schemas, validated as BentoML validates them: from JSON."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from forecasting.serving.schema import BatchRequest, ForecastRequest


def _errors(model: type, raw: str) -> list[dict]:
    with pytest.raises(ValidationError) as refused:
        model.model_validate_json(raw)
    return refused.value.errors(include_url=False, include_context=False, include_input=False)


def test_a_valid_request_passes_with_its_numbers():
    request = ForecastRequest.model_validate_json('{"values": [1, 2.5], "end": "x", "horizon": 3}')
    assert (request.values, request.end, request.horizon) == ([1.0, 2.5], "x", 3)


def test_nan_and_infinity_are_refused_naming_the_first_one():
    (error,) = _errors(ForecastRequest, '{"values": [1, NaN, Infinity], "end": "x"}')
    assert error["msg"] == "values[1]: Input should be a finite number; 1 more invalid in values"


def test_ten_thousand_bad_values_make_one_short_error_not_ten_thousand():
    (error,) = _errors(ForecastRequest, json.dumps({"values": ["a"] * 10_000, "end": "x"}))
    assert error["msg"].startswith("values[0]: Input should be a valid number")
    assert error["msg"].endswith("; 9999 more invalid in values")


def test_a_bad_item_in_a_batch_is_named_by_its_full_path():
    raw = json.dumps(
        {
            "series": [
                {"values": [1, "a", "b"], "end": "x"},
                {"values": [1], "end": "x", "weather": 1},
            ]
        }
    )
    (error,) = _errors(BatchRequest, raw)
    assert error["msg"] == (
        "series[0].values[1]: Input should be a valid number, unable to parse string as a "
        "number; 1 more invalid in values; 1 more invalid in series"
    )


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ('{"values": [], "end": "x"}', "too_short"),
        ('{"values": "1,2", "end": "x"}', "list_type"),
        (json.dumps({"values": [1.0] * 10_001, "end": "x"}), "too_long"),
    ],
)
def test_errors_about_the_list_itself_keep_pydantic_s_own_type(raw, kind):
    (error,) = _errors(ForecastRequest, raw)
    assert (error["type"], error["loc"]) == (kind, ("values",))


def test_unknown_fields_are_refused():
    (error,) = _errors(ForecastRequest, '{"values": [1], "end": "x", "weather": 1}')
    assert (error["type"], error["loc"]) == ("extra_forbidden", ("weather",))


# The shape-aware models the service serves: the schema states what they enforce.
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from forecasting.serving.schema import (  # noqa: E402
    ModelShape,
    contract_error_body,
    contract_openapi,
    end_pattern,
    request_specs,
)

SHAPE = ModelShape(input_length=4, horizon=3, freq="30min")
SPECS = request_specs(SHAPE)


def test_the_schema_states_the_exact_length_the_grid_and_the_horizon_range():
    schema = SPECS.forecast.model_json_schema()["properties"]
    assert (schema["values"]["minItems"], schema["values"]["maxItems"]) == (4, 4)
    assert schema["end"]["pattern"] == end_pattern("30min")
    assert (schema["horizon"]["minimum"], schema["horizon"]["maximum"]) == (1, 3)
    assert schema["horizon"]["type"] == "integer" and "default" not in schema["horizon"]


@pytest.mark.parametrize(
    "body",
    [
        {"values": [True, True, True, True], "end": "2024-01-01T00:00"},
        {"values": ["1", "2", "3", "4"], "end": "2024-01-01T00:00"},
        {"values": [1, 2, 3], "end": "2024-01-01T00:00"},
        {"values": [1, 2, 3, 4], "end": "2024-01-01T00:15"},
        {"values": [1, 2, 3, 4], "end": "2023-02-29T00:00"},
        {"values": [1, 2, 3, 4], "end": "2024-01-01T00:00+01:00"},
        {"values": [1, 2, 3, 4], "end": "2024-01-01T00:00", "horizon": 4},
        {"values": [1, 2, 3, 4], "end": "2024-01-01T00:00", "horizon": True},
        {"values": [1, 2, 3, 4], "end": "2024-01-01T00:00", "horizon": "2"},
        {"values": [1, 2, 3, 4], "end": "2024-01-01T00:00", "horizon": None},
        {"values": [1, 2, 3, 1e16], "end": "2024-01-01T00:00"},
    ],
)
def test_what_the_schema_forbids_is_refused(body):
    with pytest.raises(ValidationError):
        SPECS.forecast.model_validate_json(json.dumps(body))


def test_a_wrong_length_is_said_in_the_model_s_words_before_any_item_is_checked():
    body = {"values": ["a"] * 10_000, "end": "2024-01-01T00:00"}
    (error,) = _errors(SPECS.forecast, json.dumps(body))
    assert error["msg"] == "needs exactly 4 observations (the model's input_length), got 10000"


def test_what_the_schema_allows_is_accepted():
    request = SPECS.forecast.model_validate_json(
        json.dumps({"values": [1, 2.5, -3, 0], "end": "2024-02-29T23:30:00", "horizon": 3})
    )
    assert request.values == [1.0, 2.5, -3.0, 0.0]
    batch = SPECS.batch.model_validate_json(
        json.dumps({"series": [{"values": [1, 2, 3, 4], "end": "2000-02-29T00:30"}]})
    )
    assert batch.horizon is None


@settings(max_examples=100, deadline=None)
@given(st.from_regex(end_pattern("30min"), fullmatch=True))
def test_every_timestamp_the_pattern_allows_is_one_the_model_accepts(end):
    import pandas as pd

    from forecasting.model.inference import _parse_end

    assert _parse_end(end, "30min") == pd.Timestamp(end)


@pytest.mark.parametrize(
    ("freq", "good", "bad"),
    [
        ("h", "2024-01-01T13:00", "2024-01-01T13:30"),
        ("15min", "2024-01-01T13:45", "2024-01-01T13:50"),
        ("30min", "2024-12-31T23:30:00", "2024-12-31T23:30:30"),
        # calendar steps fall at midnight (the date itself is checked by the service)
        ("MS", "1994-08-01T00:00:00", "1994-08-01T12:00"),
        ("W-SAT", "1995-06-03T00:00", "1995-06-03T00:30"),
        ("B", "2017-01-02T00:00", "2017-01-02T16:00"),
    ],
)
def test_the_pattern_follows_the_grid(freq, good, bad):
    import re

    assert re.fullmatch(end_pattern(freq), good) and not re.fullmatch(end_pattern(freq), bad)


def test_error_bodies_are_rewritten_to_the_documented_shape():
    raw = json.dumps(
        {
            "error": "1 validation error for ForecastRequest",
            "detail": [
                {"type": "string_pattern_mismatch", "loc": ["end"], "msg": "String should ^..$"},
                {"type": "missing", "loc": ["series", 0, "values"], "msg": "Field required"},
            ],
        }
    ).encode()
    body = json.loads(contract_error_body(raw))
    assert set(body) == {"error"}
    assert "end: must be a local timestamp" in body["error"]
    assert "series[0].values: is required" in body["error"]
    assert json.loads(contract_error_body(b'[{"error": "bad"}]')) == {"error": "bad"}


def test_the_openapi_document_requires_bodies_and_documents_the_guard():
    spec = {"paths": {"/forecast": {"post": {"requestBody": {}, "responses": {"200": {}}}}}}
    done = json.loads(contract_openapi(json.dumps(spec).encode(), frozenset({"/forecast"})))
    operation = done["paths"]["/forecast"]["post"]
    assert operation["requestBody"]["required"] is True
    assert {"200", "413", "415"} <= set(operation["responses"])
