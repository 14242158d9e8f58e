"""The calendar operators (``last_days``, ``next_days``, ``anniversary``) through both paths.

One population of values around the local midnights of several zones (UTC, daylight
saving changes in Europe/London, at midnight in America/Sao_Paulo and
America/Santiago, +05:30 in Asia/Kolkata, +14 in Pacific/Kiritimati), Feb 29 and
year ends, dates, date-times with and without offsets, epoch seconds and values of
no kind. Every rule is compiled once and run at instants a microsecond either side
of those midnights: each contact SQL decides must be decided as the per-contact
evaluator decides it, and only the contacts SQL leaves undecided may be left to
the engine's per-contact judge.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest

from growthos_segments.analytics.compiler import compile_segment
from growthos_segments.analytics.documents import load_documents
from growthos_segments.analytics.fields import field_columns
from growthos_segments.core.host import PluginHost
from growthos_segments.core.segments import SegmentDefinition, SegmentSet
from tests.analytics.conftest import both_paths

_MICRO = timedelta(microseconds=1)
_TENANTS = count()

EDGE_DAYS: dict[str, tuple[date, ...]] = {
    "UTC": (date(2026, 11, 29), date(2024, 2, 29), date(2027, 3, 1), date(2027, 1, 1)),
    "Europe/London": (date(2026, 3, 29), date(2026, 3, 30), date(2026, 10, 25), date(2026, 10, 26)),
    "America/Sao_Paulo": (date(2018, 11, 4), date(2019, 2, 17)),
    "America/Santiago": (date(2026, 9, 6), date(2026, 4, 5)),
    "Asia/Kolkata": (date(2026, 11, 29), date(2028, 2, 29)),
    "Pacific/Kiritimati": (date(2026, 11, 29), date(2026, 12, 28)),
}
"""Local days whose first instant (midnight, or the end of a daylight saving gap there)
the instants of evaluation straddle."""


def day_start(day: date, name: str) -> datetime:
    """The first instant of a local day: midnight read before a change that skips it is
    the instant of the change (fold=0), which is where the day begins."""
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(name)).astimezone(UTC)


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _values() -> list[Any]:
    values: list[Any] = [
        "2024-02-29", "2000-02-29", "2028-02-29", "1900-03-01", "2023-02-28", "2023-03-01", "2027-02-28",
        "2025-12-28", "2026-01-01", "2026-01-03", "2026-12-31", "2027-01-04", "1985-06-12",
        "1985-06-11T23:00:00.000Z", "1985-06-12T00:00:00-03:00", "1994-12-31T12:00:00", "1994-12-31",
        "2026-03-29T01:30:00", "2026-03-29T00:59:59.999999", "2018-11-04T00:30:00", "2011-12-30T12:00:00",
        "1899-12-31T12:00:00Z", "1899-12-31T23:59:59", "2250-01-01T00:00:00Z", "2250-01-01T00:00:00",
        "0001-01-01", "9999-12-31", "2026-02-30", "2026-02-30T10:00:00Z", "soon", "", " 2026-11-29",
        "2026-11-29 10:00:00", "2026-11-29t10:00:00z", "20261129", "2026-W48-7",
        "2026-11-29T10:00:00.1234567Z",
        None, True, False, 2.5, 1795348800.5, -1, 0, 10**12, 99999999999, -9999999999, -10**10, 2**63 - 1,
        2**64 + 5, 10**40, [], ["2026-11-29"], {}, {"d": "2026-11-29"},
    ]
    for name, days in EDGE_DAYS.items():
        for day in days:
            start = day_start(day, name)
            for offset in (-8, -7, -1, 0, 1, 7, 8):
                values.append((day + timedelta(days=offset)).isoformat())
            values.append(day.replace(year=1990 if (day.month, day.day) != (2, 29) else 1988).isoformat())
            for moment in (start - _MICRO, start):
                values.append(_z(moment))
                values.append(moment.astimezone(ZoneInfo("Asia/Kolkata")).isoformat(timespec="microseconds"))
            values += [int(start.timestamp()), int(start.timestamp()) - 1]
            eve = day - timedelta(days=1)
            values += [f"{day.isoformat()}T00:00:00", f"{eve.isoformat()}T23:59:59.999999"]
    unique: dict[str, Any] = {}
    for value in values:
        unique.setdefault(f"{type(value).__name__}:{value!r}", value)
    return list(unique.values())


VALUES = _values()
POPULATION = [{"contact_id": "missing"}, {"contact_id": "no-attributes", "attributes": None}] + [
    {"contact_id": f"c{index}", "attributes": {"v": value}} for index, value in enumerate(VALUES)
]

EVERY_TEST: list[dict[str, Any]] = [
    {"op": "last_days", "days": 0}, {"op": "last_days", "days": 1}, {"op": "last_days", "days": 7},
    {"op": "last_days", "days": 36600}, {"op": "next_days", "days": 0}, {"op": "next_days", "days": 7},
    {"op": "next_days", "days": 36600},
    {"op": "anniversary", "period": "today"}, {"op": "anniversary", "period": "this_week"},
    {"op": "anniversary", "period": "this_month"}, {"op": "anniversary", "period": "in_days", "days": 0},
    {"op": "anniversary", "period": "in_days", "days": 1},
    {"op": "anniversary", "period": "in_days", "days": 366},
    {"op": "anniversary", "period": "within_days", "days": 0},
    {"op": "anniversary", "period": "within_days", "days": 7},
    {"op": "anniversary", "period": "within_days", "days": 365},
    {"op": "anniversary", "period": "within_days", "days": 366},
]
SOME_TESTS = [EVERY_TEST[i] for i in (1, 5, 7, 8, 16)]


def _rules() -> list[Any]:
    rules = []
    for name in EDGE_DAYS:
        tests = EVERY_TEST if name in ("UTC", "Europe/London") else SOME_TESTS
        for params in tests:
            leaf = {"attribute": {"field": "v", **params, "tz": name}}
            rules.append(pytest.param(name, leaf, id=f"{name} {params}"))
        rules.append(pytest.param(name, {"!": {"attribute": {"field": "v", **SOME_TESTS[2], "tz": name}}},
                                  id=f"{name} not {SOME_TESTS[2]}"))
    return rules


def _instants(name: str) -> list[datetime]:
    instants = []
    for day in EDGE_DAYS[name]:
        start = day_start(day, name)
        instants += [start - _MICRO, start]
    return instants


@pytest.fixture(scope="module")
def tenant(con: duckdb.DuckDBPyConnection) -> str:
    name = f"calendar{next(_TENANTS)}"
    load_documents(con, POPULATION, tenant_id=name)
    return name


@pytest.mark.parametrize(("name", "rule"), _rules())
def test_sql_decides_as_the_per_contact_path(
    con: duckdb.DuckDBPyConnection, host: PluginHost, tenant: str, name: str, rule: Any
) -> None:
    segments = SegmentSet(host, [SegmentDefinition("rule", rule)])
    query = compile_segment(segments, "rule", field_columns(con))  # raises if it has no SQL form
    evaluate = segments.segments["rule"].evaluate
    for now in _instants(name):
        expected = {doc["contact_id"] for doc in POPULATION if evaluate(segments.view(doc), now)[0]}
        rows = dict(con.execute(query.sql, query.parameters(tenant, now)).fetchall())
        members = {contact for contact, member in rows.items() if member}
        undecided = {contact for contact, member in rows.items() if member is None}
        assert members - expected == set(), now
        assert expected - members - undecided == set(), now


ORDINARY = [
    "2026-11-22", "1985-06-12", "2024-02-29", "2026-11-22T10:00:00Z", "1985-06-12T10:00:00+01:00",
    "2026-11-29T09:15:00.123456-03:00", "2026-11-22T10:00:00", 1795348800,
]
"""Dates, date-times with Z or an offset, naive date-times and epoch seconds, away from midnight."""


@pytest.mark.parametrize("name", list(EDGE_DAYS))
def test_ordinary_values_are_all_decided_in_sql(con: Any, host: PluginHost, name: str) -> None:
    docs = [{"contact_id": str(value), "attributes": {"v": value}} for value in ORDINARY]
    now = datetime(2026, 11, 29, 15, tzinfo=UTC)
    for params in SOME_TESTS:
        expected, got = both_paths(con, host, {"attribute": {"field": "v", **params, "tz": name}}, docs, now)
        assert (got.path, set(got.members), got.decided_per_contact) == ("sql", expected, 0), params


def test_feb_29_falls_on_feb_28_in_other_years_and_the_original_day_counts(
    con: Any, host: PluginHost
) -> None:
    docs = [{"contact_id": v, "attributes": {"v": v}} for v in ("2024-02-29", "2023-02-28", "2027-03-01")]
    today = {"attribute": {"field": "v", "op": "anniversary", "period": "today"}}
    for now, members in ((datetime(2027, 2, 28, 12, tzinfo=UTC), {"2024-02-29", "2023-02-28"}),
                         (datetime(2028, 2, 28, 12, tzinfo=UTC), {"2023-02-28"}),
                         (datetime(2028, 2, 29, 12, tzinfo=UTC), {"2024-02-29"}),
                         (datetime(2024, 2, 29, 12, tzinfo=UTC), {"2024-02-29"}),
                         (datetime(2027, 3, 1, 0, tzinfo=UTC), {"2027-03-01"})):
        expected, got = both_paths(con, host, today, docs, now)
        assert (got.path, set(got.members), expected) == ("sql", members, members), now


def test_a_naive_time_in_a_skipped_day_is_left_to_the_per_contact_path(con: Any, host: PluginHost) -> None:
    """Kiritimati went from -10 to +14 at the end of 30 December 1994: Python reads
    ``1994-12-31T12:00`` there as 1 January 1995."""
    docs = [{"contact_id": "skipped", "attributes": {"v": "1994-12-31T12:00:00"}},
            {"contact_id": "date", "attributes": {"v": "1994-12-31"}}]
    rule = {"attribute": {"field": "v", "op": "anniversary", "period": "today", "tz": "Pacific/Kiritimati"}}
    expected, got = both_paths(con, host, rule, docs, day_start(date(2026, 1, 1), "Pacific/Kiritimati"))
    assert (got.path, set(got.members), expected) == ("sql", {"skipped"}, {"skipped"})
    assert got.decided_per_contact == 1


def test_the_catalog_examples_with_calendar_operators_compile_to_sql(con: Any, host: PluginHost) -> None:
    examples = [example for example in host.condition_type("attribute").examples  # type: ignore[union-attr]
                if example["op"] in ("last_days", "next_days", "anniversary")]
    assert len(examples) >= 2
    custom = {"trial_ends": "2026-12-01", "birthday": "1990-11-29"}
    docs = [{"contact_id": "a", "attributes": {"custom": custom}}]
    now = datetime(2026, 11, 29, 15, tzinfo=UTC)
    for example in examples:
        expected, got = both_paths(con, host, {"attribute": example}, docs, now)
        assert (got.path, set(got.members), expected) == ("sql", {"a"}, {"a"}), example
