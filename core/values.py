"""Plain JSON values from what storage and callers hand over.

DynamoDB returns numbers as ``Decimal`` and string or number sets as Python
sets; pynamodb returns maps as ``MapAttribute`` objects; Python callers may put
a ``datetime`` in a document. Conditions, datalogic and JSON output want plain
JSON types, so every layer converts with this one function, and a value reads
the same whichever path loaded it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from growthos_segments.core.timeutil import to_iso

__all__ = ["plain", "plain_number"]


def plain_number(value: Decimal) -> int | float | None:
    """The JSON number a stored ``Decimal`` was written as (``None`` for NaN or infinity,
    which no JSON number is)."""
    if not value.is_finite():
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def plain(value: Any) -> Any:
    """A deep copy in JSON types: maps become dicts with string keys, lists and tuples
    lists, sets sorted lists (numbers by value first, then the rest by text: set order
    is not data, and a stable one keeps outputs comparable), ``Decimal`` an int or
    float, a ``datetime`` its ISO text (:func:`growthos_segments.core.timeutil.to_iso`).
    An object with ``as_dict()`` (pynamodb's ``MapAttribute``) converts as its dict.
    """
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((plain(v) for v in value), key=_set_order)
    if isinstance(value, Decimal):
        return plain_number(value)
    if isinstance(value, datetime):
        return to_iso(value)
    if hasattr(value, "as_dict"):
        return plain(value.as_dict())
    return value


def _set_order(value: Any) -> tuple[int, Any]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return 0, value
    return 1, str(value)
