"""Event scans per condition and profile guards: the aggregates' pass reads one scan per
declared set of rows, each only for the contacts whose profile lets its aggregates
matter (``analytics.compiler._event_parts``, ``_guards``), and the contacts read is
filtered by the profile tests a member must pass (``_implied``).

Each rule runs through both paths over a population crossing profiles (the value,
another, missing, the wrong kind, other case, at the bound) with event histories
(none, at window edges, sub-names, overlapping names, future events), so a guard or a
scan that dropped a row an aggregate needs would change a member.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlglot import exp

from growthos_segments.analytics.compiler import compile_segment
from growthos_segments.analytics.documents import load_documents
from growthos_segments.analytics.fields import field_columns
from growthos_segments.core.segments import SegmentDefinition, SegmentSet
from growthos_segments.core.timeutil import to_iso
from tests.analytics.conftest import both_paths_loaded, selects_from

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
US, HOUR, DAY = timedelta(microseconds=1), timedelta(hours=1), timedelta(days=1)
TENANT = "guards"


def _event(name: str, ago: timedelta, **properties: Any) -> dict[str, Any]:
    return {"name": name, "at": to_iso(NOW - ago), "properties": properties or None}


PROFILES: list[dict[str, Any]] = [
    {"attributes": {"plan": "pro", "country": "GB"}, "scores": {"lead": 90}},
    {"attributes": {"plan": "pro", "country": "FR"}, "scores": {"lead": 80}},
    {"attributes": {"plan": "free", "country": "GB"}, "scores": {"lead": 79.5}},
    {"attributes": {"plan": "PRO", "country": "IE"}, "scores": {"lead": "90"}},
    {"attributes": {"plan": 7, "country": None}, "scores": {"lead": True}},
    {"attributes": {"country": "GB"}},
    {},
]
HISTORIES: list[list[dict[str, Any]]] = [
    [],
    [_event("email.opened", HOUR, device="mobile")] * 3,
    [_event("email.opened", HOUR, device="desktop"), _event("email.opened", 2 * HOUR, device="mobile")],
    [_event("email.opened", 30 * DAY), _event("email.opened", 30 * DAY - US), _event("email.opened", DAY)],
    [_event("email.opened.forwarded", HOUR)] * 3,
    [_event("email.clicked", HOUR), _event("email.opened", 3 * DAY)],
    [_event("order.completed", DAY)],
    [_event("order.completed", 91 * DAY)],
    [_event("order.completed", 10 * DAY), *[_event("product.viewed", HOUR)] * 3],
    [_event("order.completed", 47 * HOUR), *[_event("product.viewed", HOUR)] * 3],
    [_event("product.viewed", HOUR), _event("product.viewed", 3 * DAY), _event("app.login", 6 * DAY)],
    [_event("order.completed", -HOUR), _event("email.opened", -HOUR)],
    [_event("order.completed", 2 * HOUR, category="Shoes"), _event("order.completed", 3 * HOUR, category="x"),
     _event("order.completed", 4 * HOUR, category="SHOES")],
]
POPULATION = [{"contact_id": f"p{p}-h{h}", **profile, "events": history}
              for p, profile in enumerate(PROFILES) for h, history in enumerate(HISTORIES)]

PRO = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}
UK_IE = {"attribute": {"field": "country", "op": "in", "values": ["GB", "IE"]}}
HOT = {"score_band": {"band": "hot"}}
OPENED_3 = {"email": {"action": "opened", "min_count": 3, "within": "30d"}}
OPENED_2 = {"email": {"action": "opened", "min_count": 2, "within": "30d"}}
ORDERED_90D = {"event": {"name": "order.completed", "within": "90d"}}
BROWSED = {"event_without": {"name": "product.viewed", "min_count": 3, "within": "48h",
                             "without": {"name": "order.completed"}}}
NESTED = {"or": [{"and": [PRO, UK_IE, OPENED_3]}, {"and": [HOT, ORDERED_90D, {"!": BROWSED}]}]}

RULES: list[dict[str, Any]] = [
    NESTED,
    {"!": {"and": [PRO, OPENED_3]}},
    {"or": [{"and": [PRO, OPENED_3]}, {"and": [HOT, OPENED_2]}]},
    {"and": [PRO, {"or": [OPENED_3, {"last_activity": {"within": "7d"}}]}]},
    {"or": [{"and": [PRO, {"event": {"name": "email", "min_count": 2, "within": "30d"}}]},
            {"and": [HOT, OPENED_3]}]},
    {"or": [{"and": [{"score": {"name": "lead", "gte": 80}}, {"last_activity": {"within": "7d"}}]},
            OPENED_3]},
    {"and": [PRO, {"event": {"name": "order.completed", "within": "7d", "min_count": 2,
                             "where": {"category": {"op": "equals", "value": "shoes",
                                                    "case_insensitive": True}}}}]},
    {"or": [{"and": [PRO, {"email_last_open_device": {"device": "mobile"}}]},
            {"and": [HOT, {"active_days": {"min_days": 2, "within": "7d"}}]}]},
    {"or": [{"and": [UK_IE, {"!": {"and": [HOT, OPENED_2]}}]}, {"and": [PRO, BROWSED]}]},
    {"or": [{"and": [PRO, {"last_activity": {"older_than": "30d"}}]}, {"and": [HOT, OPENED_3]}]},
]
"""Guards in OR branches, under NOT, merged where two branches read the same rows; a
top-level profile test (a filtered read, no guard); overlapping and prefix names; a
branch without a guard; rows only the per-contact path decides; aggregates that are
not counts (the newest open, distinct days); a condition reading every event ever
(one scan for all, read for either branch's contacts)."""


@pytest.fixture(scope="module")
def population(con: Any) -> str:
    load_documents(con, [{**doc, "tenant_id": TENANT} for doc in POPULATION])
    return TENANT


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: json.dumps(rule, separators=(",", ":"))[:120])
def test_both_paths_agree(con: Any, host: Any, population: str, rule: dict[str, Any]) -> None:
    expected, got = both_paths_loaded(con, host, rule, POPULATION, population, NOW)
    assert got.path == "sql", got.reason
    assert set(got.members) == expected
    assert 0 < len(expected) < len(POPULATION), "the case tells no contacts apart"


def test_the_nested_rule_reads_each_condition_s_rows_for_its_branch_s_contacts(
    con: Any, host: Any, population: str
) -> None:
    """Three scans (opens in 30 days, orders in 90 days, views and orders in 48 hours less
    the orders already read), the first for the contacts of the first branch, the others
    for the hot leads; the contacts read is filtered by either branch's profile."""
    segments = SegmentSet(host, [SegmentDefinition("rule", NESTED)])
    query = compile_segment(segments, "rule", field_columns(con)).query
    scans = {}
    for scan in selects_from(query, "events"):
        rows = scan.args["where"].sql("duckdb").split(" IN (SELECT")[0]
        guard = next(s for s in scan.find_all(exp.Select) if s is not scan).args["where"].sql("duckdb")
        scans["opens" if "email.opened" in rows else "48h" if "product.viewed" in rows else "orders"] = (
            rows, guard)
    assert len(scans) == 3
    assert "c.f0" in scans["opens"][1] and "TRY_CAST" not in scans["opens"][1]
    assert all("TRY_CAST" in scans[k][1] and "c.f0" not in scans[k][1] for k in ("orders", "48h"))
    assert "NOT COALESCE" in scans["48h"][0] and "NOT" not in scans["orders"][0]
    cte = query.find(exp.CTE)
    assert cte is not None and " OR " in cte.this.args["where"].sql("duckdb")


def test_a_rule_without_profile_tests_reads_the_events_as_before(host: Any) -> None:
    """No guard and an unfiltered contacts read: one scan, no CTE, no semi-join."""
    segments = SegmentSet(host, [SegmentDefinition("rule", {"or": [OPENED_3, BROWSED]})])
    query = compile_segment(segments, "rule", {}).query
    assert len(selects_from(query, "events")) == 2 and query.find(exp.CTE) is None
    assert not any(test.args.get("query") is not None for test in query.find_all(exp.In))


def test_a_query_said_decided_leaves_no_row_undecided(con: Any, host: Any, population: str) -> None:
    """``decided`` lets the engine fetch the member ids alone: it must never be said of a
    query that can leave a row undecided (``member`` NULL), and a rule with rows only
    the per-contact path decides (a case-insensitive property match here) is not."""
    said = {}
    for index, rule in enumerate(RULES):
        compiled = compile_segment(SegmentSet(host, [SegmentDefinition("rule", rule)]), "rule",
                                   field_columns(con))
        rows = con.execute(compiled.sql, compiled.parameters(population, NOW)).fetchall()
        undecided = [contact for contact, member in rows if member is None]
        said[index] = compiled.decided
        assert not (compiled.decided and undecided), rule
        if compiled.decided:
            members = [row[0] for row in con.execute(compiled.members_sql(),
                                                     compiled.parameters(population, NOW)).fetchall()]
            assert sorted(members) == sorted(contact for contact, member in rows if member)
    assert said[6] is False and sum(said.values()) >= 6


def _narrowed(query: exp.Expression) -> int:
    return sum(1 for test in query.find_all(exp.In)
               if (sub := test.args.get("query")) is not None and "FROM c" in sub.sql("duckdb"))


@pytest.mark.parametrize("share", [0.1, 0.9], ids=["narrowed", "not-narrowed"])
@pytest.mark.parametrize("rule", RULES, ids=lambda rule: json.dumps(rule, separators=(",", ":"))[:120])
def test_narrowed_or_not_the_query_decides_as_the_per_contact_path(
    con: Any, host: Any, population: str, rule: dict[str, Any], share: float
) -> None:
    """The engine narrows a scan only where the probe finds few enough contacts
    (``NARROW_SHARE``); both forms must give the same members. A probe answering
    ``share`` of the tenant for every scan forces one form or the other; each row the
    query decides must be the per-contact path's answer (undecided rows aside)."""
    segments = SegmentSet(host, [SegmentDefinition("rule", rule)])
    probes: list[str] = []

    def measure(probe: Any) -> tuple[int, ...]:
        width = len(con.execute(probe.sql, probe.parameters(population, NOW)).fetchone())
        probes.append(probe.sql)
        return (1000, *[int(1000 * share)] * (width - 1))

    compiled = compile_segment(segments, "rule", field_columns(con), measure)
    assert (_narrowed(compiled.query) > 0) == (share < 0.35 and bool(probes))
    evaluate = segments.segments["rule"].evaluate
    expected = {doc["contact_id"] for doc in POPULATION if evaluate(segments.view(doc), NOW)[0]}
    rows = dict(con.execute(compiled.sql, compiled.parameters(population, NOW)).fetchall())
    assert {c for c, member in rows.items() if member} <= expected
    assert expected <= set(rows)  # no member decided out


def test_the_probe_counts_the_contacts_each_scan_would_be_narrowed_to(
    con: Any, host: Any, population: str
) -> None:
    """The probe's first count is the tenant's contacts, then one per narrowed scan; a scan
    whose share is over ``NARROW_SHARE`` reads every contact's events again."""
    from growthos_segments.analytics.compiler import NARROW_SHARE

    segments = SegmentSet(host, [SegmentDefinition("rule", NESTED)])
    seen: list[tuple[int, ...]] = []

    def measure(probe: Any) -> tuple[int, ...]:
        row = tuple(con.execute(probe.sql, probe.parameters(population, NOW)).fetchone())
        seen.append(row)
        return row

    compile_segment(segments, "rule", field_columns(con), measure)
    [row] = seen
    pro_uk_ie = sum(1 for doc in POPULATION if doc.get("attributes", {}).get("plan") == "pro"
                    and doc["attributes"].get("country") in ("GB", "IE"))
    hot = sum(1 for doc in POPULATION if type(doc.get("scores", {}).get("lead")) in (int, float)
              and doc["scores"]["lead"] >= 80)
    assert row == (len(POPULATION), pro_uk_ie, hot, hot)
    assert pro_uk_ie / len(POPULATION) <= NARROW_SHARE
    half = compile_segment(segments, "rule", field_columns(con), lambda probe: (100, 10, 60, 60))
    assert _narrowed(half.query) == 1  # the opens of pro UK/IE contacts only
