"""Plain JsonLogic expressions (rule leaves that are not condition types) as SQL.

The per-contact path runs an expression through datalogic-py
(:class:`growthos_segments.core.expressions.CompiledExpression`): it is true when
the result is truthy, and false when evaluation raises. Datalogic's operators do
not follow JavaScript: loose ``==`` has its own table (``null == 0`` and
``null == ""`` hold; a number against a string that is not a number raises;
arrays and objects against scalars raise), ``<`` compares two strings byte by byte
unless both look like dates or durations, numbers compare exactly as Python
compares ints and floats (``2**53 + 1`` is not its nearest double), an empty object
is falsy, ``missing`` counts a stored null as present, a ``var`` default replaces
only a missing value. This module writes that
behaviour as SQL for the operators it supports, and says so for the others
(:class:`~growthos_segments.analytics.compiler.NoSqlForm`: the rule then goes per contact).

Each sub-expression becomes three booleans per contact: its truthiness, whether
evaluating it raises (an error anywhere datalogic evaluates makes the whole
expression false, so ``and`` / ``or`` / ``if`` carry errors only from the branches
they evaluate), and whether SQL cannot tell (undecided: the per-contact path
decides that contact). Undecided rows are the kinds whose exact answer depends on
parsing SQL does not do as datalogic does: strings that both look like dates or
durations (datalogic compares them as instants), numeric strings of more than 15
digits or beyond a double's range, and numbered path steps through arrays.

Integers below -2**63 or above 2**64 - 1 are read as doubles on both paths: SQL
reads such a number as a double, as JSON readers do, and the contact view gives
them to datalogic as doubles (it would otherwise refuse the whole document). One
beyond a double's range still makes datalogic refuse the document (every
expression false for that contact); SQL does not look for those, as finding them
means reading every whole document.

Where an outcome depends only on the kind of a stored value (missing, null, true,
false, and arrays or objects against a scalar), the compiler asks datalogic itself
for it, with the expression's own shape, once per expression: those answers are
the evaluator's by construction. Value-dependent outcomes (numbers, strings) are
SQL over the JSON value read by :func:`growthos_segments.kit.sql.json_at`, so the
copy's field columns apply. Values from the rule enter only as sqlglot literals.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlglot import exp

from growthos_segments.analytics.compiler import NoSqlForm
from growthos_segments.core.expressions import CompiledExpression
from growthos_segments.core.view import ContactView
from growthos_segments.kit.sql import any_element, is_kind, json_at, negate, text_of

__all__ = ["expression_sql"]

_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")
_DECIMAL = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_INTEGER = r"^[+-]?[0-9]+$"
"""Rust's ``str::parse::<f64>`` grammar for finite numbers (what datalogic coerces with)."""
_COULD_BE_TEMPORAL = r"^[0-9][\s\S]*[-dhms]"
"""A superset of the strings datalogic tries to read as a date or a duration (a digit
first, then a ``-`` in fifth place or a unit letter): only these compare as instants."""
_EQUALITY = ("==", "!=", "===", "!==")
_ORDERING = ("<", "<=", ">", ">=")
_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!=", "===": "===", "!==": "!=="}
_SQL_COMPARE: dict[str, type[exp.Binary]] = {
    "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE, "==": exp.EQ,
}
_NUMBER_KINDS = ("BIGINT", "UBIGINT", "DOUBLE")
_MISSING: Any = object()
"""A sample stored value meaning "the field is absent"."""
_COMPOSITES: tuple[Any, ...] = ([], ["a"], [1], [None], [[]], {}, {"a": 1}, {"a": []})
_NOW = datetime(2000, 1, 1, tzinfo=UTC)  # expressions cannot read the clock (checked on save)


@dataclass(frozen=True, slots=True)
class _Truth:
    """A sub-expression per contact: truthy, raises, undecided (never SQL NULL)."""

    true: exp.Expression
    error: exp.Expression
    undecided: exp.Expression


_FALSE = _Truth(exp.false(), exp.false(), exp.false())


def _const(outcome: str) -> _Truth:
    """``T``, ``F`` or ``E`` (raises) as a constant."""
    return _Truth(exp.true() if outcome == "T" else exp.false(),
                  exp.true() if outcome == "E" else exp.false(), exp.false())


_UNDECIDED = _Truth(exp.false(), exp.false(), exp.true())


def _constant(expression: exp.Expression) -> bool | None:
    """The value of a literal TRUE / FALSE (through parentheses), else ``None``."""
    while isinstance(expression, exp.Paren):
        expression = expression.this
    return expression.this if isinstance(expression, exp.Boolean) else None


def _and(*parts: exp.Expression) -> exp.Expression:
    """AND, folding literal operands (the trees stay small enough to compile quickly)."""
    if any(_constant(p) is False for p in parts):
        return exp.false()
    kept = [p for p in parts if _constant(p) is not True]
    return exp.true() if not kept else kept[0] if len(kept) == 1 else exp.and_(*kept)


def _or(*parts: exp.Expression) -> exp.Expression:
    if any(_constant(p) is True for p in parts):
        return exp.true()
    kept = [p for p in parts if _constant(p) is not False]
    return exp.false() if not kept else kept[0] if len(kept) == 1 else exp.or_(*kept)


def _not(part: exp.Expression) -> exp.Expression:
    value = _constant(part)
    return exp.not_(exp.paren(part)) if value is None else exp.false() if value else exp.true()


def _decided(true: exp.Expression) -> _Truth:
    return _Truth(true, exp.false(), exp.false())


def expression_sql(logic: Any, path: str = "") -> exp.Expression:
    """The expression (at JSON pointer ``path`` in its rule) as a SQL boolean over the
    contact row: TRUE for members, FALSE for the others, NULL where only the
    per-contact path can say.

    Raises :class:`~growthos_segments.analytics.compiler.NoSqlForm` naming the part
    this module does not translate exactly (arithmetic, iteration, string functions,
    computed paths, reads of ``events``, and the other operators datalogic has).
    """
    truth = _truth(logic, path)
    undecided = truth.undecided
    member = _and(_not(exp.paren(truth.error)), exp.paren(truth.true))
    return exp.Case(ifs=[exp.If(this=_coalesce(undecided), true=exp.null())], default=_coalesce(member))


# --------------------------------------------------------------------------- the tree


def _truth(logic: Any, path: str) -> _Truth:
    """A sub-expression read for its truthiness (what ``and``, ``or``, ``!``, ``if`` and
    the expression as a whole read)."""
    if not isinstance(logic, dict):
        return _const(_ask_literal_truth(logic, path))
    if len(logic) != 1:
        raise NoSqlForm(path, "an object with several keys is not an operation")
    ((op, args),) = logic.items()
    where = f"{path}/{_escape(op)}"
    if op == "var":
        return _value_truth(_var(args, where))
    if op in ("!", "!!"):
        arg = _single(args, where)
        inner = _truth(arg, f"{where}/0" if isinstance(args, list) else where)
        true = _not(exp.paren(inner.true)) if op == "!" else inner.true
        return _Truth(true, inner.error, inner.undecided)
    if op in ("and", "or"):
        return _chain(op, [_truth(a, f"{where}/{i}") for i, a in enumerate(_list(args, where))])
    if op == "if":
        return _if(_list(args, where), where, 0)
    if op in _EQUALITY or op in _ORDERING:
        return _comparison(op, _list(args, where), where)
    if op == "in":
        return _in(_list(args, where), where)
    if op == "missing":
        return _missing(args, where)
    if op == "missing_some":
        return _missing_some(args, where)
    raise NoSqlForm(where, f"operator {op!r} has no SQL form; the rule is answered per contact")


def _chain(op: str, parts: Sequence[_Truth]) -> _Truth:
    """``and`` / ``or`` with datalogic's short circuit: a part raises only if reached.
    An empty one returns null (falsy)."""
    if not parts:
        return _FALSE
    true, error = parts[0].true, parts[0].error
    undecided: list[exp.Expression] = [parts[0].undecided]
    for part in parts[1:]:
        reached = exp.paren(true) if op == "and" else _not(exp.paren(true))
        error = _or(error, _and(reached, exp.paren(part.error)))
        true = _and(true, part.true) if op == "and" else _or(true, part.true)
        undecided.append(part.undecided)
    return _Truth(exp.paren(true), exp.paren(error), _or(*undecided))


def _if(args: list[Any], where: str, start: int) -> _Truth:
    """``if`` read for truthiness: the value of the branch taken (null when none is)."""
    rest = args[start:]
    if not rest:
        return _FALSE
    if len(rest) == 1:
        return _truth(rest[0], f"{where}/{start}")
    test = _truth(rest[0], f"{where}/{start}")
    then = _truth(rest[1], f"{where}/{start + 1}")
    other = _if(args, where, start + 2)
    taken = _coalesce(test.true)
    return _Truth(
        exp.Case(ifs=[exp.If(this=taken, true=then.true)], default=other.true),
        _or(test.error, exp.Case(ifs=[exp.If(this=taken.copy(), true=then.error)], default=other.error)),
        _or(test.undecided, then.undecided, other.undecided),
    )


def _list(args: Any, where: str) -> list[Any]:
    return args if isinstance(args, list) else [args]


def _single(args: Any, where: str) -> Any:
    if not isinstance(args, list):
        return args
    if len(args) != 1:
        raise NoSqlForm(where, "takes exactly one argument here")
    return args[0]


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


# --------------------------------------------------------------------------- operands


@dataclass(frozen=True, slots=True)
class _Doc:
    """A value read from the contact document: JSON, SQL NULL where missing."""

    json: exp.Expression
    undecided: exp.Expression
    has_default: bool


def _var(args: Any, where: str) -> _Doc:
    """``{"var": "a.b"}``, ``{"var": ["a.b"]}`` or ``{"var": ["a.b", default]}`` with a
    constant path of plain keys and a scalar default."""
    default: Any = _MISSING
    if isinstance(args, list):
        if len(args) not in (1, 2):
            raise NoSqlForm(where, "var takes a path and at most a default")
        if len(args) == 2:
            default = args[1]
            if not _is_scalar(default):
                raise NoSqlForm(f"{where}/1", "only a literal number, string, boolean or null "
                                     "as the default of var has a SQL form")
        args = args[0]
    if not isinstance(args, str) or not args:
        raise NoSqlForm(where, "only a constant dotted path as var has a SQL form")
    keys = args.split(".")
    if keys[0] == "events":
        raise NoSqlForm(where, "reads of events have no SQL form as a plain expression; "
                             "use an event condition")
    if not all(_KEY.match(key) for key in keys):
        raise NoSqlForm(where, f"path {args!r} has a key other than letters, digits, '_' and '-'")
    value = json_at(keys)
    # datalogic reads a step of digits on an array as an index; SQL's JSON path does not
    through_array = [is_kind(json_at(keys[:i]), "ARRAY") for i in range(1, len(keys))
                     if re.fullmatch("[0-9]+", keys[i])]
    if default is not _MISSING:
        value = exp.func("coalesce", value, _json_literal(default))
    return _Doc(value, _coalesce(_or(*through_array)) if through_array else exp.false(),
                default is not _MISSING)


def _operand(arg: Any, where: str) -> _Doc | _Literal:
    if isinstance(arg, dict) and set(arg) == {"var"}:
        return _var(arg["var"], f"{where}/var")
    if _is_scalar(arg):
        return _Literal(arg)
    raise NoSqlForm(where, "only a var or a literal number, string, boolean or null "
                         "has a SQL form as an operand here")


@dataclass(frozen=True, slots=True)
class _Literal:
    value: Any


def _is_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, str | int | bool)


def _json_literal(value: Any) -> exp.Expression:
    return exp.cast(exp.Literal.string(json.dumps(value)), exp.DataType.build("JSON"))


# --------------------------------------------------------------------------- asking datalogic


def _ask(logic: Any, data: dict[str, Any]) -> str:
    """The evaluator's answer: ``T``, ``F`` or ``E`` (raises)."""
    if CompiledExpression(logic).value(ContactView(data))[1] is not None:
        return "E"
    return "T" if CompiledExpression(logic)(ContactView(data), _NOW)[0] else "F"


def _ask_literal_truth(value: Any, where: str) -> str:
    if not _is_scalar(value):
        raise NoSqlForm(where, "only a literal number, string, boolean or null has a SQL form here")
    return _ask({"!!": [value]}, {})


def _sample(shape: Callable[[Any], Any], sample: Any) -> str:
    """The outcome of ``shape`` (an expression reading ``{"var": "v"}``) when ``v`` is ``sample``."""
    return _ask(shape({"var": "v"}), {} if sample is _MISSING else {"v": sample})


def _by_kind(
    doc: _Doc,
    shape: Callable[[Any], Any],
    number: Callable[[exp.Expression], _Truth] | None,
    string: Callable[[exp.Expression], _Truth] | None,
    composite: _Truth | None = None,
) -> _Truth:
    """Per kind of the stored value: missing, null, true and false as datalogic answers
    them in ``shape``; numbers and strings by ``number(value)`` / ``string(text)``,
    arrays and objects by ``composite`` (each ``None``: as the evaluator answers for
    every value of that kind, asked on samples, and undecided if the samples differ)."""
    value = doc.json
    branches: list[tuple[exp.Expression, _Truth]] = []
    if not doc.has_default:
        branches.append((exp.Is(this=value.copy(), expression=exp.null()), _const(_sample(shape, _MISSING))))
    branches.append((is_kind(value.copy(), "NULL"), _const(_sample(shape, None))))
    text = text_of(value.copy())
    for flag in (True, False):
        branches.append((_and(is_kind(value.copy(), "BOOLEAN"),
                                  exp.EQ(this=text.copy(), expression=exp.Literal.string(str(flag).lower()))),
                         _const(_sample(shape, flag))))
    branches.append((is_kind(value.copy(), *_NUMBER_KINDS),
                     number(value.copy()) if number is not None else _agreed(shape, (0, 1, -1.5, 2**53 + 1))))
    branches.append((is_kind(value.copy(), "VARCHAR"),
                     string(text.copy()) if string is not None else _agreed(shape, ("", "0", "a", "1d"))))
    if composite is None:
        composite = _agreed(shape, _COMPOSITES)
    branches.append((is_kind(value.copy(), "ARRAY", "OBJECT"), composite))
    return _cases(branches, _FALSE, doc.undecided, disjoint=True)


def _agreed(shape: Callable[[Any], Any], samples: Sequence[Any]) -> _Truth:
    outcomes = {_sample(shape, s) for s in samples}
    return _const(outcomes.pop()) if len(outcomes) == 1 else _UNDECIDED


def _cases(
    branches: list[tuple[exp.Expression, _Truth]], default: _Truth, undecided: exp.Expression,
    disjoint: bool = False,
) -> _Truth:
    """Each part of the first branch whose test holds, else of ``default``.

    With ``disjoint`` tests (at most one holds per row) a part whose branches are all
    constants is written as the OR of the tests giving the value other than the default
    one, which keeps the nested trees of large expressions small."""

    def case(part: Callable[[_Truth], exp.Expression]) -> exp.Expression:
        otherwise = _constant(part(default))
        kept = [(test, t) for test, t in branches if not (disjoint and _constant(part(t)) == otherwise
                                                           and otherwise is not None)]
        values = {_constant(part(t)) for _, t in kept}
        if not kept:
            return part(default).copy()
        if disjoint and otherwise is not None and values == {not otherwise}:
            hits = _coalesce(_or(*(test.copy() for test, _ in kept)))
            return _not(hits) if otherwise else hits
        return _coalesce(exp.Case(ifs=[exp.If(this=test.copy(), true=part(t).copy()) for test, t in kept],
                                  default=part(default).copy()))

    return _Truth(case(lambda t: t.true), case(lambda t: t.error),
                  _or(case(lambda t: t.undecided), undecided))


def _coalesce(predicate: exp.Expression) -> exp.Expression:
    if _constant(predicate) is not None:
        return predicate
    return exp.func("coalesce", exp.paren(predicate, copy=False), exp.false())


# --------------------------------------------------------------------------- truthiness


def _value_truth(doc: _Doc) -> _Truth:
    """A stored value's truthiness: null, false, 0, "", [] and {} are falsy."""

    def number(value: exp.Expression) -> _Truth:
        return _decided(negate(_stored_number_test(value, "==", 0)))

    def string(text: exp.Expression) -> _Truth:
        return _decided(_coalesce(exp.NEQ(this=text, expression=exp.Literal.string(""))))

    filled = _not(exp.In(this=exp.cast(doc.json.copy(), exp.DataType.build("VARCHAR")),
                             expressions=[exp.Literal.string("[]"), exp.Literal.string("{}")]))
    return _by_kind(doc, lambda v: v, number, string, _Truth(_coalesce(filled), exp.false(), exp.false()))


# --------------------------------------------------------------------------- comparisons


def _comparison(op: str, args: list[Any], where: str) -> _Truth:
    """``==`` ... ``>=``, chained over three or more arguments as datalogic chains them
    (each adjacent pair, stopping at the first false one)."""
    if len(args) < 2:
        raise NoSqlForm(where, f"{op} takes at least two arguments")
    operands = [_operand(a, f"{where}/{i}") for i, a in enumerate(args)]
    pairs = [_pair(op, operands[i], operands[i + 1], where) for i in range(len(args) - 1)]
    return _chain("and", pairs)


def _pair(op: str, left: _Doc | _Literal, right: _Doc | _Literal, where: str) -> _Truth:
    if isinstance(left, _Literal) and isinstance(right, _Literal):
        return _const(_ask({op: [left.value, right.value]}, {}))
    if isinstance(left, _Doc) and isinstance(right, _Doc):
        raise NoSqlForm(where, "a comparison of two stored values has no SQL form; "
                             "compare a var with a literal")
    doc, literal = (left, right) if isinstance(left, _Doc) else (right, left)
    assert isinstance(doc, _Doc) and isinstance(literal, _Literal)
    doc_op = op if doc is left else _MIRROR[op]

    def shape(var: Any) -> Any:
        return {op: [var, literal.value] if doc is left else [literal.value, var]}

    number, string = _scalar_tests(doc_op, literal.value, where)
    return _by_kind(doc, shape, number, string, _UNDECIDED if _temporal(literal.value) else None)


def _scalar_tests(
    op: str, target: Any, where: str
) -> tuple[Callable[[exp.Expression], _Truth], Callable[[exp.Expression], _Truth]]:
    """(number test, string test) of ``stored op target`` as datalogic compares them."""
    strict = op in ("===", "!==")
    negated = op in ("!=", "!==")
    test_op = {"!=": "==", "!==": "==", "===": "=="}.get(op, op)

    def outcome(found: exp.Expression) -> _Truth:
        found = _coalesce(found)
        return _decided(_not(found) if negated else found)

    numeric_target = _number_target(op, target, where)

    def number(value: exp.Expression) -> _Truth:
        if strict and (isinstance(target, bool) or not isinstance(target, int | float)):
            return _const("T" if negated else "F")
        if numeric_target is None:
            return _const("E")
        if isinstance(target, str) and op in _ORDERING:  # both read as doubles
            double = exp.TryCast(this=text_of(value), to=exp.DataType.build("DOUBLE"))
            return outcome(_SQL_COMPARE[test_op](this=double, expression=_double(float(numeric_target))))
        return outcome(_stored_number_test(value, test_op, numeric_target))

    def string(text: exp.Expression) -> _Truth:
        if isinstance(target, str):
            return _string_compare(text, test_op, target, negated)
        if strict:
            return _const("T" if negated else "F")
        if op in _EQUALITY and (isinstance(target, bool) or target is None):
            spelled = "" if target is None else str(target).lower()
            return outcome(exp.EQ(this=text, expression=exp.Literal.string(spelled)))
        assert numeric_target is not None  # numbers, booleans and null always have one
        return _numeric_text(text, test_op, numeric_target, negated, ordering=op in _ORDERING,
                             error_otherwise=not isinstance(target, bool | None))

    return number, string


def _number_target(op: str, target: Any, where: str) -> int | float | None:
    """The number a stored number is compared with (``None``: the comparison raises):
    equality reads a string of digits as an integer, ordering as a double."""
    if isinstance(target, bool):
        return int(target)
    if target is None:
        return 0
    if isinstance(target, int | float):
        return target
    if target == "" and op in _ORDERING:
        return 0
    if not re.match(_DECIMAL, target):
        return None
    if op in _EQUALITY and re.match(_INTEGER, target):  # ordering reads every string as a double
        number = int(target)
        if not -(2**63) <= number < 2**63:
            raise NoSqlForm(where, f"the integer {target!r} is beyond 64 bits")
        return number
    parsed = float(target)
    if not math.isfinite(parsed):
        raise NoSqlForm(where, f"{target!r} is beyond a double's range")
    return parsed


def _stored_number_test(value: exp.Expression, op: str, target: int | float) -> exp.Expression:
    """``value op target`` for a stored JSON number, exactly as Python compares ints and
    floats (as datalogic does): 64-bit integers exactly, doubles against the target's
    exact value. datalogic holds an unsigned integer above 2**63 - 1 as a double."""
    integer = exp.TryCast(this=text_of(value.copy()), to=_WIDE_INTEGER.copy())
    double = exp.TryCast(this=text_of(value.copy()), to=exp.DataType.build("DOUBLE"))
    signed = exp.LTE(this=integer.copy(), expression=_wide_integer(2**63 - 1))
    exact = _or(is_kind(value.copy(), "BIGINT"), _and(is_kind(value.copy(), "UBIGINT"), signed))
    return exp.Case(ifs=[exp.If(this=exact, true=_coalesce(_integer_test(integer, op, target)))],
                    default=_coalesce(_double_test(double, op, target)))


_WIDE_INTEGER = exp.DataType.build("DECIMAL(38, 0)")
_INTEGER_BOUND = {
    ">": (math.floor, ">"), ">=": (math.ceil, ">="), "<": (math.ceil, "<"), "<=": (math.floor, "<="),
}
"""An integer against a non-integral f: the same as against floor(f) or ceil(f)."""


def _integer_test(integer: exp.Expression, op: str, target: int | float) -> exp.Expression:
    if isinstance(target, float) and not target.is_integer():
        if op == "==":
            return exp.false()
        rounding, op = _INTEGER_BOUND[op]
        target = rounding(target)
    whole = int(target)
    if abs(whole) >= 10**30:  # beyond every stored integer: the sign decides
        below = op in ("<", "<=")
        return exp.true() if op != "==" and below == (whole > 0) else exp.false()
    return _SQL_COMPARE[op](this=integer, expression=_wide_integer(whole))


def _wide_integer(number: int) -> exp.Expression:
    return exp.cast(exp.Literal.string(str(number)), _WIDE_INTEGER.copy())


def _double_test(double: exp.Expression, op: str, target: int | float) -> exp.Expression:
    """``double op target`` where the target may be an integer no double holds exactly."""
    nearest = float(target)
    if isinstance(target, float) or nearest == target:
        return _SQL_COMPARE[op](this=double, expression=_double(nearest))
    if op == "==":
        return exp.false()
    if op in ("<", "<="):
        below = nearest if nearest < target else math.nextafter(nearest, -math.inf)
        return exp.LTE(this=double, expression=_double(below))
    above = nearest if nearest > target else math.nextafter(nearest, math.inf)
    return exp.GTE(this=double, expression=_double(above))


def _numeric_text(
    text: exp.Expression, op: str, target: int | float, negated: bool, ordering: bool, error_otherwise: bool
) -> _Truth:
    """A stored string against a number, read as datalogic reads one: ordering reads
    both as doubles ("" as 0); equality reads integers exactly (those of up to 15
    digits, which a double holds, are decided; longer ones undecided) and decimals as
    doubles (undecided against an integer no double holds). A string that is no number
    raises against a number and is false against a boolean or null."""
    double = exp.TryCast(this=text.copy(), to=exp.DataType.build("DOUBLE"))
    decimal = exp.RegexpLike(this=text.copy(), expression=exp.Literal.string(_DECIMAL))
    long_integer = exp.RegexpLike(this=text.copy(), expression=exp.Literal.string(r"^[+-]?[0-9]{16,}$"))
    finite = exp.Anonymous(this="isfinite", expressions=[double.copy()])

    def outcome(found: exp.Expression) -> _Truth:
        found = _coalesce(found)
        return _decided(_not(found) if negated else found)

    if ordering:
        empty = exp.EQ(this=text.copy(), expression=exp.Literal.string(""))
        bound = _double(float(target))
        branches = [(empty, outcome(_SQL_COMPARE[op](this=_double(0.0), expression=bound))),
                    (_and(decimal, finite), outcome(_SQL_COMPARE[op](this=double, expression=bound.copy())))]
    elif float(target) != target:
        branches = [(decimal, _UNDECIDED)]
    else:
        branches = [(long_integer, _UNDECIDED),
                    (_and(decimal, finite), outcome(_double_test(double, op, target)))]
    branches.append((decimal.copy(), _UNDECIDED))
    return _cases(branches, _const("E" if error_otherwise else "F"), exp.false())


def _string_compare(text: exp.Expression, op: str, target: str, negated: bool) -> _Truth:
    """A stored string against a string literal: bytes compared, unless both look like
    dates or durations (then datalogic compares instants: undecided), except in the
    strict ISO shape it compares byte by byte itself."""
    found = _coalesce(_SQL_COMPARE[op](this=text, expression=exp.Literal.string(target)))
    true = _not(found) if negated else found
    if not _temporal(target):
        return _Truth(true, exp.false(), exp.false())
    temporal = exp.RegexpLike(this=text.copy(), expression=exp.Literal.string(_COULD_BE_TEMPORAL))
    shape = _iso_shape(target)
    if shape is not None:
        strict_iso = exp.RegexpLike(this=text.copy(), expression=exp.Literal.string(shape))
        temporal = _and(temporal, _not(strict_iso))
    return _Truth(true, exp.false(), _coalesce(temporal))


def _temporal(value: Any) -> bool:
    """datalogic's ``could_be_datetime_or_duration`` for a literal."""
    if not isinstance(value, str):
        return False
    raw = value.encode()
    if len(raw) < 2 or not chr(raw[0]).isdigit() or raw[0] > 0x7F:
        return False
    return (len(raw) >= 10 and raw[4] == ord("-")) or any(c in b"dhms" for c in raw)


_ISO = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})?")


def _iso_shape(value: str) -> str | None:
    """The pattern of the strings datalogic compares with ``value`` byte by byte (the
    strict ISO shape, same fraction length, same zone designator), or ``None``."""
    match = _ISO.fullmatch(value)
    if match is None:
        return None
    fraction, zone = match.group(1), match.group(2) or ""
    digits = rf"\.[0-9]{{{len(fraction) - 1}}}" if fraction else ""
    return rf"^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}{digits}{re.escape(zone)}$"


def _double(number: float) -> exp.Expression:
    return exp.cast(exp.Literal.string(repr(number)), exp.DataType.build("DOUBLE"))


# --------------------------------------------------------------------------- in, missing


def _in(args: list[Any], where: str) -> _Truth:
    """``in``: a substring of a string, or an element of an array by strict equality."""
    if len(args) != 2:
        raise NoSqlForm(where, "in takes a needle and a haystack")
    hay_arg = args[1]
    needle = _operand(args[0], f"{where}/0")
    if isinstance(hay_arg, list) and all(_is_scalar(item) for item in hay_arg):
        if isinstance(needle, _Literal):
            return _const(_ask({"in": [needle.value, hay_arg]}, {}))
        return _in_literal_list(needle, hay_arg)
    hay = _operand(hay_arg, f"{where}/1")
    if isinstance(hay, _Literal):
        if isinstance(needle, _Literal):
            return _const(_ask({"in": [needle.value, hay.value]}, {}))
        return _in_literal_text(needle, hay.value)
    if not isinstance(needle, _Literal):
        raise NoSqlForm(where, "in over two stored values has no SQL form")
    return _in_stored(needle.value, hay)


def _in_literal_list(needle: _Doc, items: list[Any]) -> _Truth:
    """A stored value among literal items (each compared as ``===`` compares)."""

    def shape(var: Any) -> Any:
        return {"in": [var, items]}

    def number(value: exp.Expression) -> _Truth:
        tests = [_stored_number_test(value, "==", i) for i in items
                 if isinstance(i, int | float) and not isinstance(i, bool)]
        return _decided(_or(*tests) if tests else exp.false())

    def string(text: exp.Expression) -> _Truth:
        parts = [_string_compare(text.copy(), "==", item, False) for item in items if isinstance(item, str)]
        if not parts:
            return _const("F")
        return _Truth(_or(*(p.true for p in parts)), exp.false(), _or(*(p.undecided for p in parts)))

    temporal = any(_temporal(item) for item in items)
    return _by_kind(needle, shape, number, string, _UNDECIDED if temporal else None)


def _in_literal_text(needle: _Doc, hay: Any) -> _Truth:
    """A stored string within a literal: substring (only strings are found in strings)."""

    def shape(var: Any) -> Any:
        return {"in": [var, hay]}

    def string(text: exp.Expression) -> _Truth:
        if not isinstance(hay, str):
            return _const(_sample(shape, "a"))
        found = exp.GT(this=exp.Anonymous(this="strpos", expressions=[exp.Literal.string(hay), text]),
                       expression=exp.Literal.number(0))
        return _Truth(_coalesce(found), exp.false(), exp.false())

    return _by_kind(needle, shape, None, string)


def _in_stored(target: Any, hay: _Doc) -> _Truth:
    """A literal within a stored string (substring) or array (an element ``===`` it)."""

    def shape(var: Any) -> Any:
        return {"in": [target, var]}

    def string(text: exp.Expression) -> _Truth:
        if not isinstance(target, str):
            return _const("F")
        found = exp.GT(this=exp.Anonymous(this="strpos", expressions=[text, exp.Literal.string(target)]),
                       expression=exp.Literal.number(0))
        return _Truth(_coalesce(found), exp.false(), exp.false())

    def element_is(element: exp.Expression) -> exp.Expression:
        if isinstance(target, bool):
            return _and(is_kind(element, "BOOLEAN"),
                            exp.EQ(this=text_of(element), expression=exp.Literal.string(str(target).lower())))
        if target is None:
            return is_kind(element, "NULL")
        if isinstance(target, str):
            return _and(is_kind(element, "VARCHAR"), exp.EQ(this=text_of(element),
                                                                expression=exp.Literal.string(target)))
        return _and(is_kind(element, *_NUMBER_KINDS), _stored_number_test(element, "==", target))

    def element_undecided(element: exp.Expression) -> exp.Expression:
        looks = exp.RegexpLike(this=text_of(element), expression=exp.Literal.string(_COULD_BE_TEMPORAL))
        temporal = _and(is_kind(element, "VARCHAR"), looks)
        shape_pattern = _iso_shape(target)
        if shape_pattern is not None:
            temporal = _and(temporal, _not(exp.RegexpLike(
                this=text_of(element), expression=exp.Literal.string(shape_pattern))))
        return _or(temporal, is_kind(element, "ARRAY", "OBJECT"))

    found = _coalesce(any_element(hay.json.copy(), element_is))
    undecided = (_coalesce(any_element(hay.json.copy(), element_undecided)) if _temporal(target)
                 else exp.false())
    return _by_kind(hay, shape, None, string, _Truth(found, exp.false(), undecided))


def _paths(keys: list[Any], where: str) -> list[tuple[exp.Expression, exp.Expression]]:
    """(present, undecided) for each dotted path named literally."""
    out = []
    for i, key in enumerate(keys):
        if not isinstance(key, str):
            raise NoSqlForm(f"{where}/{i}", "only literal paths have a SQL form here")
        doc = _var(key, f"{where}/{i}")
        out.append((_not(exp.Is(this=doc.json, expression=exp.null())), doc.undecided))
    return out


def _missing(args: Any, where: str) -> _Truth:
    """``missing``: truthy when a named path is absent (a stored null is present)."""
    keys = _list(args, where)
    if len(keys) == 1 and isinstance(keys[0], list):
        keys, where = keys[0], f"{where}/0"
    paths = _paths(keys, where)
    if not paths:
        return _FALSE
    return _Truth(_or(*(_not(present) for present, _ in paths)), exp.false(),
                  _or(*(undecided for _, undecided in paths)))


def _missing_some(args: Any, where: str) -> _Truth:
    """``missing_some [n, paths]``: truthy when fewer than ``n`` paths are present and
    some are absent."""
    if (not isinstance(args, list) or len(args) != 2 or type(args[0]) is not int
            or not isinstance(args[1], list)):
        raise NoSqlForm(where, "only missing_some with a literal count and a literal list of paths "
                             "has a SQL form")
    paths = _paths(args[1], f"{where}/1")
    if not paths:
        return _FALSE
    counts = [exp.Case(ifs=[exp.If(this=test, true=exp.Literal.number(1))], default=exp.Literal.number(0))
              for test, _ in paths]
    present = counts[0]
    for count in counts[1:]:
        present = exp.Add(this=present, expression=count)
    true = _and(exp.LT(this=exp.paren(present), expression=exp.Literal.number(args[0])),
                    exp.LT(this=exp.paren(present.copy()), expression=exp.Literal.number(len(paths))))
    return _Truth(true, exp.false(), _or(*(undecided for _, undecided in paths)))
