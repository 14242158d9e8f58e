"""SQL building blocks of the behavioural conditions: event selection, windows, aggregates.

A behavioural form (:class:`growthos_segments.kit.sql.SqlForm`) reads the
``events`` rows of a contact (``name``, ``"at"`` TIMESTAMPTZ, ``properties``
JSON) through per-contact aggregates computed in the compiler's single GROUP BY
pass, and tests them in its predicate. The pieces here give each part exactly
the meaning the per-contact kit gives it, so a form built from them answers at
the instant :data:`~growthos_segments.kit.sql.NOW` what the per-contact predicate
answers at ``now``:

- selection (:func:`selection_of`, :func:`names_match`, :func:`property_filter`,
  :func:`ids_match`) as :class:`growthos_segments.kit.selection.Selector` picks
  events: exact names or a ``ns.*`` namespace, ``where`` property filters with
  the value operators (a missing property as the operator table says), ids
  that are strings;
- windows (:func:`in_window`, :func:`happened`, :func:`since`, :func:`aged`) as
  :mod:`growthos_segments.kit.windows` reads them: ``within`` keeps
  ``NOW - width < at <= NOW``, ``between`` keeps ``start <= at < end`` (and
  ``at <= NOW``), and an event stamped after NOW has not happened yet;
- aggregates (:func:`count_of`, :func:`first_at`, :func:`last_at`,
  :func:`times_of`) and the tests on them (:func:`count_matches`,
  :func:`occurrence_matches`, :func:`followed_within`,
  :func:`not_followed_within`) as :mod:`growthos_segments.kit.counts`,
  :mod:`growthos_segments.kit.occurrences` and the sequence conditions decide;
- young contacts (:func:`old_enough`) as :mod:`growthos_segments.kit.young` does;
- whole forms of the two common shapes: :func:`count_form` (a count in a window)
  and :func:`occurrence_form` (when the first or last one happened).

Every aggregate filters its rows itself (``count_if(rows)``, ``FILTER (WHERE
rows)``) to the names and the time range the condition reads, so one GROUP BY
pass serves every condition of a rule. Instants are compared in whole microseconds (``at`` and NOW are
TIMESTAMPTZ; spans are INTERVALs of microseconds), as Python's datetimes are.

A property filter SQL cannot decide for some rows (a date spelled otherwise
than ISO's one spelling, text beyond ASCII compared ignoring case: see
:mod:`growthos_segments.kit.sql`) makes a :class:`Selection` with ``undecided``
rows; :func:`undecided_among` turns them into the form's ``undecided``: the
condition is unknown for that contact, which the per-contact path decides where
the unknown decides the rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlglot import exp

from growthos_segments.core.limits import EARLIEST_INSTANT, LATEST_INSTANT
from growthos_segments.kit.counts import Count
from growthos_segments.kit.occurrences import Occurrence
from growthos_segments.kit.selection import EventRef
from growthos_segments.kit.sql import (
    NOW,
    SqlForm,
    any_equal,
    false_if_null,
    instant_of,
    json_at,
    value_test_form,
)
from growthos_segments.kit.windows import ALL_HISTORY, Window
from growthos_segments.kit.young import AGE_ATTRIBUTES, YoungContacts

__all__ = [
    "EVENT_AT",
    "EVENT_NAME",
    "EVENT_PROPERTIES",
    "Selection",
    "aged",
    "ago",
    "count_form",
    "count_matches",
    "count_of",
    "first_at",
    "followed_within",
    "happened",
    "ids_match",
    "in_window",
    "instant",
    "last_at",
    "names_match",
    "not_followed_within",
    "occurrence_form",
    "occurrence_matches",
    "occurrence_rows",
    "old_enough",
    "property_filter",
    "selection_of",
    "since",
    "span",
    "times_of",
    "undecided_among",
]

EVENT_NAME = exp.column("name")
"""The event row's name."""
EVENT_AT = exp.column(exp.to_identifier("at", quoted=True))
"""The event row's instant (TIMESTAMPTZ, microseconds, UTC); quoted: ``at`` is a keyword."""
EVENT_PROPERTIES = exp.column("properties")
"""The event row's properties (a JSON object, or NULL: no properties)."""

_ZERO = exp.Literal.number(0)


# --------------------------------------------------------------------------- instants and spans


def instant(moment: datetime) -> exp.Expression:
    """A fixed instant as a TIMESTAMPTZ literal (exact to the microsecond)."""
    if moment.tzinfo is None:
        raise ValueError(f"an instant needs a time zone: {moment!r}")
    text = moment.astimezone(UTC).isoformat(timespec="microseconds")
    return exp.cast(exp.Literal.string(text), exp.DataType.build("TIMESTAMPTZ"))


def span(length: timedelta) -> exp.Expression:
    """A duration as an INTERVAL of whole microseconds (no calendar days or months,
    so adding it never depends on a time zone)."""
    micros = length // timedelta(microseconds=1)
    return exp.Anonymous(this="to_microseconds", expressions=[
        exp.cast(exp.Literal.number(micros), exp.DataType.build("BIGINT"))])


def ago(length: timedelta) -> exp.Expression:
    """``NOW - length``."""
    return exp.Sub(this=NOW.copy(), expression=span(length))


def since(length: timedelta) -> exp.Expression:
    """``"at" > NOW - length``: the row is younger than ``length`` at NOW (the open old
    end of a sliding window; it says nothing about rows after NOW)."""
    return exp.GT(this=EVENT_AT.copy(), expression=ago(length))


def aged(length: timedelta) -> exp.Expression:
    """``"at" <= NOW - length``: the row is at least ``length`` old at NOW (so it happened)."""
    return exp.LTE(this=EVENT_AT.copy(), expression=ago(length))


def happened() -> exp.Expression:
    """``"at" <= NOW``: the event has happened at NOW (a later stamp is still to come)."""
    return exp.LTE(this=EVENT_AT.copy(), expression=NOW.copy())


def in_window(window: Window) -> exp.Expression:
    """The row is in ``window`` at NOW, as :func:`growthos_segments.kit.counts.count_in_window`
    counts: ``NOW - width < at <= NOW``, or ``start <= at < end`` and ``at <= NOW``, or
    ``at <= NOW`` (ever)."""
    tests = [happened()]
    if window.width is not None:
        tests.append(since(window.width))
    elif window.start is not None:
        assert window.end is not None  # a fixed range has both ends
        tests.append(exp.GTE(this=EVENT_AT.copy(), expression=instant(window.start)))
        tests.append(exp.LT(this=EVENT_AT.copy(), expression=instant(window.end)))
    return exp.and_(*tests)


# --------------------------------------------------------------------------- selection


@dataclass(frozen=True, slots=True)
class Selection:
    """Which event rows a condition looks at.

    ``keep`` is true exactly for the rows the per-contact selector keeps and SQL
    decides (never NULL); ``undecided`` (``None``: no such row) is true for the rows
    whose property filter only the per-contact path can decide. A decided row is
    never undecided, so ``keep`` and ``undecided`` never hold together.
    """

    keep: exp.Expression
    undecided: exp.Expression | None = None

    def also(self, condition: exp.Expression) -> Selection:
        """The same selection restricted to rows where ``condition`` holds (e.g. a window)."""
        undecided = None if self.undecided is None else exp.and_(self.undecided.copy(), condition.copy())
        return Selection(exp.and_(self.keep.copy(), condition.copy()), undecided)


def names_match(names: Sequence[str]) -> exp.Expression:
    """The row's name is one of ``names``; ``ns.*`` is the namespace (names starting ``ns.``),
    as :meth:`growthos_segments.core.view.ContactView.events_named` reads it."""
    if not names:
        raise ValueError("a selection needs at least one event name")
    exact = sorted({name for name in names if not name.endswith(".*")})
    tests: list[exp.Expression] = []
    if exact:
        literals = [exp.Literal.string(name) for name in exact]
        tests.append(exp.EQ(this=EVENT_NAME.copy(), expression=literals[0]) if len(literals) == 1
                     else exp.In(this=EVENT_NAME.copy(), expressions=literals))
    for prefix in sorted({name[:-1] for name in names if name.endswith(".*")}):
        tests.append(exp.func("starts_with", EVENT_NAME.copy(), exp.Literal.string(prefix), dialect="duckdb"))
    return exp.or_(*tests) if len(tests) > 1 else tests[0]


def ids_match(prop: str, wanted: str | Sequence[str]) -> exp.Expression:
    """The row's property ``prop`` is a string among ``wanted``, as
    :func:`growthos_segments.kit.selection.id_filter` keeps events (a missing or
    non-string id never matches)."""
    ids = [wanted] if isinstance(wanted, str) else sorted(set(wanted))
    found = any_equal(json_at((prop,), EVENT_PROPERTIES), ids)
    assert found is not None  # string targets always have an exact form
    return false_if_null(found)


def property_filter(where: Mapping[str, Any] | None) -> Selection | None:
    """The ``where`` filters of an :class:`~growthos_segments.kit.selection.EventRef`
    (every one must hold), with the value operators' SQL forms on the (dotted)
    property; ``None`` when an operator has no exact SQL form.

    A row is kept when every filter is decided true; it is undecided when some
    filter is undecided there (the per-contact path then decides the contact).
    """
    if not where:
        return Selection(exp.true())
    keeps: list[exp.Expression] = []
    undecided: list[exp.Expression] = []
    for name, test in sorted(where.items()):
        form = value_test_form(test, json_at(tuple(name.split(".")), EVENT_PROPERTIES))
        if form is None:
            return None
        kept = false_if_null(form.predicate)
        if form.undecided is not None:
            doubt = false_if_null(form.undecided)
            undecided.append(doubt)
            kept = exp.and_(exp.not_(doubt.copy()), kept)
        keeps.append(kept)
    keep = exp.and_(*keeps) if len(keeps) > 1 else keeps[0]
    if not undecided:
        return Selection(keep)
    return Selection(keep, exp.or_(*undecided) if len(undecided) > 1 else undecided[0])


def selection_of(ref: EventRef) -> Selection | None:
    """The rows :meth:`EventRef.selector` selects (name and ``where``); ``None`` when a
    ``where`` operator has no exact SQL form."""
    found = property_filter(ref.where)
    if found is None:
        return None
    name = names_match([ref.name])
    if ref.where:
        return Selection(exp.and_(name, found.keep),
                         None if found.undecided is None else exp.and_(name.copy(), found.undecided))
    return Selection(name)


# --------------------------------------------------------------------------- aggregates


def _filtered(aggregate: exp.Expression, rows: exp.Expression) -> exp.Expression:
    return exp.Filter(this=aggregate, expression=exp.Where(this=rows.copy()))


def count_of(rows: exp.Expression) -> exp.Expression:
    """Aggregate: how many of the contact's rows satisfy ``rows`` (NULL without events)."""
    return exp.CountIf(this=rows.copy())


def first_at(rows: exp.Expression) -> exp.Expression:
    """Aggregate: the earliest ``at`` of the rows satisfying ``rows`` (NULL: none)."""
    return _filtered(exp.Min(this=EVENT_AT.copy()), rows)


def last_at(rows: exp.Expression) -> exp.Expression:
    """Aggregate: the latest ``at`` of the rows satisfying ``rows`` (NULL: none)."""
    return _filtered(exp.Max(this=EVENT_AT.copy()), rows)


def times_of(rows: exp.Expression) -> exp.Expression:
    """Aggregate: the list of ``at`` of the rows satisfying ``rows`` (in no particular
    order; NULL or empty: none)."""
    return _filtered(exp.ArrayAgg(this=EVENT_AT.copy()), rows)


def undecided_among(
    selections: Sequence[Selection],
) -> tuple[dict[str, exp.Expression], exp.Expression | None]:
    """The aggregate and the form's ``undecided`` for selections (each already restricted
    to the rows its condition reads, :meth:`Selection.also`) whose property filters SQL
    may not decide: the contact is undecided when one of those rows is. Returns
    ``({}, None)`` when every row is decided. The aggregate is named ``undecided_rows``."""
    doubts = [s.undecided for s in selections if s.undecided is not None]
    if not doubts:
        return {}, None
    name = "undecided_rows"
    aggregate = count_of(exp.or_(*doubts) if len(doubts) > 1 else doubts[0])
    return {name: aggregate}, exp.GT(this=exp.func("coalesce", exp.column(name), _ZERO.copy()),
                                     expression=_ZERO.copy())


# --------------------------------------------------------------------------- tests on aggregates


def count_matches(count: exp.Expression, bounds: Count) -> exp.Expression:
    """``lo <= n <= hi`` for a count aggregate ``n``, NULL (no events) being 0."""
    n = exp.func("coalesce", count, _ZERO.copy())
    tests: list[exp.Expression] = []
    if bounds.lo > 0:
        tests.append(exp.GTE(this=n, expression=exp.Literal.number(bounds.lo)))
    if bounds.hi is not None:
        tests.append(exp.LTE(this=n.copy(), expression=exp.Literal.number(bounds.hi)))
    if not tests:
        return exp.true()
    return exp.and_(*tests) if len(tests) > 1 else tests[0]


def occurrence_matches(anchor: exp.Expression, occurrence: Occurrence) -> exp.Expression:
    """:meth:`growthos_segments.kit.occurrences.Timing.test` of an anchor instant (the first
    or last occurrence at or before NOW), ``include_never`` when it is NULL: ``within``
    is ``NOW < anchor + d``, ``older_than`` ``NOW >= anchor + d``, ``before``
    ``anchor < b``, ``after`` ``anchor >= a``."""
    timing = occurrence.timing
    tests: list[exp.Expression] = []
    if timing.within is not None:
        tests.append(exp.GT(this=anchor.copy(), expression=ago(timing.within)))
    if timing.older_than is not None:
        tests.append(exp.LTE(this=anchor.copy(), expression=ago(timing.older_than)))
    if timing.before is not None:
        tests.append(exp.LT(this=anchor.copy(), expression=instant(timing.before)))
    if timing.after is not None:
        tests.append(exp.GTE(this=anchor.copy(), expression=instant(timing.after)))
    held = exp.and_(*tests) if tests else exp.true()
    never = exp.true() if occurrence.include_never else exp.false()
    return exp.Case(ifs=[exp.If(this=exp.Is(this=anchor.copy(), expression=exp.null()), true=never)],
                    default=held)


def occurrence_rows(occurrence: Occurrence) -> exp.Expression:
    """The rows an occurrence test reads: those that happened by NOW, younger than
    :meth:`~growthos_segments.kit.occurrences.Occurrence.lookback` when it is bounded
    (an older one then decides exactly as no occurrence does)."""
    lookback = occurrence.lookback()
    if lookback == ALL_HISTORY:
        return happened()
    return exp.and_(happened(), since(lookback))


def _exists(times: exp.Expression, variable: str, test: exp.Expression) -> exp.Expression:
    """Some element ``variable`` of the list ``times`` (NULL: empty) satisfies ``test``."""
    kept = exp.ArrayFilter(this=exp.func("coalesce", times, exp.Array(expressions=[])),
                           expression=exp.Lambda(this=test, expressions=[exp.to_identifier(variable)]))
    return exp.GT(this=exp.ArraySize(this=kept), expression=_ZERO.copy())


_A, _B = "seq_a_at", "seq_b_at"
"""Lambda variables of the sequence tests (names no column or aggregate takes)."""


def followed_within(a_times: exp.Expression, b_times: exp.Expression,
                    gap: timedelta | None) -> exp.Expression:
    """Some B of ``b_times`` has an A of ``a_times`` strictly before it and at most ``gap``
    earlier (``A < B``, ``A >= B - gap``; any earlier A without ``gap``): the completed
    sequence of ``event_sequence`` mode ``then`` (restrict the B list to the window)."""
    a, b = exp.column(_A), exp.column(_B)
    before = exp.LT(this=a, expression=b)
    if gap is not None:
        earliest = exp.Sub(this=b.copy(), expression=span(gap))
        before = exp.and_(before, exp.GTE(this=a.copy(), expression=earliest))
    return _exists(b_times, _B, _exists(a_times, _A, before))


def not_followed_within(a_times: exp.Expression, b_times: exp.Expression, gap: timedelta) -> exp.Expression:
    """Some A of ``a_times`` has no B of ``b_times`` in ``(A, A + gap]``: the abandoned
    sequence of ``event_sequence`` mode ``not_then`` (restrict the A list to the As old
    enough to judge, ``A <= NOW - gap``, and to the window)."""
    a, b = exp.column(_A), exp.column(_B)
    answered = exp.and_(exp.GT(this=b, expression=a),
                        exp.LTE(this=b.copy(), expression=exp.Add(this=a.copy(), expression=span(gap))))
    return _exists(a_times, _A, exp.not_(_exists(b_times, _B, answered)))


# --------------------------------------------------------------------------- young contacts


def old_enough(width: timedelta) -> tuple[exp.Expression, exp.Expression]:
    """``(predicate, undecided)`` for ``young_contacts: "wait"``: the contact has existed for
    ``width`` at NOW (``NOW >= created + width``), or has no readable creation date.

    The creation date is :func:`growthos_segments.kit.young.contact_created_at`'s:
    ``attributes.created_at``, else ``attributes.signup_date``, each read as
    ``parse_instant`` reads it (naive texts and dates in UTC) and taken only inside the
    supported years. ``undecided`` is true where only Python's parser can read the
    date that decides (see :func:`growthos_segments.kit.sql.instant_of`).
    """
    moments = [instant_of(json_at(("attributes", name)), tz_is_utc=True) for name in AGE_ATTRIBUTES]
    readable = [
        exp.and_(exp.not_(exp.Is(this=m.moment.copy(), expression=exp.null())),
                 exp.GTE(this=m.moment.copy(), expression=instant(EARLIEST_INSTANT)),
                 exp.LT(this=m.moment.copy(), expression=instant(LATEST_INSTANT)))
        for m in moments
    ]
    created = exp.Case(ifs=[exp.If(this=false_if_null(ok), true=m.moment.copy())
                            for ok, m in zip(readable, moments, strict=True)])
    ripe = exp.Add(this=created.copy(), expression=span(width))
    unknown = exp.Is(this=created, expression=exp.null())
    predicate = exp.or_(unknown, exp.GTE(this=NOW.copy(), expression=ripe))
    doubts: list[exp.Expression] = []
    unread: list[exp.Expression] = []
    for ok, m in zip(readable, moments, strict=True):
        doubts.append(exp.and_(*unread, false_if_null(m.undecided)) if unread else false_if_null(m.undecided))
        unread.append(exp.not_(false_if_null(ok.copy())))
    return predicate, exp.or_(*doubts)


# --------------------------------------------------------------------------- whole forms


def count_form(selection: Selection | None, window: Window, bounds: Count,
               young: YoungContacts = "match") -> SqlForm | None:
    """The form of a plain count condition, as :func:`growthos_segments.kit.counts.count_result`
    decides it: the selected rows in ``window`` at NOW, compared with ``bounds``; with
    ``young: "wait"`` and a sliding window, no match before the contact has existed for the
    window's width. ``None`` when ``selection`` is (no exact SQL form). Aggregates: ``n``
    and ``undecided_rows``."""
    if selection is None:
        return None
    rows = selection.also(in_window(window))
    aggregates, undecided = undecided_among([rows])
    aggregates["n"] = count_of(rows.keep)
    predicate = count_matches(exp.column("n"), bounds)
    if young == "wait" and window.width is not None:
        ripe, unread = old_enough(window.width)
        # The age only matters where the count matches: elsewhere the answer is no either way.
        unread = exp.and_(unread, exp.paren(predicate.copy()))
        undecided = unread if undecided is None else exp.or_(undecided, unread)
        predicate = exp.and_(exp.paren(ripe), exp.paren(predicate))
    return SqlForm(predicate, aggregates, undecided)


def occurrence_form(selection: Selection | None, occurrence: Occurrence) -> SqlForm | None:
    """The form of a first/last-occurrence test of the selected rows, as
    :func:`growthos_segments.kit.occurrences.occurrence_result` decides it at NOW.
    ``None`` when ``selection`` is. Aggregates: ``anchor`` and ``undecided_rows``."""
    if selection is None:
        return None
    rows = selection.also(occurrence_rows(occurrence))
    aggregates, undecided = undecided_among([rows])
    aggregates["anchor"] = (first_at if occurrence.which == "first" else last_at)(rows.keep)
    return SqlForm(occurrence_matches(exp.column("anchor"), occurrence), aggregates, undecided)
