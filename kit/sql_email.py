"""SQL pieces of the email and referral conditions that the event kit does not hold.

The general behavioural pieces (selection, windows, counts, occurrences, young
contacts) are :mod:`growthos_segments.kit.sql_events`; this module adds what
only these families read, each with exactly the per-contact meaning:

- ids as :mod:`growthos_segments.plugins.referrals` reads them (:func:`plain_id`):
  a non-empty string or an integer, never a boolean, a float or an empty string;
  the string ``"1"`` and the integer ``1`` are different ids;
- email property tests as :mod:`growthos_segments.plugins.email` keeps events:
  :func:`device_is` reproduces Python's ``str.strip()`` (Unicode whitespace) and
  ``str.lower()`` by character classes Python itself lists, so it is exact for every
  text; :func:`text_contains` ignoring case is exact on ASCII and leaves other text
  undecided;
- per-campaign timelines (:func:`campaign_times`, :func:`any_of`) for the
  conditions that pair a send with the opens and clicks of the same campaign;
- local time in a zone (:func:`local_time`) with the offsets of Python's own tz
  database, and the most common slot of a histogram (:func:`most_common_in`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlglot import exp

from growthos_segments.core.limits import EARLIEST_INSTANT, LATEST_INSTANT
from growthos_segments.core.timeutil import zone
from growthos_segments.kit.sql import false_if_null, is_kind, json_at, text_of
from growthos_segments.kit.sql_events import EVENT_AT, EVENT_PROPERTIES, instant

__all__ = [
    "NON_ASCII",
    "SPAN_COVERED",
    "any_of",
    "campaign_times",
    "device_is",
    "field",
    "local_time",
    "most_common_in",
    "plain_id",
    "text_contains",
    "zone_offsets",
]

_ZERO = exp.Literal.number(0)
_INTEGER_TEXT = r"^-?[0-9]+$"
NON_ASCII = r"[^\x00-\x7f]"
"""A regular expression finding a character beyond ASCII."""


def _matches(text: exp.Expression, pattern: str) -> exp.Expression:
    return exp.RegexpLike(this=text, expression=exp.Literal.string(pattern))


def plain_id(value: exp.Expression) -> tuple[exp.Expression, exp.Expression]:
    """``(is_id, key)`` for a JSON value read as an id: a non-empty string, or an integer
    (DuckDB reads integers beyond 64 bits as DOUBLE but keeps their digits). ``key`` is
    the kind and the text (``s:42`` and ``i:42`` differ, as ``"42" != 42`` in Python);
    ``is_id`` is never NULL."""
    text = text_of(value)
    string = exp.and_(is_kind(value, "VARCHAR"), exp.NEQ(this=text.copy(), expression=exp.Literal.string("")))
    integer = exp.or_(is_kind(value, "BIGINT", "UBIGINT"),
                      exp.and_(is_kind(value, "DOUBLE"), _matches(text.copy(), _INTEGER_TEXT)))
    key = exp.Case(ifs=[exp.If(this=false_if_null(string.copy()),
                               true=exp.DPipe(this=exp.Literal.string("s:"), expression=text.copy()))],
                   default=exp.DPipe(this=exp.Literal.string("i:"), expression=text.copy()))
    return false_if_null(exp.or_(string, integer)), key


@cache
def _unicode_classes() -> tuple[str, dict[str, str]]:
    """Python's whitespace (what ``str.strip()`` removes) and, for each ASCII letter, the
    characters whose ``lower()`` is that letter (``K`` and the Kelvin sign for ``k``), as
    regular-expression classes: from the running Python, so they match it exactly."""
    space: list[str] = []
    letters: dict[str, list[str]] = {}
    for code in range(0x110000):
        char = chr(code)
        if char.isspace():
            space.append(f"\\x{{{code:x}}}")
        lowered = char.lower()
        if len(lowered) == 1 and "a" <= lowered <= "z":
            letters.setdefault(lowered, []).append(f"\\x{{{code:x}}}")
    return "".join(space), {letter: "".join(chars) for letter, chars in letters.items()}


def device_is(value: exp.Expression, device: str) -> exp.Expression:
    """The JSON value is a device as ``plugins.email`` reads ``device``: a string whose
    stripped, lower-cased text is ``device``; for ``"unknown"``, anything but a string
    with a character other than whitespace. Never NULL."""
    space, letters = _unicode_classes()
    is_text = is_kind(value, "VARCHAR")
    if device == "unknown":
        return exp.not_(false_if_null(exp.and_(is_text, _matches(text_of(value), f"[^{space}]"))))
    core = "".join(f"[{letters[char]}]" for char in device)
    return false_if_null(exp.and_(is_text, _matches(text_of(value), rf"\A[{space}]*{core}[{space}]*\z")))


def text_contains(
    value: exp.Expression, needle: str, folded: bool
) -> tuple[exp.Expression, exp.Expression | None]:
    """``(found, undecided)``: the JSON value is a string containing ``needle`` (ignoring
    case as ``casefold()`` does when ``folded``); ``found`` is not true for a non-string.
    Folded, SQL's ``lower()`` is ``casefold()`` on ASCII text only, so a text beyond
    ASCII is ``undecided`` (and ``found`` false there)."""
    text = exp.Lower(this=text_of(value)) if folded else text_of(value)
    position = exp.Anonymous(this="strpos", expressions=[
        text, exp.Literal.string(needle.casefold() if folded else needle)])
    found = exp.and_(is_kind(value, "VARCHAR"), exp.GT(this=position, expression=_ZERO.copy()))
    if not folded:
        return found, None
    wide = false_if_null(exp.and_(is_kind(value, "VARCHAR"), _matches(text_of(value), NON_ASCII)))
    return exp.and_(exp.not_(wide), found), wide.copy()


_TIMELINE = exp.DataType.build("STRUCT(c VARCHAR, t TIMESTAMPTZ)", dialect="duckdb")


def campaign_times(rows: exp.Expression, campaign: str = "campaign_id") -> exp.Expression:
    """Aggregate: the ``(c, t)`` pairs (campaign id, ``at``) of the rows satisfying ``rows``
    whose ``campaign`` property is a string (NULL: no such row). Typed, so that Trino
    reads the fields by name too."""
    value = json_at((campaign,), EVENT_PROPERTIES)
    pair = exp.Struct(expressions=[
        exp.PropertyEQ(this=exp.to_identifier("c"), expression=text_of(value)),
        exp.PropertyEQ(this=exp.to_identifier("t"), expression=EVENT_AT.copy()),
    ])
    kept = exp.and_(rows.copy(), false_if_null(is_kind(value.copy(), "VARCHAR")))
    return exp.Filter(this=exp.ArrayAgg(this=exp.cast(pair, _TIMELINE.copy())),
                      expression=exp.Where(this=kept))


def field(variable: str, name: str) -> exp.Expression:
    """``variable.name``: a field of a lambda variable holding a :func:`campaign_times` pair."""
    return exp.Dot(this=exp.to_identifier(variable), expression=exp.to_identifier(name))


def any_of(pairs: exp.Expression, variable: str, test: exp.Expression) -> exp.Expression:
    """Some element ``variable`` of the list ``pairs`` (NULL: empty) satisfies ``test``."""
    test = exp.Lambda(this=false_if_null(test), expressions=[exp.to_identifier(variable)])
    kept = exp.ArrayFilter(this=exp.func("coalesce", pairs, exp.Array(expressions=[])), expression=test)
    return exp.GT(this=exp.ArraySize(this=kept), expression=_ZERO.copy())


_DAY = 86_400


@cache
def zone_offsets(name: str) -> tuple[tuple[datetime, timedelta], ...]:
    """The UTC offsets Python gives instants in zone ``name`` over the years events may hold
    (:data:`~growthos_segments.core.limits.EARLIEST_INSTANT` to ``LATEST_INSTANT``): pieces
    ``(from, offset)``, each offset holding from its instant to the next piece's.

    Found by asking Python's zone at every midnight (UTC) and, where the offset differs
    from the day before, for the second it changes (Python reads the tz database's
    transitions, whole seconds, ignoring microseconds). A change undone within the same
    day would be missed: the database's changes are days apart (four days at the least
    today; tests compare with its transitions for zones with the closest ones).
    """
    tz = zone(name)

    def offset(second: int) -> timedelta:
        moment = datetime.fromtimestamp(second, UTC).astimezone(tz).utcoffset()
        assert moment is not None  # a zone always has an offset
        return moment

    first, last = int(EARLIEST_INSTANT.timestamp()), int(LATEST_INSTANT.timestamp())
    pieces = [(first, offset(first))]
    for day in range(first, last, _DAY):
        after = offset(min(day + _DAY, last - 1))
        if after == pieces[-1][1]:
            continue
        low, high = day, min(day + _DAY, last - 1)  # offset(low) is the old one, offset(high) the new
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if offset(middle) == pieces[-1][1] else (low, middle)
        pieces.append((high, after))
    return tuple((datetime.fromtimestamp(second, UTC), length) for second, length in pieces)


def _offset_at(pieces: Sequence[tuple[datetime, timedelta]]) -> exp.Expression:
    """The offset (microseconds) of the piece holding ``at``: a balanced CASE, so a row
    makes a logarithmic number of comparisons."""
    if len(pieces) == 1:
        return exp.Literal.number(pieces[0][1] // timedelta(microseconds=1))
    middle = len(pieces) // 2
    before = exp.LT(this=EVENT_AT.copy(), expression=instant(pieces[middle][0]))
    return exp.Case(ifs=[exp.If(this=before, true=_offset_at(pieces[:middle]))],
                    default=_offset_at(pieces[middle:]))


SPAN_COVERED = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2040, 1, 1, tzinfo=UTC))
"""Where a zone with many changes of offset (daylight saving time) is converted in SQL."""
_FEW = 16
"""Changes of offset a zone may have over all supported years and be converted everywhere."""


def local_time(name: str) -> tuple[exp.Expression, exp.Expression | None]:
    """``(local, outside)``: the row's ``at`` as local wall-clock time (TIMESTAMP) in zone
    ``name``, as ``at.astimezone(zone(name))`` reads it: UTC plus Python's offset at that
    instant (:func:`zone_offsets`), not DuckDB's own zone data, which differs from
    Python's for many zones at some instants.

    A zone with more than a few changes of offset is converted only inside
    :data:`SPAN_COVERED` (a zone with daylight saving time has two a year: 600 over the
    supported years would make a query of 100 KB that takes a second to build);
    ``outside`` is true for the rows out of it (``None``: every row is converted), which
    the caller leaves to the per-contact path.
    """
    utc = exp.AtTimeZone(this=EVENT_AT.copy(), zone=exp.Literal.string("UTC"))
    pieces = zone_offsets(name)
    outside = None
    if len(pieces) > _FEW:
        start, end = SPAN_COVERED
        held = [piece for piece in pieces if piece[0] <= start][-1][1]
        pieces = ((start, held), *(piece for piece in pieces if start < piece[0] < end))
        outside = exp.or_(exp.LT(this=EVENT_AT.copy(), expression=instant(start)),
                          exp.GTE(this=EVENT_AT.copy(), expression=instant(end)))
    if len(pieces) == 1 and not pieces[0][1]:
        return utc, outside
    shift = exp.Anonymous(this="to_microseconds", expressions=[
        exp.cast(_offset_at(pieces), exp.DataType.build("BIGINT"))])
    return exp.Add(this=utc, expression=shift), outside


def most_common_in(
    rows: exp.Expression, slot_of: exp.Expression, slots: Iterable[int], wanted: Collection[int], name: str,
) -> tuple[exp.Expression, exp.Expression]:
    """``(aggregate, test)``: the aggregate is the histogram of ``slot_of`` (hour, weekday)
    over the rows; the test, on it (as column ``name``), is ``email_open_time``'s
    preference: a most common slot is a wanted one, ties qualifying, and there is one."""
    histogram = exp.Filter(this=exp.Anonymous(this="histogram", expressions=[slot_of]),
                           expression=exp.Where(this=rows.copy()))
    counts: dict[bool, list[exp.Expression]] = {True: [], False: []}
    for slot in slots:
        count = exp.Anonymous(this="map_extract_value",
                              expressions=[exp.column(name), exp.Literal.number(slot)])
        counts[slot in wanted].append(exp.func("coalesce", count, _ZERO.copy()))
    best_in = exp.Greatest(this=counts[True][0], expressions=counts[True][1:])
    test = exp.GT(this=best_in, expression=_ZERO.copy())
    if not counts[False]:
        return histogram, test
    best_out = exp.Greatest(this=counts[False][0], expressions=counts[False][1:])
    return histogram, exp.and_(test, exp.GTE(this=best_in.copy(), expression=best_out))
