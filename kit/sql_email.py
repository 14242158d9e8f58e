"""SQL pieces of the email and referral conditions that the event kit does not hold.

The general behavioural pieces (selection, windows, counts, occurrences, young
contacts) are :mod:`growthos_segments.kit.sql_events`; this module adds what
only these families read, each with exactly the per-contact meaning:

- ids as :mod:`growthos_segments.plugins.referrals` reads them (:func:`plain_id`):
  a non-empty string or an integer, never a boolean, a float or an empty string;
  the string ``"1"`` and the integer ``1`` are different ids;
- email property tests (:func:`device_is`, :func:`text_contains`) as
  :mod:`growthos_segments.plugins.email` keeps events: Python's ``str.strip()``
  (Unicode whitespace) and ``str.lower()`` reproduced by character classes Python
  itself lists, so they are exact for every text;
- per-campaign timelines (:func:`campaign_times`, :func:`any_of`) for the
  conditions that pair a send with the opens and clicks of the same campaign.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from functools import cache

from sqlglot import exp

from growthos_segments.kit.sql import false_if_null, is_kind, json_at, text_of
from growthos_segments.kit.sql_events import EVENT_AT, EVENT_PROPERTIES, count_of

__all__ = [
    "NON_ASCII",
    "any_of",
    "campaign_times",
    "device_is",
    "field",
    "most_common_in",
    "plain_id",
    "text_contains",
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
    case as ``casefold()`` does when ``folded``). ``found`` is NULL for a non-string.
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


def most_common_in(
    rows: exp.Expression, slot_of: exp.Expression, slots: Iterable[int], wanted: Collection[int],
    prefix: str, aggregates: dict[str, exp.Expression],
) -> exp.Expression:
    """A most common slot (hour, weekday) of the rows is a wanted one, ties qualifying, and
    there is one at all (``email_open_time``'s preference). Adds one count aggregate per
    slot (``<prefix><slot>``) to ``aggregates``."""
    counts: dict[bool, list[exp.Expression]] = {True: [], False: []}
    for slot in slots:
        name = f"{prefix}{slot}"
        aggregates[name] = count_of(exp.and_(rows.copy(), exp.EQ(this=slot_of.copy(),
                                                                  expression=exp.Literal.number(slot))))
        counts[slot in wanted].append(exp.func("coalesce", exp.column(name), _ZERO.copy()))
    best_in = exp.Greatest(this=counts[True][0], expressions=counts[True][1:])
    test = exp.GT(this=best_in, expression=_ZERO.copy())
    if not counts[False]:
        return test
    best_out = exp.Greatest(this=counts[False][0], expressions=counts[False][1:])
    return exp.and_(test, exp.GTE(this=best_in.copy(), expression=best_out))
