"""Random rule trees over the contact-family condition types, random contacts, random
instants: the SQL engine and the per-contact evaluator give the same member set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.analytics.conftest import both_paths
from tests.analytics.strategies import rule_trees
from tests.analytics.test_parity import DATE_TARGETS, NEEDLES, NUMBERS, SCALARS, TEXT_OPS, VALUES, ZONES

FIELDS = ("plan", "v", "custom.x")
NAMES = ("vip", "beta", "VIP", "ß", "1")
PATTERNS = ("^free$", "e", "\\d", "^$", "(?i)FREE")
BOUNDS = ("gte", "gt", "lte", "lt", "eq")

values = st.sampled_from(VALUES)
scalar_targets = st.sampled_from([s for s in SCALARS if not isinstance(s, int) or abs(s) <= 2**53])
number_targets = st.sampled_from([n for n in NUMBERS if abs(n) <= 2**53] + [80, 79.5, -1])
names = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3)
folded = st.booleans()
zones = st.sampled_from(ZONES)


def _attribute() -> st.SearchStrategy[dict[str, Any]]:
    field = st.sampled_from(FIELDS)
    return st.one_of(
        st.builds(lambda f, op, v, ci: {"field": f, "op": op, "value": v, "case_insensitive": ci},
                  field, st.sampled_from(["equals", "not_equals"]), scalar_targets, folded),
        st.builds(lambda f, op, vs: {"field": f, "op": op, "values": vs},
                  field, st.sampled_from(["in", "not_in", "contains_any", "contains_all", "contains_none"]),
                  st.lists(scalar_targets, min_size=1, max_size=3)),
        st.builds(lambda f, op, v: {"field": f, "op": op, "value": v},
                  field, st.sampled_from(TEXT_OPS), st.sampled_from(NEEDLES)),
        st.builds(lambda f, op, p: {"field": f, "op": op, "pattern": p},
                  field, st.sampled_from(["matches", "not_matches"]), st.sampled_from(PATTERNS)),
        st.builds(lambda f, op, v: {"field": f, "op": op, "value": v},
                  field, st.sampled_from(["greater_than", "greater_or_equal", "less_than", "less_or_equal"]),
                  number_targets),
        st.builds(lambda f, op, a, b: {"field": f, "op": op, "min": min(a, b), "max": max(a, b)},
                  field, st.sampled_from(["between", "not_between"]), number_targets, number_targets),
        st.builds(lambda f, op: {"field": f, "op": op}, field, st.sampled_from(["exists", "not_exists"])),
        st.builds(lambda f, op, n, u, tz: {"field": f, "op": op, "amount": n, "unit": u, "tz": tz},
                  field, st.sampled_from(["within_last", "more_than_ago", "within_next"]),
                  st.integers(1, 400), st.sampled_from(["minutes", "hours", "days", "weeks"]), zones),
        st.builds(lambda f, op, v, tz: {"field": f, "op": op, "value": v, "tz": tz},
                  field, st.sampled_from(["greater_than", "greater_or_equal", "less_than", "less_or_equal"]),
                  st.sampled_from(DATE_TARGETS), zones),
    ).map(lambda params: {"attribute": params})


def _leaf() -> st.SearchStrategy[dict[str, Any]]:
    match = st.sampled_from(["any", "all", "none"])
    return st.one_of(
        _attribute(),
        st.builds(lambda m, n, ci: {"tag": {"match": m, "tags": n, "case_insensitive": ci}},
                  match, names, folded),
        st.builds(lambda m, n: {"list": {"match": m, "lists": n}}, match, names),
        st.builds(lambda f, v: {"suppression": {"flag": f, "value": v}},
                  st.sampled_from(["unsubscribed", "bounced"]), st.booleans()),
        st.builds(lambda s: {"suppression": {"status": s}}, st.lists(st.sampled_from(["ok", "free", "1"]),
                                                                       min_size=1, max_size=2)),
        st.builds(lambda k, n: {"score": {"name": "lead", k: n}}, st.sampled_from(BOUNDS), number_targets),
        st.builds(lambda b: {"score_band": {"band": b}}, st.lists(st.sampled_from(["hot", "warm", "cold"]),
                                                                   min_size=1, max_size=2)),
    )


rules = rule_trees(_leaf(), max_leaves=6)


def _contact(
    index: int, plan: Any, v: Any, x: Any, tags: Any, lead: Any, flag: Any, status: Any
) -> dict[str, Any]:
    return {"contact_id": f"c{index}", "attributes": {"plan": plan, "v": v, "custom": {"x": x}},
            "tags": tags, "lists": tags, "scores": {"lead": lead},
            "suppression": {"unsubscribed": flag, "bounced": flag, "status": status}}


contacts = st.lists(
    st.tuples(values, values, values, st.one_of(st.lists(st.sampled_from(NAMES), max_size=3), values),
              values, values, st.one_of(st.sampled_from(["ok", "free"]), values)),
    min_size=1, max_size=8,
).map(lambda rows: [_contact(i, *row) for i, row in enumerate(rows)])
instants = st.one_of(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
    st.sampled_from([datetime(2026, 11, 29, 12, tzinfo=UTC) + timedelta(microseconds=d) for d in (-1, 0, 1)]),
)
"""Any instant, and often the one the dated values above sit 7 days from (window edges)."""


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rule=rules, docs=contacts, now=instants)
def test_random_rules_agree_on_both_paths(con: Any, host: Any, rule: Any, docs: list[dict[str, Any]],
                                          now: datetime) -> None:
    expected, got = both_paths(con, host, rule, docs, now)
    assert set(got.members) == expected, (got.path, got.reason)
