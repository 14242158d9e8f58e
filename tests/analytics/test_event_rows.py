"""The aggregates' one pass over the events reads only the rows the rule's conditions declare."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlglot import exp

from growthos_segments.analytics.compiler import compile_rule
from growthos_segments.core.host import PluginHost
from growthos_segments.core.rules import parse_rule
from tests.analytics.conftest import both_paths, selects_from

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def _event_scans(rule: Any, host: PluginHost) -> list[str]:
    """The WHERE of each scan of the events the aggregates' one pass reads."""
    query = compile_rule(parse_rule(rule, host)).query
    passes = [s for s in query.find_all(exp.Select)  # the one grouped SELECT is the pass
              if s.args.get("group") and any(table.name == "events" for table in s.find_all(exp.Table))]
    assert len(passes) == 1
    scans = selects_from(passes[0], "events")
    return [scan.args["where"].sql("duckdb") for scan in scans if scan.args.get("where") is not None]


def test_the_pass_reads_the_declared_names_within_the_declared_lookback(host: PluginHost) -> None:
    """One scan per condition, each with its own names and lookback (the Parquet row groups
    DuckDB skips are each scan's own); disjoint names need no exclusion of each other."""
    scans = _event_scans({"or": [{"event": {"name": "order.completed", "within": "90d"}},
                                 {"email": {"action": "opened", "min_count": 3, "within": "30d"}}]}, host)
    assert len(scans) == 2
    order, opened = scans
    assert "'order.completed'" in order and "STARTS_WITH(name, 'order.completed.')" in order
    assert "'email.opened'" in opened and "order.completed" not in opened
    assert all('"at" >=' in scan for scan in scans)


def test_a_condition_reading_every_name_is_bounded_by_its_lookback_alone(host: PluginHost) -> None:
    """last_activity reads every name over 7 days: its scan is bounded by time alone and
    leaves out the rows the order scan already read, so no event is read twice."""
    scans = _event_scans({"or": [{"event": {"name": "order.completed", "within": "90d"}},
                                 {"last_activity": {"within": "7d"}}]}, host)
    assert len(scans) == 2
    order, recent = scans
    assert order.count("STARTS_WITH") == 1 and order.count('"at" >=') == 1
    assert recent.startswith("WHERE tenant_id = $tenant AND (\"at\" >=")
    assert "NOT COALESCE(((name = 'order.completed' OR STARTS_WITH(name, 'order.completed.'))" in recent


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
