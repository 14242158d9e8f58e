"""SQL forms of conditions: what a condition type's ``bulk_compile`` returns, and its parts.

The analytical path (``growthos_segments.analytics``) answers a rule for a whole
tenant with one query over two tables: ``contacts`` (``c``: ``tenant_id``,
``contact_id``, ``doc`` JSON, the contact document without its events) and
``events`` (``tenant_id``, ``contact_id``, ``name``, ``at``, ``properties``).
``bulk_compile(params)`` returns a :class:`SqlForm`, or ``None`` when no SQL
form gives exactly the per-contact answer for those params; the rule is then
answered contact by contact, so an inexact form is never an option.

Every form is a sqlglot expression tree: user values enter it as sqlglot
literals (which escape), never as concatenated text, and the same tree is
written in DuckDB's dialect (run here) and Trino's (Athena). The instant of the
evaluation is the query parameter :data:`NOW`, never the clock.

The helpers below read JSON the way the per-contact view does (JSON keeps kinds
apart, so does SQL here): a number stored as a string is not a number, a
boolean is not a number, a missing field and a stored null are of no kind.
A predicate may be NULL where a field is missing; the compiler reads that NULL
as false before combining conditions, so ``NOT`` stays the exact negation it is
on the per-contact path. Where SQL cannot be exact for some stored values (dates
spelled otherwise than ISO's one spelling, text beyond ASCII compared ignoring
case), a form names those rows in ``undecided`` instead of guessing: the
condition is unknown there and the per-contact path decides those contacts.

A condition that reads the tenant context (``view.context``, e.g. RFM thresholds)
reads it in SQL through :func:`context_parameter`: a named parameter whose value
the form derives from the context when the query runs, so one compiled query
serves every context. A plugin whose ``tenant_context`` hook has a SQL form
gives it as a :class:`ContextForm` (hook ``tenant_context_sql``), so the
whole-tenant pass runs in the analytical engine rather than contact by contact.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlglot import exp

from growthos_segments.kit.operators import (
    AnniversaryTest,
    BetweenTest,
    CalendarDaysTest,
    CompareTest,
    ContainsTest,
    EqualsTest,
    ExistsTest,
    InTest,
    RegexTest,
    RelativeTest,
    TextTest,
)

__all__ = [
    "CONTACT_DOC",
    "CONTEXT_BINDING",
    "NOW",
    "PLAIN_TEXT",
    "ContextForm",
    "Instant",
    "SqlForm",
    "any_element",
    "any_equal",
    "beyond_ascii",
    "contains_sql",
    "context_parameter",
    "double_compare",
    "false_if_null",
    "instant_of",
    "is_kind",
    "json_at",
    "negate",
    "number_compare",
    "scalar_equals",
    "text_of",
    "value_test_form",
]

CONTACT_DOC = exp.column("doc", table="c")
"""The contact document (JSON) of the row being tested."""
NOW = exp.cast(exp.Placeholder(this="now"), exp.DataType.build("TIMESTAMPTZ"))
"""The evaluation instant, bound when the query runs (named parameter ``now``)."""

_KEY_RE = re.compile(r"[A-Za-z0-9_-]+\Z")
_ZERO = exp.Literal.number(0)
_NUMBER_KINDS = ("BIGINT", "UBIGINT", "DOUBLE")
_INTEGER_TEXT = r"^-?[0-9]+$"
_BIGNUM = exp.DataType.build("BIGNUM", dialect="duckdb")
"""DuckDB's arbitrary-precision integer: stored integers of any length compare exactly."""


@dataclass(frozen=True, slots=True)
class SqlForm:
    """One condition as SQL: a boolean ``predicate`` over the contact row.

    ``aggregates`` maps a name to a per-contact aggregate over the ``events``
    rows (e.g. ``count_if(name = 'email.opened' AND at > NOW - INTERVAL 30 DAY)``);
    the compiler computes them in one GROUP BY pass over a tenant's events and
    joins them to the contact as columns the predicate refers to with
    ``exp.column(name)``. A contact without events has NULL there, so a
    predicate over an aggregate must say what no events means (``COALESCE``).
    """

    predicate: exp.Expression
    aggregates: Mapping[str, exp.Expression] = field(default_factory=dict)
    undecided: exp.Expression | None = None
    """True for the rows SQL cannot answer exactly (e.g. a date written in a form only
    Python's parser reads). The condition is unknown there (SQL NULL); where that
    unknown decides the rule, the engine asks the per-contact path about that contact."""


# --------------------------------------------------------------------------- tenant context

CONTEXT_BINDING = "context_binding"
"""The key, in a placeholder's sqlglot ``meta``, of the function giving its value from the
tenant context (:func:`context_parameter`)."""


def context_parameter(
    name: str, kind: str, bind: Callable[[Mapping[str, Any]], Any]
) -> exp.Expression:
    """The named query parameter ``name`` (cast to the SQL type ``kind``) whose value is
    ``bind(context)``, computed from the tenant context (``{}`` without one) when the
    query runs (``CompiledQuery.parameters``).

    The binding travels on the placeholder itself (its sqlglot ``meta``, which copies
    and transforms keep), so a compiled query needs no registry of names, and the
    query text stays the same whatever the context: the context's values never enter
    it as text. Names are global to a query: prefix them with the context's
    namespace, and give one name one binding.
    """
    holder = exp.Placeholder(this=name)
    holder.meta[CONTEXT_BINDING] = bind
    return exp.cast(holder, exp.DataType.build(kind))


@dataclass(frozen=True, slots=True)
class ContextForm:
    """A tenant-context namespace computed by one SQL query over the ``events`` table
    (and ``contacts``), instead of the ``tenant_context`` hook's pass over every contact.

    ``query`` reads the named parameters ``tenant`` and ``now`` (the instant the context
    is computed for, as the hook's ``now``) and returns one row; ``shape(row, now)``
    turns that row into exactly the data the hook returns for the namespace.
    """

    query: exp.Select
    shape: Callable[[tuple[Any, ...], datetime], Any]


# --------------------------------------------------------------------------- JSON access


def json_at(keys: Sequence[str], root: exp.Expression = CONTACT_DOC) -> exp.Expression:
    """The JSON value at ``root.keys[0].keys[1]...``: SQL NULL when a step is missing
    or not an object (as :func:`growthos_segments.core.view.resolve_path` answers MISSING).

    Keys are the field names params validation allows (letters, digits, ``_``, ``-``);
    anything else is refused here rather than quoted into a JSON path.
    """
    for key in keys:
        if not _KEY_RE.match(key):
            raise ValueError(f"not a plain field name for a JSON path: {key!r}")
    path = "$" + "".join(f'."{key}"' for key in keys)
    return exp.Anonymous(this="json_extract", expressions=[root, exp.Literal.string(path)])


def is_kind(value: exp.Expression, *kinds: str) -> exp.Expression:
    """The JSON value is of one of these DuckDB JSON kinds (VARCHAR, BIGINT, ARRAY...)."""
    kind = exp.Anonymous(this="json_type", expressions=[value])
    return exp.In(this=kind, expressions=[exp.Literal.string(k) for k in kinds])


def text_of(value: exp.Expression) -> exp.Expression:
    """A JSON scalar as text (a string without its quotes; a number as written)."""
    return exp.Anonymous(this="json_extract_string", expressions=[value, exp.Literal.string("$")])


def false_if_null(predicate: exp.Expression) -> exp.Expression:
    """``COALESCE(predicate, FALSE)``: unknown counts as no match."""
    return exp.func("coalesce", exp.paren(predicate, copy=False), exp.false())


def negate(predicate: exp.Expression) -> exp.Expression:
    """The exact negation of a predicate whose NULL means no match."""
    return exp.not_(false_if_null(predicate))


def any_element(value: exp.Expression, test: Callable[[exp.Expression], exp.Expression]) -> exp.Expression:
    """The JSON value is an array with an element for which ``test(element)`` holds."""
    element = exp.to_identifier("e")
    elements = exp.Anonymous(this="json_extract", expressions=[value, exp.Literal.string("$[*]")])
    kept = exp.ArrayFilter(this=elements, expression=exp.Lambda(this=false_if_null(test(exp.column(element))),
                                                                expressions=[element]))
    return exp.and_(is_kind(value, "ARRAY"), exp.GT(this=exp.ArraySize(this=kept), expression=_ZERO.copy()))


# --------------------------------------------------------------------------- scalar tests


def _number_literal(number: float) -> exp.Expression:
    return exp.Literal.number(repr(float(number)) if isinstance(number, float) else str(number))


_INTEGER_BOUND = {
    # An integer v compared with a non-integral f: the same as with floor(f) or ceil(f).
    ">": (math.floor, ">"), ">=": (math.ceil, ">="), "<": (math.ceil, "<"), "<=": (math.floor, "<="),
}
_COMPARATORS: Mapping[str, type[exp.Binary]] = {
    ">": exp.GT, ">=": exp.GTE, "<": exp.LT, "<=": exp.LTE, "=": exp.EQ,
}


def number_compare(value: exp.Expression, op: str, target: float) -> exp.Expression | None:
    """``value op target`` for a JSON number, exactly as Python compares int and float.

    JSON integers (even beyond 64 bits: their text is kept) are compared as
    integers with an integer form of the target, doubles as doubles. ``None``
    when an integer target has no exact double (beyond 2**53): SQL would round it.
    """
    if isinstance(target, bool) or not math.isfinite(target):
        raise ValueError(f"not a finite number: {target!r}")
    if isinstance(target, int) and float(target) != target:
        return None
    integer_text = exp.and_(
        is_kind(value, *_NUMBER_KINDS),
        exp.RegexpLike(this=text_of(value), expression=exp.Literal.string(_INTEGER_TEXT)),
    )
    as_integer = exp.TryCast(this=text_of(value), to=_BIGNUM.copy())
    if isinstance(target, float) and not target.is_integer():
        if op == "=":
            integer_side: exp.Expression = exp.false()
        else:
            rounding, int_op = _INTEGER_BOUND[op]
            integer_side = _COMPARATORS[int_op](this=as_integer, expression=_big_integer(rounding(target)))
    else:
        integer_side = _COMPARATORS[op](this=as_integer, expression=_big_integer(int(target)))
    double_side = _COMPARATORS[op](this=_as_double(value), expression=_number_literal(float(target)))
    return exp.or_(
        exp.and_(integer_text, integer_side),
        exp.and_(is_kind(value, "DOUBLE"), exp.not_(exp.paren(integer_text)), double_side),
    )


def _big_integer(number: int) -> exp.Expression:
    """An integer as an arbitrary-precision SQL integer (BIGNUM), exact at any size."""
    return exp.cast(exp.Literal.string(str(number)), _BIGNUM.copy())


def _text(value: exp.Expression, folded: bool) -> exp.Expression:
    """A JSON string's text, lower-cased when ``folded`` (exact for ASCII text only:
    see :func:`beyond_ascii`)."""
    return exp.Lower(this=text_of(value)) if folded else text_of(value)


def _needle(text: str, folded: bool) -> exp.Expression:
    return exp.Literal.string(text.casefold() if folded else text)


def beyond_ascii(value: exp.Expression) -> exp.Expression:
    """The JSON value is, or is an array holding, text beyond ASCII: there Python's
    casefold and SQL's lower() may differ (``ß`` folds to ``ss``, the Kelvin sign to
    ``k``), so a case-insensitive test leaves such rows undecided."""

    def wide(item: exp.Expression) -> exp.Expression:
        return exp.and_(is_kind(item, "VARCHAR"), _matches(text_of(item), r"[^\x00-\x7f]"))

    return exp.or_(wide(value), any_element(value, wide))


PLAIN_TEXT = re.compile(r"[A-Za-z0-9 _.,:;@#%+=!?~^$*()-]*\Z")
"""Strings DuckDB writes as themselves between two quotes (``tests/analytics/test_json_text.py``):
none of the characters a JSON writer may escape (quote, backslash, slash, controls,
HTML-special, non-ASCII), so Trino's ``json_format`` should spell them so too (untested:
no Trino here)."""


def _extracted(value: exp.Expression) -> bool:
    """The value is an extraction (:func:`json_at`), whose text DuckDB writes itself: a string
    with only the escapes it needs, a number in a spelling that casts to its double (the
    Trino dialect reads that text with ``json_format``)."""
    return isinstance(value, exp.Anonymous) and value.name.lower() == "json_extract"


def _json_text(value: exp.Expression, target: Any, folded: bool) -> str | None:
    """The JSON text a value equal to ``target`` has, where comparing that text decides
    equality exactly: ``value`` is an extraction (:func:`_extracted`) and the target a
    boolean or a plain string compared with case. ``None`` elsewhere (a number has
    several spellings; a list's elements are not extractions)."""
    if not _extracted(value):
        return None
    if isinstance(target, bool):
        return "true" if target else "false"
    if isinstance(target, str) and not folded and PLAIN_TEXT.match(target):
        return f'"{target}"'
    return None


def _as_text(value: exp.Expression) -> exp.Expression:
    """The JSON value's own text (a string with its quotes), as stored: no parsing."""
    return exp.cast(value.copy(), exp.DataType.build("VARCHAR"))


def scalar_equals(
    value: exp.Expression, target: str | int | float | bool, folded: bool = False
) -> exp.Expression | None:
    """The JSON value is of the target's kind and equal to it (``1 == 1.0``; ``true != 1``);
    strings compared ignoring case when ``folded``. Where the value's text alone decides
    (:func:`_json_text`), that text is compared: reading a string out of its JSON costs
    several times more than the whole comparison."""
    text = _json_text(value, target, folded)
    if text is not None:
        return exp.EQ(this=_as_text(value), expression=exp.Literal.string(text))
    if isinstance(target, bool):
        return exp.and_(is_kind(value, "BOOLEAN"),
                        exp.EQ(this=text_of(value), expression=exp.Literal.string(str(target).lower())))
    if isinstance(target, str):
        return exp.and_(is_kind(value, "VARCHAR"),
                        exp.EQ(this=_text(value, folded), expression=_needle(target, folded)))
    return number_compare(value, "=", target)


def any_equal(value: exp.Expression, targets: Sequence[Any], folded: bool = False) -> exp.Expression | None:
    """The JSON value equals one of ``targets`` (:func:`scalar_equals` for each; the targets
    compared by their JSON text, in one ``IN``)."""
    texts = [_json_text(value, target, folded) for target in targets]
    tests = [scalar_equals(value, target, folded) for target, text in zip(targets, texts, strict=True)
             if text is None]
    if any(test is None for test in tests):
        return None
    known = sorted({text for text in texts if text is not None})
    if len(known) > 1:
        tests.insert(0, exp.In(this=_as_text(value), expressions=[exp.Literal.string(t) for t in known]))
    elif known:
        tests.insert(0, exp.EQ(this=_as_text(value), expression=exp.Literal.string(known[0])))
    if not tests:
        return None
    return exp.or_(*tests) if len(tests) > 1 else tests[0]


def double_compare(value: exp.Expression, op: str, target: float) -> exp.Expression | None:
    """``float(value) op target`` for a JSON number, as scores compare (the stored number
    read as a double first); false or unknown for any other value (no match either way).
    ``None`` for an integer target with no exact double.

    An extraction's text is cast to a double: a number's text gives the double its
    JSON value casts to, and no other kind's text (``true``, ``"80"``, ``[80]``,
    ``null``) casts at all, so no kind test is needed (``tests/analytics/test_json_text.py``
    holds both); that costs a fraction of reading the kind out of the JSON."""
    if isinstance(target, int) and float(target) != target:
        return None
    if _extracted(value):  # its text casts to a double exactly when it is a number
        number = exp.TryCast(this=_as_text(value), to=exp.DataType.build("DOUBLE"))
        return false_if_null(_COMPARATORS[op](this=number, expression=_number_literal(float(target))))
    return exp.and_(is_kind(value, *_NUMBER_KINDS),
                    _COMPARATORS[op](this=_as_double(value), expression=_number_literal(float(target))))


def _as_double(value: exp.Expression) -> exp.Expression:
    """A JSON number as a double, cast from the JSON value itself: for every number kind
    that is the double its text casts to (correctly rounded both ways, infinities
    included), without writing the text out first, which cost a third of a profile
    test's time. Callers test the kind: a JSON ``true`` casts to 1.0 here."""
    return exp.TryCast(this=value.copy(), to=exp.DataType.build("DOUBLE"))


def contains_sql(
    op: str, value: exp.Expression, targets: Sequence[Any], folded: bool = False
) -> exp.Expression | None:
    """contains_any / contains_all / contains_none: elements compared by :func:`scalar_equals`."""
    element = exp.column("e")
    if any(scalar_equals(element, target) is None for target in targets):
        return None
    if op == "contains_all":
        tests = [any_element(value, lambda e, t=target: scalar_equals(e, t, folded)) for target in targets]
        return exp.and_(*tests) if len(tests) > 1 else tests[0]
    found = any_element(value, lambda e: any_equal(e, targets, folded))
    return negate(found) if op == "contains_none" else found


def _text_test(kind: str, value: exp.Expression, needle: str, folded: bool) -> exp.Expression:
    text, literal = _text(value, folded), _needle(needle, folded)
    if kind == "starts_with":
        found: exp.Expression = exp.func("starts_with", text, literal, dialect="duckdb")
    elif kind == "ends_with":
        found = exp.Anonymous(this="suffix", expressions=[text, literal])
    else:
        position = exp.Anonymous(this="strpos", expressions=[text, literal])
        found = exp.GT(this=position, expression=_ZERO.copy())
    return exp.and_(is_kind(value, "VARCHAR"), found)


# --------------------------------------------------------------------------- instants

_ISO_DAY = r"[1-8][0-9]{3}-[0-9]{2}-[0-9]{2}"
_ISO_TIME = r"T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?"
_AWARE = f"^{_ISO_DAY}{_ISO_TIME}(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
_NAIVE = f"^{_ISO_DAY}({_ISO_TIME})?$"
_NO_INSTANT = r"^$|^[!-/:-~]"
"""Texts Python's ISO parser reads no instant from: empty, or starting with a printable
ASCII character that is neither a digit nor a space (every ISO date starts with its year)."""
_EPOCH = r"^([0-9]{1,11}|-[0-9]{1,10})$"
"""Whole epoch seconds SQL converts exactly (years 1653 to 5138)."""


@dataclass(frozen=True, slots=True)
class Instant:
    """An instant read from a JSON value as ``parse_instant`` reads it, where SQL can."""

    moment: exp.Expression
    """TIMESTAMPTZ, or NULL where the value holds no instant."""
    undecided: exp.Expression
    """True where only Python's parser can say (other spellings, fractional epochs, naive
    times in a zone other than UTC, years outside 1000-8999)."""


def _matches(text: exp.Expression, pattern: str) -> exp.Expression:
    return exp.RegexpLike(this=text, expression=exp.Literal.string(pattern))


def instant_of(value: exp.Expression, tz_is_utc: bool) -> Instant:
    """The instant a JSON value holds; naive texts are read in UTC (else undecided)."""
    text = text_of(value)
    readable = _matches(text, _AWARE)
    if tz_is_utc:
        readable = exp.or_(readable, _matches(text.copy(), _NAIVE))
    is_text = is_kind(value, "VARCHAR")
    as_moment = exp.TryCast(this=text.copy(), to=exp.DataType.build("TIMESTAMPTZ"))
    from_text = exp.and_(is_text, readable)
    is_integer = is_kind(value, "BIGINT", "UBIGINT")
    from_epoch = exp.and_(is_integer, _matches(text.copy(), _EPOCH))
    seconds = exp.TryCast(this=text.copy(), to=exp.DataType.build("BIGINT"))
    moment = exp.Case(ifs=[
        exp.If(this=from_text, true=as_moment),
        exp.If(this=from_epoch, true=exp.Anonymous(this="to_timestamp", expressions=[seconds])),
    ])
    undecided = exp.or_(
        exp.and_(is_text.copy(), exp.not_(exp.paren(readable.copy())),
                 exp.not_(_matches(text.copy(), _NO_INSTANT))),
        exp.and_(from_text.copy(), exp.Is(this=as_moment.copy(), expression=exp.null())),
        is_kind(value, "DOUBLE"),
        exp.and_(is_integer.copy(), exp.not_(_matches(text.copy(), _EPOCH))),
    )
    return Instant(moment, undecided)


def _timestamp(moment: datetime) -> exp.Expression:
    return exp.cast(exp.Literal.string(moment.isoformat()), exp.DataType.build("TIMESTAMPTZ"))


def _span(span: timedelta) -> exp.Expression:
    micros = span // timedelta(microseconds=1)
    return exp.Anonymous(this="to_microseconds", expressions=[
        exp.cast(exp.Literal.number(micros), exp.DataType.build("BIGINT"))])


def _within(moment: exp.Expression, low: exp.Expression | None, high: exp.Expression | None,
            low_open: bool = False) -> exp.Expression:
    """``low <= moment <= high`` (``low < moment`` when ``low_open``); NULL moment: NULL."""
    tests: list[exp.Expression] = []
    if low is not None:
        tests.append((exp.GT if low_open else exp.GTE)(this=moment.copy(), expression=low))
    if high is not None:
        tests.append(exp.LTE(this=moment.copy(), expression=high))
    return exp.and_(*tests) if tests else exp.not_(exp.Is(this=moment.copy(), expression=exp.null()))


def _instant_form(test: Any, value: exp.Expression, negated: bool) -> SqlForm | None:
    """Date comparisons and rolling windows (the calendar operators are
    :mod:`growthos_segments.kit.sql_calendar`'s)."""
    instant = instant_of(value, test.tz == "UTC")
    if isinstance(test, CompareTest | BetweenTest):
        bounds = test.instant_bounds()
        if bounds is None:
            return SqlForm(exp.false())
        low, high = (None if b is None else _timestamp(b) for b in bounds)
        found = _within(instant.moment, low, high)
    elif isinstance(test, RelativeTest):
        span = _span(test.amount * _UNITS[test.unit])
        ago = exp.Sub(this=NOW.copy(), expression=span)
        ahead = exp.Add(this=NOW.copy(), expression=span.copy())
        if test.op == "within_last":
            found = _within(instant.moment, ago, NOW.copy(), low_open=True)
        elif test.op == "more_than_ago":
            found = _within(instant.moment, None, ago)
        else:
            found = _within(instant.moment, NOW.copy(), ahead, low_open=True)
    else:
        return None
    return SqlForm(negate(found) if negated else found, undecided=instant.undecided)


_UNITS = {"minutes": timedelta(minutes=1), "hours": timedelta(hours=1), "days": timedelta(days=1),
          "weeks": timedelta(weeks=1)}


def _maybe_negated(predicate: exp.Expression | None, negated: bool) -> exp.Expression | None:
    if predicate is None:
        return None
    return negate(predicate) if negated else predicate


def value_test_form(test: Any, value: exp.Expression) -> SqlForm | None:
    """A value test of :mod:`growthos_segments.kit.operators` on a JSON value, or ``None``.

    ``None`` (answer per contact) for any operator this function does not know.
    With ``case_insensitive`` rows holding text beyond ASCII are undecided
    (:func:`beyond_ascii`); the calendar operators (``last_days``, ``next_days``,
    ``anniversary``) are :mod:`growthos_segments.kit.sql_calendar`'s.
    """
    if isinstance(test, CalendarDaysTest | AnniversaryTest):
        from growthos_segments.kit.sql_calendar import calendar_form  # it imports this module

        return calendar_form(test, value)
    op: str = test.op
    negated = op.startswith("not_") or op == "contains_none"
    if isinstance(test, RelativeTest) or (isinstance(test, CompareTest) and isinstance(test.value, str)) or (
            isinstance(test, BetweenTest) and isinstance(test.min, str)):
        return _instant_form(test, value, negated)
    folded = bool(getattr(test, "case_insensitive", False))
    predicate = _value_predicate(test, value, op, negated, folded)
    if predicate is None:
        return None
    return SqlForm(predicate, undecided=beyond_ascii(value) if folded else None)


def _value_predicate(
    test: Any, value: exp.Expression, op: str, negated: bool, folded: bool
) -> exp.Expression | None:
    if isinstance(test, EqualsTest):
        return _maybe_negated(scalar_equals(value, test.value, folded), negated)
    if isinstance(test, InTest):
        return _maybe_negated(any_equal(value, test.values, folded), negated)
    if isinstance(test, TextTest):
        kind = op.removeprefix("not_")
        found = _text_test(kind, value, test.value, folded)
        if kind == "contains":
            needle = test.value
            found = exp.or_(found, any_element(value, lambda e: scalar_equals(e, needle, folded)))
        return _maybe_negated(found, negated)
    if isinstance(test, RegexTest):
        flags = {"flag": exp.Literal.string("i")} if folded else {}
        found = exp.and_(is_kind(value, "VARCHAR"), exp.RegexpLike(
            this=text_of(value), expression=exp.Literal.string(test.pattern), **flags))
        return _maybe_negated(found, negated)
    if isinstance(test, ContainsTest):
        return contains_sql(op, value, test.values, folded)
    if isinstance(test, CompareTest):
        symbol = {"greater_than": ">", "greater_or_equal": ">=", "less_than": "<", "less_or_equal": "<="}[op]
        return number_compare(value, symbol, test.value)
    if isinstance(test, BetweenTest):
        low, high = number_compare(value, ">=", test.min), number_compare(value, "<=", test.max)
        if low is None or high is None:
            return None
        return _maybe_negated(exp.and_(low, high), negated)
    if isinstance(test, ExistsTest):
        empty = exp.In(this=exp.cast(value, exp.DataType.build("VARCHAR")),
                       expressions=[exp.Literal.string(t) for t in ('""', "[]", "{}")])
        known = exp.and_(exp.not_(is_kind(value, "NULL")), exp.not_(empty))
        return _maybe_negated(known, negated)
    return None
