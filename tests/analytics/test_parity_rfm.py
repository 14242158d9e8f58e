"""The RFM conditions through both paths: every type and param variant, tiers at each
cell and customers exactly at each threshold, contacts without orders, and the tenant
context fresh, stale, missing or malformed (both paths read the same context)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from growthos_segments.analytics.compiler import compile_rule
from growthos_segments.core.rules import parse_rule
from growthos_segments.core.timeutil import to_iso
from growthos_segments.plugins.rfm import PERIOD, TIERS, compute_rfm_context
from tests.analytics.conftest import both_paths
from tests.analytics.strategies import rule_trees

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
_US = timedelta(microseconds=1)
_DAY = timedelta(days=1)

CUTS = {"recency_days": [10, 20, 30, 40], "frequency": [1, 2, 3, 4], "monetary": [100, 200, 300, 400]}
"""Hand-made thresholds the grid below sits on exactly."""
RECENCY = (5 * _DAY, 10 * _DAY - _US, 10 * _DAY, 20 * _DAY, 30 * _DAY, 40 * _DAY)
"""Times since the last order: every R score (5 down to 1), at each cut and a microsecond before."""
SPENDS = (100, 200, 300, 400, 450)
"""With F = 1..5 orders: every F and M score, each value but the last exactly at a cut."""


def _order(at: datetime, amount: Any = 10, **properties: Any) -> dict[str, Any]:
    return {"name": "order.completed", "at": to_iso(at), "properties": {"amount": amount, **properties}}


def _grid() -> list[dict[str, Any]]:
    """One customer per (R, F, M): all 125 tier cells, and every threshold hit exactly."""
    docs = []
    for r, since in enumerate(RECENCY):
        for f in range(1, 6):
            for spend in SPENDS:
                last = NOW - since
                orders = [_order(last, spend)] + [_order(last - (i + 1) * _DAY, 0) for i in range(f - 1)]
                docs.append({"contact_id": f"g{r}-{f}-{spend}", "events": orders})
    return docs


def _edges() -> list[dict[str, Any]]:
    """Contacts at the period's edges, amounts of every kind, ties, currencies."""
    start = NOW - PERIOD
    return [
        {"contact_id": "no-events"},
        {"contact_id": "no-orders", "events": [{"name": "email.opened", "at": to_iso(NOW - _DAY)}]},
        {"contact_id": "at-period-start", "events": [_order(start, 500)]},
        {"contact_id": "after-period-start", "events": [_order(start + _US, 500)]},
        {"contact_id": "at-now", "events": [_order(NOW, 250)]},
        {"contact_id": "only-future", "events": [_order(NOW + _US, 900)]},
        {"contact_id": "future-and-past", "events": [_order(NOW - 3 * _DAY, 120), _order(NOW + _DAY, 900)]},
        {"contact_id": "lapsed", "events": [_order(start - _DAY, 999), _order(NOW - 400 * _DAY, 5)]},
        {"contact_id": "amount-kinds", "events": [
            _order(NOW - 2 * _DAY, "120"), _order(NOW - 3 * _DAY, None), _order(NOW - 4 * _DAY, True),
            {"name": "order.completed", "at": to_iso(NOW - 5 * _DAY)}, _order(NOW - 6 * _DAY, 150.5)]},
        {"contact_id": "refund", "events": [_order(NOW - 2 * _DAY, 300), _order(NOW - _DAY, -120.25)]},
        # One instant, amounts whose float sum depends on their order: 0.1 + 0.7 + 0.2 is
        # 0.9999999999999999, 0.1 + 0.2 + 0.7 is 1.0.
        {"contact_id": "ties", "events": [_order(NOW - 2 * _DAY, a) for a in (0.1, 0.7, 0.2)]},
        {"contact_id": "ties-reordered", "events": [_order(NOW - 2 * _DAY, a) for a in (0.2, 0.7, 0.1)]},
        {"contact_id": "tiny-sums", "events": [_order(NOW - d * _DAY, a)
                                               for d, a in ((9, 0.1), (8, 0.2), (7, 0.3), (6, 99.4))]},
        {"contact_id": "big-numbers",
         "events": [_order(NOW - _DAY, 2**53 + 1), _order(NOW - 2 * _DAY, 10**20)]},
        {"contact_id": "negative-zero", "events": [_order(NOW - _DAY, -0.0)]},
        {"contact_id": "currencies", "events": [
            _order(NOW - _DAY, 80, currency="eur"), _order(NOW - 2 * _DAY, 90, currency="EUR"),
            _order(NOW - 3 * _DAY, 70, currency="usd"), _order(NOW - 4 * _DAY, 60, currency=["EUR"]),
            _order(NOW - 5 * _DAY, 50)]},
        {"contact_id": "folded-currency", "events": [_order(NOW - _DAY, 40, currency="ßd"),
                                                     _order(NOW - 2 * _DAY, 30, currency="EUR")]},
        {"contact_id": "young", "attributes": {"created_at": to_iso(NOW - 10 * _DAY)},
         "events": [_order(NOW - 9 * _DAY, 50)]},
        {"contact_id": "old", "attributes": {"created_at": "2020-01-01"},
         "events": [_order(NOW - 9 * _DAY, 50)]},
    ]


POPULATION = _grid() + _edges()


def _context(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"version": 1, "computed_at": to_iso(NOW), "period_days": 365, "max_age_days": 7,
                            "customers": 150, "thresholds": CUTS}
    data.update(changes)
    return {"rfm": {key: value for key, value in data.items() if value is not ...}}


CONTEXTS: dict[str, dict[str, Any]] = {
    "grid": _context(),
    "computed": {"rfm": compute_rfm_context(POPULATION, NOW)},
    "stale": _context(computed_at=to_iso(NOW - 8 * _DAY)),
    "stale-exactly-now": _context(computed_at=to_iso(NOW - 7 * _DAY)),
    "fresh-by-a-microsecond": _context(computed_at=to_iso(NOW - 7 * _DAY + _US)),
    "half-day-max-age": _context(computed_at=to_iso(NOW - _DAY), max_age_days=0.5),
    "negative-max-age": _context(computed_at=to_iso(NOW - 6 * _DAY), max_age_days=-1),
    "stamped-in-future": _context(computed_at=to_iso(NOW + _DAY)),
    "no-computed-at": _context(computed_at=...),
    "unsorted-and-fractional-cuts": _context(thresholds={
        "recency_days": [40, 10.5, 30, 19.999999999], "frequency": [4, 1.5, 3, 2],
        "monetary": [400, 99.9, 300, 200]}),
    "farthest-recency-cuts": _context(thresholds={**CUTS, "recency_days": [-36600, 10, 20, 36600]}),
    "recency-cut-beyond-100-years": _context(thresholds={**CUTS, "recency_days": [-5, 10, 20, 36600.5]}),
    "recency-cut-beyond-the-calendar": _context(thresholds={**CUTS, "recency_days": [10, 20, 30, 1e8]}),
    "overflowing-recency-cut": _context(thresholds={**CUTS, "recency_days": [10, 20, 30, 1e10]}),
    "no-customers": _context(customers=0, thresholds=None),
    "three-cuts": _context(thresholds={**CUTS, "monetary": [100, 200, 300]}),
    "text-cut": _context(thresholds={**CUTS, "frequency": [1, 2, "3", 4]}),
    "boolean-cut": _context(thresholds={**CUTS, "frequency": [1, 2, True, 4]}),
    "no-rfm": {},
    "not-a-mapping": {"rfm": [1, 2]},
}

SCORE_RANGES = ((1, 5), (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (1, 3), (4, 5))


def _context_rules() -> list[tuple[str, dict[str, Any]]]:
    rules: list[tuple[str, dict[str, Any]]] = []
    for dimension in ("recency", "frequency", "monetary"):
        for low, high in SCORE_RANGES:
            rules.append((f"{dimension} {low}-{high}",
                          {"rfm_score": {"dimension": dimension, "min": low, "max": high}}))
    rules += [(f"tier {tier}", {"rfm_tier": {"tier": tier}}) for tier in TIERS]
    rules.append(("tiers at risk", {"rfm_tier": {"tier": ["at_risk", "cant_lose_them", "hibernating"]}}))
    return rules


CONTEXT_RULES = _context_rules()
STRICT_RULES = [
    ("strict monetary", {"rfm_score": {"dimension": "monetary", "min": 3, "if_stale": "no_match"}}),
    ("strict champions", {"rfm_tier": {"tier": ["champions", "loyal"], "if_stale": "no_match"}}),
    ("not strict lost", {"!": {"rfm_tier": {"tier": "lost", "if_stale": "no_match"}}}),
    ("stale-tolerant and strict", {"and": [{"rfm_score": {"dimension": "recency", "min": 4}},
                                           {"!": {"rfm_score": {"dimension": "frequency", "max": 1,
                                                                "if_stale": "no_match"}}}]}),
]


def _measure_rules() -> list[tuple[str, dict[str, Any]]]:
    """The raw measures (no context read), every param variant."""
    rules: list[tuple[str, dict[str, Any]]] = []
    for timing in ({"within": "30d"}, {"older_than": "10d"}, {"older_than": "10d", "within": "30d"},
                   {"within": "365d", "include_never": True}, {"older_than": "20d", "include_never": True}):
        rules.append((f"recency {timing}", {"rfm_recency": timing}))
    for count in ({}, {"min_count": 3}, {"max_count": 2}, {"exactly": 1}, {"exactly": 0},
                  {"min_count": 2, "max_count": 4}):
        for window in ({}, {"within": "365d"}, {"within": "20d"}, {"between": ["2026-11-01", "2026-11-28"]}):
            rules.append((f"frequency {count} {window}", {"rfm_frequency": {**count, **window}}))
    young = {"max_count": 1, "within": "30d", "young_contacts": "wait"}
    rules.append(("frequency young wait", {"rfm_frequency": young}))
    for measure in ("total", "average"):
        for bound in ({"gte": 200}, {"gt": 200}, {"lt": 100}, {"eq": 300}, {"gte": 99.9, "lt": 100.4},
                      {"lte": 0}, {"eq": 0.6000000000000001}, {"gte": 2**53}):
            for window in ({}, {"within": "7d"}, {"between": ["2026-11-20", "2026-11-28T12:00:00Z"]}):
                params = {"measure": measure, **bound, **window}
                rules.append((f"{measure} {bound} {window}", {"rfm_monetary": params}))
        for currency in ("EUR", "usd", "ssd"):
            rules.append((f"{measure} in {currency}",
                          {"rfm_monetary": {"measure": measure, "gt": 0, "currency": currency}}))
    return rules


MEASURE_RULES = _measure_rules()


@pytest.mark.parametrize(("rule", "context"), [
    pytest.param(rule, context, id=f"{name} with {context}")
    for name, rule in CONTEXT_RULES for context in ("grid", "computed")
] + [
    pytest.param(rule, context, id=f"{name} with {context}")
    for name, rule in [*STRICT_RULES, CONTEXT_RULES[0], CONTEXT_RULES[-2]] for context in CONTEXTS
])
def test_scores_and_tiers_agree(con: Any, host: Any, rule: dict[str, Any], context: str) -> None:
    expected, got = both_paths(con, host, rule, POPULATION, NOW, CONTEXTS[context])
    assert got.path == "sql", got.reason
    assert set(got.members) == expected


@pytest.mark.parametrize("rule", [pytest.param(rule, id=name) for name, rule in MEASURE_RULES])
def test_measures_agree(con: Any, host: Any, rule: dict[str, Any]) -> None:
    expected, got = both_paths(con, host, rule, POPULATION, NOW)
    assert got.path == "sql", got.reason
    assert set(got.members) == expected


def test_the_grid_covers_every_tier_cell_and_every_score(con: Any, host: Any) -> None:
    """The table above means something only if the grid reaches every cell."""
    for tier in TIERS:
        expected, got = both_paths(con, host, {"rfm_tier": {"tier": tier}}, POPULATION, NOW, CONTEXTS["grid"])
        assert expected and set(got.members) == expected, tier
    r_scores = (5, 5, 4, 3, 2, 1)  # RECENCY's, in order
    for score in range(1, 6):
        grid = {
            "recency": {f"g{r}-{f}-{s}" for r, level in enumerate(r_scores) if level == score
                        for f in range(1, 6) for s in SPENDS},
            "frequency": {f"g{r}-{score}-{s}" for r in range(len(RECENCY)) for s in SPENDS},
            "monetary": {f"g{r}-{f}-{SPENDS[score - 1]}" for r in range(len(RECENCY)) for f in range(1, 6)},
        }
        for dimension, members in grid.items():
            rule = {"rfm_score": {"dimension": dimension, "min": score, "max": score}}
            expected, got = both_paths(con, host, rule, POPULATION, NOW, CONTEXTS["grid"])
            assert {m for m in expected if m.startswith("g")} == members, (dimension, score)
            assert set(got.members) == expected


def test_a_bound_beyond_exact_doubles_is_answered_per_contact(con: Any, host: Any) -> None:
    rule = {"rfm_monetary": {"measure": "total", "gte": 2**53 + 1}}
    expected, got = both_paths(con, host, rule, POPULATION, NOW)
    assert (got.path, set(got.members)) == ("per-contact", expected)
    assert expected == {"big-numbers"}


def test_a_currency_only_python_folds_is_decided_per_contact(con: Any, host: Any) -> None:
    """``"ßd".upper()`` is ``"SSD"``: SQL leaves contacts with such a currency to the evaluator."""
    rule = {"rfm_monetary": {"measure": "total", "gte": 40, "currency": "ssd"}}
    expected, got = both_paths(con, host, rule, POPULATION, NOW)
    assert (got.path, set(got.members), got.decided_per_contact) == ("sql", {"folded-currency"}, 1)
    assert expected == {"folded-currency"}


def test_orders_of_one_instant_add_up_alike_whatever_their_order(con: Any, host: Any) -> None:
    """The copy keeps no order among events of one instant, so both paths add them in
    ascending amount: the same total, to the last bit, for any order in the document."""
    for bound in ({"eq": 1.0}, {"lt": 1}):
        rule = {"rfm_monetary": {"measure": "total", "within": "7d", **bound}}
        expected, got = both_paths(con, host, rule, POPULATION, NOW)
        assert (got.path, set(got.members)) == ("sql", expected)
        ties = {"ties", "ties-reordered"}
        assert ties & expected == (ties if "eq" in bound else set())


# --------------------------------------------------------------------------- random rules and histories

_amounts = st.one_of(st.integers(-50, 500), st.floats(0, 500).map(lambda x: round(x, 2)),
                     st.sampled_from([0.1, 0.2, 0.7, "12", None, True]))
_orders = st.lists(st.tuples(st.integers(-5, 400), st.integers(0, 3), _amounts,
                             st.sampled_from([None, "EUR", "eur", "usd"])), max_size=6)
"""(days before now, hour, amount, currency) of each order: a few land on one instant."""
_durations = st.sampled_from(["1d", "7d", "30d", "90d", "365d"])
_bounds = st.dictionaries(st.sampled_from(["gte", "gt", "lte", "lt", "eq"]),
                          st.sampled_from([0, 1, 10, 12.5, 100, 0.30000000000000004, 1.0]),
                          min_size=1, max_size=2)


def _rfm_leaf() -> st.SearchStrategy[dict[str, Any]]:
    score = st.builds(lambda d, a, b, s: {"rfm_score": {"dimension": d, "min": min(a, b),
                                                        "max": max(a, b), "if_stale": s}},
                      st.sampled_from(["recency", "frequency", "monetary"]), st.integers(1, 5),
                      st.integers(1, 5), st.sampled_from(["use", "no_match"]))
    tier = st.builds(lambda t, s: {"rfm_tier": {"tier": t, "if_stale": s}},
                     st.lists(st.sampled_from(TIERS), min_size=1, max_size=3, unique=True),
                     st.sampled_from(["use", "no_match"]))
    monetary = st.builds(lambda m, b, w, c: {"rfm_monetary": {"measure": m, **b, **w, **c}},
                         st.sampled_from(["total", "average"]), _bounds,
                         st.one_of(st.just({}), _durations.map(lambda d: {"within": d})),
                         st.sampled_from([{}, {"currency": "EUR"}]))
    frequency = st.builds(lambda n, w: {"rfm_frequency": {"min_count": n, **w}}, st.integers(0, 3),
                          st.one_of(st.just({}), _durations.map(lambda d: {"within": d})))
    recency = st.builds(lambda w, n: {"rfm_recency": {"within": w, "include_never": n}},
                        _durations, st.booleans())
    return st.one_of(score, tier, monetary, frequency, recency)


_rules = rule_trees(_rfm_leaf(), max_leaves=4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rule=_rules, histories=st.lists(_orders, min_size=1, max_size=10),
       shift=st.integers(-10**11, 10**11), age=st.integers(0, 9))
def test_random_rfm_rules_agree(
    con: Any, host: Any, rule: dict[str, Any], histories: list[Any], shift: int, age: int
) -> None:
    """Thresholds computed ``age`` days before the instant (stale from 7 on), from the same contacts."""
    now = NOW + shift * _US
    docs = [{"contact_id": f"h{i}", "events": [
        _order(now - days * _DAY - hour * timedelta(hours=1), amount,
               **({} if currency is None else {"currency": currency}))
        for days, hour, amount, currency in orders]} for i, orders in enumerate(histories)]
    context = {"rfm": compute_rfm_context(docs, now - age * _DAY)}
    expected, got = both_paths(con, host, rule, docs, now, context)
    assert (got.path, set(got.members)) == ("sql", expected)


def test_the_catalog_examples_compile_to_a_query_athena_reads_back(host: Any) -> None:
    for name in ("rfm_recency", "rfm_frequency", "rfm_monetary", "rfm_score", "rfm_tier"):
        for params in host.condition_type(name).examples:
            query = compile_rule(parse_rule({"!": {name: params}}, host))
            assert isinstance(sqlglot.parse_one(query.transpile("trino"), read="trino"), exp.Select)


def test_a_windows_total_depends_on_the_windows_orders_only(con: Any, host: Any) -> None:
    """0.2 + 0.7 is 0.8999999999999999; the running total since an older order of 0.1, minus
    that order, is 0.9. A view holding only the lookback could not compute the latter, and
    the query reads only the lookback's rows: both paths add up the window alone."""
    docs = [{"contact_id": "old-order", "events": [
        _order(NOW - 400 * _DAY, 0.1), _order(NOW - 20 * _DAY, 0.2), _order(NOW - 10 * _DAY, 0.7)]}]
    context = _context(thresholds={**CUTS, "monetary": [0.8999999999999999] * 4})
    total = {"rfm_monetary": {"measure": "total", "eq": 0.8999999999999999, "within": "365d"}}
    above_the_cuts = {"rfm_score": {"dimension": "monetary", "min": 2}}
    for rule, members in ((total, {"old-order"}), (above_the_cuts, set())):
        expected, got = both_paths(con, host, rule, docs, NOW, context)
        assert (got.path, set(got.members), expected) == ("sql", members, members)
