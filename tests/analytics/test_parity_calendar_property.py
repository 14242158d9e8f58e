"""Random trees of calendar conditions, random dates and instants in random spellings, random
instants of evaluation (often a microsecond from a local midnight): every contact SQL
decides is decided as the per-contact evaluator decides it (the engine judges the
undecided ones per contact, so its member set is the evaluator's)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from itertools import count
from typing import Any

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from growthos_segments.analytics.compiler import compile_segment
from growthos_segments.analytics.documents import load_documents
from growthos_segments.core.host import PluginHost
from growthos_segments.core.segments import SegmentDefinition, SegmentSet
from tests.analytics.strategies import rule_trees
from tests.analytics.test_parity_calendar import day_start

ZONES = ("UTC", "Europe/London", "America/Sao_Paulo", "America/Santiago", "America/New_York",
         "Asia/Kolkata", "Pacific/Kiritimati", "Pacific/Apia")
_TENANTS = count()

zones = st.sampled_from(ZONES)
offsets = st.builds(lambda hours, minutes: timezone(timedelta(hours=hours, minutes=minutes if hours >= 0
                                                              else -minutes)),
                    st.integers(-12, 14), st.sampled_from([0, 30, 45]))
moments = st.datetimes(min_value=datetime(1890, 1, 1), max_value=datetime(2210, 1, 1))
days = st.dates(min_value=date(1890, 1, 1), max_value=date(2210, 1, 1))


def _near_midnight(day: date, name: str, micros: int) -> datetime:
    return day_start(day, name) + timedelta(microseconds=micros)


near_midnights = st.builds(_near_midnight, st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 1, 1)),
                           zones, st.sampled_from([-1, 0, 1, -3_600_000_000, 3_600_000_000]))
values = st.one_of(
    days.map(date.isoformat),
    moments.map(lambda m: m.isoformat()),
    st.builds(lambda m, tz: m.replace(tzinfo=tz).isoformat(), moments, offsets),
    moments.map(lambda m: m.isoformat() + "Z"),
    near_midnights.map(lambda m: m.isoformat().replace("+00:00", "Z")),
    st.builds(lambda m: int(m.timestamp()), near_midnights),
    st.integers(-2_500_000_000, 8_000_000_000),
    st.sampled_from([None, True, 2.5, "soon", "", [], {}, "2024-02-29", "2023-02-28", "1994-12-31T12:00:00"]),
)
leaves = st.one_of(
    st.builds(lambda field, op, n, tz: {"attribute": {"field": field, "op": op, "days": n, "tz": tz}},
              st.sampled_from(["v", "w"]), st.sampled_from(["last_days", "next_days"]),
              st.one_of(st.integers(0, 400), st.just(36600)), zones),
    st.builds(lambda field, period, tz: {"attribute": {"field": field, "op": "anniversary",
                                                       "period": period, "tz": tz}},
              st.sampled_from(["v", "w"]), st.sampled_from(["today", "this_week", "this_month"]), zones),
    st.builds(lambda field, period, n, tz: {"attribute": {"field": field, "op": "anniversary",
                                                          "period": period, "days": n, "tz": tz}},
              st.sampled_from(["v", "w"]), st.sampled_from(["in_days", "within_days"]),
              st.one_of(st.integers(0, 366), st.sampled_from([0, 1, 365, 366])), zones),
)
contacts = st.lists(st.tuples(values, values), min_size=1, max_size=12).map(
    lambda rows: [{"contact_id": f"c{i}", "attributes": {"v": v, "w": w}} for i, (v, w) in enumerate(rows)])
instants = st.lists(
    st.one_of(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1),
                           timezones=st.just(UTC)), near_midnights),
    min_size=1, max_size=3,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rule=rule_trees(leaves, max_leaves=3), docs=contacts, nows=instants)
def test_random_calendar_rules_agree_on_both_paths(
    con: duckdb.DuckDBPyConnection, host: PluginHost, rule: Any, docs: list[dict[str, Any]],
    nows: list[datetime],
) -> None:
    tenant = f"calendar-property{next(_TENANTS)}"
    load_documents(con, docs, tenant_id=tenant)
    segments = SegmentSet(host, [SegmentDefinition("rule", rule)])
    query = compile_segment(segments, "rule")  # raises if some calendar test has no SQL form
    evaluate = segments.segments["rule"].evaluate
    for now in nows:
        expected = {doc["contact_id"] for doc in docs if evaluate(segments.view(doc), now)[0]}
        rows = dict(con.execute(query.sql, query.parameters(tenant, now)).fetchall())
        members = {contact for contact, member in rows.items() if member}
        undecided = {contact for contact, member in rows.items() if member is None}
        assert (members - expected, expected - members - undecided) == (set(), set()), now
