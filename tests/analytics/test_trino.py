"""The Trino text of compiled queries is SQL Athena (engine version 3) runs: Trino's functions,
types and syntax only, the merged views' names, parameters as literals.

No Trino runs here, so these tests hold the text to Trino's documented vocabulary and
grammar; the answer itself is held by the DuckDB twin of each query (the parity tables).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pytest
import sqlglot
from sqlglot import exp
from sqlglot.dialects.trino import Trino
from sqlglot.tokens import Token, TokenType

import benchmarks.bench_analytics as bench
import tests.analytics.test_parity as parity
import tests.analytics.test_parity_email as parity_email
import tests.analytics.test_parity_events as parity_events
import tests.analytics.test_parity_jsonlogic as parity_jsonlogic
import tests.analytics.test_parity_rfm as parity_rfm
from growthos_segments.analytics.compiler import CompiledQuery, NoSqlForm, compile_rule
from growthos_segments.analytics.trino import NotPortable, _epoch_us, _kind_test, trino_sql
from growthos_segments.core.host import PluginHost
from growthos_segments.core.rules import parse_rule
from growthos_segments.kit.sql import NOW
from growthos_segments.kit.sql_events import EVENT_AT, span
from growthos_segments.plugins import default_host
from growthos_segments.plugins.rfm import tenant_context_sql

AT = datetime(2026, 11, 29, 12, 0, 0, 123457, tzinfo=UTC)

# Trino's functions by name (https://trino.io/docs/current/functions/list.html; Athena engine
# version 3 refers to Trino's documentation for its functions:
# https://docs.aws.amazon.com/athena/latest/ug/engine-versions-reference-0003.html). Only
# names written here pass: a DuckDB function sqlglot writes through unchanged fails.
TRINO_FUNCTIONS = frozenset([
    "abs", "any_match", "all_match", "none_match", "array_agg", "array_distinct", "array_join",
    "array_max", "array_min", "array_position", "array_sort", "arrays_overlap", "at_timezone",
    "cardinality", "ceil", "ceiling", "coalesce", "concat", "contains", "cos", "count", "count_if", "date",
    "date_add", "date_diff", "date_format", "date_trunc", "day", "day_of_month", "day_of_week",
    "day_of_year", "dow", "doy", "element_at", "filter", "floor", "format_datetime",
    "from_iso8601_date", "from_iso8601_timestamp", "from_iso8601_timestamp_nanos", "from_unixtime",
    "greatest", "histogram", "hour", "if", "is_finite", "is_json_scalar", "json_array_contains",
    "json_array_length", "json_extract", "json_extract_scalar", "json_format", "json_parse",
    "json_size", "least", "length", "lower", "map_keys", "map_values", "max", "min", "minute", "mod", "month",
    "nullif", "reduce", "regexp_extract", "regexp_like", "regexp_replace", "replace", "reverse",
    "second", "sequence", "sin", "split", "starts_with", "strpos", "substr", "substring", "sum",
    "to_unixtime", "transform", "translate", "truncate", "try", "upper", "week", "year", "year_of_week"
])
SYNTAX = frozenset([
    "and", "or", "not", "in", "from", "join", "where", "when", "then", "else", "case", "as", "on",
    "exists", "select", "over", "filter", "row", "array", "map", "decimal", "timestamp", "cast", "try_cast"
])
"""Words a parenthesis follows that are Trino grammar, not functions (FILTER is both)."""
TYPE_RE = re.compile(r"(BOOLEAN|BIGINT|INTEGER|DOUBLE|VARCHAR|JSON|DATE|DECIMAL\(38, 0\)"
                     r"|TIMESTAMP\(6\) WITH TIME ZONE|TIMESTAMP\(6\)|ARRAY\(JSON\)|ARRAY\(DATE\)"
                     r"|MAP\(VARCHAR, JSON\)|ROW\(c VARCHAR, t TIMESTAMP\(6\) WITH TIME ZONE\))\Z")
"""Trino types whose meaning is DuckDB's (TIMESTAMP WITH TIME ZONE alone is milliseconds)."""
ATHENA_QUERY_BYTES = 262_144
"""Athena's longest query string (its service quotas)."""
DUCKDB_ONLY = {TokenType.DCOLON: "::", TokenType.DARROW: "->>", TokenType.L_BRACE: "{",
               TokenType.PARAMETER: "$"}


def problems(text: str) -> list[str]:
    """What in ``text`` Trino (Athena engine version 3) does not read as the compiler means it."""
    found: list[str] = []
    tokens: list[Token] = Trino().tokenize(text)
    for before, token, after in zip([None, *tokens[:-1]], tokens, [*tokens[1:], None], strict=True):
        word = token.text.lower()
        if after is not None and after.token_type == TokenType.L_PAREN and re.fullmatch(r"[a-z_0-9]+", word):
            if token.token_type == TokenType.VAR and word not in TRINO_FUNCTIONS | {"cast", "try_cast"}:
                found.append(f"function {word}() is not Trino's")
            elif token.token_type != TokenType.VAR and word not in SYNTAX | TRINO_FUNCTIONS:
                found.append(f"{word}(...) is not Trino syntax")
        if token.token_type in DUCKDB_ONLY or (token.token_type == TokenType.VAR and word.startswith("$")):
            found.append(f"DuckDB syntax {token.text!r}")
        if token.token_type == TokenType.SLASH and after is not None and after.token_type == TokenType.SLASH:
            found.append("DuckDB's integer division //")
        if token.token_type == TokenType.COLON and after is not None and after.token_type == TokenType.VAR:
            found.append(f"named parameter :{after.text}")
        if token.token_type == TokenType.L_BRACKET and (before is None or before.token_type not in (
                TokenType.ARRAY, TokenType.VAR, TokenType.R_BRACKET, TokenType.R_PAREN)):
            found.append("a list literal [...] (Trino writes ARRAY[...])")
        if token.token_type != TokenType.STRING and word in ("lambda", "qualify", "anti", "semi", "exclude"):
            found.append(f"DuckDB word {word}")
    tree = Trino().parser().parse(tokens, text)[0]  # the text parsed back, from the same tokens
    assert isinstance(tree, exp.Select), text
    for data_type in tree.find_all(exp.DataType):
        if isinstance(data_type.parent, exp.DataType | exp.ColumnDef):
            continue
        if not TYPE_RE.match(data_type.sql("trino")):
            found.append(f"type {data_type.sql('trino')}")
    defined = {cte.alias for cte in tree.find_all(exp.CTE)}  # the query's own WITH names
    for table in tree.find_all(exp.Table):
        if table.name not in ("contacts_current", "events_current", *defined):
            found.append(f"table {table.name} (Athena reads the merged views)")
    if "field:" in text:
        found.append("a field column (Athena's tables have none)")
    if len(text.encode()) > ATHENA_QUERY_BYTES:
        found.append(f"{len(text.encode())} bytes, beyond Athena's query length")
    return found


def _shape(value: Any) -> Any:
    """A rule with each value replaced by its kind: rules differing only in values compile
    to one shape of query, so one of each is enough here (the parity tables run them all)."""
    if isinstance(value, dict):
        return {key: _shape(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_shape(inner) for inner in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return "int" if abs(value) < 2**53 else "wide int"
    if isinstance(value, float):
        return "whole float" if value.is_integer() else "float"
    if re.match(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return "date"
    if re.fullmatch(r"[0-9]+ *[a-z]+", value):
        return value  # a duration: its length decides the span's form
    return "text" if value else ""


def _rules(host: PluginHost) -> Iterator[tuple[str, Any]]:
    for entry in host.catalog():
        for index, example in enumerate(entry["examples"]):
            yield f"catalog {entry['name']} example {index}", example
    yield from ((f"parity {name}", rule) for name, rule, _ in parity.CASES)
    yield from ((f"email parity {case.id}", case.values[0]) for case in parity_email.CASES)
    yield from ((f"event parity {json.dumps(rule)}", rule) for rule in parity_events.CASES)
    yield from ((f"jsonlogic parity {case.id}", case.values[0]) for case in parity_jsonlogic._cases())
    rfm = parity_rfm.CONTEXT_RULES + parity_rfm.STRICT_RULES + parity_rfm.MEASURE_RULES
    yield from ((f"rfm parity {name}", rule) for name, rule in rfm)
    yield from ((f"bench {name}", rule) for name, (rule, _) in bench.SQL.items())


def _queries() -> list[tuple[str, CompiledQuery]]:
    host = default_host()
    shapes: dict[str, tuple[str, CompiledQuery]] = {}
    for name, rule in _rules(host):
        key = json.dumps(_shape(rule), sort_keys=True)
        if key in shapes:
            continue
        try:
            shapes[key] = (name, compile_rule(parse_rule(rule, host)))
        except NoSqlForm:
            continue
    return list(shapes.values())


QUERIES = _queries()


def test_every_compiled_query_is_trino_athena_runs() -> None:
    failures = [f"{name}: {problem}"
                for name, query in QUERIES for problem in problems(query.transpile("trino"))]
    assert len(QUERIES) > 300
    assert failures == []


@pytest.mark.parametrize("context", ["unsorted-and-fractional-cuts", "no-rfm"])
def test_queries_with_their_parameters_bound_are_plain_trino(context: str) -> None:
    """Athena takes no named parameters: bound, each is a literal (the context's values too)."""
    bound = [(name, query.transpile("trino", query.parameters("acme", AT, parity_rfm.CONTEXTS[context])))
             for name, query in QUERIES if name.startswith(("rfm", "bench"))]
    failures = [f"{name}: {problem}" for name, text in bound for problem in problems(text)]
    assert failures == []
    assert [name for name, text in bound
            if any(token.token_type == TokenType.PLACEHOLDER for token in Trino().tokenize(text))] == []


def test_the_context_query_is_trino_too() -> None:
    for namespace, form in tenant_context_sql().items():
        assert problems(trino_sql(form.query, {"tenant": "acme", "now": AT})) == [], namespace


def test_values_stay_literals() -> None:
    hostile = "x' OR 1=1 OR 'a'='a"
    host = default_host()
    query = compile_rule(parse_rule({"attribute": {"field": "plan", "op": "equals", "value": hostile}}, host))
    text = query.transpile("trino", query.parameters(hostile, AT))
    literals = {node.name for node in sqlglot.parse_one(text, read="trino").find_all(exp.Literal)}
    assert hostile in literals
    assert [where.sql("trino") for where in sqlglot.parse_one(text, read="trino").find_all(exp.Where)
            if "tenant_id" in where.sql("trino")] == ["WHERE tenant_id = 'x'' OR 1=1 OR ''a''=''a'"]


def test_instants_keep_their_microseconds() -> None:
    """Trino's TIMESTAMP WITH TIME ZONE holds milliseconds: DuckDB's TIMESTAMPTZ is (6)."""
    host = default_host()
    query = compile_rule(parse_rule({"event": {"name": "email.opened", "within": "7d"}}, host))
    text = query.transpile("trino", query.parameters("acme", AT))
    assert "CAST('2026-11-29 12:00:00.123457 UTC' AS TIMESTAMP(6) WITH TIME ZONE)" in text
    assert "TIMESTAMP WITH TIME ZONE" not in text
    assert "DATE_ADD('millisecond', -(604800000), " in text


def test_a_span_finer_than_a_millisecond_is_refused() -> None:
    """Trino adds no unit below the millisecond exactly: such a span is refused, not rounded."""
    def since(length: timedelta) -> exp.Select:
        ago = exp.Sub(this=NOW.copy(), expression=span(length))
        return exp.select("contact_id").from_("events").where(exp.GT(this=EVENT_AT.copy(), expression=ago))

    with pytest.raises(NotPortable, match="1 microseconds"):
        trino_sql(since(timedelta(microseconds=1)))
    assert "DATE_ADD('millisecond', -(1), " in trino_sql(since(timedelta(milliseconds=1)))


def test_field_columns_are_read_from_the_document() -> None:
    """By the copy's contract a field column is ``json_extract(doc, path)``; Athena's tables
    have only ``doc``."""
    host = default_host()
    rule = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}
    query = compile_rule(parse_rule(rule, host), fields={'$."attributes"."plan"': "field:attributes.plan"})
    assert '"field:attributes.plan"' in query.sql
    text = query.transpile("trino")
    assert problems(text) == []
    assert """JSON_EXTRACT(doc, '$["attributes"]["plan"]')""" in text
    # DuckDB compares the bare JSON column's text with '"pro"'; Trino is told to (json_format)
    assert """JSON_FORMAT(JSON_EXTRACT(doc, '$["attributes"]["plan"]')) = '"pro"'""" in text


def test_a_zone_offset_shifts_by_whole_milliseconds() -> None:
    """The offset (microseconds in DuckDB's form) divided as integers: date_add takes a BIGINT."""
    host = default_host()
    rule = {"email_open_time": {"hours": [22, 2], "timezone": "Europe/London"}}
    query = compile_rule(parse_rule(rule, host))
    text = query.transpile("trino", query.parameters("acme", AT))
    assert problems(text) == []
    assert """ELSE 0 END END END END END END END AS BIGINT)) / 1000, AT_TIMEZONE("at", 'UTC'))""" in text


def test_undecided_rows_stay_in_the_answer() -> None:
    """``member IS FALSE`` is not Trino's grammar and sqlglot writes ``NOT member``, which drops
    the NULLs (the contacts decided per contact); IS NOT DISTINCT FROM keeps them."""
    host = default_host()
    text = compile_rule(parse_rule({"tag": {"tags": ["vip"]}}, host)).transpile("trino")
    assert text.endswith("WHERE NOT (member IS NOT DISTINCT FROM FALSE)")


JSON_TEXTS = [
    "0", "1", "-1", "-0", str(2**63 - 1), str(-(2**63)), str(-(2**63) - 1), str(2**63), str(2**64 - 1),
    str(2**64), "1" * 42, "-" + "1" * 42, "1.5", "1e3", "-2.5e-3", '"s"', '""', '"1"', '"[1]"', "true",
    "false", "null", "[]", "[1]", "{}", '{"a":1}',
]


KINDS = sorted({frozenset(kind.name for kind in test.expressions) for _, query in QUERIES
                for test in query.query.find_all(exp.In)
                if isinstance(test.this, exp.Anonymous) and test.this.name == "json_type"}, key=sorted)
"""Every set of JSON kinds the compiled queries test a value for."""


@pytest.mark.parametrize("kinds", KINDS, ids=lambda kinds: "+".join(sorted(kinds)))
def test_json_kinds_are_told_apart_as_duckdb_does(kinds: frozenset[str]) -> None:
    """The kind test on the JSON text, run by DuckDB with json_format as DuckDB writes JSON,
    answers as DuckDB's json_type does (a number spelled otherwise by Trino is not tested here)."""
    con = duckdb.connect()
    con.execute("CREATE MACRO json_format(v) AS CAST(v AS VARCHAR)")
    test = _kind_test(exp.column("v"), set(kinds)).sql("duckdb")
    listed = ", ".join(f"'{kind}'" for kind in sorted(kinds))
    for text in [*JSON_TEXTS, None]:
        want, got = con.execute(f"SELECT json_type(v) IN ({listed}), {test} FROM (SELECT ?::JSON AS v)",
                                [text]).fetchone() or ()
        assert got is want, text


def test_epoch_microseconds_are_exact() -> None:
    """Whole seconds and the instant's six decimals, run by DuckDB with to_unixtime as epoch():
    equal to DuckDB's epoch_us on both sides of 1970, with and without decimals."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE MACRO to_unixtime(t) AS epoch(t)")
    twin = _epoch_us(exp.column("t")).sql("duckdb")
    for moment in (AT, AT.replace(microsecond=0), datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                   datetime(1901, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
                   datetime(2200, 1, 1, 0, 0, 0, 999999, tzinfo=UTC)):
        want, got = con.execute(f"SELECT epoch_us(t), {twin} FROM (SELECT ?::TIMESTAMPTZ AS t)",
                                [moment]).fetchone() or ()
        assert got == want, moment
