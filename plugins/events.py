"""Product-behaviour conditions over any named event.

An event is selected by its exact ``name`` (``"viewed_product"``,
``"order.completed"``; ``"order.*"`` for a whole namespace) and optional
``where`` filters on its properties, written with the attribute operators
(``{"amount": {"op": "greater_than", "value": 100}}``). A missing property
behaves as the operator table in :mod:`growthos_segments.kit.operators` says (false for every
positive operator, true for the ``not_*`` ones).

``last_activity`` reads events of every name: the contact's "last activity" is
its newest event, whatever it is called (product events, ``email.*`` including
sends, ``order.*``, ``nudge.*``, ...). It declares the event prefix ``""`` (every
event), so an event of any name re-evaluates it, and loads back only as far as
its answer needs: "active in the last 14 days" needs 14 days; "no activity in
the last 60 days, never-active contacts included" needs 60 days (an older event
and no event at all give the same answer); "inactive for 60 days but active at
some time" needs all history. ``active_days`` (distinct calendar days with
activity in a window) reads every name too unless its ``events`` param names the
ones that count, and never further back than its window.

Missing data: a contact with no matching events has a count of 0, no first and
no last occurrence (``include_never`` decides), and no sequence.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from growthos_segments.core.timeutil import UTC, parse_duration, zone
from growthos_segments.kit import ConditionType, ContactView, Event, Predicate, Reads, Result, hookimpl
from growthos_segments.kit.counts import Count, CountWindowFields, count_in_window, count_result
from growthos_segments.kit.occurrences import (
    Occurrence,
    OccurrenceFields,
    Timing,
    occurrence_of,
    occurrence_result,
)
from growthos_segments.kit.params import Duration, Instant, NonNegInt, ParamsModel
from growthos_segments.kit.rechecks import and_results, first_change, settle, sweep
from growthos_segments.kit.selection import EventRef, Selector
from growthos_segments.kit.windows import ALL_HISTORY, Window, start_of
from growthos_segments.kit.wording import describe_ages, describe_count, describe_window
from growthos_segments.kit.young import (
    YoungContacts,
    contact_created_at,
    wait_until_old_enough,
    young_reads,
)

if TYPE_CHECKING:
    from growthos_segments.kit.sql import SqlForm

CATEGORY = "events"


def _reads(refs: Sequence[EventRef], lookback: timedelta, young: YoungContacts = "match") -> Reads:
    events: frozenset[str] = frozenset()
    for ref in refs:
        events |= ref.selector().prefixes
    return Reads(events=events, lookback=lookback, attributes=young_reads(young))


# --------------------------------------------------------------------------- event


class EventParams(CountWindowFields, EventRef):
    """Did (or did not) do an event, how often, in which window."""


def _compile_event(p: EventParams) -> Predicate:
    return count_result(p.selector(), Window.of(p), Count.of(p), p.young_contacts)


def _sql_event(p: EventParams) -> SqlForm | None:
    # kit.sql (and sqlglot) load on the analytical path only: no function's cold start pays for them.
    from growthos_segments.kit.sql_events import count_form, selection_of

    return count_form(selection_of(p), Window.of(p), Count.of(p), p.young_contacts)


EVENT = ConditionType(
    name="event",
    label="Did an event",
    description=(
        "Did (or did not) do a product event, compared as a count (min_count / max_count / "
        "exactly; none given means at least 1) in a window (within, between, or ever), with "
        "optional property filters. 'exactly: 0' is 'did not'."
    ),
    category=CATEGORY,
    params=EventParams,
    compile=_compile_event,
    reads=lambda p: _reads([p], Window.of(p).lookback, p.young_contacts),
    describe=lambda p: f"did {p.describe()} {describe_count(p)} {describe_window(p)}",
    bulk_compile=_sql_event,
    examples=(
        {"name": "viewed_product", "min_count": 3, "within": "48h"},
        {"name": "order.completed", "where": {"amount": {"op": "greater_than", "value": 100}},
         "min_count": 2, "within": "90d"},
        {"name": "app.login", "exactly": 0, "within": "30d", "young_contacts": "wait"},
        {"name": "feature_used", "where": {"feature": {"op": "in", "values": ["export", "api"]}},
         "between": ["2026-11-01", "2026-11-30"]},
    ),
)


# --------------------------------------------------------------------------- event_first_last


class FirstLastParams(OccurrenceFields, EventRef):
    """When the first or last occurrence of an event happened."""

    which: Literal["first", "last"] = Field(description="Test the first or the last occurrence.")
    before: Instant | None = Field(
        default=None, description="It happened before this instant (a date: before that day).")
    after: Instant | None = Field(
        default=None, description="It happened at or after this instant (a date: from that day).")

    @model_validator(mode="after")
    def _needs_timing(self) -> Self:
        if all(x is None for x in (self.within, self.older_than, self.before, self.after)):
            raise ValueError("give at least one of 'within', 'older_than', 'before', 'after'")
        if (
            self.before is not None
            and self.after is not None
            and start_of(self.after) >= start_of(self.before)
        ):
            raise ValueError("'after' must be earlier than 'before'")
        return self

    def occurrence(self) -> Occurrence:
        return Occurrence(
            self.which,
            Timing(
                within=parse_duration(self.within) if self.within else None,
                older_than=parse_duration(self.older_than) if self.older_than else None,
                before=start_of(self.before) if self.before else None,
                after=start_of(self.after) if self.after else None,
            ),
            self.include_never,
        )


def _compile_first_last(p: FirstLastParams) -> Predicate:
    selector = p.selector()
    occurrence = p.occurrence()

    def first_last(view: ContactView, now: datetime) -> Result:
        return occurrence_result(selector.series(view).times, occurrence, now)

    return first_last


def _sql_first_last(p: FirstLastParams) -> SqlForm | None:
    from growthos_segments.kit.sql_events import occurrence_form, selection_of

    return occurrence_form(selection_of(p), p.occurrence())


def _describe_first_last(p: FirstLastParams) -> str:
    parts = describe_ages(p)
    if p.after:
        parts.append(f"from {p.after}")
    if p.before:
        parts.append(f"before {p.before}")
    never = " (or never)" if p.include_never else ""
    return f"{p.which} {p.describe()} {' and '.join(parts)}{never}"


EVENT_FIRST_LAST = ConditionType(
    name="event_first_last",
    label="First / last occurrence",
    description=(
        "The first (or last) occurrence of an event happened within a duration, at least a "
        "duration ago (older_than), before and/or after fixed instants; combinations must all "
        "hold. A contact who never did it matches only with include_never. 'before' a date "
        "means before that day starts (UTC)."
    ),
    category=CATEGORY,
    params=FirstLastParams,
    compile=_compile_first_last,
    reads=lambda p: _reads([p], p.occurrence().lookback()),
    describe=_describe_first_last,
    bulk_compile=_sql_first_last,
    examples=(
        {"name": "order.completed", "which": "first", "within": "30d"},
        {"name": "app.login", "which": "last", "older_than": "14d"},
        {"name": "trial.started", "which": "first", "after": "2026-11-01", "before": "2026-12-01"},
    ),
)


# --------------------------------------------------------------------------- event_without


class EventWithoutParams(CountWindowFields, EventRef):
    """Did an event (counted in a window) without another event in the same window."""

    without: EventRef = Field(description="The event that must not happen in the same window.")


def _compile_without(p: EventWithoutParams) -> Predicate:
    window = Window.of(p)
    main = count_result(p.selector(), window, Count.of(p), p.young_contacts)
    absent = p.without.selector()
    none = Count(0, 0)

    def at(view: ContactView, moment: datetime) -> Result:
        did = main(view, moment)
        if not did[0] and did[1] is None:
            return did  # cannot match, whatever the other event does
        match, recheck, _ = count_in_window(absent.series(view).times, window, none, moment)
        return and_results(did, (match, recheck))

    def without(view: ContactView, now: datetime) -> Result:
        return settle(lambda moment: at(view, moment), now)

    return without


def _sql_without(p: EventWithoutParams) -> SqlForm | None:
    """The count form of the event, and none of the other event in the same window."""
    from sqlglot import exp

    from growthos_segments.kit.sql import SqlForm
    from growthos_segments.kit.sql_events import count_form, count_matches, count_of, in_window, selection_of

    window = Window.of(p)
    did = count_form(selection_of(p), window, Count.of(p), p.young_contacts)
    absent = selection_of(p.without)
    if did is None or absent is None:
        return None
    rows = absent.also(in_window(window))
    aggregates = {**did.aggregates, "without_n": count_of(rows.keep)}
    predicate = exp.and_(exp.paren(did.predicate), count_matches(exp.column("without_n"), Count(0, 0)))
    undecided = did.undecided
    if rows.undecided is not None:
        aggregates["without_undecided"] = count_of(rows.undecided)
        unread = exp.column("without_undecided") > 0
        undecided = unread if undecided is None else exp.or_(undecided, unread)
    return SqlForm(predicate, aggregates, undecided)


EVENT_WITHOUT = ConditionType(
    name="event_without",
    label="Did one thing without another",
    description=(
        "Did an event (with a count and window like 'event') and did not do the 'without' "
        "event in the same window: 'viewed a product 3+ times in 48 hours without a purchase'."
    ),
    category=CATEGORY,
    params=EventWithoutParams,
    compile=_compile_without,
    reads=lambda p: _reads([p, p.without], Window.of(p).lookback, p.young_contacts),
    describe=lambda p: (f"did {p.describe()} {describe_count(p)} {describe_window(p)} "
                        f"without {p.without.describe()}"),
    bulk_compile=_sql_without,
    examples=(
        {"name": "viewed_product", "min_count": 3, "within": "48h",
         "without": {"name": "order.completed"}},
        {"name": "cart.added", "within": "7d",
         "without": {"name": "checkout.started"}},
    ),
)


# --------------------------------------------------------------------------- event_sequence


class SequenceParams(ParamsModel):
    """One event followed by another within a time limit (or not followed by it)."""

    first: EventRef = Field(description="The event that happens first (A).")
    then: EventRef = Field(description="The event that follows (B).")
    max_gap: Duration | None = Field(
        default=None, description="B at most this long after A (default: any time after).")
    mode: Literal["then", "not_then"] = Field(
        default="then",
        description=(
            "'then': A was followed by B (B strictly after A, within max_gap). 'not_then': "
            "A was not followed by B within max_gap, judged once max_gap has passed."
        ),
    )
    within: Duration | None = Field(
        default=None,
        description=(
            "Sliding window: 'then' — B (completing the sequence) happened in it; 'not_then' — "
            "A happened in it. Default: ever."
        ),
    )

    @model_validator(mode="after")
    def _gap_rules(self) -> Self:
        if self.mode == "not_then":
            if self.max_gap is None:
                raise ValueError("mode 'not_then' needs 'max_gap' (how long to wait for B)")
            if self.within is not None and parse_duration(self.max_gap) >= parse_duration(
                self.within
            ):
                raise ValueError("'max_gap' must be shorter than 'within' for 'not_then'")
        return self

    def lookback(self) -> timedelta:
        if self.within is None:
            return ALL_HISTORY
        within = parse_duration(self.within)
        if self.mode == "not_then":
            return within  # A is in the window and B after it
        if self.max_gap is None:
            return ALL_HISTORY  # A may be any time before B
        return within + parse_duration(self.max_gap)


def _latest_completion(
    a_times: Sequence[datetime], b_times: Sequence[datetime], at: datetime,
    width: timedelta | None, gap: timedelta | None,
) -> datetime | None:
    """The latest B at or before ``at`` (inside the window) with an A in ``[B - gap, B)``."""
    if not a_times:
        return None
    high = bisect_right(b_times, at)
    low = 0 if width is None else bisect_right(b_times, at - width, 0, high)
    for j in range(high - 1, low - 1, -1):
        b = b_times[j]
        i = bisect_left(a_times, b) - 1
        if i >= 0 and (gap is None or a_times[i] >= b - gap):
            return b
    return None


def _abandoned(
    a_times: Sequence[datetime], b_times: Sequence[datetime], at: datetime,
    width: timedelta | None, gap: timedelta,
) -> bool:
    """Is there an A (in the window, at least ``gap`` old) with no B in ``(A, A + gap]``?"""
    high = bisect_right(a_times, at - gap)
    low = 0 if width is None else bisect_right(a_times, at - width, 0, high)
    for i in range(high - 1, low - 1, -1):
        a = a_times[i]
        j = bisect_right(b_times, a)
        if j >= len(b_times) or b_times[j] > a + gap:
            return True
    return False


def _compile_sequence(p: SequenceParams) -> Predicate:
    first, then = p.first.selector(), p.then.selector()
    gap = parse_duration(p.max_gap) if p.max_gap else None
    width = parse_duration(p.within) if p.within else None

    if p.mode == "not_then":
        assert gap is not None
        wait: timedelta = gap
        reach = wait if width is None else width

        def not_then(view: ContactView, now: datetime) -> Result:
            a_times, b_times = first.series(view).times, then.series(view).times
            match = _abandoned(a_times, b_times, now, width, wait)
            # It can only change when some A becomes old enough to judge or leaves the
            # window; a B arriving matters only at the judgement of the A before it.
            start = bisect_right(a_times, now - reach)
            candidates = sorted(
                [a + wait for a in a_times[start:]]
                + ([a + width for a in a_times[start:]] if width is not None else [])
            )
            return match, first_change(
                match, candidates, lambda at: _abandoned(a_times, b_times, at, width, wait), now
            )

        return not_then

    def followed(view: ContactView, now: datetime) -> Result:
        a_times, b_times = first.series(view).times, then.series(view).times
        done = _latest_completion(a_times, b_times, now, width, gap)
        future = (a_times and a_times[-1] > now) or (b_times and b_times[-1] > now)
        if not future:
            if done is None or width is None:
                return done is not None, None
            return True, done + width
        # Future events: the match begins at some future B and ends when the latest
        # completing B leaves the window.
        start = bisect_right(b_times, now if width is None else now - width)
        candidates = sorted(
            [b for b in b_times[start:] if b > now]
            + ([b + width for b in b_times[start:]] if width is not None else [])
        )
        match = done is not None
        return match, first_change(
            match, candidates,
            lambda at: _latest_completion(a_times, b_times, at, width, gap) is not None, now,
        )

    return followed


def _sql_sequence(p: SequenceParams) -> SqlForm | None:
    """``then``: the latest B of the window after the earliest A without ``max_gap``, else
    some B of the window with an A in ``[B - gap, B)``; ``not_then``: some A of the window
    at least ``max_gap`` old with no B in ``(A, A + gap]``. With ``max_gap`` the test runs
    over the contact's lists of A and B times, each A against each B: its cost grows with
    the product of the two counts of one contact (in the window), not with the tenant."""
    from sqlglot import exp

    from growthos_segments.kit.sql import SqlForm
    from growthos_segments.kit.sql_events import (
        aged,
        first_at,
        followed_within,
        happened,
        in_window,
        last_at,
        not_followed_within,
        selection_of,
        since,
        times_of,
        undecided_among,
    )

    first, then = selection_of(p.first), selection_of(p.then)
    if first is None or then is None:
        return None
    gap = parse_duration(p.max_gap) if p.max_gap else None
    width = parse_duration(p.within) if p.within else None
    if p.mode == "not_then":
        assert gap is not None  # validated
        a_rows = first.also(aged(gap) if width is None else exp.and_(aged(gap), since(width)))
        b_rows = then.also(happened() if width is None else in_window(Window(width=width)))
        aggregates = {"seq_a": times_of(a_rows.keep), "seq_b": times_of(b_rows.keep)}
        predicate = not_followed_within(exp.column("seq_a"), exp.column("seq_b"), gap)
    else:
        b_rows = then.also(in_window(Window(width=width)))
        reach = happened() if width is None or gap is None else exp.and_(happened(), since(width + gap))
        a_rows = first.also(reach)
        if gap is None:
            aggregates = {"seq_a": first_at(a_rows.keep), "seq_b": last_at(b_rows.keep)}
            predicate = exp.GT(this=exp.column("seq_b"), expression=exp.column("seq_a"))
        else:
            aggregates = {"seq_a": times_of(a_rows.keep), "seq_b": times_of(b_rows.keep)}
            predicate = followed_within(exp.column("seq_a"), exp.column("seq_b"), gap)
    doubt, undecided = undecided_among([a_rows, b_rows])
    return SqlForm(predicate, {**aggregates, **doubt}, undecided)


def _describe_sequence(p: SequenceParams) -> str:
    gap = f" within {p.max_gap}" if p.max_gap else ""
    window = f" (in the last {p.within})" if p.within else ""
    verb = "then" if p.mode == "then" else "not followed by"
    return f"{p.first.describe()} {verb} {p.then.describe()}{gap}{window}"


EVENT_SEQUENCE = ConditionType(
    name="event_sequence",
    label="Event sequence",
    description=(
        "A then B within a time limit ('then'; B strictly after A, at most max_gap later), "
        "or A not followed by B within max_gap ('not_then', judged once max_gap has passed: "
        "abandoned carts). 'within' limits when the sequence happened."
    ),
    category=CATEGORY,
    params=SequenceParams,
    compile=_compile_sequence,
    reads=lambda p: _reads([p.first, p.then], p.lookback()),
    describe=_describe_sequence,
    bulk_compile=_sql_sequence,
    examples=(
        {"first": {"name": "trial.started"}, "then": {"name": "subscription.created"},
         "max_gap": "14d", "within": "90d"},
        {"first": {"name": "cart.added"}, "then": {"name": "order.completed"},
         "max_gap": "1h", "mode": "not_then", "within": "7d"},
    ),
)


# --------------------------------------------------------------------------- last_activity


class LastActivityParams(OccurrenceFields):
    """When the contact was last active: the time of its newest event of any name."""

    young_contacts: YoungContacts = Field(
        default="match",
        description=(
            "Only with 'older_than' and include_never (the 'not active in the last N' form): "
            "'match' judges a contact younger than older_than on its life so far; 'wait' keeps "
            "it out until it has existed that long (age from attributes.created_at, else "
            "attributes.signup_date; a contact with neither is treated as old enough)."
        ),
    )

    @model_validator(mode="after")
    def _activity_shape(self) -> Self:
        if self.within is None and self.older_than is None:
            raise ValueError("give 'within' (active recently) and/or 'older_than' (inactive that long)")
        if self.young_contacts == "wait" and (self.older_than is None or not self.include_never):
            raise ValueError(
                "young_contacts 'wait' only applies to 'older_than' with include_never true: "
                "otherwise a contact who has not been active yet cannot match anyway"
            )
        return self


def _activity_times(view: ContactView) -> list[datetime]:
    """Times of every event of the contact, oldest first (shared by every last_activity)."""
    return view.memo(("activity", "times"), lambda: [e.at for e in view.events()])  # type: ignore[no-any-return]


def _compile_last_activity(p: LastActivityParams) -> Predicate:
    occurrence = occurrence_of(p)
    if p.young_contacts == "wait":
        assert p.older_than is not None  # validated
        width = parse_duration(p.older_than)

        def waiting(view: ContactView, now: datetime) -> Result:
            times = _activity_times(view)
            return wait_until_old_enough(
                lambda at: occurrence_result(times, occurrence, at), contact_created_at(view), width, now
            )

        return waiting

    def last_activity(view: ContactView, now: datetime) -> Result:
        return occurrence_result(_activity_times(view), occurrence, now)

    return last_activity


def _sql_last_activity(p: LastActivityParams) -> SqlForm | None:
    """The last event of any name at or before NOW; with ``young_contacts: "wait"`` no match
    before the contact has existed for ``older_than``."""
    from sqlglot import exp

    from growthos_segments.kit.sql import SqlForm
    from growthos_segments.kit.sql_events import Selection, occurrence_form, old_enough

    form = occurrence_form(Selection(exp.true()), occurrence_of(p))
    assert form is not None  # every row is selected and decided
    if p.young_contacts == "match":
        return form
    assert p.older_than is not None  # validated
    ripe, unread = old_enough(parse_duration(p.older_than))
    return SqlForm(exp.and_(exp.paren(ripe), exp.paren(form.predicate)), form.aggregates,
                   exp.and_(unread, exp.paren(form.predicate.copy())))


def _describe_last_activity(p: LastActivityParams) -> str:
    parts = describe_ages(p)
    never = " (or never)" if p.include_never else ""
    young = f" (contacts younger than {p.older_than} wait)" if p.young_contacts == "wait" else ""
    return f"last activity (any event) {' and '.join(parts)}{never}{young}"


LAST_ACTIVITY = ConditionType(
    name="last_activity",
    label="Last activity",
    description=(
        "The contact's most recent event of any name (its last activity) happened within a "
        "duration (now - at < d), or at least a duration ago (older_than: no event in the last "
        "d), or between the two. A contact with no event matches only with include_never; "
        "young_contacts 'wait' keeps never-active contacts out until they are older_than old."
    ),
    category=CATEGORY,
    params=LastActivityParams,
    compile=_compile_last_activity,
    reads=lambda p: Reads(
        events=frozenset({""}),
        lookback=occurrence_of(p).lookback(),
        attributes=young_reads(p.young_contacts),
    ),
    describe=_describe_last_activity,
    bulk_compile=_sql_last_activity,
    examples=(
        {"within": "14d"},
        {"older_than": "60d", "include_never": True, "young_contacts": "wait"},
        {"within": "90d", "older_than": "30d"},
    ),
)

# --------------------------------------------------------------------------- active_days

EventName = Annotated[str, Field(min_length=1, max_length=200,
                                 pattern=r"^[A-Za-z0-9_:\-]+(\.[A-Za-z0-9_:\-]+)*(\.\*)?$")]


class ActiveDaysParams(ParamsModel):
    """On how many distinct calendar days the contact was active in a sliding window."""

    min_days: NonNegInt | None = Field(default=None, description="Active on at least this many days.")
    max_days: NonNegInt | None = Field(default=None, description="Active on at most this many days.")
    within: Duration = Field(
        description="Sliding window: only events in the last duration count (now - d < at <= now).")
    timezone: Annotated[str, Field(max_length=64)] = Field(
        default="UTC", description="IANA zone whose calendar days are counted (default UTC).")
    events: Annotated[list[EventName], Field(min_length=1, max_length=20)] | None = Field(
        default=None,
        description="Only these events count as activity ('ns.*': a whole namespace); default: any event.",
    )

    @model_validator(mode="after")
    def _days_shape(self) -> Self:
        if self.min_days is not None and self.max_days is not None and self.min_days > self.max_days:
            raise ValueError("'min_days' is larger than 'max_days': nothing could match")
        zone(self.timezone)
        return self

    def bounds(self) -> Count:
        """None given means active on at least one day, as a count with no bounds means."""
        if self.min_days is None and self.max_days is None:
            return Count(1, None)
        return Count(self.min_days or 0, self.max_days)


def _activity(view: ContactView, selector: Selector | None) -> tuple[Sequence[Event], list[datetime]]:
    """The events that count as activity, oldest first, and their times (every event: shared
    with ``last_activity``)."""
    if selector is None:
        return view.events(), _activity_times(view)
    series = selector.series(view)
    return series.events, series.times


def _utc_day(event: Event) -> date:
    return event.at.date()  # a view's event times are in UTC already


def _compile_active_days(p: ActiveDaysParams) -> Predicate:
    width = parse_duration(p.within)
    tz = zone(p.timezone)
    bounds = p.bounds()
    selector = None if p.events is None else Selector.make(sorted(set(p.events)))

    def local_day(event: Event) -> date:
        return event.at.astimezone(tz).date()

    day = _utc_day if tz is UTC else local_day

    def active_days(view: ContactView, now: datetime) -> Result:
        events, times = _activity(view, selector)
        first, upper = bisect_right(times, now - width), bisect_right(times, now)
        if upper < len(times):
            # Events stamped after now add their day when they arrive and leave with the
            # window like the others: the sweep walks arrivals and departures in order.
            days = [day(event) for event in events[first:]]
            seen = Counter(days[:upper - first])
            match = bounds.ok(len(seen))

            def apply(event: int, delta: int) -> None:
                seen[days[event - first]] += delta
                if not seen[days[event - first]]:
                    del seen[days[event - first]]

            return match, sweep(times, range(first, upper), range(upper, len(times)), width, apply,
                                lambda: bounds.ok(len(seen)), match)
        last_of_day: dict[date, datetime] = {}
        for index in range(first, upper):  # oldest first: each day ends up with its last event
            last_of_day[day(events[index])] = times[index]
        n = len(last_of_day)
        # Only departures from here on: a day leaves when its last event leaves the window, so
        # the count falls by one at each of those instants, in order, and never rises.
        leaving = sorted(last_of_day.values())
        if bounds.ok(n):
            if bounds.lo == 0:
                return True, None
            return True, leaving[n - bounds.lo] + width
        if n < bounds.lo or bounds.hi is None:
            return False, None
        return False, leaving[n - bounds.hi - 1] + width

    return active_days


def _sql_active_days(p: ActiveDaysParams) -> SqlForm:
    """Distinct local dates of the rows in the window, as Python's own zone offsets give them
    (:func:`growthos_segments.kit.sql_email.local_time`): in a zone with daylight saving time,
    a contact with a counted event outside the years that function converts is left to the
    per-contact path."""
    from sqlglot import exp

    from growthos_segments.kit.sql import SqlForm
    from growthos_segments.kit.sql_email import local_time
    from growthos_segments.kit.sql_events import count_matches, count_of, in_window, names_match

    rows = in_window(Window(width=parse_duration(p.within)))
    if p.events is not None:
        rows = exp.and_(names_match(p.events), rows)
    local, outside = local_time(p.timezone)
    day = exp.Case(ifs=[exp.If(this=rows, true=exp.cast(local, exp.DataType.build("DATE")))])
    aggregates = {"ad_days": exp.Count(this=exp.Distinct(expressions=[day]))}
    undecided = None
    if outside is not None:
        aggregates["ad_outside"] = count_of(exp.and_(rows.copy(), outside))
        undecided = count_matches(exp.column("ad_outside"), Count(1, None))
    return SqlForm(count_matches(exp.column("ad_days"), p.bounds()), aggregates, undecided)


def _describe_active_days(p: ActiveDaysParams) -> str:
    bounds = p.bounds()
    if bounds.hi is None:
        many, last = f"at least {bounds.lo}", bounds.lo
    elif bounds.lo == 0:
        many, last = f"at most {bounds.hi}", bounds.hi
    elif bounds.lo == bounds.hi:
        many, last = f"exactly {bounds.lo}", bounds.lo
    else:
        many, last = f"{bounds.lo} to {bounds.hi}", bounds.hi
    what = "any event" if p.events is None else ", ".join(repr(name) for name in p.events)
    zone_text = "" if p.timezone == "UTC" else f" ({p.timezone} days)"
    days = "day" if last == 1 else "days"
    return f"active ({what}) on {many} distinct {days} in the last {p.within}{zone_text}"


ACTIVE_DAYS = ConditionType(
    name="active_days",
    label="Active days",
    description=(
        "On how many distinct calendar days (in 'timezone', default UTC) the contact had an "
        "event in the last duration (now - within < at <= now): 'active on at least 10 of the "
        "last 30 days' is min_days 10, within 30d (daily/monthly active users). The first day "
        "of the window counts only if an event falls after the cut. min_days / max_days are "
        "inclusive (neither: at least one day). Any event counts unless 'events' names the ones "
        "that do ('ns.*' for a namespace)."
    ),
    category=CATEGORY,
    params=ActiveDaysParams,
    compile=_compile_active_days,
    reads=lambda p: Reads(
        events=frozenset({""}) if p.events is None else Selector.make(p.events).prefixes,
        lookback=parse_duration(p.within),
    ),
    describe=_describe_active_days,
    bulk_compile=_sql_active_days,
    examples=(
        {"min_days": 10, "within": "30d"},
        {"min_days": 1, "within": "1d", "events": ["app.*"]},
        {"max_days": 2, "within": "30d", "timezone": "Europe/London", "events": ["session.started"]},
    ),
)

CONDITION_TYPES: tuple[ConditionType[Any], ...] = (
    EVENT,
    EVENT_FIRST_LAST,
    EVENT_WITHOUT,
    EVENT_SEQUENCE,
    LAST_ACTIVITY,
    ACTIVE_DAYS,
)


@hookimpl
def register_condition_types(register: Callable[..., None]) -> None:
    register(*CONDITION_TYPES)

