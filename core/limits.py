"""Hard limits on rule size and shape, checked on save (never on the hot path).

They bound the work one rule can cause per contact and the memory a hostile
rule can take; every limit breach is a validation error with a JSON pointer.

The number range is DynamoDB's: a rule is stored as a DynamoDB map, so a
number it cannot hold must be refused when the rule is validated, not when
the write fails. The time bounds keep every instant the conditions compute
(an event time plus a window, ``now`` minus a duration) inside what
``datetime`` can represent, so no accepted rule can overflow on any contact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

__all__ = [
    "DEFAULT_LIMITS",
    "EARLIEST_INSTANT",
    "LATEST_INSTANT",
    "MAX_NUMBER",
    "MAX_SIGNIFICANT_DIGITS",
    "MAX_SPAN",
    "MIN_NUMBER",
    "Limits",
    "in_time_range",
]


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int = 32
    """Nesting depth of the rule tree (logic nodes and expression operators)."""
    max_reference_depth: int = 32
    """Segments in the longest chain of segment references (a segment that references
    one that references another is 3 deep). Evaluation follows references by
    recursion, a few stack frames each: the bound keeps the deepest chain far from
    Python's stack limit."""
    max_nodes: int = 2000
    """Rule-tree nodes: logic nodes, conditions, references, expression operators."""
    max_list_length: int = 1000
    """Items in any list inside the rule (children of and/or, value lists)."""
    max_string_length: int = 2048
    """Characters in any string inside the rule."""
    max_regex_length: int = 256
    """Characters in a regular expression pattern."""
    max_regexes: int = 10
    """Regular expressions in the whole rule. Compiling is their cost, paid when the
    rule is validated and compiled: up to about 20 ms each (see :mod:`growthos_segments.core.regex`),
    three times for a case-insensitive pattern."""
    max_size: int = 200_000
    """Characters of the whole rule written as compact JSON (``json.dumps`` with
    ``separators=(",", ":")``, so non-ASCII characters count as their ``\\uXXXX``
    escapes). It bounds validation and evaluation time of the largest accepted rule,
    and keeps a saved segment within DynamoDB's 400 KB item."""
    max_values: int = 20_000
    """JSON values of any kind (objects, lists, strings, numbers, booleans, nulls) in
    the whole rule: thousands of empty lists are small as text but not as work."""
    max_text_length: int = 1_000_000
    """Characters of a rule given as JSON text, checked before the text is parsed
    (room for indentation around a rule of ``max_size``)."""


DEFAULT_LIMITS = Limits()

MAX_NUMBER = Decimal("9.9999999999999999999999999999999999999E+125")
"""Largest magnitude a DynamoDB number can hold."""
MIN_NUMBER = Decimal("1E-130")
"""Smallest non-zero magnitude a DynamoDB number can hold."""
MAX_SIGNIFICANT_DIGITS = 38
"""Significant digits a DynamoDB number can hold."""

MAX_SPAN = timedelta(days=36_600)
"""The longest duration or relative amount a condition takes: 100 years (36,600 days)."""

EARLIEST_INSTANT = datetime(1900, 1, 1, tzinfo=UTC)
"""Event times, contact ages, ``between`` dates and ``now`` are instants in
[EARLIEST_INSTANT, LATEST_INSTANT). Adding or subtracting a few ``MAX_SPAN`` (or the
width of the range itself) to such an instant stays far inside years 1-9999."""
LATEST_INSTANT = datetime(2200, 1, 1, tzinfo=UTC)


def in_time_range(moment: datetime) -> bool:
    """Whether an aware instant lies in the range every time computation is safe for."""
    return EARLIEST_INSTANT <= moment < LATEST_INSTANT
