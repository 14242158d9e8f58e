"""Templates: each one is a valid rule of the built-in plugins, and behaves as described."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from growthos_segments.core.compiler import compile_rule
from growthos_segments.core.rules import normalize, parse_rule, rule_reads
from growthos_segments.core.view import ContactView
from growthos_segments.plugins import default_host, templates

HOST = default_host(load_entry_points=False)
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)

EXPECTED_IDS = {
    "new_signups", "completed_onboarding", "power_users", "engaged", "engaged_or_high_value",
    "click_but_never_convert", "opened_but_did_not_click", "hot_leads", "warm_leads",
    "cold_leads", "promoters", "detractors", "at_risk", "champions", "trial_ending_in_3_days",
    "free_plan_referrers", "monthly_active_users", "last_opened_on_mobile",
    "within_50_km_of_berlin", "mentions_acme",
}


def ev(name: str, at: str, **properties: Any) -> dict[str, Any]:
    return {"name": name, "at": at, "properties": properties}


def member(template_id: str, doc: dict[str, Any], context: dict[str, Any] | None = None,
           now: datetime = NOW) -> tuple[bool, datetime | None]:
    rule = compile_rule(parse_rule(HOST.templates[template_id].rule, HOST))
    return rule.evaluate(ContactView(doc, context=context), now)


def test_every_requested_template_is_registered_with_a_description() -> None:
    assert set(HOST.templates) == EXPECTED_IDS
    for template in HOST.list_templates():
        assert len(template["description"]) > 10
        assert template["name"]


@pytest.mark.parametrize("template", templates.TEMPLATES, ids=lambda t: t.id)
def test_every_template_is_a_valid_rule(template: Any) -> None:
    parse_rule(template.rule, HOST)  # raises RuleValidationError with every problem
    # Its normal form (defaults dropped) is a valid rule too, so a saved copy reloads.
    parse_rule(normalize(template.rule, HOST), HOST)


def test_engaged_needs_three_opens_and_a_click_in_30_days() -> None:
    opens = [ev("email.opened", f"2026-11-{day:02d}T09:00:00Z") for day in (1, 10, 20)]
    click = ev("email.clicked", "2026-11-20T09:05:00Z")
    assert member("engaged", {"events": [*opens, click]}) == (
        True, datetime(2026, 12, 1, 9, tzinfo=UTC))
    assert member("engaged", {"events": [*opens[1:], click]})[0] is False
    assert member("engaged", {"events": opens})[0] is False


# --------------------------------------------------------------------------- the guide's definitions
# Each contact below is worked out by hand against NOW (2026-11-22 12:00 UTC);
# edges are probed exactly at the boundary instant and a microsecond either side.

MICRO = timedelta(microseconds=1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


HIGH_VALUE = {"attributes": {"custom": {"lead_score": 75, "customer_ltv": 1000}}}


def test_engaged_or_high_value_engaged_branch_at_its_edge() -> None:
    opens = [ev("email.opened", f"2026-11-{day:02d}T09:00:00Z") for day in (1, 10, 20)]
    doc = {"events": [*opens, ev("email.clicked", "2026-11-20T09:05:00Z")]}
    # The 11-01 open leaves the 30-day window at 12-01 09:00: two opens are not engaged.
    assert member("engaged_or_high_value", doc) == (True, at("2026-12-01T09:00:00Z"))
    assert member("engaged_or_high_value", doc, now=at("2026-12-01T09:00:00Z") - MICRO)[0] is True
    assert member("engaged_or_high_value", doc, now=at("2026-12-01T09:00:00Z")) == (False, None)


@pytest.mark.parametrize(
    ("lead", "ltv", "expected"),
    [
        (75, 1000, True),
        (100, 250_000.5, True),
        (74.99, 1000, False),
        (75, 999.99, False),
        (75, "1000", False),  # a numeric string is not a number
        ("75", 1000, False),
        (None, 5000, False),  # no lead_score
        (90, None, False),  # no customer_ltv
    ],
)
def test_engaged_or_high_value_high_value_branch(lead: Any, ltv: Any, expected: bool) -> None:
    doc: dict[str, Any] = {"scores": {}, "attributes": {"custom": {}}}
    if lead is not None:
        doc["attributes"]["custom"]["lead_score"] = lead
    if ltv is not None:
        doc["attributes"]["custom"]["customer_ltv"] = ltv
    assert member("engaged_or_high_value", doc) == (expected, None)


def test_high_value_reads_the_custom_lead_score_not_the_lead_score() -> None:
    scored = {"scores": {"lead": 100}, "attributes": {"custom": {"customer_ltv": 5000}}}
    assert member("engaged_or_high_value", scored)[0] is False
    assert member("engaged_or_high_value", {**scored, **HIGH_VALUE})[0] is True


def test_engaged_or_high_value_is_no_longer_an_rfm_spend_score() -> None:
    context = {"rfm": {"computed_at": "2026-11-21T00:00:00Z",
                       "thresholds": {"recency_days": [5, 10, 20, 40],
                                      "frequency": [1, 1, 2, 3], "monetary": [10, 20, 50, 100]}}}
    spender = {"events": [ev("order.completed", "2026-11-01T00:00:00Z", amount=60)]}  # M score 4
    assert member("engaged_or_high_value", spender, context)[0] is False
    assert member("engaged_or_high_value", {**spender, **HIGH_VALUE}, context)[0] is True


TEN_CLICKS = [ev("email.clicked", f"2026-11-{day:02d}T10:00:00Z", campaign_id="cmp_a")
              for day in range(1, 11)]


def test_click_but_never_convert_at_the_edge_of_the_last_click() -> None:
    doc = {"events": TEN_CLICKS}
    # The last click (11-10 10:00) is 30 days old at 12-10 10:00.
    assert member("click_but_never_convert", doc) == (True, at("2026-12-10T10:00:00Z"))
    edge = at("2026-12-10T10:00:00Z")
    assert member("click_but_never_convert", doc, now=edge - MICRO) == (True, edge)
    assert member("click_but_never_convert", doc, now=edge) == (False, None)
    assert member("click_but_never_convert", doc, now=edge + MICRO) == (False, None)


def test_click_but_never_convert_needs_ten_clicks_and_no_email_conversion_ever() -> None:
    assert member("click_but_never_convert", {"events": TEN_CLICKS[1:]}) == (False, None)
    assert member("click_but_never_convert", {"events": TEN_CLICKS[:1]}) == (False, None)
    long_ago = ev("email.converted", "2025-01-01T00:00:00Z", campaign_id="cmp_old")
    assert member("click_but_never_convert", {"events": [*TEN_CLICKS, long_ago]}) == (False, None)
    # An order is not an email conversion (the description says so).
    order = ev("order.completed", "2026-11-05T00:00:00Z", amount=30)
    assert member("click_but_never_convert", {"events": [*TEN_CLICKS, order]})[0] is True
    # A tenth click still to come: the contact enters when it happens.
    future = {"events": [*TEN_CLICKS[1:], ev("email.clicked", "2026-11-25T00:00:00Z")]}
    assert member("click_but_never_convert", future) == (False, at("2026-11-25T00:00:00Z"))


HOT_EVENTS = [
    ev("email.sent", "2026-11-15T10:00:00Z", campaign_id="cmp_a"),
    ev("email.opened", "2026-11-16T08:00:00Z", campaign_id="cmp_a"),
]


def test_hot_leads_at_the_edge_of_last_activity() -> None:
    doc = {"scores": {"lead": 80}, "events": HOT_EVENTS}
    # Last activity: the open on 11-16 08:00; 14 days later is 11-30 08:00.
    edge = at("2026-11-30T08:00:00Z")
    assert member("hot_leads", doc) == (True, edge)
    assert member("hot_leads", doc, now=edge - MICRO) == (True, edge)
    assert member("hot_leads", doc, now=edge) == (False, None)


@pytest.mark.parametrize(("lead", "expected"), [(79, False), (79.99, False), (80, True),
                                                (100, True), (100.01, False), ("90", False)])
def test_hot_leads_score_range(lead: Any, expected: bool) -> None:
    assert member("hot_leads", {"scores": {"lead": lead}, "events": HOT_EVENTS})[0] is expected


def test_hot_leads_must_have_opened_the_most_recent_email() -> None:
    unopened = ev("email.sent", "2026-11-20T10:00:00Z", campaign_id="cmp_b")
    assert member("hot_leads", {"scores": {"lead": 90}, "events": [*HOT_EVENTS, unopened]}) == (
        False, None)
    never_emailed = {"scores": {"lead": 90}, "events": [ev("app.login", "2026-11-21T00:00:00Z")]}
    assert member("hot_leads", never_emailed) == (False, None)
    assert member("hot_leads", {"scores": {"lead": 90}}) == (False, None)  # was hot by score alone


@pytest.mark.parametrize(("lead", "expected"), [(49.99, False), (50, True), (79, True),
                                                (79.99, True), (80, False)])
def test_warm_leads_score_range(lead: Any, expected: bool) -> None:
    doc = {"scores": {"lead": lead}, "events": [ev("page.viewed", "2026-11-20T00:00:00Z")]}
    assert member("warm_leads", doc)[0] is expected


def test_warm_leads_at_the_edge_of_last_activity() -> None:
    doc = {"scores": {"lead": 60}, "events": [ev("page.viewed", "2026-11-01T00:00:00Z")]}
    edge = at("2026-12-01T00:00:00Z")  # 30 days after the only event
    assert member("warm_leads", doc) == (True, edge)
    assert member("warm_leads", doc, now=edge - MICRO) == (True, edge)
    assert member("warm_leads", doc, now=edge) == (False, None)
    assert member("warm_leads", {"scores": {"lead": 60}}) == (False, None)  # never active


@pytest.mark.parametrize(("lead", "expected"), [(-1, False), (0, True), (49, True),
                                                (49.99, True), (50, False), (None, False)])
def test_cold_leads_by_score_when_active(lead: Any, expected: bool) -> None:
    doc = {"scores": {} if lead is None else {"lead": lead},
           "events": [ev("app.login", "2026-11-21T00:00:00Z")]}
    assert member("cold_leads", doc)[0] is expected


def test_cold_leads_by_60_days_without_activity() -> None:
    doc = {"scores": {"lead": 90}, "attributes": {"created_at": "2026-01-01T00:00:00Z"},
           "events": [ev("nudge.shown", "2026-09-23T12:00:00Z", nudge_id="tour")]}
    # The only event is exactly 60 days old at NOW: cold from that instant on.
    assert member("cold_leads", doc, now=NOW - MICRO) == (False, NOW)
    assert member("cold_leads", doc) == (True, None)
    assert member("cold_leads", doc, now=NOW + MICRO) == (True, None)


def test_cold_leads_never_active_contacts_wait_until_60_days_old() -> None:
    young = {"scores": {"lead": 90}, "attributes": {"created_at": "2026-10-01T00:00:00Z"}}
    edge = at("2026-11-30T00:00:00Z")  # 60 days after it was created
    assert member("cold_leads", young) == (False, edge)
    assert member("cold_leads", young, now=edge - MICRO) == (False, edge)
    assert member("cold_leads", young, now=edge) == (True, None)
    # With neither created_at nor signup_date the contact counts as old enough.
    assert member("cold_leads", {"scores": {"lead": 90}}) == (True, None)


def test_lead_templates_read_every_event_name_and_no_more_history_than_needed() -> None:
    def reads(template_id: str) -> Any:
        return rule_reads(parse_rule(HOST.templates[template_id].rule, HOST))

    assert "" in reads("hot_leads").events and "" in reads("cold_leads").events
    assert reads("warm_leads").lookback == timedelta(days=30)
    assert reads("cold_leads").lookback == timedelta(days=60)
    assert reads("hot_leads").lookback == timedelta.max  # the newest send may be of any age


def test_nps_templates() -> None:
    assert member("promoters", {"scores": {"nps": 9}})[0] is True
    assert member("detractors", {"scores": {"nps": 6}})[0] is True
    assert member("detractors", {"scores": {"nps": 7}})[0] is False


def test_at_risk_enters_sixty_days_after_the_last_order() -> None:
    doc = {"events": [ev("order.completed", "2026-10-01T08:00:00Z", amount=10)]}
    assert member("at_risk", doc) == (False, datetime(2026, 11, 30, 8, tzinfo=UTC))
    assert member("at_risk", {"events": []})[0] is False


def test_new_signups_and_trial_ending() -> None:
    assert member("new_signups", {"attributes": {"signup_date": "2026-11-20"}})[0] is True
    assert member("new_signups", {"attributes": {"signup_date": "2026-11-01"}})[0] is False
    ending = {"attributes": {"trial_ends_at": "2026-11-24T12:00:00Z"}}
    assert member("trial_ending_in_3_days", ending)[0] is True
    later = {"attributes": {"trial_ends_at": "2026-11-26T12:00:00Z"}}
    assert member("trial_ending_in_3_days", later)[0] is False


def test_free_plan_users_who_referred_a_friend() -> None:
    invite = ev("referral.invited", "2026-11-01T00:00:00Z", referee_id="f1")
    assert member("free_plan_referrers", {"attributes": {"plan": "free"},
                                          "events": [invite]})[0] is True
    assert member("free_plan_referrers", {"attributes": {"plan": "pro"},
                                          "events": [invite]})[0] is False
    assert member("free_plan_referrers", {"attributes": {"plan": "free"}})[0] is False


def test_onboarding_and_power_users() -> None:
    assert member("completed_onboarding",
                  {"events": [ev("onboarding.completed", "2026-10-01T00:00:00Z")]})[0] is True
    sessions = [ev("session.started", f"2026-11-{d:02d}T10:00:00Z") for d in range(1, 16)]
    uses = [ev("feature_used", f"2026-11-{d:02d}T11:00:00Z") for d in range(1, 11)]
    assert member("power_users", {"events": sessions + uses})[0] is True
    assert member("power_users", {"events": sessions[1:] + uses})[0] is False


def test_opened_but_did_not_click_template() -> None:
    doc = {"events": [ev("email.sent", "2026-11-10T00:00:00Z", campaign_id="c1"),
                      ev("email.opened", "2026-11-11T00:00:00Z", campaign_id="c1")]}
    assert member("opened_but_did_not_click", doc) == (True, datetime(2026, 12, 10, tzinfo=UTC))
