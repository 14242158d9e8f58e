"""Templates: each one is a valid rule of the built-in plugins, and behaves as described."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from core.compiler import compile_rule
from core.rules import normalize, parse_rule
from core.view import ContactView
from plugins import default_host, templates

HOST = default_host(load_entry_points=False)
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)

EXPECTED_IDS = {
    "new_signups", "completed_onboarding", "power_users", "engaged", "engaged_or_high_value",
    "click_but_never_convert", "opened_but_did_not_click", "hot_leads", "warm_leads",
    "cold_leads", "promoters", "detractors", "at_risk", "champions", "trial_ending_in_3_days",
    "free_plan_referrers",
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


def test_engaged_or_high_value_lets_big_spenders_in_without_email() -> None:
    context = {"rfm": {"computed_at": "2026-11-21T00:00:00Z",
                       "thresholds": {"recency_days": [5, 10, 20, 40],
                                      "frequency": [1, 1, 2, 3], "monetary": [10, 20, 50, 100]}}}
    spender = {"events": [ev("order.completed", "2026-11-01T00:00:00Z", amount=60)]}
    assert member("engaged_or_high_value", spender, context)[0] is True  # M score 4
    cheap = {"events": [ev("order.completed", "2026-11-01T00:00:00Z", amount=30)]}
    assert member("engaged_or_high_value", cheap, context)[0] is False  # M score 3


def test_click_but_never_convert() -> None:
    click = ev("email.clicked", "2026-11-15T00:00:00Z")
    assert member("click_but_never_convert", {"events": [click]})[0] is True
    converted = ev("email.converted", "2026-01-01T00:00:00Z")
    assert member("click_but_never_convert", {"events": [click, converted]})[0] is False


def test_lead_bands_and_nps() -> None:
    assert member("hot_leads", {"scores": {"lead": 80}})[0] is True
    assert member("warm_leads", {"scores": {"lead": 79}})[0] is True
    assert member("cold_leads", {"scores": {"lead": 49}})[0] is True
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
