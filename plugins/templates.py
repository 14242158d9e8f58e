"""Pre-built segments for the rule builder, registered through ``register_templates``.

Each template is an ordinary rule built only from built-in condition types, so a
team can pick one and edit it like any rule. Where a template has to assume an
event or attribute name that GrowthOS does not fix (``onboarding.completed``,
``session.started``, ``attributes.trial_ends_at``, ``custom.lead_score``,
``custom.customer_ltv``), the description says so, so nobody mistakes an empty
segment for an empty audience.

The email and lead templates follow the segmentation guide's definitions. Its
high-value example reads two custom fields, ``lead_score`` and
``customer_ltv`` (values a team imports from its CRM); its lead tiers read
GrowthOS's own lead score, ``scores.lead``. "Last activity" is the contact's
newest event of any name (``last_activity``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from growthos_segments.kit import Template, hookimpl

ENGAGED: dict[str, Any] = {
    "and": [
        {"email": {"action": "opened", "min_count": 3, "within": "30d"}},
        {"email": {"action": "clicked", "min_count": 1, "within": "30d"}},
    ]
}

LEAD_75: dict[str, Any] = {
    "attribute": {"field": "custom.lead_score", "op": "greater_or_equal", "value": 75}
}
LTV_1000: dict[str, Any] = {
    "attribute": {"field": "custom.customer_ltv", "op": "greater_or_equal", "value": 1000}
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
        id="monthly_active_users",
        name="Monthly active users",
        description=(
            "Active on at least 10 of the last 30 days: an event of any name on 10 distinct "
            "calendar days (UTC) in the last 30 days."
        ),
        category="lifecycle",
        rule={"active_days": {"min_days": 10, "within": "30d"}},
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
            "Engaged (3+ email opens and 1+ click in the last 30 days), or high value: the "
            "custom fields lead_score of at least 75 and customer_ltv of at least 1,000. A "
            "missing or non-numeric lead_score or customer_ltv is not high value."
        ),
        category="email",
        rule={"or": [ENGAGED, {"and": [LEAD_75, LTV_1000]}]},
    ),
    Template(
        id="click_but_never_convert",
        name="Clicked but never converted",
        description=(
            "At least 10 email clicks in total, the last one in the last 30 days, and never an "
            "email conversion (an email.converted event: a conversion your email platform "
            "attributed to a campaign; orders it did not attribute do not count)."
        ),
        category="email",
        rule={
            "and": [
                {"email": {"action": "clicked", "min_count": 10}},
                {"email": {"action": "converted", "exactly": 0}},
                {"email_last": {"action": "clicked", "within": "30d"}},
            ]
        },
    ),
    Template(
        id="last_opened_on_mobile",
        name="Last opened on mobile",
        description=(
            "The most recent email open (email.opened) was on a mobile device (its 'device' "
            "property), whenever it was."
        ),
        category="email",
        rule={"email_last_open_device": {"device": "mobile"}},
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
        description=(
            "Lead score (scores.lead) 80 to 100, active in the last 14 days (any event), and "
            "opened the most recent email sent to them (same campaign, at or after the send); "
            "contacts never sent an email are not hot."
        ),
        category="scores",
        rule={
            "and": [
                {"score": {"name": "lead", "gte": 80, "lte": 100}},
                {"last_activity": {"within": "14d"}},
                {"email_opened_last_sent": {}},
            ]
        },
    ),
    Template(
        id="warm_leads",
        name="Warm leads",
        description=(
            "Lead score (scores.lead) from 50 to under 80 (50-79 for whole-number scores) and "
            "active in the last 30 days (any event)."
        ),
        category="scores",
        rule={
            "and": [
                {"score": {"name": "lead", "gte": 50, "lt": 80}},
                {"last_activity": {"within": "30d"}},
            ]
        },
    ),
    Template(
        id="cold_leads",
        name="Cold leads",
        description=(
            "Lead score (scores.lead) from 0 to under 50 (0-49 for whole-number scores), or no "
            "activity (any event) in the last 60 days: they enter exactly 60 days after their "
            "last event. A contact never active counts once it is 60 days old (by "
            "attributes.created_at, else signup_date), not as soon as it signs up."
        ),
        category="scores",
        rule={
            "or": [
                {"score": {"name": "lead", "gte": 0, "lt": 50}},
                {"last_activity": {"older_than": "60d", "include_never": True,
                                   "young_contacts": "wait"}},
            ]
        },
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
        id="within_50_km_of_berlin",
        name="Within 50 km of Berlin",
        description=(
            "attributes.latitude / attributes.longitude within 50 km (great-circle) of Berlin's "
            "centre (52.52 N, 13.405 E); change the point and the radius to your market. "
            "Contacts without coordinates are not included."
        ),
        category="location",
        rule={"geo_radius": {"latitude": 52.52, "longitude": 13.405, "radius_km": 50}},
    ),
    Template(
        id="mentions_acme",
        name="Search: contacts mentioning 'acme'",
        description=(
            "'acme' in the name, e-mail or company fields or any custom field (attributes name, "
            "first_name, last_name, email, company and every attributes.custom field), ignoring "
            "case and accents; change the words to search for."
        ),
        category="search",
        rule={"search": {"q": "acme"}},
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
def register_templates(register: Callable[..., None]) -> None:
    register(*TEMPLATES)
