"""RFM scenario tests on a hand-made five-customer tenant.

At AS_OF (2026-11-22) the customers' raw measures, worked out by hand, are:

====  ================  ======  =====  =====================================
      days since last   orders  spend  scores R/F/M -> FM -> tier
====  ================  ======  =====  =====================================
c1    2                 5       1200   4/5/5 -> 5 -> champions
c2    10                2       200    3/3/3 -> 3 -> need_attention
c3    30                1       50     2/1/2 -> 2 -> hibernating
c4    60                3       240    1/4/4 -> 4 -> at_risk
c5    245               1       20     1/1/1 -> 1 -> lost
====  ================  ======  =====  =====================================

With five customers the nearest-rank 20/40/60/80th percentiles are the 1st to
4th smallest values: recency [2, 10, 30, 60], frequency [1, 1, 2, 3],
monetary [20, 50, 200, 240].
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from growthos_segments.core.host import PluginHost
from growthos_segments.core.view import ContactView
from growthos_segments.plugins import rfm

HOST = PluginHost([rfm], load_entry_points=False)
AS_OF = datetime(2026, 11, 22, tzinfo=UTC)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def orders(*items: tuple[str, float | None]) -> list[dict[str, Any]]:
    out = []
    for number, (day, amount) in enumerate(items):
        properties: dict[str, Any] = {"currency": "EUR", "order_id": f"o{number}"}
        if amount is not None:
            properties["amount"] = amount
        out.append({"name": "order.completed", "at": f"{day}T00:00:00Z", "properties": properties})
    return out


TENANT = {
    "c1": {"contact_id": "c1", "events": orders(
        ("2026-06-01", 100), ("2026-09-01", 100), ("2026-10-01", 200), ("2026-11-01", 300),
        ("2026-11-20", 500))},
    "c2": {"contact_id": "c2", "events": orders(("2026-10-12", 100), ("2026-11-12", 100))},
    "c3": {"contact_id": "c3", "events": orders(("2026-10-23", 50))},
    "c4": {"contact_id": "c4", "events": orders(
        ("2026-07-01", 80), ("2026-08-01", 80), ("2026-09-23", 80))},
    "c5": {"contact_id": "c5", "events": orders(("2026-03-22", 20))},
    "c6": {"contact_id": "c6", "events": orders(("2025-06-01", 900))},  # outside the period
    "c7": {"contact_id": "c7", "events": []},
}
CONTEXT = rfm.compute_rfm_context(TENANT.values(), AS_OF)


def run(name: str, params: dict[str, Any], contact: str | dict[str, Any], now: str,
        context: dict[str, Any] | None = None) -> tuple[bool, datetime | None]:
    doc = TENANT[contact] if isinstance(contact, str) else contact
    condition = HOST.condition_types[name]
    predicate = condition.compile(condition.params.model_validate(params))
    ctx = {"rfm": CONTEXT} if context is None else context
    return predicate(ContactView(doc, context=ctx), t(now))


# --------------------------------------------------------------------------- thresholds


def test_thresholds_are_nearest_rank_quintiles_over_customers_of_the_period() -> None:
    assert CONTEXT["customers"] == 5
    assert CONTEXT["thresholds"] == {
        "recency_days": [2, 10, 30, 60],
        "frequency": [1, 1, 2, 3],
        "monetary": [20, 50, 200, 240],
    }
    assert CONTEXT["computed_at"] == "2026-11-22T00:00:00Z"
    assert CONTEXT["max_age_days"] == 7


def test_tenant_without_customers_has_no_thresholds() -> None:
    empty = rfm.compute_rfm_context([TENANT["c6"], TENANT["c7"]], AS_OF)
    assert empty["customers"] == 0
    assert empty["thresholds"] is None
    assert run("rfm_tier", {"tier": "lost"}, "c5", "2026-11-22T00:00:00Z", {"rfm": empty}) == (
        False, None)


def test_tenant_context_hook_publishes_the_rfm_namespace() -> None:
    merged = HOST.tenant_context("t1", list(TENANT.values()), AS_OF)
    assert merged == {"rfm": CONTEXT}


# --------------------------------------------------------------------------- tiers


@pytest.mark.parametrize(
    ("contact", "tier"),
    [("c1", "champions"), ("c2", "need_attention"), ("c3", "hibernating"), ("c4", "at_risk"),
     ("c5", "lost")],
)
def test_each_customer_is_in_exactly_its_tier(contact: str, tier: str) -> None:
    for name in rfm.TIERS:
        match, _ = run("rfm_tier", {"tier": name}, contact, "2026-11-22T00:00:00Z")
        assert match is (name == tier), name


def test_non_customers_have_no_tier() -> None:
    for contact in ("c6", "c7"):
        assert run("rfm_tier", {"tier": list(rfm.TIERS)}, contact, "2026-11-22T00:00:00Z") == (
            False, None)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # R falls from 4 to 3 when 10 days have passed since 11-20: champions -> loyal.
        ("2026-11-22T00:00:00Z", (True, t("2026-11-30T00:00:00Z"))),
        ("2026-11-29T23:59:59Z", (True, t("2026-11-30T00:00:00Z"))),
        ("2026-11-30T00:00:00Z", (False, None)),
    ],
)
def test_champion_leaves_exactly_when_recency_crosses_a_threshold(now: str, expected: Any) -> None:
    assert run("rfm_tier", {"tier": "champions"}, "c1", now)[0] is expected[0]
    if expected[0]:
        assert run("rfm_tier", {"tier": "champions"}, "c1", now) == expected
    assert run("rfm_tier", {"tier": "loyal"}, "c1", now)[0] is not expected[0]


def test_at_risk_lasts_until_orders_leave_the_period() -> None:
    # 07-01 leaving (2027-07-01) gives F 2 -> 3, M 160 -> 3: still at risk. 08-01
    # leaving (2027-08-01) gives F 1 -> 1, M 80 -> 2, FM 2: lost.
    assert run("rfm_tier", {"tier": "at_risk"}, "c4", "2026-11-22T00:00:00Z") == (
        True, t("2027-08-01T00:00:00Z"))
    assert run("rfm_tier", {"tier": "lost"}, "c4", "2027-08-01T00:00:00Z")[0] is True


def test_scores_by_dimension() -> None:
    now = "2026-11-22T00:00:00Z"
    assert run("rfm_score", {"dimension": "monetary", "min": 3, "max": 3}, "c2", now)[0] is True
    assert run("rfm_score", {"dimension": "recency", "max": 2}, "c3", now)[0] is True
    assert run("rfm_score", {"dimension": "recency", "max": 2}, "c2", now)[0] is False
    assert run("rfm_score", {"dimension": "frequency", "min": 5}, "c1", now)[0] is True
    assert run("rfm_score", {"dimension": "frequency", "min": 1}, "c7", now) == (False, None)


# --------------------------------------------------------------------------- context problems


def test_missing_or_malformed_context_matches_nothing() -> None:
    now = "2026-11-22T00:00:00Z"
    assert run("rfm_tier", {"tier": "champions"}, "c1", now, {}) == (False, None)
    broken = {"rfm": {**CONTEXT, "thresholds": {"recency_days": [1, 2]}}}
    assert run("rfm_tier", {"tier": "champions"}, "c1", now, broken) == (False, None)


def test_stale_thresholds_are_used_by_default() -> None:
    # computed 11-22, stale from 11-29; c2 stays need_attention (R 3) until 12-12.
    assert run("rfm_tier", {"tier": "need_attention"}, "c2", "2026-12-05T00:00:00Z") == (
        True, t("2026-12-12T00:00:00Z"))


def test_stale_thresholds_can_be_refused() -> None:
    params = {"tier": "need_attention", "if_stale": "no_match"}
    assert run("rfm_tier", params, "c2", "2026-11-22T00:00:00Z") == (
        True, t("2026-11-29T00:00:00Z"))
    assert run("rfm_tier", params, "c2", "2026-11-29T00:00:00Z") == (False, None)
    undated = {"rfm": {**CONTEXT, "computed_at": None}}
    assert run("rfm_tier", params, "c2", "2026-11-22T00:00:00Z", undated) == (False, None)
    assert run("rfm_tier", {"tier": "need_attention"}, "c2", "2026-11-22T00:00:00Z",
               undated)[0] is True


# --------------------------------------------------------------------------- raw measures


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-21T23:59:59Z", (False, t("2026-11-22T00:00:00Z"))),
        ("2026-11-22T00:00:00Z", (True, None)),
    ],
)
def test_no_order_in_60_days_moves_at_the_exact_instant(now: str, expected: Any) -> None:
    assert run("rfm_recency", {"older_than": "60d"}, "c4", now) == expected


def test_recency_for_contacts_who_never_ordered() -> None:
    now = "2026-11-22T00:00:00Z"
    assert run("rfm_recency", {"older_than": "60d"}, "c7", now) == (False, None)
    assert run("rfm_recency", {"older_than": "60d", "include_never": True}, "c7", now) == (
        True, None)
    assert run("rfm_recency", {"within": "30d"}, "c2", now) == (True, t("2026-12-12T00:00:00Z"))


def test_frequency_in_a_period() -> None:
    params = {"min_count": 5, "within": "365d"}
    assert run("rfm_frequency", params, "c1", "2026-11-22T00:00:00Z") == (
        True, t("2027-06-01T00:00:00Z"))
    assert run("rfm_frequency", {"exactly": 1}, "c3", "2026-11-22T00:00:00Z") == (True, None)


def test_total_spend_falls_as_orders_leave_the_window() -> None:
    # 1200 -> 1100 (2027-06-01) -> 1000 (2027-09-01) -> 800 (2027-10-01).
    params = {"measure": "total", "gte": 1000, "within": "365d"}
    assert run("rfm_monetary", params, "c1", "2026-11-22T00:00:00Z") == (
        True, t("2027-10-01T00:00:00Z"))


def test_average_order_value_currency_and_missing_amounts() -> None:
    now = "2026-11-22T00:00:00Z"
    assert run("rfm_monetary", {"measure": "average", "eq": 80}, "c4", now) == (True, None)
    doc = {"events": [
        *orders(("2026-11-01", 100), ("2026-11-02", None)),
        {"name": "order.completed", "at": "2026-11-03T00:00:00Z",
         "properties": {"amount": 40, "currency": "usd"}},
    ]}
    assert run("rfm_monetary", {"measure": "total", "eq": 140}, doc, now) == (True, None)
    assert run("rfm_monetary", {"measure": "average", "eq": 70}, doc, now) == (True, None)
    assert run("rfm_monetary", {"measure": "total", "eq": 40, "currency": "USD"}, doc, now) == (
        True, None)
    assert run("rfm_frequency", {"exactly": 3}, doc, now) == (True, None)


def test_no_orders_is_zero_spend_and_an_unknown_average() -> None:
    now = "2026-11-22T00:00:00Z"
    assert run("rfm_monetary", {"measure": "total", "lt": 1}, "c7", now) == (True, None)
    assert run("rfm_monetary", {"measure": "average", "lt": 1000}, "c7", now) == (False, None)


def test_tier_grid_covers_every_score_pair_once() -> None:
    seen = {rfm.tier_of(r, f, m) for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)}
    assert seen == set(rfm.TIERS)
    assert len(rfm.TIERS) == 11


def test_catalog_examples_validate() -> None:
    for condition in rfm.CONDITION_TYPES:
        for example in condition.examples:
            condition.params.model_validate(example)


def test_unknown_tier_is_reported_with_a_suggestion() -> None:
    from growthos_segments.core.errors import RuleValidationError
    from growthos_segments.core.rules import parse_rule

    with pytest.raises(RuleValidationError) as caught:
        parse_rule({"rfm_tier": {"tier": ["lost", "champion"]}}, HOST)
    (error,) = caught.value.errors
    assert error.path == "/rfm_tier/tier"
    assert "did you mean 'champions'?" in error.message
