"""A tiny condition plugin for testing core/ without the built-in plugins.

``toy_eq`` compares one attribute; ``toy_window`` is true while ``now`` lies in
``[attributes.<field>, attributes.<field> + seconds)``, which gives exact,
hand-checkable ``recheck_at`` values for the compiler's time combination.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from growthos_segments.core.timeutil import parse_instant
from growthos_segments.kit import ConditionType, ContactView, Predicate, Reads, hookimpl


class EqParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    field: str = Field(pattern=r"^[a-z_]+$")
    value: str | int | bool


class WindowParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    field: str = Field(pattern=r"^[a-z_]+$")
    seconds: int = Field(gt=0)


def compile_eq(params: EqParams) -> Predicate:
    field, value = params.field, params.value

    def toy_eq(view: ContactView, now: datetime) -> tuple[bool, datetime | None]:
        actual = view.attributes.get(field)
        return type(actual) is type(value) and actual == value, None

    return toy_eq


def compile_window(params: WindowParams) -> Predicate:
    field, span = params.field, timedelta(seconds=params.seconds)

    def toy_window(view: ContactView, now: datetime) -> tuple[bool, datetime | None]:
        start = parse_instant(view.attributes.get(field))
        if start is None:
            return False, None
        if now < start:
            return False, start
        if now < start + span:
            return True, start + span
        return False, None

    return toy_window


EQ = ConditionType(
    name="toy_eq", label="Toy equals", description="Attribute equals a value.", category="toy",
    params=EqParams, compile=compile_eq,
    reads=lambda p: Reads(attributes=frozenset({f"attributes.{p.field}"})),
    examples=({"field": "plan", "value": "free"},),
    describe=lambda p: f"{p.field} equals {p.value!r}",
)
WINDOW = ConditionType(
    name="toy_window", label="Toy window", description="Now is within a window after a time.",
    category="toy", params=WindowParams, compile=compile_window,
    reads=lambda p: Reads(attributes=frozenset({f"attributes.{p.field}"})),
    examples=({"field": "signup", "seconds": 3600},),
)


@hookimpl
def register_condition_types(register: Any) -> None:
    register(EQ, WINDOW)
