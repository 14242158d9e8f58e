"""The aggregates' one pass over the events reads only the rows the rule's conditions declare."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlglot import exp

from growthos_segments.analytics.compiler import compile_rule
from growthos_segments.core.host import PluginHost
from growthos_segments.core.rules import parse_rule
from tests.analytics.conftest import both_paths

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def _events_where(rule: Any, host: PluginHost) -> str | None:
    query = compile_rule(parse_rule(rule, host)).query
    selects = [s for s in query.find_all(exp.Select)  # the one grouped SELECT is the pass
               if s.args.get("group") and any(table.name == "events" for table in s.find_all(exp.Table))]
    assert len(selects) == 1
    where = selects[0].args.get("where")
    return None if where is None else where.sql("duckdb")


def test_the_pass_reads_the_declared_names_within_the_declared_lookback(host: PluginHost) -> None:
    where = _events_where({"or": [{"event": {"name": "order.completed", "within": "90d"}},
                                  {"email": {"action": "opened", "min_count": 3, "within": "30d"}}]}, host)
    assert where is not None
    assert "'order.completed'" in where and "STARTS_WITH(name, 'order.completed.')" in where
    assert "'email.opened'" in where
    assert '"at" >=' in where


def test_a_condition_reading_every_name_is_bounded_by_its_lookback_alone(host: PluginHost) -> None:
    where = _events_where({"or": [{"event": {"name": "order.completed", "within": "90d"}},
                                  {"last_activity": {"within": "7d"}}]}, host)
    assert where is not None
    assert where.count("STARTS_WITH") == 1  # order.completed's; last_activity reads every name
    assert where.count('"at" >=') == 2


def test_contacts_whose_events_are_all_filtered_out_answer_as_contacts_without_events(
    con: Any, host: PluginHost
) -> None:
    def at(days: float) -> str:
        return (NOW - timedelta(days=days)).isoformat()

    docs = [
        {"contact_id": "recent", "events": [{"name": "order.completed", "at": at(1)}]},
        {"contact_id": "old", "events": [{"name": "order.completed", "at": at(120)}]},
        {"contact_id": "sub-name", "events": [{"name": "order.completed.gift", "at": at(1)}]},
        {"contact_id": "other", "events": [{"name": "page.viewed", "at": at(1)}]},
        {"contact_id": "future", "events": [{"name": "order.completed", "at": at(-3)}]},
        {"contact_id": "none"},
    ]
    for rule in ({"event": {"name": "order.completed", "within": "90d"}},
                 {"!": {"event": {"name": "order.completed", "within": "90d"}}},
                 {"event": {"name": "order.completed", "within": "90d", "max_count": 0}}):
        expected, got = both_paths(con, host, rule, docs, NOW)
        assert got.path == "sql"
        assert set(got.members) == expected, rule
