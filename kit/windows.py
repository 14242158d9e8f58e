"""Windows: which events count — the last ``within``, the fixed range ``between``, or ever.

- ``within: "30d"`` keeps events with ``now - 30d < at <= now``. The window is
  open at its old end on purpose: an event then leaves at exactly
  ``at + 30d``, an instant the scheduler can be given. (A closed end would make
  the change happen "just after" an instant, which no timestamp can name.)
- ``between: [start, end]`` keeps ``start <= at < end``; a calendar-date end
  means the end of that day (UTC), so ``["2026-11-01", "2026-11-30"]`` covers
  all of November.
- Neither: all loaded history ("ever").

An event counts from its ``at`` onwards: events stamped after ``now`` (clock
skew, scheduled imports) have not happened yet, and their arrival is a
time-driven change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Self

from pydantic import Field, model_validator

from growthos_segments.core.timeutil import parse_duration, parse_instant
from growthos_segments.kit.params import Duration, Instant, ParamsModel

__all__ = [
    "ALL_HISTORY",
    "Window",
    "WindowFields",
    "end_of",
    "start_of",
]

ALL_HISTORY = timedelta.max
"""Declared lookback meaning "every event ever loaded matters"."""


def end_of(text: str) -> datetime:
    """The exclusive end of a ``between`` bound: a bare date means "through that day"."""
    moment = parse_instant(text)
    assert moment is not None  # validated
    if len(text.strip()) == 10:
        return moment + timedelta(days=1)
    return moment


def start_of(text: str) -> datetime:
    """The inclusive start of a ``between`` bound (a bare date is its midnight, UTC)."""
    moment = parse_instant(text)
    assert moment is not None  # validated
    return moment


class WindowFields(ParamsModel):
    """Which events count: the last ``within``, the fixed range ``between``, or ever."""

    within: Duration | None = Field(
        default=None,
        description="Sliding window: only events in the last duration count (now - d < at <= now).",
    )
    between: tuple[Instant, Instant] | None = Field(
        default=None,
        description="Fixed range [start, end); a calendar-date end includes that whole day (UTC).",
    )

    @model_validator(mode="after")
    def _one_window(self) -> Self:
        if self.within is not None and self.between is not None:
            raise ValueError("give either 'within' or 'between', not both (neither means ever)")
        if self.between is not None and start_of(self.between[0]) >= end_of(self.between[1]):
            raise ValueError("'between' must start before it ends")
        return self


@dataclass(frozen=True, slots=True)
class Window:
    """A compiled window: ``width`` (sliding), or ``start``/``end`` (fixed), or neither (ever)."""

    width: timedelta | None = None
    start: datetime | None = None
    end: datetime | None = None

    @staticmethod
    def of(params: WindowFields) -> Window:
        if params.within is not None:
            return Window(width=parse_duration(params.within))
        if params.between is not None:
            return Window(start=start_of(params.between[0]), end=end_of(params.between[1]))
        return Window()

    @property
    def lookback(self) -> timedelta:
        """A fixed range reaches further back every day, so it needs all history."""
        return self.width if self.width is not None else ALL_HISTORY

