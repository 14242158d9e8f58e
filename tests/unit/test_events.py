"""Scenario tests for product-behaviour conditions on one hand-made contact.

Expected values are worked out by hand from BEN's event times, at instants on
both sides of each window edge.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from growthos_segments.core.host import PluginHost
from growthos_segments.core.view import ContactView
from growthos_segments.plugins import events

HOST = PluginHost([events], load_entry_points=False)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def ev(name: str, at: str, **properties: Any) -> dict[str, Any]:
    return {"name": name, "at": at, "properties": properties}


BEN_EVENTS = [
    ev("order.completed", "2026-09-01T12:00:00Z", amount=40, currency="EUR", order_id="o0"),
    ev("trial.started", "2026-11-01T00:00:00Z"),
    ev("app.login", "2026-11-05T08:00:00Z"),
    ev("subscription.created", "2026-11-10T00:00:00Z"),
    ev("order.completed", "2026-11-10T12:00:00Z", amount=150, currency="EUR", order_id="o1"),
    ev("viewed_product", "2026-11-20T10:00:00Z", category="shoes", product_id="p1"),
    ev("viewed_product", "2026-11-21T09:00:00Z", category="shoes"),
    ev("viewed_product", "2026-11-21T18:00:00Z", category="hats"),
    ev("cart.added", "2026-11-21T18:05:00Z"),
]
BEN = {"contact_id": "ben", "events": BEN_EVENTS}


def with_events(*extra: dict[str, Any]) -> dict[str, Any]:
    return {"contact_id": "ben", "events": [*BEN_EVENTS, *extra]}


def run(name: str, params: dict[str, Any], now: str, doc: dict[str, Any] = BEN
        ) -> tuple[bool, datetime | None]:
    return run_at(name, params, t(now), doc)


def run_at(name: str, params: dict[str, Any], now: datetime, doc: dict[str, Any] = BEN
           ) -> tuple[bool, datetime | None]:
    condition = HOST.condition_types[name]
    predicate = condition.compile(condition.params.model_validate(params))
    return predicate(ContactView(doc), now)


# --------------------------------------------------------------------------- event


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-21T17:59:59Z", (False, t("2026-11-21T18:00:00Z"))),  # third view not yet
        ("2026-11-21T20:00:00Z", (True, t("2026-11-22T10:00:00Z"))),
        ("2026-11-22T09:59:59Z", (True, t("2026-11-22T10:00:00Z"))),
        ("2026-11-22T10:00:00Z", (False, None)),
    ],
)
def test_viewed_product_three_times_in_48_hours(now: str, expected: Any) -> None:
    assert run("event", {"name": "viewed_product", "min_count": 3, "within": "48h"}, now) == (
        expected)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-19T07:59:59Z", (False, t("2026-11-19T08:00:00Z"))),
        ("2026-11-19T08:00:00Z", (True, None)),
    ],
)
def test_did_not_log_in_for_14_days(now: str, expected: Any) -> None:
    assert run("event", {"name": "app.login", "exactly": 0, "within": "14d"}, now) == expected


def test_property_filters_use_the_attribute_operators() -> None:
    now = "2026-11-21T20:00:00Z"
    shoes = {"name": "viewed_product", "where": {"category": {"op": "equals", "value": "shoes"}},
             "min_count": 2, "within": "48h"}
    assert run("event", shoes, now) == (True, t("2026-11-22T10:00:00Z"))
    hats = {"name": "viewed_product", "where": {"category": {"op": "in", "values": ["hats"]}},
            "exactly": 1, "within": "48h"}
    assert run("event", hats, now) == (True, t("2026-11-23T18:00:00Z"))
    big = {"name": "order.completed", "where": {"amount": {"op": "greater_than", "value": 100}}}
    assert run("event", big, now) == (True, None)
    huge = {"name": "order.completed", "where": {"amount": {"op": "greater_than", "value": 1000}}}
    assert run("event", huge, now) == (False, None)
    known = {"name": "viewed_product", "where": {"product_id": {"op": "exists"}}, "exactly": 1}
    assert run("event", known, now) == (True, None)
    both = {"name": "order.completed", "where": {"amount": {"op": "less_than", "value": 100},
                                                 "currency": {"op": "equals", "value": "EUR"}}}
    assert run("event", both, now) == (True, None)


def test_time_relative_operators_are_refused_on_event_properties() -> None:
    condition = HOST.condition_types["event"]
    with pytest.raises(ValueError, match="current time"):
        condition.params.model_validate(
            {"name": "order.completed",
             "where": {"shipped_at": {"op": "within_last", "amount": 3, "unit": "days"}}})


def test_namespace_selects_every_event_in_it() -> None:
    assert run("event", {"name": "order.*", "exactly": 2}, "2026-11-22T00:00:00Z") == (True, None)
    assert run("event", {"name": "order", "exactly": 0}, "2026-11-22T00:00:00Z") == (True, None)


# --------------------------------------------------------------------------- first / last


def test_first_order_within_90_days() -> None:
    params = {"name": "order.completed", "which": "first", "within": "90d"}
    # First order 09-01 12:00; 90 days later is 11-30 12:00.
    assert run("event_first_last", params, "2026-11-22T00:00:00Z") == (True, t("2026-11-30T12:00:00Z"))
    assert run("event_first_last", params, "2026-11-30T12:00:00Z") == (False, None)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-19T07:59:59Z", (False, t("2026-11-19T08:00:00Z"))),
        ("2026-11-19T08:00:00Z", (True, None)),
    ],
)
def test_last_login_more_than_14_days_ago(now: str, expected: Any) -> None:
    params = {"name": "app.login", "which": "last", "older_than": "14d"}
    assert run("event_first_last", params, now) == expected


def test_last_occurrence_moves_when_a_new_event_arrives() -> None:
    doc = with_events(ev("app.login", "2026-11-25T00:00:00Z"))
    params = {"name": "app.login", "which": "last", "older_than": "14d"}
    # Matching from 11-19 08:00 until the new login on 11-25 resets the clock.
    assert run("event_first_last", params, "2026-11-20T00:00:00Z", doc) == (
        True, t("2026-11-25T00:00:00Z"))


def test_first_occurrence_before_and_after_fixed_dates() -> None:
    now = "2026-11-22T00:00:00Z"
    trial = {"name": "trial.started", "which": "first"}
    assert run("event_first_last", {**trial, "after": "2026-11-01", "before": "2026-12-01"},
               now) == (True, None)
    assert run("event_first_last", {**trial, "after": "2026-11-02"}, now) == (False, None)
    assert run("event_first_last", {"name": "order.completed", "which": "first",
                                    "before": "2026-10-01"}, now) == (True, None)
    assert run("event_first_last", {"name": "order.completed", "which": "last",
                                    "before": "2026-10-01"}, now) == (False, None)


def test_never_happened_matches_only_with_include_never() -> None:
    now = "2026-11-22T00:00:00Z"
    params = {"name": "app.opened", "which": "first", "within": "30d"}
    assert run("event_first_last", params, now) == (False, None)
    assert run("event_first_last", {**params, "include_never": True}, now) == (True, None)


# --------------------------------------------------------------------------- without

BROWSED_NOT_BOUGHT = {"name": "viewed_product", "min_count": 3, "within": "48h",
                      "without": {"name": "order.completed"}}


def test_viewed_three_times_in_48_hours_without_a_purchase() -> None:
    assert run("event_without", BROWSED_NOT_BOUGHT, "2026-11-21T20:00:00Z") == (
        True, t("2026-11-22T10:00:00Z"))
    assert run("event_without", BROWSED_NOT_BOUGHT, "2026-11-22T10:00:00Z") == (False, None)


def test_a_purchase_in_the_window_blocks_until_it_leaves() -> None:
    doc = with_events(ev("order.completed", "2026-11-19T21:00:00Z", amount=10))
    # The purchase leaves the 48h window at 11-21 21:00; the three views are all
    # still inside then, so the contact enters exactly at that instant.
    assert run("event_without", BROWSED_NOT_BOUGHT, "2026-11-21T20:00:00Z", doc) == (
        False, t("2026-11-21T21:00:00Z"))
    assert run("event_without", BROWSED_NOT_BOUGHT, "2026-11-21T21:00:00Z", doc) == (
        True, t("2026-11-22T10:00:00Z"))


def test_a_recent_purchase_outlasts_the_views() -> None:
    doc = with_events(ev("order.completed", "2026-11-21T19:00:00Z", amount=10))
    # The purchase leaves at 11-23 19:00, after the views have: never matches.
    assert run("event_without", BROWSED_NOT_BOUGHT, "2026-11-21T20:00:00Z", doc) == (False, None)


# --------------------------------------------------------------------------- sequence


def test_a_then_b_within_t() -> None:
    now = "2026-11-22T00:00:00Z"
    params = {"first": {"name": "trial.started"}, "then": {"name": "subscription.created"},
              "max_gap": "14d"}
    assert run("event_sequence", params, now) == (True, None)  # 9 days apart
    assert run("event_sequence", {**params, "max_gap": "7d"}, now) == (False, None)
    assert run("event_sequence", {**params, "within": "30d"}, now) == (
        True, t("2026-12-10T00:00:00Z"))
    reversed_order = {"first": {"name": "subscription.created"},
                      "then": {"name": "trial.started"}}
    assert run("event_sequence", reversed_order, now) == (False, None)


def test_sequence_starts_when_b_happens() -> None:
    params = {"first": {"name": "trial.started"}, "then": {"name": "subscription.created"},
              "max_gap": "14d"}
    assert run("event_sequence", params, "2026-11-09T23:59:59Z") == (
        False, t("2026-11-10T00:00:00Z"))


CART_ABANDONED = {"first": {"name": "cart.added"}, "then": {"name": "order.completed"},
                  "max_gap": "1h", "mode": "not_then", "within": "7d"}


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-21T19:04:59Z", (False, t("2026-11-21T19:05:00Z"))),
        ("2026-11-21T19:05:00Z", (True, t("2026-11-28T18:05:00Z"))),
        ("2026-11-28T18:05:00Z", (False, None)),
    ],
)
def test_cart_not_followed_by_an_order_within_an_hour(now: str, expected: Any) -> None:
    assert run("event_sequence", CART_ABANDONED, now) == expected


@pytest.mark.parametrize(
    ("order_at", "abandoned"),
    [
        ("2026-11-21T18:30:00Z", False),
        ("2026-11-21T19:05:00Z", False),  # exactly max_gap later still counts as followed
        ("2026-11-21T19:05:01Z", True),  # too late
    ],
)
def test_cart_followed_by_an_order(order_at: str, abandoned: bool) -> None:
    doc = with_events(ev("order.completed", order_at, amount=20))
    assert run("event_sequence", CART_ABANDONED, "2026-11-21T20:00:00Z", doc)[0] is abandoned


def test_not_then_needs_a_gap() -> None:
    condition = HOST.condition_types["event_sequence"]
    with pytest.raises(ValueError, match="max_gap"):
        condition.params.model_validate({"first": {"name": "a"}, "then": {"name": "b"},
                                         "mode": "not_then"})


# --------------------------------------------------------------------------- last activity

MICRO = timedelta(microseconds=1)
LAST_SEEN = t("2026-11-21T18:05:00Z")  # BEN's newest event (cart.added)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (LAST_SEEN + timedelta(days=14) - MICRO, (True, LAST_SEEN + timedelta(days=14))),
        (t("2026-12-05T18:05:00Z"), (False, None)),  # exactly 14 days: no longer "within"
        (t("2026-12-05T18:05:00Z") + MICRO, (False, None)),
    ],
)
def test_active_in_the_last_14_days(now: datetime, expected: Any) -> None:
    assert run_at("last_activity", {"within": "14d"}, now) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (t("2027-01-20T18:05:00Z") - MICRO, (False, t("2027-01-20T18:05:00Z"))),
        (t("2027-01-20T18:05:00Z"), (True, None)),  # 60 days (11-21 + 60d) to the instant
        (t("2027-01-20T18:05:00Z") + MICRO, (True, None)),
    ],
)
def test_no_activity_in_the_last_60_days(now: datetime, expected: Any) -> None:
    assert run_at("last_activity", {"older_than": "60d"}, now) == expected


def test_activity_is_an_event_of_any_name() -> None:
    doc = with_events(ev("support.ticket_opened", "2026-11-25T00:00:00Z"))
    # At 11-22 the newest event is the cart (11-21 18:05); the ticket arrives on
    # 11-25 and becomes the last activity, so "inactive 60 days" starts 60 days later.
    assert run("last_activity", {"older_than": "60d"}, "2026-11-22T00:00:00Z", doc) == (
        False, t("2027-01-24T00:00:00Z"))
    assert run("last_activity", {"within": "1d"}, "2026-11-24T00:00:00Z", doc) == (
        False, t("2026-11-25T00:00:00Z"))


def test_never_active_matches_only_with_include_never() -> None:
    nobody = {"contact_id": "n", "events": []}
    now = "2026-11-22T00:00:00Z"
    assert run("last_activity", {"older_than": "60d"}, now, nobody) == (False, None)
    assert run("last_activity", {"older_than": "60d", "include_never": True}, now, nobody) == (
        True, None)
    assert run("last_activity", {"within": "14d"}, now, nobody) == (False, None)


INACTIVE_60D = {"older_than": "60d", "include_never": True, "young_contacts": "wait"}


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Created 11-01 00:00 with no events: out until it is 60 days old (12-31 00:00).
        (t("2026-11-22T00:00:00Z"), (False, t("2026-12-31T00:00:00Z"))),
        (t("2026-12-31T00:00:00Z") - MICRO, (False, t("2026-12-31T00:00:00Z"))),
        (t("2026-12-31T00:00:00Z"), (True, None)),
    ],
)
def test_a_young_never_active_contact_waits_for_the_whole_period(now: datetime,
                                                                 expected: Any) -> None:
    young = {"attributes": {"created_at": "2026-11-01T00:00:00Z"}, "events": []}
    assert run_at("last_activity", INACTIVE_60D, now, young) == expected
    by_signup = {"attributes": {"signup_date": "2026-11-01"}, "events": []}
    assert run_at("last_activity", INACTIVE_60D, now, by_signup) == expected


def test_young_contacts_wait_and_activity() -> None:
    now = "2026-11-22T00:00:00Z"
    # Active on 11-10: when it comes of age (12-31) that is 51 days ago, so it
    # enters when the activity is 60 days old, on 2027-01-09.
    acted = {"attributes": {"created_at": "2026-11-01T00:00:00Z"},
             "events": [ev("app.login", "2026-11-10T00:00:00Z")]}
    assert run("last_activity", INACTIVE_60D, now, acted) == (False, t("2027-01-09T00:00:00Z"))
    # A contact with neither date counts as old enough; by default a young one matches.
    assert run("last_activity", INACTIVE_60D, now, {"events": []}) == (True, None)
    young = {"attributes": {"created_at": "2026-11-01T00:00:00Z"}, "events": []}
    assert run("last_activity", {"older_than": "60d", "include_never": True}, now, young) == (
        True, None)


def test_last_activity_params_are_checked() -> None:
    condition = HOST.condition_types["last_activity"]
    with pytest.raises(ValueError, match="'within'"):
        condition.params.model_validate({})
    with pytest.raises(ValueError, match="include_never"):
        condition.params.model_validate({"older_than": "60d", "young_contacts": "wait"})
    with pytest.raises(ValueError, match="older_than"):
        condition.params.model_validate({"within": "14d", "include_never": True,
                                         "young_contacts": "wait"})
    with pytest.raises(ValueError, match="shorter"):
        condition.params.model_validate({"within": "14d", "older_than": "30d"})


@pytest.mark.parametrize(
    ("params", "lookback", "attributes"),
    [
        ({"within": "14d"}, timedelta(days=14), set()),
        # "Nothing in the last 60 days, never included": an older event and none at all
        # give the same answer, so 60 days of events decide it exactly.
        ({"older_than": "60d", "include_never": True}, timedelta(days=60), set()),
        (INACTIVE_60D, timedelta(days=60), {"attributes.created_at", "attributes.signup_date"}),
        # Never-active contacts excluded: whether there is any event at all matters.
        ({"older_than": "60d"}, timedelta.max, set()),
        ({"within": "14d", "include_never": True}, timedelta.max, set()),
    ],
)
def test_last_activity_reads_every_event_name_back_to_what_it_needs(
        params: dict[str, Any], lookback: timedelta, attributes: set[str]) -> None:
    condition = HOST.condition_types["last_activity"]
    reads = condition.reads(condition.params.model_validate(params))
    assert reads.events == {""}
    assert reads.lookback == lookback
    assert reads.attributes == attributes


def test_inactive_60_days_is_exact_on_the_events_the_loader_keeps() -> None:
    # The loader keeps events back to the lookback; dropping older ones must not
    # change the answer (the one kept event is exactly at the edge: it has left).
    now = t("2026-11-22T00:00:00Z")
    edge = ev("app.login", "2026-09-23T00:00:00Z")  # now - 60 days
    older = ev("app.login", "2026-08-01T00:00:00Z")
    created = {"created_at": "2026-01-01T00:00:00Z"}
    full = run_at("last_activity", INACTIVE_60D, now, {"attributes": created, "events": [older, edge]})
    loaded = run_at("last_activity", INACTIVE_60D, now, {"attributes": created, "events": [edge]})
    none = run_at("last_activity", INACTIVE_60D, now, {"attributes": created, "events": []})
    assert full == loaded == none == (True, None)


def test_an_event_of_any_name_reaches_a_last_activity_segment() -> None:
    from growthos_segments.core.dependencies import Change, DependencyIndex
    from growthos_segments.core.segments import SegmentDefinition, SegmentSet
    from growthos_segments.plugins import default_host

    index = DependencyIndex.of(SegmentSet(default_host(load_entry_points=False), [
        SegmentDefinition("active", {"last_activity": {"within": "14d"}}),
        SegmentDefinition("orders", {"event": {"name": "order.completed"}}),
    ]))
    for name in ("email.sent", "support.ticket_opened", "x"):
        assert index.affected(Change.of_event(name)) == ["active"]
    assert index.affected(Change.of_event("order.completed")) == ["active", "orders"]
    assert index.affected(Change(any_event=True)) == ["active", "orders"]
    assert index.lookback(["active"]) == timedelta(days=14)


def test_last_activity_explanation_counts_every_event_in_its_window() -> None:
    from growthos_segments.core.compiler import compile_rule
    from growthos_segments.core.rules import parse_rule

    rule = compile_rule(parse_rule({"last_activity": INACTIVE_60D}, HOST))
    doc = {**BEN, "attributes": {"created_at": "2026-01-01T00:00:00Z"}}
    trace = rule.explain(ContactView(doc), t("2026-11-22T00:00:00Z")).trace
    assert trace["match"] is False and trace["recheck_at"] == "2027-01-20T18:05:00Z"
    assert trace["description"] == (
        "last activity (any event) at least 60d ago (or never) (contacts younger than 60d wait)")
    # Events in (09-23, 11-22]: everything but the 09-01 order.
    assert trace["values"] == {"attributes.created_at": "2026-01-01T00:00:00Z",
                               "attributes.signup_date": "(missing)", "events:*": 8}


def test_catalog_examples_validate() -> None:
    for condition in events.CONDITION_TYPES:
        for example in condition.examples:
            condition.params.model_validate(example)


def test_a_segment_of_only_negative_conditions_is_allowed() -> None:
    from growthos_segments.core.compiler import compile_rule
    from growthos_segments.core.rules import parse_rule
    from growthos_segments.plugins import default_host

    rule = {"and": [
        {"event": {"name": "app.login", "exactly": 0, "within": "14d"}},
        {"!": {"event": {"name": "order.completed", "within": "30d"}}},
    ]}
    compiled = compile_rule(parse_rule(rule, default_host(load_entry_points=False)))
    empty = ContactView({"contact_id": "new", "events": []})
    assert compiled.evaluate(empty, t("2026-11-22T00:00:00Z")) == (True, None)
    # BEN: last login 11-05 08:00, last order 11-10 12:00 -> both negatives hold
    # from 12-10 12:00 (the order leaves the 30-day window).
    assert compiled.evaluate(ContactView(BEN), t("2026-11-22T00:00:00Z")) == (
        False, t("2026-12-10T12:00:00Z"))
    assert compiled.evaluate(ContactView(BEN), t("2026-12-10T12:00:00Z")) == (True, None)
