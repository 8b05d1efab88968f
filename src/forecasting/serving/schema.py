"""The forecast APIs' request and response schemas (their OpenAPI docs and BentoML client specs).

Requests are checked here before any model work: finite numbers only, lengths within bounds,
unknown fields refused, and one error message per bad list rather than one per bad item.
"""

from __future__ import annotations

from typing import Annotated, Any

import bentoml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

MAX_VALUES = 10_000  # far above any input_length; the exact length is checked against the model
MAX_BATCH_SERIES = 256
# Finite floats only: pydantic rejects NaN/Infinity before they reach the model.
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


def _first_bad_item_only(
    items: Any, validate: ValidatorFunctionWrapHandler, info: ValidationInfo
) -> Any:
    """Validate a list, reporting what is wrong with its first bad item and how many there are.

    Pydantic reports every bad item: 10,000 strings in ``values`` made a 1.9 MB answer, where
    one line says what to fix. Valid lists pass through pydantic's own (Rust) validation.
    """
    try:
        return validate(items)
    except ValidationError as err:
        errors = err.errors(include_url=False, include_context=False, include_input=False)
        first = errors[0]
        if not first["loc"]:  # the list itself (not a list, too short or long): one error
            raise
        where, parts = info.field_name or "", list(first["loc"])
        nested = first["type"] == "invalid_item"  # an inner list already named its bad item
        for part in parts[:-1] if nested else parts:
            where += f"[{part}]" if isinstance(part, int) else f".{part}"
        text = f"{where}.{first['msg']}" if nested else f"{where}: {first['msg']}"
        more = f"; {len(errors) - 1} more invalid in {info.field_name}" if len(errors) > 1 else ""
        raise PydanticCustomError(
            "invalid_item", "{text}{more}", {"text": text, "more": more}
        ) from None


Values = Annotated[
    list[FiniteFloat],
    Field(min_length=1, max_length=MAX_VALUES),
    WrapValidator(_first_bad_item_only),
]
Timestamp = Annotated[str, Field(min_length=1, max_length=64)]
Horizon = Annotated[int | None, Field(ge=1)]


class ForecastRequest(bentoml.IODescriptor):
    """``POST /forecast``: one series. Unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")

    values: Values
    end: Timestamp
    horizon: Horizon = None


class SeriesItem(BaseModel):
    """One series of a batch."""

    model_config = ConfigDict(extra="forbid")

    values: Values
    end: Timestamp


class BatchRequest(bentoml.IODescriptor):
    """``POST /forecast_batch``: up to ``MAX_BATCH_SERIES`` series, one horizon."""

    model_config = ConfigDict(extra="forbid")

    series: Annotated[
        list[SeriesItem],
        Field(min_length=1, max_length=MAX_BATCH_SERIES),
        WrapValidator(_first_bad_item_only),
    ]
    horizon: Horizon = None


class ForecastResponse(bentoml.IODescriptor):
    """``POST /forecast``: one series' forecast and the registry version that made it."""

    timestamps: list[str]
    forecast: list[float]
    model_version: str


def _batch_response_shape() -> list[ForecastResponse]:
    """``POST /forecast_batch``: one ``ForecastResponse`` per series, in the request's order."""
    raise NotImplementedError  # only its annotation is read


# The APIs return JSON they serialise themselves (``service._json_answer``), so their output specs
# are given, not inferred from a return type; they are what /docs and BentoML's client read.
BatchResponse = bentoml.IODescriptor.from_output(_batch_response_shape)
