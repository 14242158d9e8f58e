"""Email engagement conditions.

Reads the ``email.<action>`` events of the contact document (``sent``,
``delivered``, ``opened``, ``clicked``, ``bounced``, ``unsubscribed``,
``complained``, ``converted``) with the properties ``campaign_id``, ``url``
(clicks) and ``device`` (opens and clicks).

Missing data, everywhere in this family:

- an event without a ``campaign_id`` never matches a campaign filter (it cannot
  be credited to one), but counts when no campaign is asked for;
- a click without a string ``url`` matches neither ``contains`` nor
  ``not_contains``: "clicked a URL that does not contain X" needs a URL;
- an open without ``device`` is on device ``"unknown"``;
- a contact with no events at all has a count of 0 (so "has not" conditions
  match it; see ``young_contacts`` for contacts younger than the window).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from growthos_segments.core.timeutil import UTC, parse_duration, zone
from growthos_segments.kit import ConditionType, ContactView, Event, Predicate, Reads, Result, hookimpl
from growthos_segments.kit.counts import Count, CountWindowFields, count_result
from growthos_segments.kit.occurrences import OccurrenceFields, occurrence_of, occurrence_result
from growthos_segments.kit.params import Duration, IdOrIds, NonNegInt, ParamsModel
from growthos_segments.kit.rechecks import first_change, merged, sweep
from growthos_segments.kit.selection import Selector, id_filter
from growthos_segments.kit.windows import ALL_HISTORY, Window
from growthos_segments.kit.wording import (
    describe_ages,
    describe_count,
    describe_ids,
    describe_window,
)
from growthos_segments.kit.young import young_reads

if TYPE_CHECKING:
    from sqlglot import exp

    from growthos_segments.kit.sql import SqlForm
    from growthos_segments.kit.sql_events import Selection

EmailAction = Literal[
    "sent", "delivered", "opened", "clicked", "bounced", "unsubscribed", "complained", "converted"
]
CATEGORY = "email"
_CAMPAIGN = "campaign_id"


def _campaign_field() -> Any:
    return Field(
        default=None,
        description="Only this campaign, or any of these campaigns (default: any campaign).",
    )


def _selector(action: str, campaign: str | Sequence[str] | None, extra: Any = None,
              keep: Callable[[Event], bool] | None = None) -> Selector:
    """Events of one action, filtered by campaign and then by ``keep`` (keyed by ``extra``)."""
    by_campaign, campaign_key = id_filter(_CAMPAIGN, campaign)
    if by_campaign is None and keep is None:
        return Selector.make([f"email.{action}"])
    if by_campaign is not None and keep is not None:
        first, second = by_campaign, keep

        def both(event: Event) -> bool:
            return first(event) and second(event)

        return Selector.make([f"email.{action}"], both, [campaign_key, extra])
    only = by_campaign or keep
    return Selector.make([f"email.{action}"], only, [campaign_key, extra])


def _reads(actions: Sequence[str], lookback: timedelta | None,
           attributes: frozenset[str] = frozenset()) -> Reads:
    return Reads(
        events=frozenset(f"email.{a}" for a in actions),
        lookback=lookback,
        attributes=attributes,
    )


def _rows(action: str, campaign: str | Sequence[str] | None) -> exp.Expression:
    """SQL: the event rows :func:`_selector` picks by name and campaign."""
    # kit.sql (and sqlglot) load on the analytical path only: no function's cold start pays for them.
    from sqlglot import exp

    from growthos_segments.kit.sql_events import ids_match, names_match

    name = names_match([f"email.{action}"])
    return name if campaign is None else exp.and_(name, ids_match(_CAMPAIGN, campaign))


def _selection(action: str, campaign: str | Sequence[str] | None) -> Selection:
    from growthos_segments.kit.sql_events import Selection

    return Selection(_rows(action, campaign))


# --------------------------------------------------------------------------- email


class _EmailTarget(ParamsModel):
    # A base listed last so that its fields come first in the schema and normal form.
    action: EmailAction = Field(description="The email event: email.<action>.")
    campaign_id: IdOrIds | None = _campaign_field()


class EmailParams(CountWindowFields, _EmailTarget):
    """Did (or did not) do an email action, how many times, in which window."""


def _compile_email(p: EmailParams) -> Predicate:
    return count_result(_selector(p.action, p.campaign_id), Window.of(p), Count.of(p),
                        p.young_contacts)


def _describe_email(p: EmailParams) -> str:
    return (f"email {p.action} {describe_count(p)} {describe_window(p)}"
            f"{describe_ids('campaign', p.campaign_id)}")


def _sql_email(p: EmailParams) -> SqlForm | None:
    from growthos_segments.kit.sql_events import count_form

    return count_form(_selection(p.action, p.campaign_id), Window.of(p), Count.of(p), p.young_contacts)


EMAIL = ConditionType(
    name="email",
    label="Email action count",
    description=(
        "Has (or has not) done an email action, optionally for one or several campaigns, "
        "compared as a count (min_count / max_count / exactly; none given means at least 1) "
        "in a window (within, between, or ever). 'exactly: 0' is 'has not'."
    ),
    category=CATEGORY,
    params=EmailParams,
    compile=_compile_email,
    reads=lambda p: _reads([p.action], Window.of(p).lookback, young_reads(p.young_contacts)),
    describe=_describe_email,
    bulk_compile=_sql_email,
    examples=(
        {"action": "opened", "min_count": 3, "within": "30d"},
        {"action": "clicked", "campaign_id": ["cmp_q4", "cmp_bf"], "min_count": 1},
        {"action": "opened", "exactly": 0, "within": "14d", "young_contacts": "wait"},
        {"action": "opened", "min_count": 2, "max_count": 5,
         "between": ["2026-11-01", "2026-11-30"]},
    ),
)


# --------------------------------------------------------------------------- email_last


class EmailLastParams(OccurrenceFields, _EmailTarget):
    """When the contact last did an email action."""

    @model_validator(mode="after")
    def _needs_timing(self) -> Self:
        if self.within is None and self.older_than is None:
            raise ValueError("give 'within' (last one recent) and/or 'older_than' (last one old)")
        return self


def _compile_email_last(p: EmailLastParams) -> Predicate:
    selector = _selector(p.action, p.campaign_id)
    occurrence = occurrence_of(p)

    def email_last(view: ContactView, now: datetime) -> Result:
        return occurrence_result(selector.series(view).times, occurrence, now)

    return email_last


def _describe_email_last(p: EmailLastParams) -> str:
    parts = describe_ages(p)
    never = " (or never)" if p.include_never else ""
    return (f"last email {p.action}{describe_ids('campaign', p.campaign_id)} "
            f"{' and '.join(parts)}{never}")


def _sql_email_last(p: EmailLastParams) -> SqlForm | None:
    from growthos_segments.kit.sql_events import occurrence_form

    return occurrence_form(_selection(p.action, p.campaign_id), occurrence_of(p))


EMAIL_LAST = ConditionType(
    name="email_last",
    label="Last email action",
    description=(
        "The most recent email action (e.g. last open) happened within a duration, or at "
        "least a duration ago (older_than), or between the two. A contact who never did it "
        "does not match unless include_never is true."
    ),
    category=CATEGORY,
    params=EmailLastParams,
    compile=_compile_email_last,
    reads=lambda p: _reads([p.action], occurrence_of(p).lookback()),
    describe=_describe_email_last,
    bulk_compile=_sql_email_last,
    examples=(
        {"action": "opened", "within": "7d"},
        {"action": "clicked", "older_than": "30d"},
        {"action": "clicked", "older_than": "30d", "include_never": True},
    ),
)


# --------------------------------------------------------------------------- email_click_url


class _UrlTarget(ParamsModel):
    contains: Annotated[str, Field(min_length=1, max_length=2048)] | None = Field(
        default=None, description="The clicked URL contains this text.")
    not_contains: Annotated[str, Field(min_length=1, max_length=2048)] | None = Field(
        default=None, description="The clicked URL does not contain this text.")
    case_insensitive: bool = Field(default=False, description="Compare ignoring case.")
    campaign_id: IdOrIds | None = _campaign_field()

    @model_validator(mode="after")
    def _one_text(self) -> Self:
        if (self.contains is None) == (self.not_contains is None):
            raise ValueError("give exactly one of 'contains' and 'not_contains'")
        return self


class EmailClickUrlParams(CountWindowFields, _UrlTarget):
    """Clicked a link whose URL does (or does not) contain a string."""


def _url_keep(p: EmailClickUrlParams) -> Callable[[Event], bool]:
    wanted = p.contains is not None
    needle = p.contains if p.contains is not None else p.not_contains
    assert needle is not None
    fold = p.case_insensitive
    if fold:
        needle = needle.casefold()

    def keep(event: Event) -> bool:
        url = event.properties.get("url")
        if not isinstance(url, str):
            return False
        return ((needle in url.casefold()) if fold else (needle in url)) is wanted

    return keep


def _compile_click_url(p: EmailClickUrlParams) -> Predicate:
    extra = {"contains": p.contains, "not_contains": p.not_contains, "fold": p.case_insensitive}
    selector = _selector("clicked", p.campaign_id, extra, _url_keep(p))
    return count_result(selector, Window.of(p), Count.of(p), p.young_contacts)


def _sql_click_url(p: EmailClickUrlParams) -> SqlForm | None:
    """Ignoring case, a click whose URL goes beyond ASCII leaves the contact to the
    per-contact path (SQL's ``lower()`` is ``casefold()`` on ASCII only)."""
    from sqlglot import exp

    from growthos_segments.kit.sql import false_if_null, is_kind, json_at
    from growthos_segments.kit.sql_email import text_contains
    from growthos_segments.kit.sql_events import EVENT_PROPERTIES, Selection, count_form

    url = json_at(("url",), EVENT_PROPERTIES)
    needle = p.contains if p.contains is not None else p.not_contains
    assert needle is not None  # validated: exactly one of the two
    found, wide = text_contains(url, needle, p.case_insensitive)
    if p.contains is None:  # a URL that does not contain it, still a URL
        found = exp.and_(is_kind(url.copy(), "VARCHAR"), exp.not_(false_if_null(found)))
        if wide is not None:
            found = exp.and_(exp.not_(wide.copy()), found)
    rows = _rows("clicked", p.campaign_id)
    selection = Selection(exp.and_(rows, false_if_null(found)),
                          None if wide is None else exp.and_(rows.copy(), wide))
    return count_form(selection, Window.of(p), Count.of(p), p.young_contacts)


def _describe_click_url(p: EmailClickUrlParams) -> str:
    text = f"containing {p.contains!r}" if p.contains else f"not containing {p.not_contains!r}"
    return (f"clicked a URL {text} {describe_count(p)} {describe_window(p)}"
            f"{describe_ids('campaign', p.campaign_id)}")


EMAIL_CLICK_URL = ConditionType(
    name="email_click_url",
    label="Clicked URL",
    description=(
        "Clicked a link whose URL contains (or does not contain) a string, for a campaign or "
        "any, with a count and window like 'email'. 'not_contains' means a click on some "
        "other URL; for 'never clicked a URL containing X' use contains with exactly 0. "
        "Clicks without a URL match neither."
    ),
    category=CATEGORY,
    params=EmailClickUrlParams,
    compile=_compile_click_url,
    reads=lambda p: _reads(["clicked"], Window.of(p).lookback, young_reads(p.young_contacts)),
    describe=_describe_click_url,
    bulk_compile=_sql_click_url,
    examples=(
        {"contains": "/pricing", "within": "30d"},
        {"not_contains": "unsubscribe", "campaign_id": "cmp_q4", "min_count": 2},
        {"contains": "/pricing", "exactly": 0, "within": "30d"},
    ),
)


# --------------------------------------------------------------------------- email_device

Device = Literal["mobile", "desktop", "tablet", "unknown"]


class _DeviceTarget(ParamsModel):
    device: Device = Field(description="Device class; 'unknown' is an event without a device.")
    action: Literal["opened", "clicked"] = "opened"
    campaign_id: IdOrIds | None = _campaign_field()


class EmailDeviceParams(CountWindowFields, _DeviceTarget):
    """Opens (or clicks) on one kind of device, counted in a window."""


def _device_keep(device: str) -> Callable[[Event], bool]:
    if device == "unknown":

        def unknown(event: Event) -> bool:
            value = event.properties.get("device")
            return not (isinstance(value, str) and value.strip())

        return unknown

    def on_device(event: Event) -> bool:
        value = event.properties.get("device")
        return isinstance(value, str) and value.strip().lower() == device

    return on_device


def _sql_device(p: EmailDeviceParams) -> SqlForm | None:
    from sqlglot import exp

    from growthos_segments.kit.sql import json_at
    from growthos_segments.kit.sql_email import device_is
    from growthos_segments.kit.sql_events import EVENT_PROPERTIES, Selection, count_form

    on_device = device_is(json_at(("device",), EVENT_PROPERTIES), p.device)
    selection = Selection(exp.and_(_rows(p.action, p.campaign_id), on_device))
    return count_form(selection, Window.of(p), Count.of(p), p.young_contacts)


def _compile_device(p: EmailDeviceParams) -> Predicate:
    selector = _selector(p.action, p.campaign_id, {"device": p.device}, _device_keep(p.device))
    return count_result(selector, Window.of(p), Count.of(p), p.young_contacts)


EMAIL_DEVICE = ConditionType(
    name="email_device",
    label="Email device",
    description=(
        "Opened (or clicked) on mobile / desktop / tablet, counted per device with a count "
        "and window like 'email'. The event property 'device' is compared ignoring case; an "
        "event without one is on 'unknown'."
    ),
    category=CATEGORY,
    params=EmailDeviceParams,
    compile=_compile_device,
    reads=lambda p: _reads([p.action], Window.of(p).lookback, young_reads(p.young_contacts)),
    describe=lambda p: (f"email {p.action} on {p.device} {describe_count(p)} "
                        f"{describe_window(p)}{describe_ids('campaign', p.campaign_id)}"),
    bulk_compile=_sql_device,
    examples=(
        {"device": "mobile", "within": "30d"},
        {"device": "desktop", "action": "clicked", "min_count": 3, "within": "90d"},
        {"device": "mobile", "exactly": 0},
    ),
)


# --------------------------------------------------------------------------- email_last_open_device


class LastOpenDeviceParams(ParamsModel):
    """The device of the contact's most recent open."""

    device: Device = Field(description="Device class of the last open; 'unknown' is an open without one.")
    within: Duration | None = Field(
        default=None,
        description="The last open must also be in the last duration (default: the last open ever).",
    )


def _compile_last_open_device(p: LastOpenDeviceParams) -> Predicate:
    opens = _selector("opened", None)
    on_device = _device_keep(p.device)
    width = parse_duration(p.within) if p.within else None

    def last_open_device(view: ContactView, now: datetime) -> Result:
        series = opens.series(view)
        times = series.times

        def at(moment: datetime) -> bool:
            upper = bisect_right(times, moment)
            if not upper:
                return False
            latest = times[upper - 1]
            if width is not None and latest <= moment - width:
                return False
            # Opens at the same microsecond are all the last one: any of them on the device is enough.
            return any(on_device(event) for event in series.events[bisect_left(times, latest):upper])

        # The answer changes only when an open stamped after now arrives, or when the last
        # open leaves the window; an arrival leaves the window too, so those are the candidates.
        match = at(now)
        upper = bisect_right(times, now)
        arrivals = times[upper:]
        leaving: list[datetime] = []
        if width is not None:
            leaving = [moment + width for moment in times[max(upper - 1, 0):]]
        return match, first_change(match, merged(arrivals, leaving), at, now)

    return last_open_device


def _sql_last_open_device(p: LastOpenDeviceParams) -> SqlForm:
    """The newest open by NOW (in the window) and the newest of those on the device are at the
    same microsecond: then one of the opens tied as the last one is on the device."""
    from sqlglot import exp

    from growthos_segments.kit.sql import SqlForm, false_if_null, json_at
    from growthos_segments.kit.sql_email import device_is
    from growthos_segments.kit.sql_events import EVENT_PROPERTIES, happened, last_at, since

    rows = exp.and_(_rows("opened", None), happened())
    if p.within:
        rows = exp.and_(rows, since(parse_duration(p.within)))
    on_device = exp.and_(rows.copy(), device_is(json_at(("device",), EVENT_PROPERTIES), p.device))
    aggregates = {"lod_last": last_at(rows), "lod_on": last_at(on_device)}
    return SqlForm(false_if_null(exp.EQ(this=exp.column("lod_on"), expression=exp.column("lod_last"))),
                   aggregates)


def _describe_last_open_device(p: LastOpenDeviceParams) -> str:
    window = f" in the last {p.within}" if p.within else ""
    return f"last email open{window} on {p.device}"


EMAIL_LAST_OPEN_DEVICE = ConditionType(
    name="email_last_open_device",
    label="Last opened device",
    description=(
        "The contact's most recent email open (email.opened at or before now) was on mobile / "
        "desktop / tablet / unknown; with 'within', that open must also be in the last duration. "
        "The property 'device' is read as in email_device (ignoring case and surrounding spaces; "
        "an open without one is on 'unknown'). Opens at the same instant are all the last one: "
        "any of them on the device is enough. A contact who never opened does not match."
    ),
    category=CATEGORY,
    params=LastOpenDeviceParams,
    compile=_compile_last_open_device,
    reads=lambda p: _reads(["opened"], parse_duration(p.within) if p.within else ALL_HISTORY),
    describe=_describe_last_open_device,
    bulk_compile=_sql_last_open_device,
    examples=(
        {"device": "mobile"},
        {"device": "desktop", "within": "90d"},
    ),
)


# --------------------------------------------------------------------------- email_opened_not_clicked


class OpenedNotClickedParams(ParamsModel):
    """Opened a campaign but did not click it, judged once enough time has passed."""

    campaign_id: IdOrIds | None = _campaign_field()
    after_send: Duration | None = Field(
        default=None,
        description="Only judge a send once this long has passed since it (default: at once).",
    )
    sent_within: Duration | None = Field(
        default=None, description="Only sends in this sliding window count (default: any send)."
    )

    @model_validator(mode="after")
    def _sane_waits(self) -> Self:
        if (
            self.after_send is not None
            and self.sent_within is not None
            and parse_duration(self.after_send) >= parse_duration(self.sent_within)
        ):
            raise ValueError("'after_send' must be shorter than 'sent_within' or nothing can match")
        return self


def _by_campaign(series_events: Sequence[Event]) -> dict[str, list[datetime]]:
    grouped: dict[str, list[datetime]] = {}
    for event in series_events:
        campaign = event.properties.get(_CAMPAIGN)
        if isinstance(campaign, str):
            grouped.setdefault(campaign, []).append(event.at)
    return grouped


def _compile_opened_not_clicked(p: OpenedNotClickedParams) -> Predicate:
    sends, opens, clicks = (_selector(a, p.campaign_id) for a in ("sent", "opened", "clicked"))
    wait = parse_duration(p.after_send) if p.after_send else timedelta(0)
    width = parse_duration(p.sent_within) if p.sent_within else None
    open_key, click_key = ("email_onc", opens.key), ("email_onc", clicks.key)

    def opened_not_clicked(view: ContactView, now: datetime) -> Result:
        sent = sends.series(view)
        if not sent.times:
            return False, None
        opened = view.memo(open_key, lambda: _by_campaign(opens.series(view).events))
        clicked = view.memo(click_key, lambda: _by_campaign(clicks.series(view).events))
        # Each send qualifies on one interval of time: from when it is both old
        # enough and opened, until it is clicked or leaves the send window. The
        # condition is the union of those intervals, so both the answer and the
        # instant it changes follow from them exactly.
        spans: list[tuple[datetime, datetime | None]] = []
        first = 0 if width is None else bisect_right(sent.times, now - width)
        for send in sent.events[first:]:
            campaign = send.properties.get(_CAMPAIGN)
            if not isinstance(campaign, str):
                continue
            open_at = _first_at_or_after(opened.get(campaign), send.at)
            if open_at is None:
                continue
            start = max(send.at + wait, open_at)
            stop = _first_at_or_after(clicked.get(campaign), send.at)
            if width is not None and (stop is None or send.at + width < stop):
                stop = send.at + width
            if stop is None or start < stop:
                spans.append((start, stop))
        return _union_at(spans, now)

    return opened_not_clicked


def _first_at_or_after(times: list[datetime] | None, start: datetime) -> datetime | None:
    if not times:
        return None
    index = bisect_left(times, start)
    return times[index] if index < len(times) else None


def _union_at(spans: list[tuple[datetime, datetime | None]], now: datetime) -> Result:
    """Is ``now`` inside the union of half-open spans, and when does that change?"""
    covering = [stop for start, stop in spans if start <= now and (stop is None or now < stop)]
    if not covering:
        later = [start for start, _ in spans if start > now]
        return False, (min(later) if later else None)
    if any(stop is None for stop in covering):
        return True, None
    end = max(stop for stop in covering if stop is not None)
    extended = True
    while extended:  # spans that start before the covered stretch ends extend it
        extended = False
        for start, stop in spans:
            if start <= end and (stop is None or stop > end):
                if stop is None:
                    return True, None
                end, extended = stop, True
    return True, end


def _sql_opened_not_clicked(p: OpenedNotClickedParams) -> SqlForm:
    """Some send judged at NOW (old enough, in the send window) has an open of its campaign
    at or after it and no click of it since: the union of spans the predicate builds holds
    NOW exactly when such a send exists (every bound of a span is one of these instants)."""
    from sqlglot import exp

    from growthos_segments.kit.sql import SqlForm
    from growthos_segments.kit.sql_email import any_of, campaign_times, field
    from growthos_segments.kit.sql_events import aged, happened, since

    sent = [_rows("sent", p.campaign_id), happened()]
    later = [happened()]  # opens and clicks that can follow a send judged at NOW
    if p.after_send:
        sent.append(aged(parse_duration(p.after_send)))
    if p.sent_within:
        sent.append(since(parse_duration(p.sent_within)))
        later.append(since(parse_duration(p.sent_within)))
    aggregates = {
        "onc_sends": campaign_times(exp.and_(*sent)),
        "onc_opens": campaign_times(exp.and_(_rows("opened", p.campaign_id), *later)),
        "onc_clicks": campaign_times(exp.and_(_rows("clicked", p.campaign_id), *(t.copy() for t in later))),
    }

    def after_send(variable: str) -> exp.Expression:
        return exp.and_(exp.EQ(this=field(variable, "c"), expression=field("onc_s", "c")),
                        exp.GTE(this=field(variable, "t"), expression=field("onc_s", "t")))

    judged = exp.and_(any_of(exp.column("onc_opens"), "onc_o", after_send("onc_o")),
                      exp.not_(any_of(exp.column("onc_clicks"), "onc_k", after_send("onc_k"))))
    return SqlForm(any_of(exp.column("onc_sends"), "onc_s", judged), aggregates)


def _describe_onc(p: OpenedNotClickedParams) -> str:
    wait = f", at least {p.after_send} after the send" if p.after_send else ""
    window = f", sent in the last {p.sent_within}" if p.sent_within else ""
    return f"opened but did not click{describe_ids('campaign', p.campaign_id)}{wait}{window}"


EMAIL_OPENED_NOT_CLICKED = ConditionType(
    name="email_opened_not_clicked",
    label="Opened but did not click",
    description=(
        "For some send (email.sent) of the campaign(s): at least after_send has passed since "
        "it, the contact opened that campaign after the send, and has not clicked it since the "
        "send. Each send is judged on its own, so a resend starts afresh. A campaign with no "
        "recorded send never matches; opens/clicks without campaign_id are ignored."
    ),
    category=CATEGORY,
    params=OpenedNotClickedParams,
    compile=_compile_opened_not_clicked,
    reads=lambda p: _reads(
        ["sent", "opened", "clicked"],
        parse_duration(p.sent_within) if p.sent_within else ALL_HISTORY,
    ),
    describe=_describe_onc,
    bulk_compile=_sql_opened_not_clicked,
    examples=(
        {"campaign_id": "cmp_q4", "after_send": "3d"},
        {"after_send": "2d", "sent_within": "30d"},
    ),
)


# --------------------------------------------------------------------------- email_opened_last_sent


class OpenedLastSentParams(ParamsModel):
    """Opened the most recent email sent to the contact; there is nothing to configure."""


def _compile_opened_last_sent(p: OpenedLastSentParams) -> Predicate:
    sends, opens = _selector("sent", None), _selector("opened", None)
    open_key = ("email_onc", opens.key)  # the same grouping email_opened_not_clicked memoises

    def opened_last_sent(view: ContactView, now: datetime) -> Result:
        sent = sends.series(view)
        if not sent.times:
            return False, None
        opened = view.memo(open_key, lambda: _by_campaign(opens.series(view).events))

        def at(moment: datetime) -> bool:
            upper = bisect_right(sent.times, moment)
            if not upper:
                return False
            latest = sent.times[upper - 1]
            for send in sent.events[bisect_left(sent.times, latest):upper]:
                campaign = send.properties.get(_CAMPAIGN)
                if isinstance(campaign, str):
                    open_at = _first_at_or_after(opened.get(campaign), latest)
                    if open_at is not None and open_at <= moment:
                        return True
            return False

        # Nothing here depends on a window: the answer only changes when a send or
        # an open stamped after now arrives, so those are the only candidates.
        match = at(now)
        open_times = opens.series(view).times
        arrivals = merged(sent.times[bisect_right(sent.times, now):],
                          open_times[bisect_right(open_times, now):])
        return match, first_change(match, arrivals, at, now)

    return opened_last_sent


def _sql_opened_last_sent(p: OpenedLastSentParams) -> SqlForm:
    """The newest send by NOW (every send at that microsecond) has an open of its campaign
    between it and NOW."""
    from sqlglot import exp

    from growthos_segments.kit.sql import SqlForm
    from growthos_segments.kit.sql_email import any_of, campaign_times, field
    from growthos_segments.kit.sql_events import happened, last_at

    sent, opened = exp.and_(_rows("sent", None), happened()), exp.and_(_rows("opened", None), happened())
    aggregates = {"ols_latest": last_at(sent), "ols_sends": campaign_times(sent.copy()),
                  "ols_opens": campaign_times(opened)}
    latest = exp.column("ols_latest")
    opened_since = exp.and_(exp.EQ(this=field("ols_o", "c"), expression=field("ols_s", "c")),
                            exp.GTE(this=field("ols_o", "t"), expression=latest.copy()))
    newest = exp.and_(exp.EQ(this=field("ols_s", "t"), expression=latest.copy()),
                      any_of(exp.column("ols_opens"), "ols_o", opened_since))
    return SqlForm(any_of(exp.column("ols_sends"), "ols_s", newest), aggregates)


EMAIL_OPENED_LAST_SENT = ConditionType(
    name="email_opened_last_sent",
    label="Opened the most recent email",
    description=(
        "The contact opened the most recent email sent to them: the newest email.sent at or "
        "before now, and an email.opened of the same campaign_id at or after that send. Sends "
        "at the same instant are all the most recent (opening any of them is enough). A contact "
        "never sent an email does not match; a send or open without campaign_id cannot be "
        "matched to each other, so a newest send without one does not match."
    ),
    category=CATEGORY,
    params=OpenedLastSentParams,
    compile=_compile_opened_last_sent,
    reads=lambda p: _reads(["sent", "opened"], ALL_HISTORY),
    describe=lambda p: "opened the most recent email sent to them",
    bulk_compile=_sql_opened_last_sent,
    examples=({},),
)


# --------------------------------------------------------------------------- email_open_time

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Hour = Annotated[int, Field(ge=0, le=23, strict=True)]


class OpenTimeParams(ParamsModel):
    """When the contact usually opens email: the most common hour and weekday."""

    hours: tuple[Hour, Hour] | None = Field(
        default=None,
        description="Most common open hour lies in [from, to] (local, inclusive; 22-2 wraps).",
    )
    weekdays: Annotated[list[Weekday], Field(min_length=1, max_length=7)] | None = Field(
        default=None, description="Most common open weekday is one of these.")
    timezone: Annotated[str, Field(max_length=64)] | None = Field(
        default=None,
        description="IANA zone for local time; default: attributes.timezone, else UTC.",
    )
    within: Duration | None = Field(default=None, description="Only opens in the last duration.")
    min_opens: Annotated[NonNegInt, Field(ge=1)] = Field(
        default=1, description="Fewer opens than this in the window never match.")

    @model_validator(mode="after")
    def _something_to_test(self) -> Self:
        if self.hours is None and self.weekdays is None:
            raise ValueError("give 'hours' and/or 'weekdays'")
        if self.timezone is not None:
            zone(self.timezone)
        return self


def _hour_range(start: int, end: int) -> list[int]:
    """Inclusive local hours; a range whose start is after its end wraps past midnight."""
    if start <= end:
        return list(range(start, end + 1))
    return [*range(start, 24), *range(0, end + 1)]


def _contact_zone(view: ContactView, fixed: tzinfo | None) -> tzinfo:
    if fixed is not None:
        return fixed
    name = view.attributes.get("timezone")
    if isinstance(name, str):
        try:
            return zone(name)
        except ValueError:
            return UTC
    return UTC


_NEVER = 1 << 30  # "no number of departures can change this"


def _preference(counts: list[int], inside: list[bool]) -> tuple[bool, int]:
    """Is a most common slot inside the wanted set, and how many departures surely keep that?

    Each departure lowers one count by one, so the best inside slot and the best
    outside slot move at most one step per departure: that bounds how soon the
    answer can flip, and the sweep skips ahead by the bound.
    """
    best_in = best_out = 0
    for count, ok in zip(counts, inside, strict=True):
        if ok:
            best_in = max(best_in, count)
        else:
            best_out = max(best_out, count)
    if best_in and best_in >= best_out:  # ties qualify
        return True, (best_in - best_out if best_out else _NEVER)
    if not best_in:
        return False, _NEVER  # nothing inside, and departures cannot add any
    return False, best_out - best_in - 1


def _compile_open_time(p: OpenTimeParams) -> Predicate:
    selector = Selector.make(["email.opened"])
    fixed = zone(p.timezone) if p.timezone else None
    width = parse_duration(p.within) if p.within else None
    hour_set = None if p.hours is None else frozenset(_hour_range(*p.hours))
    hour_in = None if hour_set is None else [h in hour_set for h in range(24)]
    days = None if p.weekdays is None else frozenset(_WEEKDAYS.index(d) for d in p.weekdays)
    day_in = None if days is None else [d in days for d in range(7)]
    min_opens = p.min_opens

    def local_slots(view: ContactView, tz: tzinfo) -> list[tuple[int, int]]:
        def compute() -> list[tuple[int, int]]:
            out = []
            for event in selector.series(view).events:
                local = event.at.astimezone(tz)
                out.append((local.hour, local.weekday()))
            return out

        return view.memo(("email_open_time", str(tz)), compute)  # type: ignore[no-any-return]

    def decide(hours: list[int], weekdays: list[int], n: int) -> tuple[bool, int]:
        """(match, departures that surely leave the match unchanged)."""
        parts = [(n >= min_opens, n - min_opens if n >= min_opens else _NEVER)]
        if hour_in is not None:
            parts.append(_preference(hours, hour_in))
        if day_in is not None:
            parts.append(_preference(weekdays, day_in))
        if all(ok for ok, _ in parts):
            return True, min(skip for _, skip in parts)
        return False, max(skip for ok, skip in parts if not ok)

    def open_time(view: ContactView, now: datetime) -> Result:
        times = selector.series(view).times
        slots = local_slots(view, _contact_zone(view, fixed))
        upper = bisect_right(times, now)
        first = 0 if width is None else bisect_right(times, now - width)
        hours, weekdays = [0] * 24, [0] * 7
        for hour, day in slots[first:upper]:
            hours[hour] += 1
            weekdays[day] += 1
        n = upper - first
        match, skip = decide(hours, weekdays, n)
        if upper < len(times):
            total = [n]

            def apply(event: int, delta: int) -> None:
                hour, day = slots[event]
                hours[hour] += delta
                weekdays[day] += delta
                total[0] += delta

            return match, sweep(times, range(first, upper), range(upper, len(times)), width, apply,
                                lambda: decide(hours, weekdays, total[0])[0], match)
        if width is None:
            return match, None
        # Only departures, in time order: skip the ones that cannot flip the answer,
        # then test at the instant of the next one.
        index = first
        while index < upper:
            if skip >= _NEVER:
                return match, None
            stop = min(upper, index + skip)
            for i in range(index, stop):
                hour, day = slots[i]
                hours[hour] -= 1
                weekdays[day] -= 1
            n -= stop - index
            index = stop
            if index >= upper:
                break
            at = times[index]
            while index < upper and times[index] == at:
                hour, day = slots[index]
                hours[hour] -= 1
                weekdays[day] -= 1
                n -= 1
                index += 1
            now_match, skip = decide(hours, weekdays, n)
            if now_match != match:
                return match, at + width
        return match, None

    return open_time


_UTC_NAMES = ("UTC", "Z", "utc")
"""The spellings :func:`growthos_segments.core.timeutil.zone` reads as UTC itself."""


def _sql_open_time(p: OpenTimeParams) -> SqlForm:
    """Local time in the ``timezone`` param with Python's own offsets (exact in every zone
    it accepts; in a zone with daylight saving time, contacts with opens outside the years
    :data:`~growthos_segments.kit.sql_email.SPAN_COVERED` are left to the per-contact
    path). Without the param, contacts naming a zone other than UTC in
    ``attributes.timezone`` are left to the per-contact path (each could name any zone)."""
    from sqlglot import exp

    from growthos_segments.kit.sql import SqlForm, false_if_null, is_kind, json_at, text_of
    from growthos_segments.kit.sql_email import local_time, most_common_in
    from growthos_segments.kit.sql_events import count_matches, count_of, in_window

    window = Window(width=parse_duration(p.within)) if p.within else Window()
    rows = exp.and_(_rows("opened", None), in_window(window))
    local, outside = local_time(p.timezone or "UTC")
    aggregates = {"ot_n": count_of(rows)}
    enough = count_matches(exp.column("ot_n"), Count(p.min_opens, None))
    doubts = []  # without enough opens no zone can make it match: only those contacts are in doubt
    if outside is not None:
        aggregates["ot_outside"] = count_of(exp.and_(rows.copy(), outside))
        doubts.append(count_matches(exp.column("ot_outside"), Count(1, None)))
    tests = [enough]
    if p.hours is not None:
        aggregates["ot_hours"], test = most_common_in(
            rows, exp.Hour(this=local), range(24), set(_hour_range(*p.hours)), "ot_hours")
        tests.append(test)
    if p.weekdays is not None:  # ISO weekdays run from 1 (Monday), Python's from 0
        aggregates["ot_days"], test = most_common_in(
            rows, exp.DayOfWeekIso(this=local.copy()), range(1, 8),
            {_WEEKDAYS.index(day) + 1 for day in p.weekdays}, "ot_days")
        tests.append(test)
    if p.timezone is None:
        named = json_at(("attributes", "timezone"))
        doubts.append(false_if_null(exp.and_(is_kind(named, "VARCHAR"), exp.not_(exp.In(
            this=text_of(named.copy()), expressions=[exp.Literal.string(name) for name in _UTC_NAMES])))))
    undecided = exp.and_(exp.or_(*doubts), enough.copy()) if doubts else None
    return SqlForm(exp.and_(*tests), aggregates, undecided)


def _describe_open_time(p: OpenTimeParams) -> str:
    parts = []
    if p.hours is not None:
        parts.append(f"most common open hour between {p.hours[0]}:00 and {p.hours[1]}:59")
    if p.weekdays is not None:
        parts.append(f"most common open weekday in {', '.join(p.weekdays)}")
    window = f" in the last {p.within}" if p.within else ""
    return " and ".join(parts) + window


EMAIL_OPEN_TIME = ConditionType(
    name="email_open_time",
    label="Usual open time",
    description=(
        "The contact's most common email-open hour lies in a range, and/or their most common "
        "open weekday is one of a list, in local time (timezone param, else "
        "attributes.timezone, else UTC). Ties: it matches if any of the tied hours/days "
        "qualifies. No opens (or fewer than min_opens) never match."
    ),
    category=CATEGORY,
    params=OpenTimeParams,
    compile=_compile_open_time,
    reads=lambda p: _reads(
        ["opened"],
        parse_duration(p.within) if p.within else ALL_HISTORY,
        frozenset() if p.timezone else frozenset({"attributes.timezone"}),
    ),
    describe=_describe_open_time,
    bulk_compile=_sql_open_time,
    examples=(
        {"hours": [6, 11], "within": "90d", "min_opens": 3},
        {"weekdays": ["sat", "sun"], "timezone": "Europe/London"},
        {"hours": [22, 2], "weekdays": ["fri", "sat"], "within": "60d"},
    ),
)

CONDITION_TYPES: tuple[ConditionType[Any], ...] = (
    EMAIL,
    EMAIL_LAST,
    EMAIL_CLICK_URL,
    EMAIL_DEVICE,
    EMAIL_LAST_OPEN_DEVICE,
    EMAIL_OPENED_NOT_CLICKED,
    EMAIL_OPENED_LAST_SENT,
    EMAIL_OPEN_TIME,
)


@hookimpl
def register_condition_types(register: Callable[..., None]) -> None:
    register(*CONDITION_TYPES)
