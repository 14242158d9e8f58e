"""Numbers: comparing stored numbers (scores, totals) with ``gte`` / ``gt`` / ``lte`` / ``lt`` / ``eq``.

Stored numbers arrive as ``int``, ``float`` or DynamoDB's ``Decimal``; booleans,
numeric strings, NaN and infinities are not numbers and match no comparison.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Self

from pydantic import Field, model_validator

from growthos_segments.kit.params import Number, ParamsModel

__all__ = [
    "NumberFields",
    "all_of",
    "as_number",
    "bound_checks",
    "number_test",
]


def as_number(value: Any) -> float | None:
    """A stored number as float; booleans, strings, NaN and infinities are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


class NumberFields(ParamsModel):
    """Numeric comparisons; every given bound must hold (so two make a range)."""

    gte: Number | None = Field(default=None, description="Greater than or equal to.")
    gt: Number | None = Field(default=None, description="Greater than.")
    lte: Number | None = Field(default=None, description="Less than or equal to.")
    lt: Number | None = Field(default=None, description="Less than.")
    eq: Number | None = Field(default=None, description="Equal to.")

    @model_validator(mode="after")
    def _some_bound(self) -> Self:
        if all(getattr(self, k) is None for k in ("gte", "gt", "lte", "lt", "eq")):
            raise ValueError("give at least one of 'gte', 'gt', 'lte', 'lt', 'eq'")
        return self


def bound_checks(
    params: NumberFields,
) -> tuple[list[Callable[[float], bool]], list[Callable[[float], bool]]]:
    """The lower-bound and upper-bound checks of a comparison (``eq`` is one of each).

    Kept apart because a total that only falls crosses its lower bounds and its
    upper bounds in opposite directions (RFM spend rechecks rely on that).
    """
    lows: list[Callable[[float], bool]] = []
    highs: list[Callable[[float], bool]] = []
    if params.gte is not None:
        gte = params.gte
        lows.append(lambda v: v >= gte)
    if params.gt is not None:
        gt = params.gt
        lows.append(lambda v: v > gt)
    if params.lte is not None:
        lte = params.lte
        highs.append(lambda v: v <= lte)
    if params.lt is not None:
        lt = params.lt
        highs.append(lambda v: v < lt)
    if params.eq is not None:
        eq = params.eq
        lows.append(lambda v: v >= eq)
        highs.append(lambda v: v <= eq)
    return lows, highs


def all_of(checks: list[Callable[[float], bool]]) -> Callable[[float], bool]:
    """One closure for several checks (the single check itself when there is one)."""
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(check(v) for check in checks)


def number_test(params: NumberFields) -> Callable[[float], bool]:
    """Compile the bounds once into one closure."""
    lows, highs = bound_checks(params)
    return all_of(lows + highs)
