"""SQL forms of the calendar value operators: ``last_days``, ``next_days`` and ``anniversary``.

They read what :mod:`growthos_segments.kit.operators` reads per contact, in the
test's zone ``tz``:

- *today* is the local date of the evaluation instant :data:`~growthos_segments.kit.sql.NOW`;
- the *value's day* is a date-only text taken as written (whatever the zone), a
  naive date-time's written date, or the local date of an instant (a date-time
  with ``Z`` or an offset, whole epoch seconds); other values have no day and
  match nothing, and spellings only Python's parser reads are undecided
  (:func:`~growthos_segments.kit.sql.instant_of`);
- ``last_days N``: today-N <= day <= today; ``next_days N``: today <= day <= today+N;
- ``anniversary``: the day's month and day recur, a Feb 29 on Feb 28 of other
  years, today / in today's ISO week (Monday to Sunday) / in today's month /
  exactly N days from today / from today to today+N, among the anniversaries of
  the year before today's to the year after.

Local dates come from the UTC offsets Python's own tz database gives
(:func:`~growthos_segments.kit.sql_email.zone_offsets`), not from the SQL engine's
zone data, which differs from Python's for some zones at some instants. A table
of every change of offset would make a query of tens of kilobytes per use, so
the zone's history is cut into at most two eras (:func:`eras`), each with its
least and greatest offset: an instant's local date is one of the dates those two
give it, and a row is answered in SQL when the test gives the same result for
every combination of the candidate days of the value and of today. They differ
only for instants near a local midnight, at the edge of what the test accepts:
those rows are undecided and the per-contact path decides them. The offsets are
known from :data:`~growthos_segments.core.limits.EARLIEST_INSTANT` to
``LATEST_INSTANT``: outside, in a zone other than UTC, a row is undecided, and
every row is when the instant of the evaluation is outside the latest era. A
naive date-time that falls in a gap of the local clock is moved forward by the
gap per contact, which changes its date where the gap crosses a midnight
(Kiritimati skipped 31 December 1994): those texts are undecided too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from functools import cache
from itertools import pairwise

from sqlglot import exp

from growthos_segments.core.limits import EARLIEST_INSTANT, LATEST_INSTANT
from growthos_segments.core.timeutil import zone
from growthos_segments.kit.operators import AnniversaryTest, CalendarDaysTest
from growthos_segments.kit.sql import NOW, SqlForm, instant_of, is_kind, text_of
from growthos_segments.kit.sql_email import zone_offsets
from growthos_segments.kit.sql_events import instant

__all__ = ["Era", "calendar_form", "eras"]

Era = tuple[datetime, timedelta, timedelta]
"""``(start, least offset, greatest offset)`` of the instants from ``start`` to the next era."""

_DATE = exp.DataType.build("DATE")
_TIMESTAMP = exp.DataType.build("TIMESTAMP")
_TIMESTAMPTZ = exp.DataType.build("TIMESTAMPTZ")
_AWARE_END = r"(Z|[+-][0-9]{2}:[0-9]{2})$"
"""How a text ``instant_of`` reads ends when it carries its offset (else it is a wall-clock
date or date-time: ``instant_of`` reads those as UTC, so as written)."""
_MICRO = timedelta(microseconds=1)
_WALLS = (datetime(1900, 1, 2), datetime(2199, 12, 31))
"""Naive date-times whose gaps :func:`zone_offsets` covers, whatever the zone's offset."""
_MODERN = datetime(2020, 1, 1, tzinfo=UTC)
_EPOCH_LIMIT = (9_999_999_999, 99_999_999_999)
"""The epoch seconds ``instant_of`` reads (ten digits before 1970, eleven after): SQL
converts them without overflowing."""
_CYCLE = 10_000
"""Above every month-and-day key (``mmdd``, at most 1231)."""

Test = Callable[[exp.Expression, exp.Expression], exp.Expression]


def calendar_form(test: CalendarDaysTest | AnniversaryTest, value: exp.Expression) -> SqlForm:
    """The form of one calendar test on a JSON value (see the module docstring)."""
    holds = _days_test(test) if isinstance(test, CalendarDaysTest) else _anniversary_test(test)
    read = instant_of(value, tz_is_utc=True)
    known = _not(exp.Is(this=read.moment, expression=exp.null()))
    periods = eras(test.tz)
    late = _any(exp.LT(this=NOW.copy(), expression=instant(periods[-1][0])),
                exp.GTE(this=NOW.copy(), expression=instant(LATEST_INSTANT)))
    text = text_of(value)
    on_the_wall = _all(is_kind(value, "VARCHAR"),
                       _not(exp.RegexpLike(this=text, expression=exp.Literal.string(_AWARE_END))))
    written = exp.TryCast(this=text_of(value), to=_TIMESTAMP.copy())
    if zone(test.tz) is UTC:
        utc = [(EARLIEST_INSTANT, timedelta(0), timedelta(0))]
        day = exp.Case(ifs=[exp.If(this=on_the_wall, true=exp.cast(written, _DATE.copy()))],
                       default=_local_days(_moment(value), utc)[0])
        today = _local_days(NOW.copy(), utc)[0]
        found = _all(known, _paren(holds(day, today)))
        return SqlForm(found, undecided=_any(read.undecided, late))
    days = [exp.Case(ifs=[exp.If(this=on_the_wall.copy(), true=exp.cast(written.copy(), _DATE.copy()))],
                     default=candidate) for candidate in _local_days(_moment(value), periods)]
    todays = _local_days(NOW.copy(), periods[-1:])
    first = holds(days[0].copy(), todays[0].copy())
    results = [_paren(exp.func("coalesce", holds(d.copy(), t.copy()), exp.false()))
               for d in days for t in todays]
    agreeing = exp.Add(this=_paren(exp.Add(this=_count(results[0]), expression=_count(results[1]))),
                       expression=_paren(exp.Add(this=_count(results[2]), expression=_count(results[3]))))
    split = _not(exp.In(this=_paren(agreeing), expressions=[exp.Literal.number(0), exp.Literal.number(4)]))
    apart = _any(_more_than_a_day(days), _more_than_a_day(todays))
    # Only where a candidate day differs are the combinations worth computing (CASE is lazy).
    ambiguous = _any(_not(exp.NullSafeEQ(this=days[0].copy(), expression=days[1].copy())),
                     exp.NEQ(this=todays[0].copy(), expression=todays[1].copy()))
    either = exp.Case(ifs=[exp.If(this=ambiguous, true=_any(split, apart))], default=exp.false())
    doubtful = _any(either, _off_the_table(value, test.tz, on_the_wall, written))
    unknown = _any(read.undecided, late, _all(known.copy(), _paren(doubtful)))
    return SqlForm(_all(known.copy(), _paren(first)), undecided=unknown)


@cache
def eras(name: str) -> tuple[Era, ...]:
    """Zone ``name``'s offsets from ``EARLIEST_INSTANT`` to ``LATEST_INSTANT`` as one or two
    eras: the latest is the longest stretch up to ``LATEST_INSTANT`` whose offsets stay
    between the least and the greatest offset in force since :data:`_MODERN` (the
    zone's standard and daylight saving time, or its one offset), the earlier one is
    the rest (its local mean time, wars, earlier rules)."""
    pieces = zone_offsets(name)
    modern = [offset for moment, offset in pieces if moment >= _MODERN]
    modern.append([offset for moment, offset in pieces if moment < _MODERN][-1])
    low, high = min(modern), max(modern)
    first = len(pieces) - 1
    while first > 0 and low <= pieces[first - 1][1] <= high:
        first -= 1
    latest = (pieces[first][0], low, high)
    if first == 0:
        return (latest,)
    earlier = [offset for _, offset in pieces[:first]]
    return (pieces[0][0], min(earlier), max(earlier)), latest


def _moment(value: exp.Expression) -> exp.Expression:
    """The instant of a JSON value that holds one with its offset (a date-time text with ``Z``
    or an offset, an integer of epoch seconds); other values give another instant or NULL,
    and the caller reads this only where ``instant_of`` found an instant with an offset."""
    seconds = exp.TryCast(this=text_of(value), to=exp.DataType.build("BIGINT"))
    convertible = exp.Between(this=seconds, low=exp.Literal.number(-_EPOCH_LIMIT[0]),
                              high=exp.Literal.number(_EPOCH_LIMIT[1]))
    return exp.Case(ifs=[
        exp.If(this=is_kind(value, "VARCHAR"), true=exp.TryCast(this=text_of(value), to=_TIMESTAMPTZ.copy())),
        exp.If(this=convertible, true=exp.Anonymous(this="to_timestamp", expressions=[seconds.copy()])),
    ])


def _local_days(moment: exp.Expression, periods: tuple[Era, ...] | list[Era]) -> list[exp.Expression]:
    """The two candidate local dates (DATE) of a TIMESTAMPTZ: with its era's least and its
    greatest offset (the latest era first: most values are recent)."""

    def dated(offset: timedelta) -> exp.Expression:
        utc = exp.AtTimeZone(this=moment.copy(), zone=exp.Literal.string("UTC"))
        seconds = exp.Literal.number(offset // timedelta(seconds=1))
        return exp.cast(exp.DateAdd(this=utc, expression=seconds, unit=exp.Var(this="SECOND")), _DATE.copy())

    candidates = []
    for pick in (1, 2):
        latest = periods[-1]
        if len(periods) == 1:
            candidates.append(dated(latest[pick]))
            continue
        ifs = [exp.If(this=exp.GTE(this=moment.copy(), expression=instant(era[0])), true=dated(era[pick]))
               for era in reversed(periods[1:])]
        candidates.append(exp.Case(ifs=ifs, default=dated(periods[0][pick])))
    return candidates


def _more_than_a_day(candidates: list[exp.Expression]) -> exp.Expression:
    """The two candidates are further apart than one day: the date between is possible too."""
    gap = exp.DateDiff(this=candidates[1].copy(), expression=candidates[0].copy(), unit=exp.Var(this="DAY"))
    return exp.GT(this=gap, expression=exp.Literal.number(1))


def _off_the_table(
    value: exp.Expression, name: str, on_the_wall: exp.Expression, written: exp.Expression
) -> exp.Expression:
    """An instant outside the years the offsets cover, or a naive date-time whose date the
    per-contact path may read otherwise (outside them, or in a gap crossing a midnight)."""
    moment = _moment(value)
    outside = _any(exp.LT(this=moment, expression=instant(EARLIEST_INSTANT)),
                   exp.GTE(this=moment.copy(), expression=instant(LATEST_INSTANT)))
    moved: list[exp.Expression] = [exp.LT(this=written.copy(), expression=_wall(_WALLS[0])),
                                   exp.GTE(this=written.copy(), expression=_wall(_WALLS[1]))]
    moved += [_all(exp.GTE(this=written.copy(), expression=_wall(start)),
                   exp.LT(this=written.copy(), expression=_wall(end)))
              for start, end in _date_moving_gaps(name)]
    with_time = exp.GT(this=exp.Length(this=text_of(value)), expression=exp.Literal.number(10))
    naive = _all(with_time, _paren(_any(*moved)))
    return exp.Case(ifs=[exp.If(this=on_the_wall.copy(), true=naive)], default=outside)


def _days_test(test: CalendarDaysTest) -> Test:
    def holds(day: exp.Expression, today: exp.Expression) -> exp.Expression:
        first, last = (today, day) if test.op == "next_days" else (day, today)
        gap = exp.DateDiff(this=last, expression=first, unit=exp.Var(this="DAY"))
        return exp.Between(this=gap, low=exp.Literal.number(0), high=exp.Literal.number(test.days))

    return holds


def _anniversary_test(test: AnniversaryTest) -> Test:
    """As ``AnniversaryTest``, with the value's day read once: its month-and-day key ``mmdd``
    falls in the window of days the period gives (a window crossing a new year wraps
    around; Feb 29 is in a window ending on Feb 28 of a year without one)."""

    def holds(day: exp.Expression, today: exp.Expression) -> exp.Expression:
        if test.period == "this_month":
            return exp.EQ(this=exp.Month(this=day), expression=exp.Month(this=today))
        days = test.days or 0
        if test.period == "this_week":
            first = exp.cast(exp.func("date_trunc", exp.Literal.string("week"), today, dialect="duckdb"),
                             _DATE.copy())
            last = _plus_days(first, 6)
        elif test.period == "within_days":
            first, last = today, _plus_days(today, days)
        else:
            first = today if test.period == "today" else _plus_days(today, days)
            last = first
        low = _key(first)
        ends_february = exp.EQ(this=_key(_plus_days(last, 1)), expression=exp.Literal.number(301))
        high = exp.Case(ifs=[exp.If(this=ends_february, true=exp.Literal.number(229))], default=_key(last))
        found: exp.Expression = exp.LTE(this=_after(_key(day), low), expression=_after(high, low))
        if test.period == "within_days" and days >= 365:  # the window may hold every month and day
            years = exp.Sub(this=exp.Year(this=last.copy()), expression=exp.Year(this=first.copy()))
            whole = _any(
                exp.GTE(this=years, expression=exp.Literal.number(2)),
                _all(exp.GT(this=years.copy(), expression=exp.Literal.number(0)),
                         exp.GTE(this=high.copy(), expression=low.copy())),
            )
            found = _any(_paren(whole), found)
        if test.period == "in_days":  # the anniversaries looked at are those of the next year at most
            ahead = exp.Sub(this=exp.Year(this=first.copy()), expression=exp.Year(this=today.copy()))
            found = _all(found, exp.LTE(this=ahead, expression=exp.Literal.number(1)))
        return found

    return holds


def _plus_days(day: exp.Expression, days: int) -> exp.Expression:
    later = exp.DateAdd(this=day.copy(), expression=exp.Literal.number(days), unit=exp.Var(this="DAY"))
    return exp.cast(later, _DATE.copy())


def _key(day: exp.Expression) -> exp.Expression:
    """``mmdd`` of a date as an integer (Feb 29 is 229)."""
    text = exp.TimeToStr(this=day.copy(), format=exp.Literal.string("%m%d"))
    return exp.cast(text, exp.DataType.build("INT"))


def _after(key: exp.Expression, start: exp.Expression) -> exp.Expression:
    """How far ``key`` comes after ``start`` around the cycle of keys (0 for ``start`` itself)."""
    ahead = exp.Add(this=exp.Sub(this=key, expression=start.copy()), expression=exp.Literal.number(_CYCLE))
    return exp.Mod(this=_paren(ahead), expression=exp.Literal.number(_CYCLE))


def _wall(moment: datetime) -> exp.Expression:
    return exp.cast(exp.Literal.string(moment.isoformat(sep=" ", timespec="microseconds")), _TIMESTAMP.copy())


@cache
def _date_moving_gaps(name: str) -> tuple[tuple[datetime, datetime], ...]:
    """The gaps of the local clock (naive, ``[start, end)``) in which Python's reading of a
    naive date-time (moved forward by the gap) lands on another date."""
    gaps = []
    for (_, before), (change, after) in pairwise(zone_offsets(name)):
        jump = after - before
        if jump <= timedelta(0):
            continue
        start = (change + before).replace(tzinfo=None)
        end = start + jump
        if datetime.combine((end - _MICRO + jump).date(), time()) > start:
            gaps.append((start, end))
    return tuple(gaps)


def _count(test: exp.Expression) -> exp.Expression:
    """1 where the test holds, else 0."""
    return exp.cast(test, exp.DataType.build("INT"))


def _all(*parts: exp.Expression) -> exp.Expression:
    """AND of parts built for this form alone (not copied: a form's trees are large)."""
    return exp.and_(*parts, copy=False)


def _any(*parts: exp.Expression) -> exp.Expression:
    return exp.or_(*parts, copy=False)


def _not(part: exp.Expression) -> exp.Expression:
    return exp.not_(part, copy=False)


def _paren(part: exp.Expression) -> exp.Expression:
    return exp.paren(part, copy=False)
