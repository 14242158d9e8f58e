"""One table of cases through both paths: the per-contact evaluator and the SQL engine.

Every contact-family condition type, every operator of each, over one population of
contacts whose values cover each JSON kind and its edges (missing, null, empty,
numbers as strings, booleans, big integers, NaN, unicode, nested paths through
non-objects). Cases whose params have no exact SQL form must say so (the
per-contact path answers them) and still agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.analytics.conftest import both_paths

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

VALUES: list[Any] = [
    "free", "Free", "FREE", "", " free", "free ", "1", "2.5", "true", "straße", "STRASSE", "ÉCOLE", "école",
    "a\nb", "ab\n", "x'y", "%_", "@example.com", "me@example.com", "ME@EXAMPLE.COM",
    0, 1, -1, 1.0, 2.5, -0.5, 50, 79.5, 80, 100, 2**53, 2**53 + 1, 2**63 - 1, 2**64 - 1, 2**64 + 5,
    10**20 + 1, 1e20, 10**40, float("nan"), float("inf"),
    True, False, None,
    [], ["free"], ["free", "trial"], ["Free"], [1, 2.0], [True], [None], ["free", 1, True, None, {"a": 1}],
    [["free"]], ["automation", "analytics"], ["automation"], [float("inf")], ["free", float("nan")],
    {}, {"x": 1}, {"$nonfinite": "inf"}, float("-inf"),
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
NEEDLES = ["free", "e", "1", "ß", "\n", "'", "%", "example.com", "FREE"]


def _attribute_cases() -> list[tuple[dict[str, Any], bool]]:
    """(params, has an SQL form) for every operator of the attribute type."""
    cases: list[tuple[dict[str, Any], bool]] = []
    for field in ("v", "custom.x", "custom.x-y", "missing", "v.deeper"):
        for op in ("equals", "not_equals"):
            cases += [({"field": field, "op": op, "value": v}, v not in INEXACT) for v in SCALARS]
            cases.append(({"field": field, "op": op, "value": "free", "case_insensitive": True}, False))
        for op in ("in", "not_in"):
            cases += [({"field": field, "op": op, "values": ["free", 1, True]}, True),
                      ({"field": field, "op": op, "values": [2.5, "", False, 2**64]}, True),
                      ({"field": field, "op": op, "values": ["", 2**64 + 5]}, False),
                      ({"field": field, "op": op, "values": [2**53 + 1]}, False)]
        for op in TEXT_OPS:
            cases += [({"field": field, "op": op, "value": needle}, True) for needle in NEEDLES]
            cases.append(({"field": field, "op": op, "value": "free", "case_insensitive": True}, False))
        for op in ("matches", "not_matches"):
            cases += [({"field": field, "op": op, "pattern": pattern}, True)
                      for pattern in ("^free$", "free", "a.b", "^ab$", "b$", "(?i)free", "^\\d+$", "\\pL{5}",
                                      "^[^@]+@example\\.com$", "(?s)a.b", "^$")]
            cases.append(({"field": field, "op": op, "pattern": "free", "case_insensitive": True}, False))
        for op in ("contains_any", "contains_all", "contains_none"):
            cases += [({"field": field, "op": op, "values": ["free"]}, True),
                      ({"field": field, "op": op, "values": ["free", "trial"]}, True),
                      ({"field": field, "op": op, "values": [1, True]}, True),
                      ({"field": field, "op": op, "values": ["automation", "analytics"]}, True),
                      ({"field": field, "op": op, "values": ["free"], "case_insensitive": True}, False)]
        for op in ("greater_than", "greater_or_equal", "less_than", "less_or_equal"):
            cases += [({"field": field, "op": op, "value": v}, True)
                      for v in NUMBERS]
            cases += [({"field": field, "op": op, "value": 2**53 + 1}, False),
                      ({"field": field, "op": op, "value": "2026-01-01"}, False)]
        for op in ("between", "not_between"):
            cases += [({"field": field, "op": op, "min": 0, "max": 1}, True),
                      ({"field": field, "op": op, "min": 0.5, "max": 80}, True),
                      ({"field": field, "op": op, "min": -9e125, "max": 9e125}, True),
                      ({"field": field, "op": op, "min": "2026-01-01", "max": "2026-12-31"}, False)]
        cases += [({"field": field, "op": "exists"}, True), ({"field": field, "op": "not_exists"}, True),
                  ({"field": field, "op": "within_last", "amount": 7, "unit": "days"}, False)]
    return cases


def _cases() -> list[tuple[str, Any, bool]]:
    cases = [(f"attribute {params}", {"attribute": params}, sql) for params, sql in _attribute_cases()]
    for kind, key in (("tag", "tags"), ("list", "lists")):
        for match in ("any", "all", "none"):
            for names in (["free"], ["free", "trial"], ["automation", "analytics"], ["1"], ["extra"]):
                cases.append((f"{kind} {match} {names}", {kind: {"match": match, key: names}}, True))
            cases.append((f"{kind} {match} folded", {kind: {"match": match, key: ["FREE"],
                                                             "case_insensitive": True}}, False))
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
    cases.append(("behavioural falls back", behavioural, False))
    cases.append(("jsonlogic falls back", {"and": [{"==": [{"var": "attributes.v"}, "free"]}]}, False))
    return cases


CASES = _cases()


@pytest.mark.parametrize(("rule", "sql"), [pytest.param(rule, sql, id=name) for name, rule, sql in CASES])
def test_both_paths_agree(con: Any, host: Any, rule: Any, sql: bool) -> None:
    expected, got = both_paths(con, host, rule, POPULATION, NOW)
    assert set(got.members) == expected
    assert got.path == ("sql" if sql else "per-contact"), got.reason
