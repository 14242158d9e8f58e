"""Params building blocks: the base model and the field types every condition family shares.

A condition's params are a pydantic model whose JSON Schema is the rule
builder's form, so these types publish their constraints in the schema
(examples, patterns, bounds) and validate with messages that say what to write
instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictStr,
    WithJsonSchema,
)

from growthos_segments.core.errors import suggest
from growthos_segments.core.limits import EARLIEST_INSTANT, LATEST_INSTANT, MAX_SPAN, in_time_range
from growthos_segments.core.timeutil import DURATION_RE, parse_duration, parse_instant

__all__ = [
    "Duration",
    "IdOrIds",
    "Instant",
    "NonNegInt",
    "Number",
    "ParamsModel",
    "one_or_many",
]


class ParamsModel(BaseModel):
    """Base of every params model: unknown keys are errors (a typo must not be ignored),
    and instances are frozen (a compiled rule keeps them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_duration(text: str) -> str:
    span = parse_duration(text)
    if span <= timedelta(0):
        raise ValueError("duration must be longer than zero")
    if span > MAX_SPAN:
        raise ValueError(f"duration {text!r} is longer than 100 years; the limit is {MAX_SPAN.days:,}d")
    return text


def _check_instant(text: str) -> str:
    moment = parse_instant(text)
    if moment is None:
        raise ValueError(f"not an ISO-8601 date or date-time: {text!r}")
    if not in_time_range(moment):
        raise ValueError(f"{text!r} is outside the supported years {EARLIEST_INSTANT.year}-"
                         f"{LATEST_INSTANT.year - 1}")
    return text


Duration = Annotated[
    StrictStr,
    # The pattern is published for rule builders; validation is parse_duration's,
    # whose message says what to write instead of quoting a regex.
    Field(examples=["15m", "12h", "30d", "2w"], description=f"at most 100 years ({MAX_SPAN.days}d)",
          json_schema_extra={"pattern": DURATION_RE.pattern}),
    AfterValidator(_check_duration),
]
"""A positive duration such as ``"15m"``, ``"12h"``, ``"30d"``, ``"2w"``, at most 100 years
(:data:`growthos_segments.core.limits.MAX_SPAN`), so that an event time plus the window always
fits a ``datetime``."""

Instant = Annotated[
    str,
    Field(examples=["2026-11-01", "2026-11-20T09:00:00Z"], max_length=64,
          description=f"from {EARLIEST_INSTANT.year} to {LATEST_INSTANT.year - 1}"),
    AfterValidator(_check_instant),
]
"""An ISO-8601 calendar date (midnight UTC) or date-time (naive means UTC), in the years every
event time lies in (:func:`growthos_segments.core.limits.in_time_range`)."""

NonNegInt = Annotated[int, Field(ge=0, le=1_000_000, strict=True)]
"""A count: strict so that JSON ``true`` is not taken for ``1``."""

Number = Annotated[float, Field(strict=True, allow_inf_nan=False)] | Annotated[int, Field(strict=True)]
"""A finite JSON number; strict so that booleans and numeric strings are refused."""


def one_or_many(
    what: str,
    *,
    choices: Sequence[str] | None = None,
    pattern: str | None = None,
    max_items: int = 100,
) -> Any:
    """A field holding one string or a non-empty list of them ("this or any of these").

    Validated by hand rather than as a pydantic union, so that an error points
    at the field itself (not at a union member) and names the allowed values.
    """
    item_schema: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 256}
    if choices is not None:
        item_schema = {"enum": list(choices)}
    elif pattern is not None:
        item_schema["pattern"] = pattern
    checker = None if pattern is None else re.compile(pattern)

    def check_item(item: Any) -> str:
        if not isinstance(item, str) or not item or len(item) > 256:
            raise ValueError(f"{what} must be a non-empty string (at most 256 characters)")
        if choices is not None and item not in choices:
            hint = suggest(item, choices)
            raise ValueError(f"unknown {what} {item!r}" + (f"; {hint}" if hint else "")
                             + f" (one of: {', '.join(choices)})")
        if checker is not None and not checker.match(item):
            raise ValueError(f"{what} {item!r} may only use letters, digits, '_' and '-' "
                             "(at most 64)")
        return item

    def check(value: Any) -> str | list[str]:
        if isinstance(value, list):
            if not value or len(value) > max_items:
                raise ValueError(f"give 1 to {max_items} {what} values")
            return [check_item(item) for item in value]
        return check_item(value)

    schema = {"anyOf": [item_schema, {"type": "array", "items": item_schema, "minItems": 1,
                                      "maxItems": max_items}]}
    return Annotated[str | list[str], PlainValidator(check), WithJsonSchema(schema)]


IdOrIds = one_or_many("id")
"""One id or a non-empty list of ids ("this campaign or any of these")."""
