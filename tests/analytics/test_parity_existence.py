"""The existence form: event counts a rule only tests for "at least one" or "none" are
compiled to a semi-join on their rows instead of an aggregate column and a join.

The cases run through both paths over the event family's population
(:data:`tests.analytics.test_parity_events.POPULATION`: contacts without events,
with ``events: null``, malformed ones, events at every window edge, properties of
every kind, contacts of every age) and each one is held to compile to the form it
is about: semi-joins and no GROUP BY where every count is an existence test, the
one aggregate pass and no semi-join where another count is in the rule.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlglot import exp

from growthos_segments.analytics.compiler import compile_rule
from growthos_segments.analytics.documents import connect, load_documents
from growthos_segments.analytics.engine import answer
from growthos_segments.core.rules import parse_rule
from growthos_segments.core.segments import SegmentDefinition, SegmentSet
from tests.analytics.test_parity_events import NOW, POPULATION, TABLE_TENANT, _per_contact

ORDERED_7D = {"event": {"name": "order.completed", "within": "7d"}}
VIEWED_48H = {"event": {"name": "viewed_product", "within": "48h"}}

ONLY_EXISTENCE: list[dict[str, Any]] = [
    ORDERED_7D,
    {"!": ORDERED_7D},
    {"event": {"name": "viewed_product", "exactly": 0, "within": "7d"}},
    {"or": [VIEWED_48H, {"attribute": {"field": "created_at", "op": "exists"}}]},
    {"or": [{"!": VIEWED_48H},
            {"attribute": {"field": "signup_date", "op": "equals", "value": "2026-11-22"}}]},
    {"and": [{"event": {"name": "viewed_product", "within": "7d"}},
             {"!": {"event": {"name": "viewed_product", "within": "1h"}}}]},
    {"or": [{"event": {"name": "viewed_product", "within": "1h"}},
            {"event": {"name": "viewed_product", "between": ["2026-11-22", "2026-11-28"]}}]},
    {"or": [{"event": {"name": "app.login", "exactly": 0, "within": "7d", "young_contacts": "wait"}},
            ORDERED_7D]},
    {"!": {"event": {"name": "app.login", "exactly": 0, "within": "7d", "young_contacts": "wait"}}},
    {"event": {"name": "order.completed", "within": "7d",
               "where": {"placed": {"op": "greater_or_equal", "value": "2026-11-22T12:00:00Z"}}}},
    {"!": {"event": {"name": "order.completed", "within": "7d",
                     "where": {"category": {"op": "equals", "value": "shoes", "case_insensitive": True}}}}},
    {"event_without": {"name": "cart.added", "within": "7d", "without": {"name": "order.completed"}}},
    {"!": {"event_without": {"name": "viewed_product", "within": "48h", "without": {"name": "order.*"}}}},
    {"nudge": {"action": "clicked", "nudge_id": ["tour", "upgrade_banner"]}},
]
"""Rules whose every count is an existence test: in NOT, in OR beside a profile leaf, two
on the same event name, young contacts, rows only Python decides, "without" events."""

MIXED: list[dict[str, Any]] = [
    {"and": [ORDERED_7D, {"event": {"name": "viewed_product", "min_count": 2, "within": "48h"}}]},
    {"or": [{"!": ORDERED_7D}, {"event": {"name": "viewed_product", "max_count": 1, "within": "7d"}}]},
    {"event_without": {"name": "viewed_product", "min_count": 3, "within": "48h",
                       "without": {"name": "order.completed"}}},
]
"""Rules with a real count too: every count stays in the one aggregate pass."""


def _case_id(rule: dict[str, Any]) -> str:
    return json.dumps(rule, separators=(",", ":"))


@pytest.fixture(scope="module")
def population(con: Any) -> str:
    load_documents(con, [{**doc, "tenant_id": TABLE_TENANT} for doc in POPULATION])
    return TABLE_TENANT


def _semi_joins(query: exp.Expression) -> int:
    return sum(1 for test in query.find_all(exp.In) if test.args.get("query") is not None)


@pytest.mark.parametrize("rule", ONLY_EXISTENCE + MIXED, ids=_case_id)
def test_both_paths_agree(con: Any, host: Any, population: str, rule: dict[str, Any]) -> None:
    compiled = compile_rule(parse_rule(rule, host)).query
    only_existence = rule in ONLY_EXISTENCE
    assert (_semi_joins(compiled) >= 1) == only_existence
    assert (compiled.find(exp.Group) is None) == only_existence
    segments, expected = _per_contact(host, rule)
    got = answer(con, host, segments, "rule", population, NOW)
    assert got.path == "sql", got.reason
    assert set(got.members) == expected
    assert 0 < len(expected) < len(POPULATION), "the case tells no contacts apart"


def test_a_count_tested_otherwise_anywhere_in_the_rule_keeps_the_aggregate_pass(host: Any) -> None:
    """``order.completed`` in 7 days tested for "at least one" and for "at most one": no
    semi-join; the same two tests for "at least one" and "none": two semi-joins."""
    at_most_one = {"event": {"name": "order.completed", "max_count": 1, "within": "7d"}}
    compiled = compile_rule(parse_rule({"and": [ORDERED_7D, at_most_one]}, host)).query
    assert (_semi_joins(compiled), compiled.find(exp.Group) is not None) == (0, True)
    none = {"event": {"name": "order.completed", "exactly": 0, "within": "7d"}}
    compiled = compile_rule(parse_rule({"or": [ORDERED_7D, none]}, host)).query
    assert (_semi_joins(compiled), compiled.find(exp.Group) is None) == (2, True)


def test_an_event_row_without_a_contact_id_does_not_make_none_unknown(host: Any) -> None:
    """``NOT (x IN (ids))`` is NULL, not true, when the ids hold a NULL: the semi-join's
    unknown is read as false first, so "no such event" stays true for contacts without one."""
    con = connect()
    con.execute("ALTER TABLE events ALTER COLUMN contact_id DROP NOT NULL")
    bought = {"name": "order.completed", "at": NOW.isoformat()}
    load_documents(con, [{"contact_id": "quiet"}, {"contact_id": "buyer", "events": [bought]}], tenant_id="t")
    con.execute("INSERT INTO events VALUES ('t', NULL, 'order.completed', ?, NULL, NULL)", [NOW])
    none = {"event": {"name": "order.completed", "exactly": 0, "within": "7d"}}
    for rule in (none, {"!": ORDERED_7D}):
        segments = SegmentSet(host, [SegmentDefinition("rule", rule)])
        assert answer(con, host, segments, "rule", "t", NOW).members == ("quiet",), rule
