"""Referral conditions.

The referrer's document carries ``referral.invited`` and ``referral.converted``
events, one per friend, with the friend in the ``referee_id`` property. The
referred contact carries ``attributes.referred_by`` (the referrer's id).

Counting is by friend, not by event: inviting the same friend three times is
one referred friend. A friend counts in a window if any of their events is in
it (for a sliding window: if their latest one is). Events without a
``referee_id`` each count as a separate friend (we cannot tell them apart).

"Never referred anyone" is ``{"referral": {"status": "invited", "exactly": 0}}``;
with no window it is judged on all loaded history, so young contacts need no
special case. With a ``within`` window, ``young_contacts`` applies as in every
behavioural family.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from growthos_segments.kit import ConditionType, ContactView, Event, Predicate, Reads, Result, hookimpl
from growthos_segments.kit.counts import Count, CountWindowFields, count_in_window
from growthos_segments.kit.params import ParamsModel
from growthos_segments.kit.rechecks import first_change
from growthos_segments.kit.selection import Selector
from growthos_segments.kit.windows import Window
from growthos_segments.kit.wording import describe_count, describe_window
from growthos_segments.kit.young import contact_created_at, wait_until_old_enough, young_reads

if TYPE_CHECKING:
    from growthos_segments.kit.sql import SqlForm

CATEGORY = "referrals"


class _ReferralTarget(ParamsModel):
    # A base listed last so that its fields come first in the schema and normal form.
    status: Literal["invited", "converted"] = Field(
        description="'invited': friends invited (referral.invited); 'converted': invited "
                    "friends who converted (referral.converted)."
    )


class ReferralParams(CountWindowFields, _ReferralTarget):
    """How many friends the contact referred, at which stage, in which window."""


def _friend(event: Event, index: int) -> Any:
    friend = event.properties.get("referee_id")
    if isinstance(friend, str | int) and not isinstance(friend, bool) and friend != "":
        return ("id", friend)
    return ("event", index)


def _latest_per_friend(events: Sequence[Event], start: int, stop: int) -> list[datetime]:
    """Each friend's latest event time among ``events[start:stop]``, sorted."""
    latest: dict[Any, datetime] = {}
    for index in range(start, stop):
        event = events[index]
        latest[_friend(event, index)] = event.at  # time-ordered: the last write is the latest
    return sorted(latest.values())


def _compile_referral(p: ReferralParams) -> Predicate:
    selector = Selector.make([f"referral.{p.status}"])
    window, count = Window.of(p), Count.of(p)
    width = window.width
    wait = p.young_contacts == "wait"
    distinct_key = ("referrals", "distinct", selector.key, window.start, window.end)

    def friends_at(events: Sequence[Event], times: Sequence[datetime], at: datetime) -> int:
        high = bisect_right(times, at)
        if width is not None:
            low = 0
        elif window.start is not None:
            assert window.end is not None
            low, high = bisect_left(times, window.start), min(high, bisect_left(times, window.end))
        else:
            low = 0
        latest = _latest_per_friend(events, low, high)
        if width is not None:
            return len(latest) - bisect_right(latest, at - width)
        return len(latest)

    def referral(view: ContactView, now: datetime) -> Result:
        if wait and width is not None:
            return wait_until_old_enough(
                lambda moment: counted(view, moment), contact_created_at(view), width, now)
        return counted(view, now)

    def counted(view: ContactView, now: datetime) -> Result:
        series = selector.series(view)
        events, times = series.events, series.times
        if not times or times[-1] <= now:
            # Nothing in the future: one time per friend, then a plain count.
            def compute() -> list[datetime]:
                if window.start is not None:
                    assert window.end is not None
                    low, high = bisect_left(times, window.start), bisect_left(times, window.end)
                    return _latest_per_friend(events, low, high)
                return _latest_per_friend(events, 0, len(events))

            latest: list[datetime] = view.memo(distinct_key, compute)
            match, recheck, _ = count_in_window(latest, Window(width=width), count, now)
            return match, recheck
        match = count.ok(friends_at(events, times, now))
        candidates = sorted(
            [t for t in times if t > now]
            + ([t + width for t in times if t + width > now] if width is not None else [])
        )
        return match, first_change(
            match, candidates, lambda at: count.ok(friends_at(events, times, at)), now
        )

    return referral


def _sql_referral(p: ReferralParams) -> SqlForm:
    """Friends counted as the predicate counts them at NOW: a friend counts when one of its
    events is in the window (for a sliding window that is its latest event by NOW), an
    event without an id is a friend of its own."""
    # kit.sql (and sqlglot) load on the analytical path only: no function's cold start pays for them.
    from sqlglot import exp

    from growthos_segments.kit.sql import SqlForm, json_at
    from growthos_segments.kit.sql_email import plain_id
    from growthos_segments.kit.sql_events import (
        EVENT_PROPERTIES,
        count_matches,
        in_window,
        names_match,
        old_enough,
    )

    window = Window.of(p)
    rows = exp.and_(names_match([f"referral.{p.status}"]), in_window(window))
    is_id, key = plain_id(json_at(("referee_id",), EVENT_PROPERTIES))
    aggregates = {
        "friends": exp.Count(this=exp.Distinct(expressions=[
            exp.Case(ifs=[exp.If(this=exp.and_(rows.copy(), is_id.copy()), true=key)])])),
        "unnamed": exp.CountIf(this=exp.and_(rows.copy(), exp.not_(is_id.copy()))),
    }
    total = exp.Add(this=exp.func("coalesce", exp.column("friends"), exp.Literal.number(0)),
                    expression=exp.func("coalesce", exp.column("unnamed"), exp.Literal.number(0)))
    predicate = count_matches(total, Count.of(p))
    if p.young_contacts != "wait" or window.width is None:
        return SqlForm(predicate, aggregates)
    ripe, unread = old_enough(window.width)
    # The age only matters where the count matches: elsewhere the answer is no either way.
    return SqlForm(exp.and_(exp.paren(ripe), exp.paren(predicate)), aggregates,
                   exp.and_(unread, exp.paren(predicate.copy())))


REFERRAL = ConditionType(
    name="referral",
    label="Referred friends",
    description=(
        "Referred friends (distinct referee_id), invited or converted, compared as a count "
        "(min_count / max_count / exactly; none given means at least 1) in a window. "
        "'exactly: 0' with no window is 'never referred anyone'."
    ),
    category=CATEGORY,
    params=ReferralParams,
    compile=_compile_referral,
    reads=lambda p: Reads(
        events=frozenset({f"referral.{p.status}"}),
        lookback=Window.of(p).lookback,
        attributes=young_reads(p.young_contacts),
    ),
    describe=lambda p: (f"referred friends ({p.status}) {describe_count(p)} "
                        f"{describe_window(p)}"),
    bulk_compile=_sql_referral,
    examples=(
        {"status": "invited", "min_count": 3, "within": "30d"},
        {"status": "converted", "min_count": 1},
        {"status": "invited", "exactly": 0},
    ),
)


class ReferredByParams(ParamsModel):
    """The contact was referred by someone (or by one given referrer)."""

    referrer_id: Annotated[str, Field(min_length=1, max_length=256)] | None = Field(
        default=None, description="Only if referred by this contact (default: by anyone).")


def _compile_referred_by(p: ReferredByParams) -> Predicate:
    wanted = p.referrer_id

    def referred_by(view: ContactView, now: datetime) -> Result:
        value = view.attributes.get("referred_by")
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            return False, None
        return (wanted is None or str(value) == wanted), None

    return referred_by


def _sql_referred_by(p: ReferredByParams) -> SqlForm:
    from sqlglot import exp

    from growthos_segments.kit.sql import SqlForm, json_at, text_of
    from growthos_segments.kit.sql_email import plain_id

    value = json_at(("attributes", "referred_by"))
    is_id, _ = plain_id(value)
    if p.referrer_id is None:
        return SqlForm(is_id)
    # str() of an integer is its digits, which is how JSON writes it.
    wanted = exp.EQ(this=text_of(value.copy()), expression=exp.Literal.string(p.referrer_id))
    return SqlForm(exp.and_(is_id, wanted))


REFERRED_BY = ConditionType(
    name="referred_by",
    label="Was referred",
    description=(
        "The contact was referred by someone: attributes.referred_by holds a referrer id "
        "(optionally a given one). Missing, null, empty or non-id values mean not referred."
    ),
    category=CATEGORY,
    params=ReferredByParams,
    compile=_compile_referred_by,
    reads=lambda p: Reads(attributes=frozenset({"attributes.referred_by"})),
    describe=lambda p: "referred by " + (repr(p.referrer_id) if p.referrer_id else "someone"),
    bulk_compile=_sql_referred_by,
    examples=({}, {"referrer_id": "c42"}),
)

CONDITION_TYPES: tuple[ConditionType[Any], ...] = (REFERRAL, REFERRED_BY)


@hookimpl
def register_condition_types(register: Callable[..., None]) -> None:
    register(*CONDITION_TYPES)
