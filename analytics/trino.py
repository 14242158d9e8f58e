"""The compiled queries in the SQL Athena (engine version 3, Trino) runs, with DuckDB's answer.

The compiler builds one sqlglot tree per query, in DuckDB's vocabulary (``json_type``,
``to_microseconds``, ``list_filter``, ``TIMESTAMPTZ``...). sqlglot's own Trino dialect
renames what has a twin of the same meaning and writes the rest through unchanged,
which Trino then refuses or, worse, runs with another meaning (``CAST(x AS JSON)``
of a text is a JSON string in Trino, not the parsed document; ``TIMESTAMP WITH TIME
ZONE`` is milliseconds). :class:`Athena` writes every such construct as a Trino
expression with DuckDB's answer instead, and refuses (:class:`NotPortable`) one it
has no exact form for rather than write an approximation.

What Athena reads (template.yaml's Glue tables, merged by ``analytics.deltas.athena_views``):
``contacts_current`` and ``events_current``, whose ``doc`` and ``properties`` are text
holding JSON, without the copy's field columns. So the query's ``contacts`` and
``events`` are those views, and a field column (``"field:a.b"``, by its contract
``json_extract(doc, '$.a.b')`` for every row) is read from ``doc``.

Not verifiable here (no Trino runs on this machine; see the README's Athena section):
the JSON kinds are read from ``json_format``'s text of the value, so a number Trino
spells differently from DuckDB (``1e3``, ``-0``) may change its text or its integer
kind; JSON nulls inside arrays and objects become SQL NULLs in ``CAST(... AS
ARRAY(JSON))`` and ``MAP(VARCHAR, JSON)``; integers beyond 38 digits compare as
DECIMAL(38, 0) cannot hold them (never equal, never ordered); regular expressions are
Joni's, not RE2's; a naive date or time is read in the session's zone (Athena's is UTC,
as the engine's DuckDB is); and the event time's precision is what Athena reads from
the Parquet files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlglot import exp
from sqlglot.dialects.trino import Trino

from growthos_segments.analytics.fields import path_of

__all__ = ["Athena", "NotPortable", "bind", "trino_sql"]

TABLES = {"contacts": "contacts_current", "events": "events_current"}
"""The relations a compiled query reads, as Athena names them (the merged views)."""

_UBIGINT_MAX = str(2**64 - 1)
_PATH_RE = re.compile(r'\$((?:\."[A-Za-z0-9_-]+")*)\Z')
_PATH_KEY_RE = re.compile(r'\."([A-Za-z0-9_-]+)"')
_DATE_ONLY = r"^([0-9]{4}-[0-9]{2}-[0-9]{2})$"
"""A date without a time, which DuckDB reads as its midnight: given that midnight explicitly."""
_TIMESTAMP = "TIMESTAMP(6) WITH TIME ZONE"
"""DuckDB's TIMESTAMPTZ: microseconds (Trino's unqualified one holds milliseconds)."""


class NotPortable(ValueError):
    """A construct of the query has no Trino form with DuckDB's answer."""


def trino_sql(query: exp.Expression, values: Mapping[str, Any] | None = None) -> str:
    """The query in Athena's SQL; with ``values`` (what ``CompiledQuery.parameters``
    gives) its named parameters become literals, the form Athena runs as it is (its
    execution parameters are positional ``?`` only). Without them each parameter is
    written ``?``, in no defined order."""
    tree = bind(query, values) if values is not None else query
    return Athena().generate(tree, copy=values is None)


def bind(query: exp.Expression, values: Mapping[str, Any]) -> exp.Expression:
    """A copy of ``query`` with each named parameter replaced by its value as a SQL literal
    (through sqlglot's literals, which escape: a value never becomes SQL text)."""

    def literal(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.name:
            if node.name not in values:
                raise NotPortable(f"no value for the query parameter {node.name!r}")
            return _literal(values[node.name])
        return node

    return query.copy().transform(literal, copy=False)


def _literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        text = repr(value)
        if text in ("inf", "-inf", "nan"):
            raise NotPortable(f"no SQL literal for {value!r}")
        # With an exponent a Trino literal is a DOUBLE (read as Java reads it: exactly this
        # double); without, it would be a DECIMAL.
        return exp.Literal.number(text if "e" in text else f"{text}E0")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise NotPortable(f"an instant needs a time zone: {value!r}")
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("TIMESTAMPTZ"))
    if isinstance(value, str):
        return exp.Literal.string(value)
    raise NotPortable(f"no SQL literal for a {type(value).__name__}")


def _timestamp_text(text: str) -> str:
    """An ISO instant as Trino's timestamp text: UTC, space-separated, six decimals."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise NotPortable(f"an instant literal without a time zone: {text!r}")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def _is_type(data_type: exp.DataType, *types: exp.DataType.Type) -> bool:
    return data_type.this in types and not data_type.expressions


_OURS = "trino"
"""The key, in a function node's sqlglot ``meta``, marking a call this module wrote in Trino's terms."""


def _call(name: str, args: list[exp.Expression]) -> exp.Anonymous:
    """A call of the Trino function ``name`` (written as it is, not translated again)."""
    call = exp.Anonymous(this=name, expressions=args)
    call.meta[_OURS] = True
    return call


def _text_of_json(value: exp.Expression) -> exp.Expression:
    return _call("json_format", [value])


def _kind_test(value: exp.Expression, kinds: set[str]) -> exp.Expression:
    """DuckDB's ``json_type(value) IN kinds`` from the text Trino writes the JSON value as:
    its first character tells the kind, and a number's digits tell UBIGINT (an integer
    from 0 to 2**64 - 1), BIGINT (a negative one from -2**63) and DOUBLE (any other
    number) apart, as DuckDB's reader sorts them. NULL where ``value`` is (a missing
    field), as ``json_type`` is."""
    text = _text_of_json(value)

    def first(*characters: str) -> exp.Expression:
        return exp.In(this=exp.Substring(this=text.copy(), start=exp.Literal.number(1),
                                         length=exp.Literal.number(1)),
                      expressions=[exp.Literal.string(c) for c in characters])

    def matches(pattern: str) -> exp.Expression:
        return exp.RegexpLike(this=text.copy(), expression=exp.Literal.string(pattern))

    number = first(*"-0123456789")
    as_bigint = exp.TryCast(this=text.copy(), to=exp.DataType.build("BIGINT"))
    signed = exp.and_(matches(r"^-[0-9]+$"), exp.not_(exp.Is(this=as_bigint, expression=exp.null())))
    wide = exp.DataType.build("DECIMAL(38, 0)")
    at_most = exp.cast(exp.Literal.string(_UBIGINT_MAX), wide)
    unsigned = exp.and_(matches(r"^[0-9]{1,20}$"),
                        exp.LTE(this=exp.TryCast(this=text.copy(), to=wide), expression=at_most))
    tests = {
        "VARCHAR": first('"'), "ARRAY": first("["), "OBJECT": first("{"),
        "BOOLEAN": exp.In(this=text.copy(), expressions=[exp.Literal.string(b) for b in ("true", "false")]),
        "NULL": exp.EQ(this=text.copy(), expression=exp.Literal.string("null")),
        "BIGINT": exp.and_(number.copy(), signed),
        "UBIGINT": exp.and_(number.copy(), unsigned),
        "DOUBLE": exp.and_(number.copy(), exp.not_(exp.paren(exp.or_(signed.copy(), unsigned.copy())))),
    }
    unknown = kinds - tests.keys()
    if unknown:
        raise NotPortable(f"no Trino test for the JSON kinds {sorted(unknown)}")
    if {"BIGINT", "UBIGINT", "DOUBLE"} <= kinds:
        parts = [number] + [tests[k] for k in sorted(kinds - {"BIGINT", "UBIGINT", "DOUBLE"})]
    else:
        parts = [tests[k] for k in sorted(kinds)]
    test = exp.or_(*parts) if len(parts) > 1 else parts[0]
    # NULL for a missing value whatever the kinds (a test of the digits alone would say false)
    return exp.Case(ifs=[exp.If(this=exp.Is(this=text.copy(), expression=exp.null()), true=exp.null())],
                    default=test)


def _json_path(path: exp.Expression) -> exp.Expression | None:
    """``$."a"."b"`` (the kit's paths) as ``$["a"]["b"]``, the bracket form Trino's path
    reads for any key the kit allows; ``None`` for ``$[*]``."""
    text = path.name
    if text == "$[*]":
        return None
    if not isinstance(path, exp.Literal) or not path.is_string or _PATH_RE.match(text) is None:
        raise NotPortable(f"a JSON path this dialect does not translate: {path.sql()}")
    return exp.Literal.string("$" + "".join(f'["{key}"]' for key in _PATH_KEY_RE.findall(text)))


def _span_milliseconds(span: exp.Expression) -> exp.Expression:
    """The milliseconds of DuckDB's ``to_microseconds(n)``: exact (Trino's date_add has no
    smaller unit), so a literal span must be whole milliseconds; a computed one (a zone's
    offset) is whole seconds, divided as integers."""
    amount = span.expressions[0]
    inner = amount.this if isinstance(amount, exp.Cast) else amount
    if isinstance(inner, exp.Literal) and not inner.is_string:
        micros = int(inner.name)
        if micros % 1000:
            raise NotPortable(f"a span of {micros} microseconds has no exact Trino form")
        return exp.Literal.number(micros // 1000)
    # typed: integer division, as Trino divides two BIGINTs (sqlglot's default writes a DOUBLE one)
    return exp.Div(this=exp.paren(amount.copy()), expression=exp.Literal.number(1000), typed=True)


def _is_span(node: exp.Expression) -> bool:
    return isinstance(node, exp.Anonymous) and node.name.lower() == "to_microseconds"


def _epoch_us(moment: exp.Expression) -> exp.Expression:
    """DuckDB's ``epoch_us``, exact: whole seconds from ``to_unixtime`` (an integral double,
    exact within 2**53 s) and the six decimals of the instant's text (none written: 0)."""
    exact = exp.cast(moment, exp.DataType.build("TIMESTAMPTZ"))
    whole = exp.cast(_call("to_unixtime", [
        _call("date_trunc", [exp.Literal.string("second"), exact])]),
        exp.DataType.build("BIGINT"))
    decimals = _call("regexp_extract", [
        exp.cast(exact.copy(), exp.DataType.build("VARCHAR")), exp.Literal.string(r"\.([0-9]{6})"),
        exp.Literal.number(1)])
    as_number = exp.TryCast(this=decimals, to=exp.DataType.build("BIGINT"))
    micros = exp.func("coalesce", as_number, exp.Literal.number(0))
    seconds = exp.Mul(this=whole, expression=exp.Literal.number(1_000_000))
    return exp.paren(exp.Add(this=seconds, expression=micros))


def _reduce(args: list[exp.Expression]) -> exp.Expression:
    """DuckDB's ``list_reduce(list, (acc, x) -> ..., initial)``: Trino's ``reduce`` takes the
    initial state second and a final function; the state is a DOUBLE (the kit sums doubles),
    which Trino needs the initial value typed as."""
    values, step, initial = args
    state = exp.to_identifier("rfm_state")
    return _call("reduce", [
        values, exp.cast(initial, exp.DataType.build("DOUBLE")), step,
        exp.Lambda(this=exp.column(state), expressions=[state.copy()])])


_RENAMED = {"isfinite": "is_finite", "list_sort": "array_sort", "map_extract_value": "element_at",
            "strpos": "strpos", "histogram": "histogram", "json_extract_string": "json_extract_scalar",
            "to_timestamp": "from_unixtime"}
"""DuckDB functions the kit calls whose Trino twin (of this name) takes the same arguments and
gives the same answer for the values the kit passes (``json_extract_string`` of a scalar,
``to_timestamp`` of whole seconds)."""


def _values(document: exp.Expression, path: exp.Expression) -> exp.Expression:
    """DuckDB's ``json_extract(document, '$."a"."b".*')``, the values of the object at
    ``$."a"."b"``, as the values of Trino's map of it; NULL (DuckDB: an empty list) for
    anything but an object, whose cast to a map fails."""
    value = _call("json_extract", [document, _json_path(exp.Literal.string(path.name[:-2]))])
    as_map = exp.TryCast(this=value, to=exp.DataType.build("MAP(VARCHAR, JSON)"))
    return _call("map_values", [as_map])


def _anonymous(args: list[exp.Expression], name: str) -> exp.Expression:
    if name == "json_extract":
        if args[1].name.endswith(".*") and isinstance(args[1], exp.Literal):
            return _values(args[0], args[1])
        path = _json_path(args[1])
        if path is None:  # the array's elements: NULL for a non-array (DuckDB: no elements)
            return exp.TryCast(this=args[0], to=exp.DataType.build("ARRAY(JSON)"))
        return _call("json_extract", [args[0], path])
    if name == "json_type":
        raise NotPortable("json_type outside `json_type(v) IN (...)` has no Trino form here")
    if name == "epoch_us":
        return _epoch_us(args[0])
    if name == "list_reduce":
        return _reduce(args)
    if name == "suffix":
        return exp.StartsWith(this=_call("reverse", [args[0]]),
                              expression=_call("reverse", [args[1]]))
    if name in _RENAMED:
        return _call(_RENAMED[name], args)
    raise NotPortable(f"no Trino form for DuckDB's {name}()")


class Athena(Trino):
    """Trino's dialect writing DuckDB's constructs as Athena engine version 3 runs them."""

    class Generator(Trino.Generator):
        def anonymous_sql(self, expression: exp.Anonymous) -> str:
            if expression.meta.get(_OURS):
                return super().anonymous_sql(expression)
            name = expression.name.lower()
            if name == "to_microseconds":
                raise NotPortable("a span outside `instant + span` has no Trino form here")
            return self.sql(_anonymous([a.copy() for a in expression.expressions], name))

        def in_sql(self, expression: exp.In) -> str:
            this = expression.this
            if isinstance(this, exp.Anonymous) and this.name.lower() == "json_type" and all(
                    isinstance(k, exp.Literal) and k.is_string for k in expression.expressions):
                kinds = {kind.name for kind in expression.expressions}
                return self.sql(_kind_test(this.expressions[0].copy(), kinds))
            if _bare_json(this, expression.expressions):
                return super().in_sql(_with_text(expression))
            return super().in_sql(expression)

        def eq_sql(self, expression: exp.EQ) -> str:
            if _bare_json(expression.this, [expression.expression]):
                return super().eq_sql(_with_text(expression))
            return super().eq_sql(expression)

        def add_sql(self, expression: exp.Add) -> str:
            if _is_span(expression.expression):
                return self._shifted(expression, 1)
            return super().add_sql(expression)

        def sub_sql(self, expression: exp.Sub) -> str:
            if _is_span(expression.expression):
                return self._shifted(expression, -1)
            return super().sub_sql(expression)

        def _shifted(self, expression: exp.Add | exp.Sub, sign: int) -> str:
            """``instant ± span`` as ``date_add('millisecond', ±ms, instant)``: exact instant
            arithmetic, as DuckDB's interval of microseconds is (no calendar, no zone)."""
            amount = _span_milliseconds(expression.expression)
            if sign < 0:
                amount = exp.Neg(this=exp.paren(amount))
            return self.sql(_call("date_add", [
                exp.Literal.string("millisecond"), amount, expression.this.copy()]))

        def cast_sql(self, expression: exp.Cast, safe_prefix: str | None = None) -> str:
            to, value = expression.to, expression.this
            if _is_type(to, exp.DataType.Type.TIMESTAMPTZ):
                if isinstance(value, exp.Literal) and value.is_string:
                    text = self.sql(exp.Literal.string(_timestamp_text(value.name)))
                    return f"CAST({text} AS {_TIMESTAMP})"
                if isinstance(expression, exp.TryCast):  # text the kit matched as ISO 8601
                    timed = _call("regexp_replace", [value.copy(), exp.Literal.string(_DATE_ONLY),
                                                     exp.Literal.string("$1T00:00:00")])
                    parsed = _call("try", [_call("from_iso8601_timestamp_nanos", [timed])])
                    return f"CAST({self.sql(parsed)} AS {_TIMESTAMP})"
            if _is_type(to, exp.DataType.Type.JSON) and isinstance(value, exp.Literal) and value.is_string:
                return self.sql(_call("json_parse", [value.copy()]))
            if _is_type(to, exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT) and _is_json(value):
                return self.sql(_text_of_json(value.copy()))
            return super().cast_sql(expression, safe_prefix)

        def struct_sql(self, expression: exp.Struct) -> str:
            """A ROW of the values: the kit casts every struct to its named ROW type, which names
            the fields (sqlglot's Trino writer would warn that it cannot type them)."""
            values = [e.expression if isinstance(e, exp.PropertyEQ) else e for e in expression.expressions]
            return self.func("ROW", *values)

        def is_sql(self, expression: exp.Is) -> str:
            """``x IS FALSE`` (or TRUE), which sqlglot's Trino writer turns into ``NOT x``, wrong
            for NULL (the undecided rows): ``x IS NOT DISTINCT FROM FALSE`` is exact."""
            if isinstance(expression.expression, exp.Boolean):
                value, truth = self.sql(expression, "this"), self.sql(expression, "expression")
                return f"({value} IS NOT DISTINCT FROM {truth})"
            return super().is_sql(expression)

        def datatype_sql(self, expression: exp.DataType) -> str:
            if _is_type(expression, exp.DataType.Type.TIMESTAMPTZ):
                return _TIMESTAMP
            if _is_type(expression, exp.DataType.Type.TIMESTAMP):
                return "TIMESTAMP(6)"  # DuckDB's local time holds microseconds too
            if expression.this == exp.DataType.Type.BIGNUM:
                return "DECIMAL(38, 0)"
            return super().datatype_sql(expression)

        def regexplike_sql(self, expression: exp.RegexpLike) -> str:
            flag = expression.args.get("flag")
            if flag is None:
                return self.func("REGEXP_LIKE", expression.this, expression.expression)
            if not (isinstance(flag, exp.Literal) and flag.name == "i"
                    and isinstance(expression.expression, exp.Literal)):
                raise NotPortable(f"regular expression flags {flag.sql()} have no Trino form here")
            pattern = exp.Literal.string("(?i)" + expression.expression.name)
            return self.func("REGEXP_LIKE", expression.this, pattern)

        def table_sql(self, expression: exp.Table, sep: str = " AS ") -> str:
            if not expression.db and expression.name in TABLES:
                expression = expression.copy()
                expression.set("this", exp.to_identifier(TABLES[expression.name]))
            return super().table_sql(expression, sep)

        def column_sql(self, expression: exp.Column) -> str:
            keys = path_of(expression.name)
            if keys is not None:
                path = "$" + "".join(f'["{key}"]' for key in keys)
                return self.sql(_call("json_extract", [
                    exp.column("doc", table=expression.table or None), exp.Literal.string(path)]))
            return super().column_sql(expression)

        def placeholder_sql(self, expression: exp.Placeholder) -> str:
            return "?"


_LIFTED_RE = re.compile(r"f[0-9]+\Z")


def _bare_json(value: exp.Expression, others: list[exp.Expression]) -> bool:
    """A JSON column compared with string literals: DuckDB compares its text (the compiler
    writes ``"field:a" = '"pro"'`` so for the DuckDB copy), which Trino has to be told."""
    return (isinstance(value, exp.Column) and _is_json(value) and bool(others)
            and all(isinstance(o, exp.Literal) and o.is_string for o in others))


def _with_text(comparison: exp.EQ | exp.In) -> exp.EQ | exp.In:
    out = comparison.copy()
    out.set("this", _text_of_json(comparison.this.copy()))
    return out


def _is_json(value: exp.Expression) -> bool:
    """A JSON value, whose text Trino writes with ``json_format`` (its CAST to VARCHAR
    refuses arrays and objects and unquotes strings): an extraction, a JSON literal,
    a COALESCE of those, or a document path the compiler lifted into column ``c.f<n>``."""
    if isinstance(value, exp.Coalesce):
        return all(_is_json(part) for part in (value.this, *value.expressions))
    if isinstance(value, exp.Anonymous):
        return value.name.lower() == "json_extract"
    if isinstance(value, exp.Cast):
        return _is_type(value.to, exp.DataType.Type.JSON)
    if isinstance(value, exp.Column):
        lifted = value.table == "c" and _LIFTED_RE.match(value.name) is not None
        return lifted or path_of(value.name) is not None
    return False

