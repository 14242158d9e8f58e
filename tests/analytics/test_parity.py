"""One table of cases through both paths: the per-contact evaluator and the SQL engine.

Every contact-family condition type, every operator of each, over one population of
contacts whose values cover each JSON kind and its edges (missing, null, empty,
numbers as strings, booleans, big integers, NaN, unicode, nested paths through
non-objects). Cases whose params have no exact SQL form must say so (the
per-contact path answers them) and still agree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.analytics.conftest import both_paths

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

VALUES: list[Any] = [
    "free", "Free", "FREE", "", " free", "free ", "1", "2.5", "true", "straße", "STRASSE", "ÉCOLE", "école",
    "k", "K", "\u212a", ["\u212a", "FREE"], ["STRASSE"],
    "a\nb", "ab\n", "x'y", "%_", "@example.com", "me@example.com", "ME@EXAMPLE.COM",
    0, 1, -1, 1.0, 2.5, -0.5, 50, 79.5, 80, 100, 2**53, 2**53 + 1, 2**63 - 1, 2**64 - 1, 2**64 + 5,
    10**20 + 1, 1e20, 10**40,
    True, False, None,
    [], ["free"], ["free", "trial"], ["Free"], [1, 2.0], [True], [None], ["free", 1, True, None, {"a": 1}],
    [["free"]], ["automation", "analytics"], ["automation"],
    {}, {"x": 1},
    # Instants: NOW is 2026-11-29T12:00Z; 2026-11-22T12:00Z is exactly 7 days before.
    "2026-11-29T12:00:00Z", "2026-11-22T12:00:00Z", "2026-11-22T12:00:00.000001Z",
    "2026-11-22T11:59:59.999999Z", "2026-11-22T12:00:00+00:00", "2026-11-22T13:00:00+01:00",
    "2026-11-22T06:30:00-05:30", "2026-11-22T12:00:00", "2026-11-22T12:00", "2026-11-22", "2026-11-21",
    "2026-11-29", "2026-12-06T12:00:00Z", "2026-12-06T11:59:59.9Z", "2026-11-29T12:00:00.000001Z",
    "2026-11-29 12:00:00", "2026-11-22t12:00:00z", "20261122", "2026-W48-7",
    "2026-11-22T12:00:00.1234567Z", " 2026-11-22", "2026-11-22 ", "2026-02-30", "2026-02-30T10:00:00Z",
    "0001-01-01", "9999-12-31T23:59:59Z", "2026-11-22T12:00:00+14:00", "2026-03-29T01:30:00",
    1795348800, 1795348801, 1795348799, 1795348800.5, 1795348799.9999995, -1, 99999999999, 10**12, True,
]
"""Every value appears as attributes.v, attributes.custom.x, scores.lead, suppression.status,
suppression.unsubscribed, tags and lists, each on its own contact; plus a contact missing each."""


def _population() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {"contact_id": "empty"},
        {"contact_id": "odd-maps", "attributes": [1], "scores": "90", "suppression": None, "tags": "vip",
         "lists": {"a": 1}},
        {"contact_id": "custom-list", "attributes": {"custom": ["x"]}},
        {"contact_id": "custom-null", "attributes": {"custom": None, "v": None}},
    ]
    for index, value in enumerate(VALUES):
        docs.append({
            "contact_id": f"c{index}",
            "attributes": {"v": value, "custom": {"x": value, "x-y": value}},
            "scores": {"lead": value, "nps": value},
            "suppression": {"status": value, "unsubscribed": value, "bounced": value},
            "tags": value,
            "lists": value if not isinstance(value, list) else [*value, "extra"],
        })
    return docs


POPULATION = _population()

SCALARS: list[Any] = [
    "free", "", "1", "straße", 1, 1.0, 2.5, 0, 2**53, 2**64 + 5, 10**20 + 1, 1e20, True, False,
]
INEXACT = (2**64 + 5, 10**20 + 1)
"""Integer targets with no exact double: an SQL double would round them, so no SQL form."""
TEXT_OPS = ("contains", "not_contains", "starts_with", "not_starts_with", "ends_with", "not_ends_with")
NUMBERS = (0, 1, 1.0, 2.5, -0.5, 0.5, 79.5, 2**53, 2**64, 2**64 + 4.0, 1e20, 9e125, -9e125)
FOLDED = ["free", "FREE", "straße", "STRASSE", "k", "\u212a", "École"]
"""Case-insensitive targets: Python's casefold folds ß to ss and the Kelvin sign to k."""
NEEDLES = ["free", "e", "1", "ß", "\n", "'", "%", "example.com", "FREE"]


def _attribute_cases() -> list[tuple[dict[str, Any], bool]]:
    """(params, has an SQL form) for every operator of the attribute type."""
    cases: list[tuple[dict[str, Any], bool]] = []
    for field in ("v", "custom.x-y", "v.deeper"):
        for op in ("equals", "not_equals"):
            cases += [({"field": field, "op": op, "value": v}, v not in INEXACT) for v in SCALARS]
            cases += [({"field": field, "op": op, "value": v, "case_insensitive": True}, True)
                      for v in FOLDED]
        for op in ("in", "not_in"):
            cases += [({"field": field, "op": op, "values": ["free", 1, True]}, True),
                      ({"field": field, "op": op, "values": [2.5, "", False, 2**64]}, True),
                      ({"field": field, "op": op, "values": ["", 2**64 + 5]}, False),
                      ({"field": field, "op": op, "values": [2**53 + 1]}, False)]
        for op in TEXT_OPS:
            cases += [({"field": field, "op": op, "value": needle}, True) for needle in NEEDLES]
            cases += [({"field": field, "op": op, "value": v, "case_insensitive": True}, True)
                      for v in FOLDED]
        for op in ("matches", "not_matches"):
            cases += [({"field": field, "op": op, "pattern": pattern}, True)
                      for pattern in ("^free$", "free", "a.b", "^ab$", "b$", "(?i)free", "^\\d+$", "\\pL{5}",
                                      "^[^@]+@example\\.com$", "(?s)a.b", "^$")]
            cases += [({"field": field, "op": op, "pattern": p, "case_insensitive": True}, True)
                      for p in ("^free$", "STRASSE", "\u212a")]
        for op in ("contains_any", "contains_all", "contains_none"):
            cases += [({"field": field, "op": op, "values": ["free"]}, True),
                      ({"field": field, "op": op, "values": ["free", "trial"]}, True),
                      ({"field": field, "op": op, "values": [1, True]}, True),
                      ({"field": field, "op": op, "values": ["automation", "analytics"]}, True),
                      ({"field": field, "op": op, "values": FOLDED, "case_insensitive": True}, True)]
        for op in ("greater_than", "greater_or_equal", "less_than", "less_or_equal"):
            cases += [({"field": field, "op": op, "value": v}, True)
                      for v in NUMBERS]
            cases += [({"field": field, "op": op, "value": 2**53 + 1}, False),
                      ({"field": field, "op": op, "value": "2026-01-01"}, True)]
        for op in ("between", "not_between"):
            cases += [({"field": field, "op": op, "min": 0, "max": 1}, True),
                      ({"field": field, "op": op, "min": 0.5, "max": 80}, True),
                      ({"field": field, "op": op, "min": -9e125, "max": 9e125}, True),
                      ({"field": field, "op": op, "min": "2026-01-01", "max": "2026-12-31"}, True)]
        cases += [({"field": field, "op": "exists"}, True), ({"field": field, "op": "not_exists"}, True),
                  ({"field": field, "op": "within_last", "amount": 7, "unit": "days"}, True),
                  ({"field": field, "op": "last_days", "days": 7}, True)]
    return cases


ZONES = ("UTC", "America/New_York", "Pacific/Kiritimati")
DATE_TARGETS = ("2026-11-22", "2026-11-22T12:00:00Z", "2026-11-22T12:00:00", "2026-11-22T12:00:00.000001")
DATE_RANGES = (("2026-11-22", "2026-11-29"), ("2026-11-22T12:00:00Z", "2026-11-22T12:00:00.000001Z"))


def _date_cases() -> list[tuple[dict[str, Any], bool]]:
    """Dates, rolling windows and calendar operators in several zones (all by SQL)."""
    cases: list[tuple[dict[str, Any], bool]] = []
    for tz in ZONES:
        for op in ("within_last", "more_than_ago", "within_next"):
            for amount, unit in ((7, "days"), (1, "minutes")):
                cases.append(({"field": "v", "op": op, "amount": amount, "unit": unit, "tz": tz}, True))
        for op in ("greater_than", "greater_or_equal", "less_than", "less_or_equal"):
            for target in DATE_TARGETS:
                cases.append(({"field": "v", "op": op, "value": target, "tz": tz}, True))
        for low, high in DATE_RANGES:
            for op in ("between", "not_between"):
                cases.append(({"field": "v", "op": op, "min": low, "max": high, "tz": tz}, True))
        cases += [({"field": "v", "op": "next_days", "days": 7, "tz": tz}, True),
                  ({"field": "v", "op": "anniversary", "period": "today", "tz": tz}, True)]
    return cases


def _cases() -> list[tuple[str, Any, bool]]:
    cases = [(f"attribute {params}", {"attribute": params}, sql)
             for params, sql in [*_attribute_cases(), *_date_cases()]]
    for kind, key in (("tag", "tags"), ("list", "lists")):
        for match in ("any", "all", "none"):
            for names in (["free"], ["free", "trial"], ["automation", "analytics"], ["1"], ["extra"]):
                cases.append((f"{kind} {match} {names}", {kind: {"match": match, key: names}}, True))
            for names in (["FREE"], FOLDED):
                rule = {kind: {"match": match, key: names, "case_insensitive": True}}
                cases.append((f"{kind} {match} folded {names}", rule, True))
    for flag in ("unsubscribed", "bounced"):
        for value in (True, False):
            rule = {"suppression": {"flag": flag, "value": value}}
            cases.append((f"suppression {flag} {value}", rule, True))
    for status in ("free", ["free", "true"], ["1"]):
        cases.append((f"suppression status {status!r}", {"suppression": {"status": status}}, True))
    for bounds in ({"gte": 50}, {"gt": 79.5}, {"lt": 80, "gte": 50}, {"eq": 1}, {"eq": 1.0}, {"lte": -0.5},
                   {"gte": 2**53}, {"gt": 1e20}, {"lt": 2**64 + 5}, {"eq": 2**53 + 1}):
        exact = all(float(bound) == bound for bound in bounds.values())
        cases.append((f"score {bounds}", {"score": {"name": "lead", **bounds}}, exact))
    for band in ("hot", "warm", "cold", ["warm", "hot"]):
        cases.append((f"score_band {band}", {"score_band": {"band": band}}, True))
    for bands in ({"a": 90, "b": 90, "c": 0}, {"a": 0.5, "b": 1, "c": -9e125}):
        for band in bands:
            cases.append((f"score_band {band} of {bands}",
                          {"score_band": {"band": band, "name": "lead", "bands": bands}}, True))
    composed = [
        ("and", {"and": [{"attribute": {"field": "v", "op": "exists"}},
                         {"tag": {"match": "none", "tags": ["x"]}}]}),
        ("or", {"or": [{"score": {"name": "lead", "gte": 80}}, {"suppression": {"flag": "bounced"}}]}),
        ("not of null", {"!": {"attribute": {"field": "v", "op": "equals", "value": "free"}}}),
        ("not of not", {"!": {"!": {"attribute": {"field": "v", "op": "greater_than", "value": 1}}}}),
        ("nested", {"and": [{"or": [{"!": {"score_band": {"band": "hot"}}},
                                    {"list": {"match": "all", "lists": ["extra"]}}]},
                            {"!": {"and": [
                                {"attribute": {"field": "custom.x", "op": "in", "values": [1, "free"]}},
                                {"suppression": {"status": "free"}}]}}]}),
    ]
    cases += [(name, rule, True) for name, rule in composed]
    behavioural = {"and": [{"attribute": {"field": "v", "op": "exists"}},
                           {"email": {"action": "opened", "within": "7d"}}]}
    cases.append(("behavioural", behavioural, True))
    cases.append(("jsonlogic", {"and": [{"==": [{"var": "attributes.v"}, "free"]}]}, True))
    return cases


CASES = _cases()


EDGES = (NOW - timedelta(microseconds=1), NOW + timedelta(microseconds=1))
"""Date cases also run a microsecond either side of NOW: the window edges of the values above."""


def _timed_cases() -> list[Any]:
    timed = []
    for name, rule, sql in CASES:
        dated = "tz" in rule.get("attribute", {})
        for now in (NOW, *EDGES) if dated else (NOW,):
            timed.append(pytest.param(rule, sql, now, id=f"{name} at {now.isoformat()}"))
    return timed


@pytest.mark.parametrize(("rule", "sql", "now"), _timed_cases())
def test_both_paths_agree(con: Any, host: Any, rule: Any, sql: bool, now: datetime) -> None:
    expected, got = both_paths(con, host, rule, POPULATION, now)
    assert set(got.members) == expected
    assert got.path == ("sql" if sql else "per-contact"), got.reason


def test_dates_only_python_reads_are_decided_per_contact_within_the_sql_answer(con: Any, host: Any) -> None:
    window = {"field": "v", "op": "within_last", "amount": 7, "unit": "days", "tz": "Europe/London"}
    docs = [{"contact_id": str(v), "attributes": {"v": v}} for v in (
        "2026-11-25T10:00:00Z", "2026-11-25T10:00:00", "2026-11-25 10:00:00Z", "2026-11-01", 1795348800.5,
        1795348801, 1795348800, "soon", None)]
    expected, got = both_paths(con, host, {"attribute": window}, docs, NOW)
    assert (got.path, set(got.members)) == ("sql", expected)
    assert expected == {"2026-11-25T10:00:00Z", "2026-11-25T10:00:00", "2026-11-25 10:00:00Z", "1795348800.5",
                        "1795348801"}
    assert got.decided_per_contact == 4  # naive (zone not UTC), spelled with a space, date only, fractional
    tagged = {"and": [{"attribute": window}, {"tag": {"tags": ["x"]}}]}
    expected, got = both_paths(con, host, tagged, docs, NOW)
    assert (got.decided_per_contact, expected, set(got.members)) == (0, set(), set())
