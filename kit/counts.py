"""Counts: how many events in a window — ``min_count`` / ``max_count`` / ``exactly``.

Bounds are inclusive; none given means at least one, and ``exactly: 0`` means
"has not". :func:`count_in_window` answers a count with its exact
``recheck_at``; :func:`count_result` is the whole predicate of a plain count
condition, ``young_contacts`` included.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Self

from pydantic import Field, model_validator

from growthos_segments.core.contract import Predicate, Result
from growthos_segments.core.view import ContactView
from growthos_segments.kit.params import NonNegInt, ParamsModel
from growthos_segments.kit.rechecks import sweep
from growthos_segments.kit.selection import Selector
from growthos_segments.kit.windows import Window, WindowFields
from growthos_segments.kit.young import YoungContacts, contact_created_at, wait_until_old_enough

__all__ = [
    "Count",
    "CountFields",
    "CountWindowFields",
    "count_in_window",
    "count_result",
]


class CountFields(ParamsModel):
    """How many: ``min_count``/``max_count`` (inclusive) or ``exactly``; none means at least 1."""

    min_count: NonNegInt | None = Field(default=None, description="At least this many (inclusive).")
    max_count: NonNegInt | None = Field(default=None, description="At most this many (inclusive).")
    exactly: NonNegInt | None = Field(default=None, description="Exactly this many; 0 means 'has not'.")

    @model_validator(mode="after")
    def _count_shape(self) -> Self:
        if self.exactly is not None and (self.min_count is not None or self.max_count is not None):
            raise ValueError("'exactly' cannot be combined with 'min_count' or 'max_count'")
        if (
            self.min_count is not None
            and self.max_count is not None
            and self.min_count > self.max_count
        ):
            raise ValueError("'min_count' is larger than 'max_count': nothing could match")
        return self


@dataclass(frozen=True, slots=True)
class Count:
    """Inclusive bounds ``lo <= n <= hi`` (``hi`` None: unbounded)."""

    lo: int
    hi: int | None

    @staticmethod
    def of(params: CountFields) -> Count:
        if params.exactly is not None:
            return Count(params.exactly, params.exactly)
        if params.min_count is None and params.max_count is None:
            return Count(1, None)
        return Count(params.min_count or 0, params.max_count)

    def ok(self, n: int) -> bool:
        return n >= self.lo and (self.hi is None or n <= self.hi)


class CountWindowFields(CountFields, WindowFields):
    """A count comparison in a window, plus the policy for contacts younger than the window."""

    young_contacts: YoungContacts = Field(
        default="match",
        description=(
            "Only for negative counts (a count of 0 matches) with 'within': 'match' judges a "
            "contact younger than the window on what it did in its life so far; 'wait' keeps it "
            "out until it has existed for the whole window (age from attributes.created_at, "
            "else attributes.signup_date; a contact with neither is treated as old enough)."
        ),
    )

    @model_validator(mode="after")
    def _young_applies(self) -> Self:
        if self.young_contacts == "wait":
            if self.within is None:
                raise ValueError("young_contacts 'wait' needs a 'within' window")
            if Count.of(self).lo > 0:
                raise ValueError(
                    "young_contacts 'wait' only applies when a count of 0 matches "
                    "(exactly 0 or max_count); a positive count cannot match a contact with no events"
                )
        return self


def count_in_window(
    times: Sequence[datetime], window: Window, count: Count, now: datetime
) -> tuple[bool, datetime | None, int]:
    """``(match, recheck_at, n)`` for "n events of ``times`` in ``window``, compared to ``count``".

    ``recheck_at`` is exact: the first instant at which events leaving the
    sliding window or future events arriving flip the comparison.
    """
    upper = bisect_right(times, now)
    width = window.width
    if width is not None:
        first = bisect_right(times, now - width)
        stop = len(times)
    elif window.start is not None:
        assert window.end is not None
        first = bisect_left(times, window.start)
        stop = bisect_left(times, window.end)
    else:
        first, stop = 0, len(times)
    counted_end = min(upper, stop)
    n = counted_end - first if counted_end > first else 0
    match = count.ok(n)
    arrivals = max(upper, first)
    if arrivals < stop:
        total = [n]

        def apply(_event: int, delta: int) -> None:
            total[0] += delta

        recheck = sweep(times, range(first, counted_end), range(arrivals, stop), width, apply,
                        lambda: count.ok(total[0]), match)
        return match, recheck, n
    if width is None or n == 0:
        return match, None, n
    # Only departures from here on: the count falls by one (or more, for equal
    # times) at each times[i] + width, in order.
    if match:
        if count.lo == 0:
            return True, None, n
        return True, times[first + n - count.lo] + width, n
    if count.hi is None or n < count.lo:
        return False, None, n  # too few already, and it only falls
    at = times[first + n - count.hi - 1]
    left = counted_end - bisect_right(times, at, first, counted_end)
    return False, (at + width if left >= count.lo else None), n


def count_result(
    selector: Selector,
    window: Window,
    count: Count,
    young: YoungContacts,
) -> Predicate:
    """The predicate for a plain count condition (the common case, kept lean)."""
    width = window.width
    if young == "wait" and width is not None:

        def waiting(view: ContactView, now: datetime) -> Result:
            times = selector.series(view).times

            def at(moment: datetime) -> Result:
                match, recheck, _ = count_in_window(times, window, count, moment)
                return match, recheck

            return wait_until_old_enough(at, contact_created_at(view), width, now)

        return waiting

    def predicate(view: ContactView, now: datetime) -> Result:
        match, recheck, _ = count_in_window(selector.series(view).times, window, count, now)
        return match, recheck

    return predicate
