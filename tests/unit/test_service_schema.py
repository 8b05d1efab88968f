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
