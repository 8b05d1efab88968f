"""The forecast APIs' request and response schemas (their OpenAPI docs and BentoML client specs).

The served OpenAPI schema is the contract, and these models enforce exactly what it states,
before any model work: ``values`` holds exactly the model's ``input_length`` strict numbers
(JSON numbers only: booleans and numeric strings are refused) within float32's range, ``end`` is
a local ISO 8601 timestamp on the series' grid, ``horizon`` lies in 1..the model's horizon,
unknown fields are refused, and one error message is given per bad list rather than per bad
item. ``request_specs`` builds them for the served model's shape, which the service reads
from the model's config at start-up; the module-level models are the shape-free fallbacks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import bentoml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    create_model,
)
from pydantic_core import PydanticCustomError

from forecasting.core.levels import MAX_LEVEL, MAX_LEVELS, MIN_LEVEL

MAX_VALUES = 10_000  # far above any input_length; the exact length is checked against the model
MAX_BATCH_SERIES = 256
FLOAT32_MAX = 3.4028234663852886e38  # the model computes in float32: larger values overflow
# What the schema allows of a value: far above any demand series, and small enough that the
# model's float32 arithmetic (the squares in each window's spread) cannot overflow to NaN.
VALUE_LIMIT = 1e15
# Finite floats only: pydantic rejects NaN/Infinity before they reach the model.
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
# Strict: a JSON number, not a boolean or a numeric string; finite and within +-VALUE_LIMIT.
StrictFinite = Annotated[
    float, Strict(), Field(allow_inf_nan=False, ge=-VALUE_LIMIT, le=VALUE_LIMIT)
]


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
    levels: list[float] | None = None
    series_id: str | None = None


class SeriesItem(BaseModel):
    """One series of a batch."""

    model_config = ConfigDict(extra="forbid")

    values: Values
    end: Timestamp
    series_id: str | None = None


class BatchRequest(bentoml.IODescriptor):
    """``POST /forecast_batch``: up to ``MAX_BATCH_SERIES`` series, one horizon."""

    model_config = ConfigDict(extra="forbid")

    series: Annotated[
        list[SeriesItem],
        Field(min_length=1, max_length=MAX_BATCH_SERIES),
        WrapValidator(_first_bad_item_only),
    ]
    horizon: Horizon = None
    levels: list[float] | None = None


class ForecastResponse(bentoml.IODescriptor):
    """``POST /forecast``: one series' forecast and the registry version that made it.

    With ``levels`` asked for, ``lower`` and ``upper`` map each level ("80", "97.5") to its
    bounds, one per timestamp.
    """

    timestamps: list[str]
    forecast: list[float]
    model_version: str
    lower: dict[str, list[float]] | None = None
    upper: dict[str, list[float]] | None = None


def _batch_response_shape() -> list[ForecastResponse]:
    """``POST /forecast_batch``: one ``ForecastResponse`` per series, in the request's order."""
    raise NotImplementedError  # only its annotation is read


# The APIs return JSON they serialise themselves (``service._json_answer``), so their output specs
# are given, not inferred from a return type; they are what /docs and BentoML's client read.
BatchResponse = bentoml.IODescriptor.from_output(_batch_response_shape)


# ``end``: a calendar-valid date (leap years included) in the years pandas can hold, and a time
# of day; ``_time_pattern`` narrows the time to the series' grid. Anchored: the whole string.
_YEAR = r"(?:1[7-9]\d\d|2[01]\d\d)"
_LEAP_YEAR = r"(?:(?:1[7-9]|2[01])(?:0[48]|[2468][048]|[13579][26])|2000)"
_DATE = (
    rf"(?:{_YEAR}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
    rf"|(?:0[13578]|1[02])-31)|{_LEAP_YEAR}-02-29)"
)
_ANY_TIME = r"(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d)?"


def _time_pattern(freq: str | None) -> str:
    """The times of day on a ``freq`` grid (every time of day when the grid is unknown)."""
    if freq is None:
        return _ANY_TIME
    from forecasting.core.periods import is_fixed, step_of

    if not is_fixed(freq):
        # calendar steps (B, W-SAT, MS, QE ...) fall at midnight; the service checks the date
        return r"00:00(?::00)?" if _daily_or_longer(freq) else _ANY_TIME
    minutes, rest = divmod(int(step_of(freq).total_seconds()), 60)
    if rest or minutes <= 0 or (24 * 60) % minutes:
        return _ANY_TIME  # not a divisor of a day: the service checks the grid itself
    hours = [f"{h:02d}" for h in range(24)]
    if minutes < 60 and 60 % minutes == 0:
        marks = "|".join(f"{m:02d}" for m in range(0, 60, minutes))
        return rf"(?:[01]\d|2[0-3]):(?:{marks})(?::00)?"
    if minutes % 60 == 0:
        marks = "|".join(hours[:: minutes // 60])
        return rf"(?:{marks}):00(?::00)?"
    return _ANY_TIME


def _daily_or_longer(freq: str) -> bool:
    """Whether a calendar frequency's steps are whole days or longer (not business hours)."""
    from pandas.tseries.offsets import BusinessHour, CustomBusinessHour

    from forecasting.core.periods import offset_of

    return not isinstance(offset_of(freq), BusinessHour | CustomBusinessHour)


def end_pattern(freq: str | None) -> str:
    """The regular expression ``end`` must match: ``YYYY-MM-DDTHH:MM[:SS]``, local, on the grid."""
    return rf"^{_DATE}T{_time_pattern(freq)}$"


@dataclass(frozen=True)
class ModelShape:
    """What the served model accepts; None where it is not known (no model in the store)."""

    input_length: int | None = None
    horizon: int | None = None
    freq: str | None = None


def model_shape(tag: str) -> ModelShape:
    """The shape of BentoML model ``tag`` from its ``model_config.json`` (empty if absent)."""
    from bentoml.exceptions import NotFound

    from forecasting.core.artifacts import CONFIG_FILE

    try:
        path = Path(bentoml.models.get(tag).path) / CONFIG_FILE
    except NotFound:
        return ModelShape()
    if not path.is_file():
        return ModelShape()
    config = json.loads(path.read_text())
    return ModelShape(int(config["input_length"]), int(config["horizon"]), str(config["freq"]))


@dataclass(frozen=True)
class RequestSpecs:
    """The request models of one model shape."""

    forecast: type[bentoml.IODescriptor]
    series: type[BaseModel]
    batch: type[bentoml.IODescriptor]


def _no_default(schema: dict[str, Any]) -> None:
    """Leave pydantic's ``"default": null`` out: null is not an allowed value."""
    schema.pop("default", None)


def _unique_no_default(schema: dict[str, Any]) -> None:
    """No ``"default": null``, and ``uniqueItems`` stated (the service refuses a repeat)."""
    _no_default(schema)
    schema["uniqueItems"] = True


# Optional, not nullable (OpenAPI 3.0 has no null): which series this is, for the inference log.
SeriesId: Any = Annotated[
    str,
    Strict(),
    Field(
        min_length=1,
        max_length=200,
        description="the series' name, recorded in the inference log (optional)",
        json_schema_extra=_no_default,
    ),
]


class _StrictRequest(bentoml.IODescriptor):
    model_config = ConfigDict(extra="forbid")


class _StrictItem(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _exactly(length: int) -> WrapValidator:
    """A list of exactly ``length`` items, checked before its items, said in the model's words."""

    def check(items: Any, validate: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(items, list) and len(items) != length:
            raise PydanticCustomError(
                "wrong_length",
                "needs exactly {length} observations (the model's input_length), got {got}",
                {"length": length, "got": len(items)},
            )
        return validate(items)

    return WrapValidator(check)


def request_specs(shape: ModelShape) -> RequestSpecs:
    """``POST /forecast`` and ``/forecast_batch`` request models that state ``shape`` exactly.

    Long on purpose: the request models are declared inside, closed over one model shape.
    """
    length = shape.input_length
    values: Any = Annotated[
        list[StrictFinite],
        Field(
            min_length=length or 1,
            max_length=length or MAX_VALUES,
            description=(
                f"exactly {length} observations (the model's input_length), oldest first"
                if length
                else "the most recent observations, oldest first"
            ),
        ),
        WrapValidator(_first_bad_item_only),
        *([_exactly(length)] if length else []),  # outermost: runs first
    ]
    end: Any = Annotated[
        str,
        Field(
            pattern=end_pattern(shape.freq),
            description="the last observation's local time (no time zone), on the series' "
            f"{shape.freq or ''} grid, e.g. 2000-08-27T23:30",
        ),
    ]
    # Optional but not nullable: OpenAPI 3.0 has no null type, so ``null`` is refused as stated.
    horizon: Any = Annotated[
        int,
        Strict(),
        Field(
            ge=1,
            le=shape.horizon,
            description="steps to forecast (default: all of the model's horizon)",
            json_schema_extra=_no_default,
        ),
    ]
    levels: Any = Annotated[
        list[Annotated[float, Strict(), Field(ge=MIN_LEVEL, le=MAX_LEVEL, allow_inf_nan=False)]],
        Field(
            min_length=1,
            max_length=MAX_LEVELS,
            description=f"prediction-interval coverages in percent ({MIN_LEVEL:g} to "
            f"{MAX_LEVEL:g}, at most {MAX_LEVELS}); the answer then holds lower and upper "
            "bounds per level",
            json_schema_extra=_unique_no_default,
        ),
    ]
    series = create_model(
        "SeriesItem",
        __base__=_StrictItem,
        __doc__="One series of a batch.",
        values=values,
        end=end,
        series_id=(SeriesId, None),
    )
    forecast = create_model(
        "ForecastRequest",
        __base__=_StrictRequest,
        __doc__="``POST /forecast``: one series. Unknown fields are refused, not ignored.",
        values=values,
        end=end,
        horizon=(horizon, None),
        levels=(levels, None),
        series_id=(SeriesId, None),
    )
    batch = create_model(
        "BatchRequest",
        __base__=_StrictRequest,
        __doc__=f"``POST /forecast_batch``: up to {MAX_BATCH_SERIES} series, one horizon.",
        series=(
            Annotated[  # type: ignore[arg-type]
                list[series],  # type: ignore[valid-type]
                Field(min_length=1, max_length=MAX_BATCH_SERIES),
                WrapValidator(_first_bad_item_only),
            ],
            ...,
        ),
        horizon=(horizon, None),
        levels=(levels, None),
    )
    return RequestSpecs(forecast=forecast, series=series, batch=batch)


# What a refused field should become, per pydantic error type, where its own message is opaque
# (a pattern mismatch would otherwise quote the whole regular expression).
_PLAIN = {
    "string_pattern_mismatch": "must be a local timestamp on the series' grid, like "
    "2000-08-27T23:30 (no time zone)",
    "missing": "is required",
    "extra_forbidden": "is not a field of this API",
}


def _describe(error: dict[str, Any]) -> str:
    """One pydantic error as ``field: what is wrong``."""
    where = ""
    for part in error.get("loc", []):
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    text = _PLAIN.get(str(error.get("type")), str(error.get("msg", "is invalid")))
    if error.get("type") == "invalid_item":  # already "field[i]: message; n more"
        return str(error.get("msg"))
    return f"{where}: {text}" if where else text


def contract_error_body(raw: bytes) -> bytes:
    """BentoML's 400 bodies rewritten to the documented ``{"error": "<one line>"}``.

    BentoML answers a request its input model refuses with ``{"error", "detail": [pydantic
    errors]}`` (and some refusals as a one-element list), while its OpenAPI schema documents
    ``detail`` as a string: the body is made to match, naming what to fix in one line.
    """
    try:
        body = json.loads(raw)
    except ValueError:
        return json.dumps({"error": raw.decode("utf-8", "replace")[:500]}).encode()
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    if not isinstance(body, dict):
        return json.dumps({"error": str(body)[:500]}).encode()
    detail = body.get("detail")
    if isinstance(detail, list):
        shown = "; ".join(_describe(e) for e in detail[:3] if isinstance(e, dict))
        more = f"; {len(detail) - 3} more" if len(detail) > 3 else ""
        return json.dumps({"error": f"invalid request: {shown}{more}"}).encode()
    if detail is not None and not isinstance(detail, str):
        body["detail"] = json.dumps(detail)
    return json.dumps(body).encode()


# The guard's refusals (serving/guard.py), documented with the same error body as a 400.
GUARD_RESPONSES = {
    "413": "Content Too Large: the body passed the service's limit",
    "415": "Unsupported Media Type: send application/json",
}


def contract_openapi(raw: bytes, paths: frozenset[str]) -> bytes:
    """BentoML's OpenAPI document, completed to state what the service enforces.

    The forecast APIs' request bodies are required (an empty one is refused), and the guard's
    413 and 415 answers are documented with the error body every refusal uses.
    """
    spec = json.loads(raw)
    for path in paths:
        operation = spec.get("paths", {}).get(path, {}).get("post")
        if operation is None:
            continue
        if "requestBody" in operation:
            operation["requestBody"]["required"] = True
        for status, description in GUARD_RESPONSES.items():
            operation["responses"].setdefault(
                status,
                {
                    "description": description,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/InvalidArgument"}
                        }
                    },
                },
            )
    return json.dumps(spec).encode()


class ApiContract:
    """ASGI wrapper: the served schema and the error bodies say what the service enforces.

    On ``paths`` every 400 leaves with the documented error body; ``GET /docs.json`` is
    completed by ``contract_openapi``. Only those answers are buffered and rewritten;
    everything else streams through untouched.
    """

    def __init__(self, app: Any, paths: frozenset[str]) -> None:
        self.app, self.paths = app, paths

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Pass the request on; rewrite a 400 body of ``paths`` or the OpenAPI document."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in self.paths:
            rewrite = contract_error_body
            wanted = 400
        elif scope["path"] == "/docs.json" and scope["method"] == "GET":
            wanted = 200

            def rewrite(raw: bytes) -> bytes:
                return contract_openapi(raw, self.paths)

        else:
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] | None = None
        chunks: list[bytes] = []

        async def capture(message: Any) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] == wanted:
                start = dict(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = rewrite(b"".join(chunks))
            headers = [
                (k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"
            ]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)
