"""The compiler's contract: SQL forms for the built-in types, one query, parameters, fallbacks."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from growthos_segments.analytics.compiler import NoSqlForm, compile_rule
from growthos_segments.analytics.documents import connect, load_documents
from growthos_segments.analytics.engine import answer
from growthos_segments.core.host import PluginHost
from growthos_segments.core.rules import parse_rule
from growthos_segments.core.segments import SegmentDefinition, SegmentSet
from growthos_segments.kit import ConditionType, ContactView, Reads, Result, hookimpl
from growthos_segments.kit.params import ParamsModel
from growthos_segments.kit.sql import NOW, SqlForm
from growthos_segments.plugins import BUILTIN_PLUGINS
from tests.analytics.conftest import both_paths, selects_from

NOW_AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

def test_every_builtin_type_has_a_sql_form(host: PluginHost) -> None:
    names = {entry["name"] for entry in host.catalog()}
    without = sorted(name for name in names if host.condition_type(name).bulk_compile is None)  # type: ignore[union-attr]
    assert without == []


def test_examples_compile_to_a_query_athena_reads_back(host: PluginHost) -> None:
    compiled = 0
    for entry in host.catalog():
        for example in entry["examples"]:
            try:
                query = compile_rule(parse_rule({"!": example}, host))
            except NoSqlForm:
                continue  # e.g. a date window or case_insensitive: answered per contact
            trino = query.transpile("trino")
            assert isinstance(sqlglot.parse_one(trino, read="trino"), exp.Select)
            assert {p.name for p in query.query.find_all(exp.Placeholder)} >= {"tenant"}
            compiled += 1
    assert compiled >= 15


def test_user_values_are_sql_literals_not_sql_text(con: Any, host: PluginHost) -> None:
    hostile = "x' OR 1=1 OR 'a'='a"
    docs = [{"contact_id": "a", "attributes": {"plan": "free"}},
            {"contact_id": "b", "attributes": {"plan": hostile}}]
    rule = {"attribute": {"field": "plan", "op": "equals", "value": hostile}}
    expected, got = both_paths(con, host, rule, docs, NOW_AT)
    assert got.path == "sql"
    assert expected == set(got.members) == {"b"}


def test_a_field_path_that_is_not_a_plain_name_is_refused() -> None:
    from growthos_segments.kit.sql import json_at

    with pytest.raises(ValueError, match="not a plain field name"):
        json_at(("attributes", 'plan"]'))


def test_each_query_reads_one_tenant_only(host: PluginHost) -> None:
    con = connect()
    doc = {"contact_id": "same", "attributes": {"plan": "free"}}
    load_documents(con, [doc], tenant_id="t1")
    load_documents(con, [{**doc, "attributes": {"plan": "paid"}}], tenant_id="t2")
    segments = SegmentSet(host, [SegmentDefinition("r", {"attribute": {"field": "plan", "op": "equals",
                                                                        "value": "free"}})])
    assert answer(con, host, segments, "r", "t1", NOW_AT).members == ("same",)
    assert answer(con, host, segments, "r", "t2", NOW_AT).members == ()
    assert answer(con, host, segments, "r", "t3", NOW_AT).members == ()


def test_loader_skips_exactly_the_events_the_view_skips() -> None:
    con = connect()
    doc = {"contact_id": "c", "events": [
        {"name": "ok", "at": "2026-01-01T00:00:00Z"}, {"name": 3, "at": "2026-01-01T00:00:00Z"},
        {"name": "no-time"}, {"name": "bad-time", "at": "yesterday"},
        {"name": "too-early", "at": "1800-01-01"},
        "not an object", {"name": "naive", "at": "2026-01-01T10:00:00", "properties": [1]},
    ]}
    load_documents(con, [doc], tenant_id="t")
    rows = con.execute('SELECT name, "at", properties FROM events ORDER BY name').fetchall()
    view = ContactView(doc).events()
    assert [(r[0], r[1]) for r in rows] == sorted((e.name, e.at) for e in view)
    assert [r[0] for r in rows] == ["naive", "ok"]


# --------------------------------------------------------------------------- aggregates and now


class CountParams(ParamsModel):
    name: str
    at_least: int


def _count_per_contact(p: CountParams) -> Callable[[ContactView, datetime], Result]:
    def count(view: ContactView, now: datetime) -> Result:
        seen = sum(1 for e in view.events() if e.name == p.name and e.at <= now)
        return seen >= p.at_least, None

    return count


def _count_sql(p: CountParams) -> SqlForm:
    seen = exp.func("count_if", exp.and_(
        exp.EQ(this=exp.column("name"), expression=exp.Literal.string(p.name)),
        exp.LTE(this=exp.column("at"), expression=NOW.copy())), dialect="duckdb")
    total = exp.func("coalesce", exp.column("seen"), exp.Literal.number(0))
    return SqlForm(exp.GTE(this=total, expression=exp.Literal.number(p.at_least)), {"seen": seen})


class _CountPlugin:
    @hookimpl
    def register_condition_types(self, register: Callable[..., None]) -> None:
        register(ConditionType(name="seen", label="seen", description="test", category="test",
                               params=CountParams, compile=_count_per_contact, bulk_compile=_count_sql,
                               reads=lambda p: Reads(events=frozenset({p.name}), lookback=timedelta.max)),
                 ConditionType(name="opaque", label="opaque", description="test", category="test",
                               params=CountParams, compile=_count_per_contact,
                               reads=lambda p: Reads(events=frozenset({p.name}), lookback=timedelta.max)))


@pytest.fixture(scope="module")
def counting_host() -> PluginHost:
    return PluginHost((*BUILTIN_PLUGINS, _CountPlugin()), load_entry_points=False)


EDGE = datetime(2026, 11, 29, 12, 0, 0, 1, tzinfo=UTC)
DOCS = [
    {"contact_id": "none"},
    {"contact_id": "one", "events": [{"name": "buy", "at": "2026-11-29T12:00:00.000001Z"}]},
    {"contact_id": "two", "events": [{"name": "buy", "at": "2026-11-28T00:00:00Z"},
                                     {"name": "buy", "at": "2026-11-29T13:00:00+01:00"},
                                     {"name": "view", "at": "2026-11-01T00:00:00Z"}]},
]


@pytest.mark.parametrize("now", [EDGE - timedelta(microseconds=1), EDGE, EDGE + timedelta(hours=2)])
@pytest.mark.parametrize("rule", [
    {"seen": {"name": "buy", "at_least": 1}},
    {"seen": {"name": "buy", "at_least": 0}},
    {"!": {"seen": {"name": "buy", "at_least": 2}}},
    {"and": [{"seen": {"name": "buy", "at_least": 1}}, {"seen": {"name": "view", "at_least": 1}}]},
    {"or": [{"seen": {"name": "view", "at_least": 1}}, {"tag": {"tags": ["x"], "match": "none"}}]},
])
def test_aggregates_are_one_pass_over_events_with_now_as_a_parameter(
    con: Any, counting_host: PluginHost, rule: Any, now: datetime
) -> None:
    expected, got = both_paths(con, counting_host, rule, DOCS, now)
    assert got.path == "sql"
    assert set(got.members) == expected
    query = compile_rule(parse_rule(rule, counting_host))
    assert len([s for s in query.query.find_all(exp.Group)]) <= 1
    assert "now" in query.parameters("t", now)


def test_a_type_without_sql_form_is_answered_per_contact_and_says_why(
    con: Any, counting_host: PluginHost
) -> None:
    rule = {"or": [{"tag": {"tags": ["x"]}}, {"opaque": {"name": "buy", "at_least": 1}}]}
    expected, got = both_paths(con, counting_host, rule, DOCS, EDGE)
    assert got.path == "per-contact"
    assert got.reason == "/or/1/opaque: condition type 'opaque' has no SQL form"
    assert set(got.members) == expected == {"one", "two"}


def test_loading_the_plugins_does_not_load_sqlglot() -> None:
    """Every function builds the plugin host on a cold start; SQL forms load only when compiled."""
    probe = ("import sys; from growthos_segments.plugins import default_host; default_host(); "
             "print(sorted(m for m in sys.modules if m.startswith(('sqlglot', 'growthos_segments.kit.sql')))"
             ")")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_each_document_path_is_read_once_and_the_predicate_computed_once(host: PluginHost) -> None:
    rule = {"and": [{"attribute": {"field": "plan", "op": "equals", "value": "pro"}},
                    {"attribute": {"field": "plan", "op": "exists"}},
                    {"attribute": {"field": "country", "op": "in", "values": ["GB", "IE"]}}]}
    query = compile_rule(parse_rule(rule, host))
    extracts = [node for node in query.query.find_all(exp.Anonymous) if node.name.lower() == "json_extract"]
    assert sorted(node.expressions[1].name for node in extracts) == [
        '$."attributes"."country"', '$."attributes"."plan"']
    assert len([c for c in query.query.find_all(exp.Coalesce)]) == 3  # one per condition, in one place


PUSHED_PROFILE = [
    {"contact_id": f"p{i}", "attributes": {"plan": plan, "country": country}, "scores": {"lead": lead},
     "events": [{"name": "order.completed", "at": "2026-11-20T10:00:00Z"}] if i % 2 else []}
    for i, (plan, country, lead) in enumerate(
        [("pro", "GB", 90), ("pro", "GB", 90), ("pro", "FR", 85), ("free", "GB", 95), (None, "IE", 81),
         (7, "IE", "90"), (True, "GB", True), ("PRO", "GB", 80), ("pro", ["GB"], 79.5), ("pro", "IE", 80.0),
         ("pro", "IE", None), ("pro", None, 100)])
]
"""Profile values a contacts-read filter must treat as the condition does: the value,
another one, missing (None), the wrong kind, other case, a list, at the bound."""


@pytest.mark.parametrize("rule", [
    {"and": [{"attribute": {"field": "plan", "op": "equals", "value": "pro"}},
             {"attribute": {"field": "country", "op": "in", "values": ["GB", "IE"]}}]},
    {"and": [{"score_band": {"band": "hot"}}, {"event": {"name": "order.completed", "within": "90d"}}]},
    {"and": [{"attribute": {"field": "plan", "op": "equals", "value": "pro"}},
             {"!": {"event": {"name": "order.completed", "within": "90d"}}},
             {"score": {"name": "lead", "gte": 80}}]},
])
def test_profile_conjuncts_filter_the_contacts_read_and_both_paths_agree(
    con: Any, host: PluginHost, rule: dict[str, Any]
) -> None:
    """A top-level profile test on a field column is applied while the contacts are read
    (where DuckDB's scan applies it) and the members are the per-contact path's."""
    now = datetime(2026, 11, 22, tzinfo=UTC)
    expected, got = both_paths(con, host, rule, [{**doc, "tenant_id": "x"} for doc in PUSHED_PROFILE], now)
    assert set(got.members) == expected and expected
    fields = {'$."attributes"."plan"': "field:attributes.plan",
              '$."attributes"."country"': "field:attributes.country",
              '$."scores"."lead"': "field:scores.lead"}
    segments = SegmentSet(host, [SegmentDefinition("rule", rule)])
    from growthos_segments.analytics.compiler import compile_segment

    query = compile_segment(segments, "rule", fields).query
    [read] = selects_from(query, "contacts")
    assert any(column.name.startswith("field:") for column in read.args["where"].find_all(exp.Column))


def test_a_text_test_on_a_field_column_compares_the_column_itself(host: PluginHost) -> None:
    """``"field:..." = '"pro"'``, not ``CAST("field:..." AS VARCHAR) = ...``: only the bare
    column is a filter DuckDB pushes into the Parquet scan. Where the path has no field
    column the extraction from ``doc`` keeps its cast (its JSON text is what is compared)."""
    rule = {"and": [{"attribute": {"field": "plan", "op": "equals", "value": "pro"}},
                    {"attribute": {"field": "country", "op": "in", "values": ["GB", "IE"]}},
                    {"attribute": {"field": "city", "op": "equals", "value": "Cork"}}]}
    segments = SegmentSet(host, [SegmentDefinition("rule", rule)])
    from growthos_segments.analytics.compiler import compile_segment

    fields = {'$."attributes"."plan"': "field:attributes.plan",
              '$."attributes"."country"': "field:attributes.country"}
    query = compile_segment(segments, "rule", fields).query
    read = selects_from(query, "contacts")[0]
    compared = {node.this.sql("duckdb") for node in read.args["where"].find_all(exp.EQ, exp.In)
                if node.this.name != "tenant_id"}
    assert compared == {'"field:attributes.plan"', '"field:attributes.country"'}
    city = next(e.this for e in read.expressions if isinstance(e, exp.Alias) and e.this.find(exp.Anonymous))
    assert "city" in city.sql("duckdb")
    member = next(e for e in query.find_all(exp.Alias) if e.alias == "member").this
    assert member.find(exp.Cast) is not None  # the city's text: no field column, so it keeps its cast


def test_profile_conjuncts_applied_while_reading_are_not_tested_again(host: PluginHost) -> None:
    """Every row the contacts read passes its filters, so the membership of a rule made only
    of them is TRUE there, and their columns are not read a second time."""
    rule = {"and": [{"attribute": {"field": "plan", "op": "equals", "value": "pro"}},
                    {"score": {"name": "lead", "gte": 80}},
                    {"event": {"name": "order.completed", "within": "90d"}}]}
    segments = SegmentSet(host, [SegmentDefinition("rule", rule)])
    from growthos_segments.analytics.compiler import compile_segment

    fields = {'$."attributes"."plan"': "field:attributes.plan", '$."scores"."lead"': "field:scores.lead"}
    query = compile_segment(segments, "rule", fields).query
    read = selects_from(query, "contacts")[0]
    assert [e.alias_or_name for e in read.expressions] == ["contact_id", "tenant_id"]
    member = next(e for e in query.find_all(exp.Alias) if e.alias == "member").this
    assert not any(column.name.startswith(("f", "field:")) for column in member.find_all(exp.Column)
                   if column.table == "c")
    assert member.find(exp.In) is not None  # the order test is what is left to compute


def test_an_answer_lists_its_members_in_python_s_order_of_the_ids(con: Any, host: PluginHost) -> None:
    """A decided query's ids come sorted by DuckDB (no Python sort): in the order ``sorted``
    gives, non-ASCII ids included (DuckDB compares VARCHAR by code point)."""
    ids = ["😀", "\uff5a", "é", "ß", "z", "b", "a\u0301", "a", "Z", "9", "10"]
    docs = [{"contact_id": contact, "attributes": {"plan": "pro"}} for contact in ids]
    expected, got = both_paths(con, host, {"attribute": {"field": "plan", "op": "equals", "value": "pro"}},
                               docs, NOW_AT)
    assert got.path == "sql" and got.members == tuple(sorted(ids)) and set(got.members) == expected
