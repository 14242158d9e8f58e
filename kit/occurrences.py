"""Occurrences: when the first or last matching event happened, relative to now.

``within: "14d"`` means it happened less than 14 days ago, ``older_than:
"60d"`` at least 60 days ago, and ``include_never`` says whether a contact with
no such event matches. :func:`occurrence_result` answers with the exact
``recheck_at`` (when the occurrence ages past a bound, or a future event
arrives).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Self

from pydantic import Field, model_validator

from growthos_segments.core.timeutil import parse_duration
from growthos_segments.kit.params import Duration, ParamsModel
from growthos_segments.kit.rechecks import CAP
from growthos_segments.kit.windows import ALL_HISTORY

__all__ = [
    "Occurrence",
    "OccurrenceFields",
    "Timing",
    "occurrence_of",
    "occurrence_result",
]


class OccurrenceFields(ParamsModel):
    """When the first/last occurrence happened, relative to now or to fixed instants."""

    within: Duration | None = Field(
        default=None, description="It happened in the last duration (now - at < d)."
    )
    older_than: Duration | None = Field(
        default=None, description="It happened at least this long ago (now - at >= d)."
    )
    include_never: bool = Field(
        default=False,
        description="Whether a contact with no such event at all matches (default: no).",
    )

    @model_validator(mode="after")
    def _relative_shape(self) -> Self:
        if (
            self.within is not None
            and self.older_than is not None
            and parse_duration(self.older_than) >= parse_duration(self.within)
        ):
            raise ValueError("'older_than' must be shorter than 'within' when both are given")
        return self


@dataclass(frozen=True, slots=True)
class Timing:
    """A test on one instant (the anchor occurrence) that may depend on ``now``."""

    within: timedelta | None = None
    older_than: timedelta | None = None
    before: datetime | None = None
    after: datetime | None = None

    def test(self, anchor: datetime, now: datetime) -> bool:
        if self.within is not None and not now < anchor + self.within:
            return False
        if self.older_than is not None and not now >= anchor + self.older_than:
            return False
        if self.before is not None and not anchor < self.before:
            return False
        return not (self.after is not None and not anchor >= self.after)

    def breakpoints(self, anchor: datetime) -> tuple[datetime, ...]:
        """The instants at which :meth:`test` of this anchor can flip."""
        out = []
        if self.within is not None:
            out.append(anchor + self.within)
        if self.older_than is not None:
            out.append(anchor + self.older_than)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """A compiled first/last-occurrence test."""

    which: Literal["first", "last"]
    timing: Timing
    include_never: bool

    def lookback(self) -> timedelta:
        """How far back an event can still change the answer.

        The last occurrence with only ``within``: an older one fails the test
        exactly like no occurrence (unless never matches). With only
        ``older_than`` and never matching, any old one passes exactly like none.
        Every other shape needs the whole history.
        """
        t = self.timing
        if self.which == "last" and t.before is None and t.after is None:
            if t.within is not None and not self.include_never:
                return t.within
            if t.within is None and t.older_than is not None and self.include_never:
                return t.older_than
        return ALL_HISTORY


def occurrence_of(params: OccurrenceFields, which: Literal["first", "last"] = "last") -> Occurrence:
    """Compile the relative timing fields (``within`` / ``older_than``) of a params model."""
    return Occurrence(
        which,
        Timing(
            within=parse_duration(params.within) if params.within else None,
            older_than=parse_duration(params.older_than) if params.older_than else None,
        ),
        params.include_never,
    )


def occurrence_result(
    times: Sequence[datetime], occurrence: Occurrence, now: datetime
) -> tuple[bool, datetime | None]:
    """Test the first/last occurrence (at or before ``now``) and find its exact re-check."""
    last_mode = occurrence.which == "last"
    timing = occurrence.timing
    upper = bisect_right(times, now)
    if upper:
        anchor: datetime | None = times[upper - 1] if last_mode else times[0]
    else:
        anchor = None

    def decide(anchor: datetime | None, at: datetime) -> bool:
        return occurrence.include_never if anchor is None else timing.test(anchor, at)

    match = decide(anchor, now)
    position, index = now, upper
    for _ in range(CAP):
        candidate = None
        if anchor is not None:
            for point in timing.breakpoints(anchor):
                if point > position and (candidate is None or point < candidate):
                    candidate = point
        arrival = None
        if index < len(times) and (last_mode or anchor is None):
            arrival = times[index]
        if arrival is not None and (candidate is None or arrival <= candidate):
            candidate = arrival
            anchor = arrival if (last_mode or anchor is None) else anchor
            index = bisect_right(times, arrival, index)
        if candidate is None:
            return match, None
        if decide(anchor, candidate) != match:
            return match, candidate
        position = candidate
    return match, position
