"""Shared machinery for the behavioural families (email, events, nudges, referrals, rfm).

Every behavioural condition answers the same three questions: which events
count, in which window, and how many. They live here, once, so that the same
words mean the same thing in every family (``within`` is always the half-open
window ``(now - d, now]``, ``min_count`` is always inclusive) and so that the
hard part, an exact ``recheck_at``, is solved in one place.

Time model (every family):

- An event counts from its ``at`` onwards: events stamped after ``now`` (clock
  skew, scheduled imports) have not happened yet. Their arrival is a time-driven
  change, so it is part of ``recheck_at``.
- ``within: "30d"`` keeps events with ``now - 30d < at <= now``. The window is
  open at its old end on purpose: an event then leaves at exactly
  ``at + 30d``, an instant the scheduler can be given. (A closed end would make
  the change happen "just after" an instant, which no timestamp can name.)
- ``between: [start, end]`` keeps ``start <= at < end``; a calendar-date end
  means the end of that day (UTC), so ``["2026-11-01", "2026-11-30"]`` covers
  all of November.
- Neither: all loaded history ("ever").

Performance: the per-contact path only does memoised selections (one scan of
the contact's events per distinct selector per view) and binary searches on
the memoised time lists; everything that depends on params is computed at
compile time.
"""

from __future__ import annotations

import heapq
import json
import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictStr,
    WithJsonSchema,
    model_validator,
)

from growthos_segments.core.errors import suggest
from growthos_segments.core.limits import EARLIEST_INSTANT, LATEST_INSTANT, MAX_SPAN, in_time_range
from growthos_segments.core.timeutil import DURATION_RE, UTC, parse_duration, parse_instant
from growthos_segments.core.view import MISSING, ContactView, Event, resolve_path
from growthos_segments.plugins.operators import (
    TIME_BASED_OPS,
    ValueTest,
    compile_value_test,
    describe_value_test,
)

__all__ = [
    "ALL_HISTORY",
    "CAP",
    "Count",
    "CountWindowFields",
    "Duration",
    "EventRef",
    "Instant",
    "NonNegInt",
    "NumberFields",
    "Occurrence",
    "OccurrenceFields",
    "Selector",
    "Series",
    "Timing",
    "Window",
    "all_of",
    "and_results",
    "as_number",
    "bound_checks",
    "contact_created_at",
    "count_in_window",
    "count_result",
    "describe_ages",
    "describe_count",
    "describe_window",
    "first_change",
    "id_filter",
    "number_test",
    "occurrence_result",
    "window_lookback",
]

ALL_HISTORY = timedelta.max
"""Declared lookback meaning "every event ever loaded matters"."""

CAP = 256
"""Most candidate instants a recheck search examines before it settles for an
early (safe) re-check. Only pathological contacts hit it: hundreds of future
events or a windowed aggregate that stays stable across hundreds of changes."""


# --------------------------------------------------------------------------- param types


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
(:data:`core.limits.MAX_SPAN`), so that an event time plus the window always fits a ``datetime``."""

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


class ParamsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def end_of(text: str) -> datetime:
    """The exclusive end of a ``between`` bound: a bare date means "through that day"."""
    moment = parse_instant(text)
    assert moment is not None  # validated
    if len(text.strip()) == 10:
        return moment + timedelta(days=1)
    return moment


def start_of(text: str) -> datetime:
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


YoungContacts = Literal["match", "wait"]


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


# --------------------------------------------------------------------------- compiled specs


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


def window_lookback(params: WindowFields) -> timedelta:
    return Window.of(params).lookback


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


# --------------------------------------------------------------------------- event selection


@dataclass(frozen=True, slots=True)
class Series:
    """Selected events, oldest first, with their times in a parallel list for bisect."""

    events: tuple[Event, ...]
    times: list[datetime]


@dataclass(frozen=True, slots=True)
class Selector:
    """Which events a condition looks at: names plus a property filter.

    ``key`` identifies the selection in the view's memo, so two conditions that
    select the same events (in one segment or in a hundred) share one scan.
    A name ending in ``.*`` selects the whole namespace (``order.*``).
    """

    key: str
    names: tuple[str, ...]
    keep: Callable[[Event], bool] | None = None

    @staticmethod
    def make(
        names: Sequence[str],
        keep: Callable[[Event], bool] | None = None,
        filter_key: Any = None,
    ) -> Selector:
        """``filter_key`` must describe ``keep`` completely (it is part of the memo key)."""
        names = tuple(names)
        if keep is not None and filter_key is None:
            raise ValueError("a property filter needs a filter_key for memoisation")
        blob = json.dumps([list(names), filter_key], sort_keys=True, separators=(",", ":"), default=str)
        return Selector("behavior:" + blob, names, keep)

    @property
    def prefixes(self) -> frozenset[str]:
        """Event-name prefixes for :class:`growthos_segments.core.contract.Reads`."""
        return frozenset(n[:-1] if n.endswith(".*") else n for n in self.names)

    def series(self, view: ContactView) -> Series:
        return view.memo(self.key, lambda: self._build(view))  # type: ignore[no-any-return]

    def _build(self, view: ContactView) -> Series:
        picked: list[Event] = []
        for name in self.names:
            if name.endswith(".*"):
                picked.extend(view.events_named(name[:-1]))
            else:
                picked.extend(by_name(view).get(name, ()))
        if len(self.names) > 1:
            picked.sort(key=_at)
        if self.keep is not None:
            keep = self.keep
            picked = [e for e in picked if keep(e)]
        return Series(tuple(picked), [e.at for e in picked])


def by_name(view: ContactView) -> dict[str, list[Event]]:
    """The contact's events grouped by exact name, oldest first, built in one pass.

    Every exact-name selection of every condition is then a dict lookup instead
    of its own scan of the whole history.
    """

    def group() -> dict[str, list[Event]]:
        out: dict[str, list[Event]] = {}
        for event in view.events():
            bucket = out.get(event.name)
            if bucket is None:
                out[event.name] = [event]
            else:
                bucket.append(event)
        return out

    return view.memo(("behavior", "by_name"), group)  # type: ignore[no-any-return]


def _at(event: Event) -> datetime:
    return event.at


def id_filter(prop: str, wanted: str | Sequence[str] | None) -> tuple[Callable[[Event], bool] | None, Any]:
    """A filter keeping events whose property ``prop`` is one of ``wanted`` (None: all).

    Events without the property never match a specific id: an unattributed open
    cannot be credited to a campaign.
    """
    if wanted is None:
        return None, None
    allowed = frozenset([wanted] if isinstance(wanted, str) else wanted)

    def keep(event: Event) -> bool:
        value = event.properties.get(prop)
        return isinstance(value, str) and value in allowed

    return keep, {prop: sorted(allowed)}


def prop(event: Event, path: tuple[str, ...]) -> Any:
    """A (possibly nested, dotted) event property, or ``MISSING``."""
    if len(path) == 1:
        return event.properties.get(path[0], MISSING)
    return resolve_path(event.properties, path)


def _no_time_ops(where: dict[str, Any]) -> dict[str, Any]:
    for name, test in where.items():
        if test.op in TIME_BASED_OPS:
            raise ValueError(
                f"property {name!r}: operator {test.op!r} depends on the current time, which "
                "would make the selected events change on their own; compare with a fixed "
                "date instead (greater_than, between)"
            )
    return where


PropertyPath = Annotated[
    str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")
]

Where = Annotated[
    dict[PropertyPath, ValueTest],
    Field(
        max_length=20,
        description=(
            "Event property filters, all of which must hold: {property: value test}, with the "
            "attribute operators (dotted paths reach nested properties). Time-relative "
            "operators are not allowed here."
        ),
        examples=[{"category": {"op": "equals", "value": "shoes"}}],
    ),
    AfterValidator(_no_time_ops),
]


def where_filter(where: Mapping[str, Any] | None) -> tuple[Callable[[Event], bool] | None, Any]:
    """Compile property filters into one event predicate plus its memo key."""
    if not where:
        return None, None
    tests = [
        (tuple(name.split(".")), compile_value_test(test))
        for name, test in sorted(where.items())
    ]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)  # time-free operators ignore it

    def keep(event: Event) -> bool:
        return all(test(prop(event, path), epoch)[0] for path, test in tests)

    key = {name: test.model_dump(mode="json") for name, test in sorted(where.items())}
    return keep, {"where": key}


def describe_where(where: Mapping[str, Any] | None) -> str:
    if not where:
        return ""
    parts = [f"{name} {describe_value_test(test)}" for name, test in sorted(where.items())]
    return " where " + " and ".join(parts)


class EventRef(ParamsModel):
    """One kind of event: a name (``order.*`` for a whole namespace) and property filters."""

    name: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9_:\-]+(\.[A-Za-z0-9_:\-]+)*(\.\*)?$",
        description="Event name; 'ns.*' selects every event of the namespace 'ns'.",
    )
    where: Where | None = None

    def selector(self) -> Selector:
        keep, key = where_filter(self.where)
        return Selector.make([self.name], keep, key)

    def describe(self) -> str:
        return f"{self.name!r}{describe_where(self.where)}"


# --------------------------------------------------------------------------- counting


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
        return match, _simulate(times, first, counted_end, arrivals, stop, width, count, n, match), n
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


def _simulate(
    times: Sequence[datetime],
    first: int,
    counted_end: int,
    arrivals: int,
    stop: int,
    width: timedelta | None,
    count: Count,
    n: int,
    match: bool,
) -> datetime | None:
    """Walk departures and arrivals in time order; rare (only with future events)."""
    future = range(arrivals, min(stop, arrivals + CAP))
    changes: list[tuple[datetime, int]] = [(times[i], 1) for i in future]
    if width is not None:
        changes.extend((times[i] + width, -1) for i in range(first, counted_end))
        changes.extend((times[i] + width, -1) for i in future)
    horizon = times[future.stop] if future.stop < stop else None
    changes.sort(key=lambda c: c[0])
    index = 0
    while index < len(changes):
        at = changes[index][0]
        if horizon is not None and at >= horizon:
            return horizon  # unexamined arrivals from here: re-check early, safely
        while index < len(changes) and changes[index][0] == at:
            n += changes[index][1]
            index += 1
        if count.ok(n) != match:
            return at
    return horizon


def contact_created_at(view: ContactView) -> datetime | None:
    """When the contact came to exist: ``attributes.created_at``, else ``signup_date``.

    A date outside :func:`growthos_segments.core.limits.in_time_range` is not taken for one (adding the
    window to it could leave the years a ``datetime`` holds).
    """

    def compute() -> datetime | None:
        for name in ("created_at", "signup_date"):
            moment = parse_instant(view.attributes.get(name))
            if moment is not None and in_time_range(moment):  # "9999-12-31" is no birth date
                return moment
        return None

    return view.memo(("behavior", "created_at"), compute)  # type: ignore[no-any-return]


def wait_until_old_enough(
    evaluate: Callable[[datetime], tuple[bool, datetime | None]],
    created: datetime | None,
    width: timedelta,
    now: datetime,
) -> tuple[bool, datetime | None]:
    """``young_contacts: "wait"``: no match before ``created + width``, normal after.

    The re-check of a young contact is when it comes of age only if it would
    match then; otherwise it is when the normal answer first changes after that.
    """
    if created is None:
        return evaluate(now)
    ripe = created + width
    if now >= ripe:
        return evaluate(now)
    match, recheck = evaluate(ripe)
    return False, (ripe if match else recheck)


def count_result(
    selector: Selector,
    window: Window,
    count: Count,
    young: YoungContacts,
) -> Callable[[ContactView, datetime], tuple[bool, datetime | None]]:
    """The predicate for a plain count condition (the common case, kept lean)."""
    width = window.width
    if young == "wait" and width is not None:

        def waiting(view: ContactView, now: datetime) -> tuple[bool, datetime | None]:
            times = selector.series(view).times

            def at(moment: datetime) -> tuple[bool, datetime | None]:
                match, recheck, _ = count_in_window(times, window, count, moment)
                return match, recheck

            return wait_until_old_enough(at, contact_created_at(view), width, now)

        return waiting

    def predicate(view: ContactView, now: datetime) -> tuple[bool, datetime | None]:
        match, recheck, _ = count_in_window(selector.series(view).times, window, count, now)
        return match, recheck

    return predicate


# --------------------------------------------------------------------------- first / last occurrence


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
        out = []
        if self.within is not None:
            out.append(anchor + self.within)
        if self.older_than is not None:
            out.append(anchor + self.older_than)
        return tuple(out)

    @property
    def relative(self) -> bool:
        return self.within is not None or self.older_than is not None


@dataclass(frozen=True, slots=True)
class Occurrence:
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


# --------------------------------------------------------------------------- generic re-check


def first_change(
    current: bool,
    candidates: Iterable[datetime],
    evaluate: Callable[[datetime], bool],
    after: datetime,
    cap: int = CAP,
) -> datetime | None:
    """The first of ``candidates`` (ascending) at which ``evaluate`` differs from ``current``.

    For conditions whose value is a function of "which events are in the window
    at instant t": it can only change where an event enters or leaves, so those
    instants are the candidates. Past ``cap`` candidates the next one is returned
    unexamined: early, so still safe.
    """
    previous = None
    examined = 0
    for at in candidates:
        if at <= after or at == previous:
            continue
        if examined >= cap:
            return at
        if evaluate(at) != current:
            return at
        previous = at
        examined += 1
    return None


def settle(
    evaluate: Callable[[datetime], tuple[bool, datetime | None]], now: datetime, cap: int = 32
) -> tuple[bool, datetime | None]:
    """Turn a safe (possibly early) ``recheck_at`` into the exact one.

    ``evaluate(t)`` must be the condition at instant ``t`` with a re-check that is
    never late. Re-evaluating at each re-check until the answer differs walks
    from one safe bound to the next, so the first differing instant is exact.
    Used where two exact parts are combined (their combination alone is only safe).
    """
    match, recheck = evaluate(now)
    for _ in range(cap):
        if recheck is None:
            return match, None
        later, next_recheck = evaluate(recheck)
        if later != match:
            return match, recheck
        if next_recheck is None:
            return match, None  # same at the re-check, and nothing changes after it
        if next_recheck <= recheck:
            return match, recheck  # a part that cannot tell: settle for the safe bound
        recheck = next_recheck
    return match, recheck


def merged(*streams: Iterable[datetime]) -> Iterator[datetime]:
    """Merge ascending streams of instants lazily (candidates for :func:`first_change`)."""
    return heapq.merge(*streams)


def and_results(
    a: tuple[bool, datetime | None], b: tuple[bool, datetime | None]
) -> tuple[bool, datetime | None]:
    """Combine two parts of one condition with "and", keeping the re-check safe and tight.

    Both true: whichever flips first. One false: it must flip before anything
    changes. Both false: both must flip, so nothing changes before the later one.
    """
    (ma, ra), (mb, rb) = a, b
    if ma and mb:
        return True, _min(ra, rb)
    if not ma and not mb:
        return False, (None if ra is None or rb is None else max(ra, rb))
    return False, (ra if not ma else rb)


def _min(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a <= b else b


# --------------------------------------------------------------------------- numbers


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


def describe_number(params: NumberFields) -> str:
    words = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<", "eq": "="}
    return " and ".join(f"{sign} {getattr(params, k):g}" for k, sign in words.items()
                        if getattr(params, k) is not None)


# --------------------------------------------------------------------------- wording


def describe_count(params: CountFields) -> str:
    count = Count.of(params)
    if count.lo == count.hi:
        return "not at all" if count.lo == 0 else f"exactly {count.lo} times"
    if count.hi is None:
        return "at least once" if count.lo == 1 else f"at least {count.lo} times"
    if count.lo == 0:
        return f"at most {count.hi} times"
    return f"between {count.lo} and {count.hi} times"


def describe_window(params: WindowFields) -> str:
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
    if wanted is None:
        return ""
    if isinstance(wanted, str):
        return f" ({label} {wanted})"
    return f" ({label} any of {', '.join(wanted)})"
