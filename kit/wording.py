"""Wording: the human descriptions of the shared params, for ``describe`` and explanations.

Every family words a count, a window or an age the same way, so an explanation
reads alike whichever condition produced it.
"""

from __future__ import annotations

from collections.abc import Sequence

from growthos_segments.kit.counts import Count, CountFields
from growthos_segments.kit.numbers import NumberFields
from growthos_segments.kit.occurrences import OccurrenceFields
from growthos_segments.kit.windows import WindowFields

__all__ = [
    "describe_ages",
    "describe_count",
    "describe_ids",
    "describe_number",
    "describe_window",
]


def describe_count(params: CountFields) -> str:
    """``"at least 3 times"``, ``"not at all"``, ``"between 2 and 5 times"``."""
    count = Count.of(params)
    if count.lo == count.hi:
        return "not at all" if count.lo == 0 else f"exactly {count.lo} times"
    if count.hi is None:
        return "at least once" if count.lo == 1 else f"at least {count.lo} times"
    if count.lo == 0:
        return f"at most {count.hi} times"
    return f"between {count.lo} and {count.hi} times"


def describe_window(params: WindowFields) -> str:
    """``"in the last 30d"``, ``"between 2026-11-01 and 2026-11-30"``, ``"(all history)"``."""
    if params.within is not None:
        return f"in the last {params.within}"
    if params.between is not None:
        return f"between {params.between[0]} and {params.between[1]}"
    return "(all history)"


def describe_ages(params: OccurrenceFields) -> list[str]:
    """The relative-age parts of a first/last occurrence, to be joined with "and"."""
    parts = []
    if params.within:
        parts.append(f"less than {params.within} ago")
    if params.older_than:
        parts.append(f"at least {params.older_than} ago")
    return parts


def describe_ids(label: str, wanted: str | Sequence[str] | None) -> str:
    """`` (campaign cmp_q4)`` or `` (campaign any of a, b)``; empty when no id is asked for."""
    if wanted is None:
        return ""
    if isinstance(wanted, str):
        return f" ({label} {wanted})"
    return f" ({label} any of {', '.join(wanted)})"


def describe_number(params: NumberFields) -> str:
    """``">= 50 and < 80"``."""
    words = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<", "eq": "="}
    return " and ".join(f"{sign} {getattr(params, k):g}" for k, sign in words.items()
                        if getattr(params, k) is not None)
