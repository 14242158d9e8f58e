"""Pre-built segments for the rule builder, registered through ``register_templates``.

Each template is an ordinary rule built only from built-in condition types, so a
team can pick one and edit it like any rule. Where a template has to assume an
event or attribute name that GrowthOS does not fix (``onboarding.completed``,
``session.started``, ``attributes.trial_ends_at``), the description says so,
so nobody mistakes an empty segment for an empty audience.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.contract import Template
from core.hookspecs import hookimpl

ENGAGED: dict[str, Any] = {
    "and": [
        {"email": {"action": "opened", "min_count": 3, "within": "30d"}},
        {"email": {"action": "clicked", "min_count": 1, "within": "30d"}},
    ]
}

TEMPLATES: tuple[Template, ...] = (
    Template(
        id="new_signups",
        name="New signups",
        description="Contacts whose attributes.signup_date is in the last 7 days.",
        category="lifecycle",
        rule={"attribute": {"field": "signup_date", "op": "within_last", "amount": 7,
                            "unit": "days"}},
    ),
    Template(
        id="completed_onboarding",
        name="Completed onboarding",
        description="Contacts with an 'onboarding.completed' product event at any time.",
        category="lifecycle",
        rule={"event": {"name": "onboarding.completed", "min_count": 1}},
    ),
    Template(
        id="power_users",
        name="Power users",
        description=(
            "At least 15 'session.started' and 10 'feature_used' events in the last 30 days; "
            "adjust the event names and counts to your product."
        ),
        category="lifecycle",
        rule={
            "and": [
                {"event": {"name": "session.started", "min_count": 15, "within": "30d"}},
                {"event": {"name": "feature_used", "min_count": 10, "within": "30d"}},
            ]
        },
    ),
    Template(
        id="trial_ending_in_3_days",
        name="Trial ending in 3 days",
        description="attributes.trial_ends_at falls within the next 3 days (72 hours).",
        category="lifecycle",
        rule={"attribute": {"field": "trial_ends_at", "op": "within_next", "amount": 3,
                            "unit": "days"}},
    ),
    Template(
        id="engaged",
        name="Engaged",
        description="At least 3 email opens and at least 1 click in the last 30 days.",
        category="email",
        rule=ENGAGED,
    ),
    Template(
        id="engaged_or_high_value",
        name="Engaged or high value",
        description=(
            "Engaged (3+ opens and 1+ click in 30 days) or an RFM monetary score of 4-5 "
            "(top two spend quintiles of the tenant over the last 365 days)."
        ),
        category="email",
        rule={"or": [ENGAGED, {"rfm_score": {"dimension": "monetary", "min": 4}}]},
    ),
    Template(
        id="click_but_never_convert",
        name="Clicked but never converted",
        description="Clicked an email in the last 90 days and never had an email conversion.",
        category="email",
        rule={
            "and": [
                {"email": {"action": "clicked", "min_count": 1, "within": "90d"}},
                {"email": {"action": "converted", "exactly": 0}},
            ]
        },
    ),
    Template(
        id="opened_but_did_not_click",
        name="Opened but did not click",
        description=(
            "Opened a campaign sent in the last 30 days but has not clicked it, at least "
            "3 days after it was sent."
        ),
        category="email",
        rule={"email_opened_not_clicked": {"after_send": "3d", "sent_within": "30d"}},
    ),
    Template(
        id="hot_leads",
        name="Hot leads",
        description="Lead score in the tenant's hot band (default 80-100).",
        category="scores",
        rule={"score_band": {"name": "lead", "band": "hot"}},
    ),
    Template(
        id="warm_leads",
        name="Warm leads",
        description="Lead score in the tenant's warm band (default 50-79).",
        category="scores",
        rule={"score_band": {"name": "lead", "band": "warm"}},
    ),
    Template(
        id="cold_leads",
        name="Cold leads",
        description="Lead score in the tenant's cold band (default 0-49).",
        category="scores",
        rule={"score_band": {"name": "lead", "band": "cold"}},
    ),
    Template(
        id="promoters",
        name="Promoters",
        description="NPS of 9 or 10.",
        category="scores",
        rule={"score": {"name": "nps", "gte": 9}},
    ),
    Template(
        id="detractors",
        name="Detractors",
        description="NPS of 0 to 6.",
        category="scores",
        rule={"score": {"name": "nps", "lte": 6}},
    ),
    Template(
        id="at_risk",
        name="At risk",
        description=(
            "Customers with no order in the last 60 days (contacts who never ordered are "
            "not included); they enter at exactly 60 days after their last order."
        ),
        category="rfm",
        rule={"rfm_recency": {"older_than": "60d"}},
    ),
    Template(
        id="champions",
        name="Champions",
        description="RFM tier 'champions': bought recently, often and for the most.",
        category="rfm",
        rule={"rfm_tier": {"tier": "champions"}},
    ),
    Template(
        id="free_plan_referrers",
        name="Free-plan users who referred a friend",
        description="attributes.plan is 'free' and the contact has invited at least one friend.",
        category="referrals",
        rule={
            "and": [
                {"attribute": {"field": "plan", "op": "equals", "value": "free"}},
                {"referral": {"status": "invited", "min_count": 1}},
            ]
        },
    ),
)


@hookimpl
def register_templates(register: Callable[[Template], None]) -> None:
    for template in TEMPLATES:
        register(template)
