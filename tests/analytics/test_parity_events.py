"""One table of cases through both paths for the event family: event, event_first_last,
event_without, event_sequence, last_activity and nudge.

One population of contacts whose events sit at every window edge of the cases (exactly
at ``NOW - d``, a microsecond either side, at NOW, a microsecond after NOW), whose
properties cover each JSON kind (missing, null, numbers as text, booleans, nested
paths through non-objects, dates in several spellings and zones), sequences of two
events at every gap edge, and contacts of every age for ``young_contacts: "wait"``.
Every case must be answered by SQL, give the per-contact member set, and tell some
contacts apart (neither nobody nor everybody), so that a wrong form cannot pass by
matching all or nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from growthos_segments.analytics.compiler import compile_rule
from growthos_segments.analytics.documents import load_documents
from growthos_segments.analytics.engine import answer
from growthos_segments.analytics.parquet import open_tenant, write_tenant
from growthos_segments.core.rules import Condition, parse_rule
from growthos_segments.core.segments import SegmentDefinition, SegmentSet
from growthos_segments.core.timeutil import to_iso
from growthos_segments.kit.sql import NOW as NOW_SQL
from growthos_segments.kit.sql_events import EVENT_AT
from growthos_segments.kit.windows import ALL_HISTORY
from tests.analytics.conftest import both_paths

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)

EDGES: list[timedelta] = [
    timedelta(0), -US, US, -HOUR, -HOUR - US, -HOUR + US, -2 * DAY, -2 * DAY - US, -2 * DAY + US,
    -7 * DAY, -7 * DAY - US, -7 * DAY + US, -30 * DAY, -30 * DAY + US, -400 * DAY, 3 * DAY,
    -(NOW - datetime(2026, 11, 22, tzinfo=UTC)), -(NOW - datetime(2026, 11, 29, tzinfo=UTC)),
    -(NOW - datetime(2026, 11, 29, tzinfo=UTC)) - US,
]
"""Offsets from NOW of single events: the edges of 1h, 48h, 7d and 30d windows and of
the calendar days the ``between`` cases name."""

PROPERTY_VALUES: list[Any] = [
    100, 100.0, 100.5, 99, -1, 0, "100", "shoes", "Shoes", "SHOES", "straße", "STRASSE", "", " shoes",
    None, True, False, 2**53 + 1, [100], ["shoes", "hats"], ["Shoes"], {"v": 100}, {"sku": "A1"},
    "2026-11-22T12:00:00Z", "2026-11-22", "2026-11-22T12:00:00", "2026-11-22T13:00:00+01:00",
    "2026-11-22T11:59:59.999999Z", "2026-11-21T23:30:00Z", "22/11/2026", "2026-11-22t12:00:00z",
    1795348800, 1795348800.5,
]
"""Values each stored as ``amount``, ``category``, ``item`` and ``placed`` of one event."""

NUDGE_IDS: list[Any] = ["upgrade_banner", "tour", "Tour", 5, None, ["tour"], {"id": "tour"}]

AGES: list[Any] = [
    {"created_at": to_iso(NOW - 6 * DAY)}, {"created_at": to_iso(NOW - 7 * DAY)},
    {"created_at": to_iso(NOW - 7 * DAY - US)}, {"created_at": to_iso(NOW - 7 * DAY + US)},
    {"created_at": to_iso(NOW - 60 * DAY)}, {"created_at": to_iso(NOW - 60 * DAY + US)},
    {"signup_date": to_iso(NOW - 3 * DAY)}, {"signup_date": "2026-11-22"}, {"signup_date": "2026-11-23"},
    {"created_at": "soon", "signup_date": to_iso(NOW - 3 * DAY)},
    {"created_at": "1800-01-01", "signup_date": to_iso(NOW - 3 * DAY)},
    {"created_at": "2026-11-25T12:00:00"}, {"created_at": "2026-11-22T13:00:00+01:00"},
    {"created_at": int((NOW - 3 * DAY).timestamp())}, {"created_at": int((NOW - 8 * DAY).timestamp())},
    {"created_at": None, "signup_date": to_iso(NOW - 8 * DAY)}, {"created_at": True},
    {"created_at": "2026/11/25"}, {"created_at": (NOW - 3 * DAY).timestamp() + 0.5},
    {"created_at": "2026-11-25T12:00:00 +01:00"}, {},
]
"""Ages for young contacts: at the edge of 7d and 60d, each date attribute, unreadable
values, and values only Python's parser reads (decided per contact)."""

SEQUENCE_A: list[timedelta] = [-8 * DAY, -7 * DAY, -7 * DAY + US, -3 * HOUR, -HOUR - US, -HOUR, -HOUR + US,
                               -MINUTE, timedelta(0), US]
SEQUENCE_GAPS: list[timedelta | None] = [None, -US, timedelta(0), US, HOUR - US, HOUR, HOUR + US, 2 * HOUR,
                                         8 * DAY]
"""A sequence contact has A at NOW + a and B at A + gap (no B for None)."""


def _event(name: str, offset: timedelta, **properties: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"name": name, "at": to_iso(NOW + offset)}
    if properties:
        event["properties"] = properties
    return event


def _population() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {"contact_id": "no-events"},
        {"contact_id": "null-events", "events": None},
        {"contact_id": "odd-events", "events": [{"name": "viewed_product"}, {"at": to_iso(NOW)}, "x",
                                                {"name": "viewed_product", "at": "yesterday"},
                                                {"name": "viewed_product", "at": "1800-01-01T00:00:00Z"}]},
        {"contact_id": "epoch-at",
         "events": [{"name": "viewed_product", "at": int((NOW - HOUR).timestamp())}]},
        {"contact_id": "offset-at",
         "events": [{"name": "viewed_product", "at": "2026-11-29T17:00:00+05:30"}]},
        {"contact_id": "odd-properties", "events": [
            {"name": "order.completed", "at": to_iso(NOW - HOUR), "properties": "x"},
            {"name": "order.completed", "at": to_iso(NOW - HOUR), "properties": None},
            {"name": "order.completed", "at": to_iso(NOW - HOUR), "properties": [1]}]},
    ]
    for name in ("viewed_product", "order.completed", "app.login", "order"):
        for index, offset in enumerate(EDGES):
            docs.append({"contact_id": f"{name}@{index}", "events": [_event(name, offset)]})
    for count in range(2, 5):
        docs.append({"contact_id": f"viewed-{count}x", "events": [_event("viewed_product", -HOUR)] * count})
        docs.append({"contact_id": f"viewed-{count}x-edge", "events": [
            *[_event("viewed_product", -HOUR)] * (count - 1), _event("viewed_product", -2 * DAY)]})
        docs.append({"contact_id": f"viewed-{count}x-future", "events": [
            *[_event("viewed_product", -HOUR)] * (count - 1), _event("viewed_product", US)]})
        docs.append({"contact_id": f"viewed-{count}x-ordered", "events": [
            *[_event("viewed_product", -HOUR)] * count, _event("order.completed", -2 * DAY + US)]})
        docs.append({"contact_id": f"viewed-{count}x-ordered-before", "events": [
            *[_event("viewed_product", -HOUR)] * count, _event("order.completed", -2 * DAY)]})
    for index, value in enumerate(PROPERTY_VALUES):
        for offset_index, offset in enumerate((-HOUR, -8 * DAY)):
            docs.append({"contact_id": f"property-{index}-{offset_index}", "events": [
                _event("order.completed", offset, amount=value, category=value, item=value, placed=value),
                _event("viewed_product", offset - MINUTE, amount=value)]})
    docs.append({"contact_id": "property-missing", "events": [_event("order.completed", -HOUR, other=1)]})
    for index, nudge_id in enumerate(NUDGE_IDS):
        for action in ("shown", "clicked", "dismissed"):
            docs.append({"contact_id": f"nudge-{action}-{index}", "events": [
                _event(f"nudge.{action}", -HOUR, nudge_id=nudge_id)]})
    docs.append({"contact_id": "nudge-no-id", "events": [_event("nudge.shown", -HOUR)]})
    docs.append({"contact_id": "nudge-3x", "events": [
        _event("nudge.shown", -HOUR, nudge_id="upgrade_banner"),
        _event("nudge.shown", -2 * DAY + US, nudge_id="upgrade_banner"),
        _event("nudge.shown", -7 * DAY + US, nudge_id="upgrade_banner")]})
    docs.append({"contact_id": "nudge-3x-edge", "events": [
        _event("nudge.shown", -HOUR, nudge_id="upgrade_banner"),
        _event("nudge.shown", -2 * DAY, nudge_id="upgrade_banner"),
        _event("nudge.shown", -7 * DAY, nudge_id="upgrade_banner")]})
    for a_index, a in enumerate(SEQUENCE_A):
        for gap_index, gap in enumerate(SEQUENCE_GAPS):
            events = [_event("cart.added", a)]
            if gap is not None:
                events.append(_event("order.completed", a + gap))
            docs.append({"contact_id": f"seq-{a_index}-{gap_index}", "events": events})
    docs.append({"contact_id": "seq-two-carts", "events": [
        _event("cart.added", -3 * HOUR), _event("cart.added", -90 * MINUTE),
        _event("order.completed", -HOUR)]})
    docs.append({"contact_id": "seq-answered-then-not", "events": [
        _event("cart.added", -5 * HOUR), _event("order.completed", -5 * HOUR + MINUTE),
        _event("cart.added", -3 * HOUR)]})
    docs.append({"contact_id": "seq-same-instant", "events": [
        _event("cart.added", -2 * HOUR), _event("cart.added", -2 * HOUR)]})
    for index, age in enumerate(AGES):
        for history, events in (("quiet", []), ("recent", [_event("app.login", -HOUR)]),
                                ("old", [_event("app.login", -8 * DAY)])):
            docs.append({"contact_id": f"age-{index}-{history}", "attributes": age, "events": events})
    docs.append({"contact_id": "age-not-a-map", "attributes": ["created_at"], "events": []})
    return docs


POPULATION = _population()


def _where(**filters: dict[str, Any]) -> dict[str, Any]:
    return {"name": "order.completed", "within": "7d", "where": filters}


WHERE_CASES: list[dict[str, Any]] = [
    _where(amount={"op": "greater_than", "value": 99.5}),
    _where(amount={"op": "greater_or_equal", "value": 100}),
    _where(amount={"op": "less_than", "value": 100}),
    _where(amount={"op": "equals", "value": 100}),
    _where(amount={"op": "not_equals", "value": 100}),
    _where(amount={"op": "in", "values": [100, "100", True]}),
    _where(amount={"op": "not_in", "values": [100, 0]}),
    _where(amount={"op": "between", "min": 99, "max": 100}),
    _where(amount={"op": "not_between", "min": 99, "max": 100}),
    _where(amount={"op": "exists"}),
    _where(amount={"op": "not_exists"}),
    _where(category={"op": "equals", "value": "shoes", "case_insensitive": True}),
    _where(category={"op": "equals", "value": "strasse", "case_insensitive": True}),
    _where(category={"op": "contains", "value": "sho"}),
    _where(category={"op": "not_contains", "value": "sho"}),
    _where(category={"op": "starts_with", "value": "S"}),
    _where(category={"op": "ends_with", "value": "ES", "case_insensitive": True}),
    _where(category={"op": "matches", "pattern": "^s"}),
    _where(category={"op": "not_matches", "pattern": "^s"}),
    _where(category={"op": "contains_any", "values": ["shoes", "Shoes"]}),
    _where(category={"op": "contains_all", "values": ["shoes", "hats"]}),
    _where(category={"op": "contains_none", "values": ["shoes"]}),
    _where(**{"item.sku": {"op": "equals", "value": "A1"}}),
    _where(**{"item.v": {"op": "greater_than", "value": 50}}),
    _where(placed={"op": "greater_or_equal", "value": "2026-11-22T12:00:00Z"}),
    _where(placed={"op": "less_than", "value": "2026-11-22"}),
    _where(placed={"op": "greater_or_equal", "value": "2026-11-22", "tz": "Europe/Paris"}),
    _where(placed={"op": "between", "min": "2026-11-22", "max": "2026-11-22T12:00:00Z",
                   "tz": "Asia/Kolkata"}),
    _where(amount={"op": "greater_than", "value": 50}, category={"op": "not_equals", "value": 100}),
    _where(category={"op": "not_starts_with", "value": "s"}),
    _where(category={"op": "not_ends_with", "value": "es", "case_insensitive": True}),
    _where(category={"op": "in", "values": ["shoes", "STRASSE"], "case_insensitive": True}),
    _where(category={"op": "not_in", "values": ["shoes", "100"], "case_insensitive": True}),
    _where(category={"op": "not_equals", "value": "shoes", "case_insensitive": True}),
    _where(category={"op": "matches", "pattern": "^S", "case_insensitive": True}),
    _where(amount={"op": "equals", "value": True}),
    _where(placed={"op": "not_between", "min": "2026-11-22", "max": "2026-11-22T12:00:00Z"}),
]
"""``where`` on the event's properties with every operator kind the filters allow."""

_EVENT_CASES: list[dict[str, Any]] = [
    {"name": "viewed_product"},
    {"name": "viewed_product", "within": "1h"},
    {"name": "viewed_product", "within": "48h"},
    {"name": "viewed_product", "within": "7d"},
    {"name": "viewed_product", "within": "30d"},
    {"name": "viewed_product", "min_count": 2, "within": "48h"},
    {"name": "viewed_product", "min_count": 3, "within": "48h"},
    {"name": "viewed_product", "max_count": 2, "within": "48h"},
    {"name": "viewed_product", "min_count": 2, "max_count": 3},
    {"name": "viewed_product", "exactly": 0, "within": "7d"},
    {"name": "viewed_product", "exactly": 1, "within": "7d"},
    {"name": "viewed_product", "min_count": 0, "max_count": 1, "within": "48h"},
    {"name": "viewed_product", "between": ["2026-11-22", "2026-11-28"]},
    {"name": "viewed_product", "between": ["2026-11-22T12:00:00Z", "2026-11-29T11:00:00Z"]},
    {"name": "viewed_product", "between": ["2026-11-22T12:00:00.000001Z", "2026-11-29T12:00:00.000001Z"]},
    {"name": "viewed_product", "exactly": 0, "between": ["2026-11-01", "2026-11-30"]},
    {"name": "order.*", "within": "7d"},
    {"name": "order", "within": "7d"},
    {"name": "nudge.*", "min_count": 1},
    {"name": "app.login", "exactly": 0, "within": "7d", "young_contacts": "wait"},
    {"name": "app.login", "max_count": 1, "within": "60d", "young_contacts": "wait"},
    *WHERE_CASES,
]

_FIRST_LAST_CASES: list[dict[str, Any]] = [
    {"name": name, "which": which, **timing}
    for name in ("viewed_product", "order.*")
    for which in ("first", "last")
    for timing in (
        {"within": "7d"}, {"older_than": "48h"}, {"within": "30d", "older_than": "1h"},
        {"older_than": "7d", "include_never": True}, {"within": "48h", "include_never": True},
        {"before": "2026-11-22"}, {"after": "2026-11-22T12:00:00Z"},
        {"after": "2026-11-22", "before": "2026-11-29T11:00:00Z"},
        {"after": "2026-11-29T12:00:00.000001Z", "include_never": True},
    )
] + [{"name": "order.completed", "which": "last", "within": "7d",
      "where": {"amount": {"op": "greater_than", "value": 99.5}}}]

_WITHOUT_CASES: list[dict[str, Any]] = [
    {"name": "viewed_product", "min_count": 3, "within": "48h", "without": {"name": "order.completed"}},
    {"name": "viewed_product", "within": "48h", "without": {"name": "order.*"}},
    {"name": "cart.added", "within": "7d", "without": {"name": "order.completed"}},
    {"name": "cart.added", "without": {"name": "order.completed"}},
    {"name": "cart.added", "between": ["2026-11-22", "2026-11-29"], "without": {"name": "order.completed"}},
    {"name": "viewed_product", "within": "7d",
     "without": {"name": "order.completed", "where": {"amount": {"op": "greater_than", "value": 99.5}}}},
    {"name": "viewed_product", "within": "7d", "where": {"amount": {"op": "exists"}},
     "without": {"name": "order.completed", "where": {"category": {"op": "equals", "value": "shoes"}}}},
    {"name": "app.login", "exactly": 0, "within": "7d", "young_contacts": "wait",
     "without": {"name": "viewed_product"}},
]

CART_THEN_ORDER: dict[str, Any] = {"first": {"name": "cart.added"}, "then": {"name": "order.completed"}}

_SEQUENCE_CASES: list[dict[str, Any]] = [
    {"first": {"name": "cart.added"}, "then": {"name": "order.completed"}},
    {"first": {"name": "cart.added"}, "then": {"name": "order.completed"}, "within": "7d"},
    {"first": {"name": "cart.added"}, "then": {"name": "order.completed"}, "within": "1h"},
    {"first": {"name": "cart.added"}, "then": {"name": "order.completed"}, "max_gap": "1h"},
    {"first": {"name": "cart.added"}, "then": {"name": "order.completed"}, "max_gap": "1h", "within": "7d"},
    {"first": {"name": "cart.added"}, "then": {"name": "order.completed"}, "max_gap": "1h", "within": "1h"},
    {"first": {"name": "cart.added"}, "then": {"name": "order.*"}, "max_gap": "2h"},
    {"first": {"name": "cart.added"}, "then": {"name": "cart.added"}},
    {"first": {"name": "cart.added"}, "then": {"name": "cart.added"}, "max_gap": "2h"},
    {**CART_THEN_ORDER, "max_gap": "1h", "mode": "not_then"},
    {**CART_THEN_ORDER, "max_gap": "1h", "mode": "not_then", "within": "7d"},
    {**CART_THEN_ORDER, "max_gap": "1h", "mode": "not_then", "within": "2h"},
    {"first": {"name": "cart.added"}, "then": {"name": "cart.added"}, "max_gap": "1h", "mode": "not_then"},
    {"first": {"name": "viewed_product", "where": {"amount": {"op": "greater_than", "value": 50}}},
     "then": {"name": "order.completed", "where": {"category": {"op": "exists"}}}},
    {"first": {"name": "viewed_product", "where": {"amount": {"op": "exists"}}},
     "then": {"name": "order.completed", "where": {"category": {"op": "exists"}}}, "max_gap": "1h"},
]

_LAST_ACTIVITY_CASES: list[dict[str, Any]] = [
    {"within": "1h"}, {"within": "7d"}, {"older_than": "48h"}, {"older_than": "7d", "include_never": True},
    {"within": "30d", "older_than": "7d"}, {"within": "30d", "older_than": "7d", "include_never": True},
    {"within": "7d", "include_never": True},
    {"older_than": "7d", "include_never": True, "young_contacts": "wait"},
    {"older_than": "60d", "include_never": True, "young_contacts": "wait"},
]

_NUDGE_CASES: list[dict[str, Any]] = [
    {"action": action, **more}
    for action in ("shown", "clicked", "dismissed")
    for more in ({}, {"nudge_id": "tour"}, {"nudge_id": ["tour", "upgrade_banner"]}, {"exactly": 0},
                 {"nudge_id": "tour", "exactly": 0, "within": "7d"})
] + [
    {"action": "shown", "nudge_id": "upgrade_banner", "min_count": 3, "within": "7d"},
    {"action": "shown", "nudge_id": "upgrade_banner", "min_count": 2, "within": "48h"},
    {"action": "shown", "nudge_id": "upgrade_banner", "max_count": 2,
     "between": ["2026-11-22", "2026-11-29"]},
    {"action": "clicked", "exactly": 0, "within": "7d", "young_contacts": "wait"},
]

CASES: list[dict[str, Any]] = [
    *({"event": params} for params in _EVENT_CASES),
    *({"event_first_last": params} for params in _FIRST_LAST_CASES),
    *({"event_without": params} for params in _WITHOUT_CASES),
    *({"event_sequence": params} for params in _SEQUENCE_CASES),
    *({"last_activity": params} for params in _LAST_ACTIVITY_CASES),
    *({"nudge": params} for params in _NUDGE_CASES),
    {"!": {"event": {"name": "viewed_product", "within": "7d"}}},
    {"and": [{"event": {"name": "viewed_product", "min_count": 2, "within": "48h"}},
             {"!": {"event_without": {"name": "viewed_product", "within": "48h",
                                      "without": {"name": "order.completed"}}}}]},
    {"or": [{"last_activity": {"older_than": "7d", "include_never": True, "young_contacts": "wait"}},
            {"nudge": {"action": "shown", "nudge_id": "tour"}},
            {"event_sequence": {"first": {"name": "cart.added"}, "then": {"name": "order.completed"},
                                "max_gap": "1h", "mode": "not_then"}}]},
]


def _case_id(rule: dict[str, Any]) -> str:
    return json.dumps(rule, separators=(",", ":"))


TABLE_TENANT = "events-table"


@pytest.fixture(scope="module")
def population(con: Any) -> str:
    """The population loaded once, under its own tenant, for every case of the table."""
    load_documents(con, [{**doc, "tenant_id": TABLE_TENANT} for doc in POPULATION])
    return TABLE_TENANT


def _per_contact(host: Any, rule: dict[str, Any]) -> tuple[SegmentSet, set[str]]:
    """The rule as a segment set, and its members among POPULATION decided contact by contact."""
    segments = SegmentSet(host, [SegmentDefinition("rule", rule)])
    evaluate = segments.segments["rule"].evaluate
    return segments, {doc["contact_id"] for doc in POPULATION if evaluate(segments.view(doc), NOW)[0]}


@pytest.mark.parametrize("rule", CASES, ids=_case_id)
def test_both_paths_agree(con: Any, host: Any, population: str, rule: dict[str, Any]) -> None:
    segments, expected = _per_contact(host, rule)
    got = answer(con, host, segments, "rule", population, NOW)
    assert got.path == "sql", got.reason
    assert set(got.members) == expected
    assert 0 < len(expected) < len(POPULATION), "the case tells no contacts apart"


@pytest.mark.parametrize("rule", CASES, ids=_case_id)
def test_athena_reads_the_query_back(host: Any, rule: dict[str, Any]) -> None:
    query = compile_rule(parse_rule(rule, host))
    trino = query.transpile("trino")
    assert isinstance(sqlglot.parse_one(trino, read="trino"), exp.Select)


@pytest.mark.parametrize("offset", [-7 * DAY - US, -7 * DAY, -7 * DAY + US, -US, timedelta(0), US])
def test_window_edges_at_instants_with_microseconds(con: Any, host: Any, offset: timedelta) -> None:
    """NOW itself carries microseconds and every event sits a microsecond from an edge."""
    now = NOW + timedelta(microseconds=123457)
    docs = [{"contact_id": f"c{i}", "events": [_event("viewed_product", now - NOW + offset + shift)]}
            for i, shift in enumerate((-US, timedelta(0), US))]
    for rule in ({"event": {"name": "viewed_product", "within": "7d"}},
                 {"event_first_last": {"name": "viewed_product", "which": "last", "older_than": "7d"}},
                 {"last_activity": {"within": "7d", "older_than": "1m"}}):
        expected, got = both_paths(con, host, rule, docs, now)
        assert got.path == "sql"
        assert set(got.members) == expected


def test_property_values_only_python_reads_are_decided_per_contact(con: Any, host: Any) -> None:
    docs = [{"contact_id": f"c{i}", "events": [_event("order.completed", -HOUR, placed=placed)]}
            for i, placed in enumerate(["2026-11-22T12:00:00Z", "22/11/2026", "2026-11-22 12:00:00+00:00"])]
    rule = {"event": _where(placed={"op": "greater_or_equal", "value": "2026-11-22T12:00:00Z"})}
    expected, got = both_paths(con, host, rule, docs, NOW)
    assert got.path == "sql"
    assert set(got.members) == expected == {"c0", "c2"}
    assert got.decided_per_contact == 2


def _earliest_reads(aggregate: exp.Expression) -> list[timedelta]:
    """The spans ``s`` of every ``"at" > NOW - s`` test in an aggregate's row filter."""
    spans = []
    for test in aggregate.find_all(exp.GT):
        if test.this == EVENT_AT and isinstance(test.expression, exp.Sub) and test.expression.this == NOW_SQL:
            micros = test.expression.expression.find(exp.Literal)
            assert micros is not None
            spans.append(timedelta(microseconds=int(micros.this)))
    return spans


@pytest.mark.parametrize("rule", [case for case in CASES if next(iter(case)) not in ("!", "and", "or")],
                         ids=_case_id)
def test_aggregates_read_only_the_names_and_the_lookback_the_condition_declares(
        host: Any, rule: dict[str, Any]) -> None:
    node = parse_rule(rule, host)
    assert isinstance(node, Condition)
    reads = node.condition_type.reads(node.params)
    form = node.condition_type.bulk_compile(node.params)  # type: ignore[misc]
    assert form is not None and form.aggregates
    for aggregate in form.aggregates.values():
        if "" not in reads.events:
            assert any(column.name == "name" for column in aggregate.find_all(exp.Column)), aggregate.sql()
        if reads.lookback is not None and reads.lookback != ALL_HISTORY:
            assert any(span <= reads.lookback for span in _earliest_reads(aggregate)), aggregate.sql()


PARQUET_CASES = [CASES[0], *(rule for rule in CASES if "where" in json.dumps(rule))][:12] + CASES[-3:]
"""Property filters (the JSON text the copy stores) and combined rules, over the Parquet copy."""


def test_the_parquet_copy_gives_the_same_answers(tmp_path: Path, host: Any) -> None:
    write_tenant(tmp_path, "t1", [{**doc, "tenant_id": "t1"} for doc in POPULATION])
    con = duckdb.connect()
    open_tenant(con, tmp_path, "t1")
    for rule in PARQUET_CASES:
        segments, expected = _per_contact(host, rule)
        got = answer(con, host, segments, "rule", "t1", NOW)
        assert (got.path, set(got.members)) == ("sql", expected), rule
