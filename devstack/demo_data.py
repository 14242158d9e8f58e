"""A deterministic, realistic demo tenant for the local stack (and anyone who needs one).

``generate`` builds contacts and 90 days of events from a seed and an instant,
so two runs with the same arguments produce the same people behaving the same
way relative to "now". The shapes follow the contact document of DESIGN.md §4
and the event vocabularies of the built-in plugins (``email.*``, ``nudge.*``,
``referral.*``, ``order.completed``, product events), so every template has
members and non-members. A handful of contacts sit minutes away from a
time-driven transition (their last order turns 60 days old shortly after
start-up), so the scheduler has something to do in the first minutes.

Two additions feed the templates that follow the segmentation guide: every
contact carries the custom fields ``customer_ltv`` (what it paid: whole months
of its plan since sign-up plus its orders) and ``lead_score`` (the lead score
as a CRM import would bring it: the contact's ``scores.lead``), and a few percent of engaged
contacts are heavy email readers (several opens in the last month and many
clicks, some converted), so "engaged", "engaged or high value" and "click but
never converted" have members and near misses. Both draw on their own random
streams, so the rest of the data is the same as without them. Every contact also
has ``latitude`` and ``longitude`` (decimal degrees): its city's centre moved by
up to 0.14 degrees each way (under 20 km), derived from its number rather than drawn, so the other random
choices are unchanged; "within 50 km of Berlin" finds the Berlin contacts.

Writing goes through the DynamoDB layer in batches (``BatchWriteItem``, 25 items
per request): moto costs about a millisecond per item, which is what bounds how
many events a demo can have and still start in seconds.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from growthos_segments.core.errors import RuleValidationError
from growthos_segments.core.host import PluginHost
from growthos_segments.core.ports import SegmentRecord, SegmentVersionConflict
from growthos_segments.core.rules import parse_rule
from growthos_segments.core.timeutil import parse_iso
from growthos_segments.infra import keys
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.repos._common import iso

__all__ = [
    "DemoData",
    "SeedReport",
    "api_key_for",
    "demo_segments",
    "documents",
    "generate",
    "team_key_for",
    "write",
]

log = logging.getLogger("growthos_segments.devstack.demo_data")

HISTORY = timedelta(days=90)


def api_key_for(tenant_id: str) -> str:
    """The local stack's API key for a demo tenant: ``local-<tenant>-key``.

    Predictable on purpose (it is printed at start-up and used in the README's
    curl lines); the local authorizer accepts nothing else.
    """
    return f"local-{keys.check_tenant_id(tenant_id)}-key"


def team_key_for(tenant_id: str) -> str:
    """The local stack's key of team ``growth`` in a demo tenant: ``local-<tenant>-growth-key``."""
    return f"local-{keys.check_tenant_id(tenant_id)}-growth-key"


_FIRST = (
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Finn",
    "Grace",
    "Hugo",
    "Isla",
    "Jonas",
    "Kai",
    "Lena",
    "Maya",
    "Noah",
    "Olivia",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tariq",
    "Uma",
    "Victor",
    "Wen",
    "Yara",
)
_LAST = (
    "Smith",
    "Jones",
    "Patel",
    "Müller",
    "Martin",
    "Kowalski",
    "Garcia",
    "Nguyen",
    "O'Brien",
    "Rossi",
    "Andersen",
    "Dubois",
    "Silva",
    "Kim",
    "Murphy",
    "Schmidt",
    "Novak",
    "Okafor",
)
_DOMAINS = ("gmail.com", "outlook.com", "proton.me", "acme.io", "example.com", "fastmail.com")
_COUNTRIES: tuple[tuple[str, tuple[str, ...], str, float], ...] = (
    ("GB", ("London", "Manchester", "Leeds", "Bristol"), "Europe/London", 0.26),
    ("US", ("New York", "Austin", "Seattle", "Chicago"), "America/New_York", 0.24),
    ("DE", ("Berlin", "Munich", "Hamburg"), "Europe/Berlin", 0.12),
    ("FR", ("Paris", "Lyon"), "Europe/Paris", 0.08),
    ("IE", ("Dublin", "Cork"), "Europe/Dublin", 0.07),
    ("NL", ("Amsterdam", "Utrecht"), "Europe/Amsterdam", 0.07),
    ("CA", ("Toronto", "Vancouver"), "America/Toronto", 0.06),
    ("AU", ("Sydney", "Melbourne"), "Australia/Sydney", 0.05),
    ("ES", ("Madrid", "Barcelona"), "Europe/Madrid", 0.05),
)
_CITY_CENTRES: dict[str, tuple[float, float]] = {
    "London": (51.5074, -0.1278), "Manchester": (53.4808, -2.2426), "Leeds": (53.8008, -1.5491),
    "Bristol": (51.4545, -2.5879), "New York": (40.7128, -74.006), "Austin": (30.2672, -97.7431),
    "Seattle": (47.6062, -122.3321), "Chicago": (41.8781, -87.6298), "Berlin": (52.52, 13.405),
    "Munich": (48.1351, 11.582), "Hamburg": (53.5511, 9.9937), "Paris": (48.8566, 2.3522),
    "Lyon": (45.764, 4.8357), "Dublin": (53.3498, -6.2603), "Cork": (51.8985, -8.4756),
    "Amsterdam": (52.3676, 4.9041), "Utrecht": (52.0907, 5.1214), "Toronto": (43.6532, -79.3832),
    "Vancouver": (49.2827, -123.1207), "Sydney": (-33.8688, 151.2093), "Melbourne": (-37.8136, 144.9631),
    "Madrid": (40.4168, -3.7038), "Barcelona": (41.3874, 2.1686),
}
"""City centres (decimal degrees) the demo contacts' coordinates scatter around."""
_PLANS = (("free", 0.55), ("starter", 0.25), ("pro", 0.15), ("enterprise", 0.05))
_INTERESTS = ("automation", "analytics", "email", "referrals", "integrations", "mobile")
_FEATURES = ("export", "api", "segments", "dashboards", "automations")
_RECENT_SENDS = {"cmp_nov_newsletter": 0.2, "cmp_q4_promo": 0.1, "cmp_bf_2026": 0.1}
"""Share of contacts each recent campaign is sent to (``email.sent`` events)."""
_NUDGES = ("upgrade_banner", "tour", "nps_survey")
# (campaign, days before now it was sent)
_CAMPAIGNS = (
    ("cmp_onboarding", 80),
    ("cmp_oct_newsletter", 52),
    ("cmp_nov_newsletter", 24),
    ("cmp_q4_promo", 12),
    ("cmp_bf_2026", 3),
)
_MONTHLY_PRICE = {"free": 0, "starter": 29, "pro": 99, "enterprise": 499}
"""Plan prices behind ``custom.customer_ltv``."""
_READER_SHARE = 0.10
"""Share of engaged contacts (engagement score 55+, subscribed) who are heavy email readers."""
_PERSONAS = (("dormant", 0.35), ("casual", 0.45), ("engaged", 0.185), ("power", 0.015))
"""Power users are rare on purpose: each one has ~30 events, and moto pays per item."""


@dataclass(slots=True)
class DemoData:
    """One tenant's generated contacts (view-shaped documents) and events."""

    tenant_id: str
    contacts: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SeedReport:
    tenant_id: str
    contacts: int
    events: int
    segments: list[str]
    seconds: float


def _pick(rng: random.Random, weighted: Iterable[tuple[Any, float]]) -> Any:
    options = list(weighted)
    return rng.choices([o[0] for o in options], weights=[o[1] for o in options])[0]


def _at(rng: random.Random, now: datetime, *, newest: timedelta, oldest: timedelta) -> datetime:
    span = max(0.0, (oldest - newest).total_seconds())
    return now - newest - timedelta(seconds=rng.random() * span)


def generate(tenant_id: str, contacts: int, *, now: datetime, seed: int = 7) -> DemoData:
    """Contacts ``c1..cN`` of ``tenant_id`` with their events of the last 90 days."""
    keys.check_tenant_id(tenant_id)
    rng = random.Random(f"{seed}:{tenant_id}")
    data = DemoData(tenant_id)
    now = now.astimezone(UTC)
    for number in range(1, contacts + 1):
        contact_id = f"c{number}"
        doc, persona = _contact(rng, tenant_id, contact_id, number, now)
        data.contacts.append(doc)
        data.events.extend(_events(rng, doc, persona, number, contacts, now))
    _time_edges(data, now)
    _email_readers(data, random.Random(f"{seed}:{tenant_id}:readers"), now)
    _lifetime_values(data, now)
    return data


def _coordinates(city: str, number: int) -> dict[str, float]:
    """Near the city's centre, by up to 0.14 degrees each way (under 20 km), from the contact's
    number (no draw from the random stream)."""
    lat, lon = _CITY_CENTRES[city]
    spread = ((number * 7919) % 1001 / 1000 - 0.5, (number * 104729) % 997 / 996 - 0.5)
    return {"latitude": round(lat + spread[0] * 0.28, 4), "longitude": round(lon + spread[1] * 0.28, 4)}


def _contact(
    rng: random.Random, tenant_id: str, contact_id: str, number: int, now: datetime
) -> tuple[dict[str, Any], str]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    country, cities, timezone, _ = _pick(rng, ((c, c[3]) for c in _COUNTRIES))
    plan = _pick(rng, _PLANS)
    persona = _pick(rng, _PERSONAS)
    # Sign-ups skew recent: a quarter in the last 90 days, the rest over two years.
    age_days = rng.randint(0, 89) if rng.random() < 0.25 else rng.randint(90, 730)
    signed_up = now - timedelta(days=age_days, seconds=rng.randint(0, 86_399))
    local = f"{first}.{last}".lower().replace("'", "").replace("ü", "ue")
    custom: dict[str, Any] = {"interests": sorted(rng.sample(_INTERESTS, rng.randint(0, 3)))}
    if plan != "free":
        custom["seats"] = rng.choice((1, 3, 5, 10, 25, 50, 120))
        custom["company"] = f"{last} {rng.choice(('Labs', 'GmbH', 'Ltd', 'Inc', 'Studio'))}"
    custom["plan_type"] = "premium" if plan in ("pro", "enterprise") else "standard"
    domain = rng.choice(_DOMAINS)
    city = rng.choice(cities)  # drawn after the domain, as always
    attributes: dict[str, Any] = {
        "email": f"{local}{number}@{domain}",
        "first_name": first,
        "last_name": last,
        "city": city,
        **_coordinates(city, number),
        "country": country,
        "timezone": timezone,
        "plan": plan,
        "signup_date": signed_up.date().isoformat(),
        "created_at": iso(signed_up.replace(microsecond=0)),
        "custom": custom,
    }
    if plan == "free" and rng.random() < 0.15:  # on a trial of a paid plan
        attributes["trial_ends_at"] = (now + timedelta(days=rng.randint(0, 14))).date().isoformat()
    if number > 20 and rng.random() < 0.10:
        attributes["referred_by"] = f"c{rng.randint(1, number - 1)}"
    unsubscribed = rng.random() < 0.04
    bounced = rng.random() < 0.02
    tags = [
        t
        for t, p in (
            ("vip", 0.03),
            ("beta", 0.08),
            ("power-user", 0.10 if persona == "power" else 0.01),
            ("do-not-call", 0.02),
        )
        if rng.random() < p
    ]
    lists = [
        name
        for name, p in (("newsletter", 0.6), ("launch-2026", 0.2), ("webinar-nov", 0.08))
        if rng.random() < p and not unsubscribed
    ]
    scores: dict[str, Any] = {
        "lead": rng.randint(0, 100),
        "engagement": {
            "dormant": rng.randint(0, 25),
            "casual": rng.randint(20, 60),
            "engaged": rng.randint(55, 90),
            "power": rng.randint(80, 100),
        }[persona],
    }
    if rng.random() < 0.4:
        scores["nps"] = rng.choices(range(11), weights=(2, 1, 1, 2, 2, 4, 5, 9, 14, 12, 10))[0]
    doc = {
        "tenant_id": tenant_id,
        "contact_id": contact_id,
        "attributes": attributes,
        "tags": tags,
        "lists": lists,
        "suppression": {
            "unsubscribed": unsubscribed,
            "bounced": bounced,
            "status": "bounced" if bounced else ("unsubscribed" if unsubscribed else "ok"),
        },
        "scores": scores,
    }
    return doc, persona


def _joined(doc: Mapping[str, Any]) -> datetime:
    return parse_iso(doc["attributes"]["created_at"])


def _events(
    rng: random.Random, doc: Mapping[str, Any], persona: str, number: int, total: int, now: datetime
) -> list[dict[str, Any]]:
    """Events in the plugins' vocabulary (what the templates read), about 2.5 per contact."""
    tenant_id, contact_id = doc["tenant_id"], doc["contact_id"]
    attributes = doc["attributes"]
    joined = _joined(doc)
    oldest = min(HISTORY, now - joined)
    out: list[tuple[str, datetime, dict[str, Any]]] = []
    activity = {"dormant": 0.05, "casual": 0.35, "engaged": 0.75, "power": 0.95}[persona]
    paid = attributes["plan"] != "free"

    def when(newest: timedelta = timedelta(0), limit: timedelta = oldest) -> datetime:
        return _at(rng, now, newest=newest, oldest=max(newest, min(limit, oldest)))

    if not doc["suppression"]["unsubscribed"]:
        for campaign, days_ago in _CAMPAIGNS:
            sent = now - timedelta(days=days_ago, hours=rng.randint(0, 6))
            share = _RECENT_SENDS.get(campaign)
            if sent < joined or rng.random() > (share if share is not None else 0.25 * activity):
                continue
            if share is not None:
                out.append(("email.sent", sent, {"campaign_id": campaign}))
            if share is None or rng.random() < activity:
                device = _pick(rng, (("mobile", 0.55), ("desktop", 0.4), ("tablet", 0.05)))
                opened = sent + timedelta(minutes=rng.randint(3, 2880))
                out.append(("email.opened", opened, {"campaign_id": campaign, "device": device}))
                if rng.random() < activity * 0.5:
                    url = rng.choice(("/pricing", "/blog/segments", "/features/automation", "/webinar"))
                    clicked = opened + timedelta(seconds=rng.randint(5, 600))
                    out.append(
                        ("email.clicked", clicked, {"campaign_id": campaign, "device": device, "url": url})
                    )
                    if rng.random() < 0.15:
                        out.append(
                            (
                                "email.converted",
                                clicked + timedelta(minutes=rng.randint(1, 120)),
                                {"campaign_id": campaign},
                            )
                        )
    if persona == "power":
        month = timedelta(days=30)
        out.extend(("session.started", when(limit=month), {}) for _ in range(rng.randint(15, 20)))
        out.extend(
            ("feature_used", when(limit=month), {"feature": rng.choice(_FEATURES)})
            for _ in range(rng.randint(10, 13))
        )
    else:
        sessions = {"dormant": 0, "casual": int(rng.random() < 0.3), "engaged": rng.randint(1, 2)}[persona]
        out.extend(("session.started", when(), {}) for _ in range(sessions))
        if persona == "engaged" and rng.random() < 0.5:
            out.append(("feature_used", when(), {"feature": rng.choice(_FEATURES)}))
    if (joined > now - HISTORY and rng.random() < 0.6) or rng.random() < 0.1:
        out.append(("onboarding.completed", when(limit=now - joined), {}))
    if rng.random() < (0.5 if paid else 0.05):
        orders = rng.randint(1, {"dormant": 1, "casual": 2, "engaged": 2, "power": 3}[persona])
        # Dormant buyers ordered long ago: they are the at-risk audience.
        newest = timedelta(days=61) if persona == "dormant" else timedelta(0)
        for index in range(orders):
            at = when(newest)
            amount = round(rng.uniform(19, 240) * (2.5 if attributes["plan"] == "enterprise" else 1), 2)
            if index == 0 and rng.random() < 0.2:
                out.append(
                    ("cart.added", at - timedelta(minutes=rng.randint(2, 90)), {"sku": "plan-upgrade"})
                )
            out.append(
                (
                    "order.completed",
                    at,
                    {
                        "order_id": f"o-{contact_id}-{index}",
                        "amount": amount,
                        "currency": "GBP" if attributes["country"] == "GB" else "USD",
                    },
                )
            )
    if not paid and rng.random() < 0.2:
        for _ in range(rng.randint(1, 3)):
            at = when(limit=timedelta(days=30))
            out.append(("nudge.shown", at, {"nudge_id": "upgrade_banner"}))
            roll = rng.random()
            if roll < 0.12:
                out.append(("nudge.clicked", at + timedelta(seconds=20), {"nudge_id": "upgrade_banner"}))
            elif roll < 0.4:
                out.append(("nudge.dismissed", at + timedelta(seconds=8), {"nudge_id": "upgrade_banner"}))
    elif rng.random() < 0.05:
        out.append(("nudge.shown", when(), {"nudge_id": rng.choice(_NUDGES[1:])}))
    if rng.random() < (0.15 if persona in ("engaged", "power") else 0.03):
        for friend in range(rng.randint(1, 2)):
            out.append(("referral.invited", when(), {"referee_id": f"friend-{number}-{friend}"}))
        if rng.random() < 0.4 and total > number:
            out.append(("referral.converted", when(), {"referee_id": f"c{rng.randint(number + 1, total)}"}))
    events = []
    for index, (name, at, properties) in enumerate(sorted(out, key=lambda e: e[1])):
        if at > now or at < joined:
            continue
        events.append(
            {
                "tenant_id": tenant_id,
                "contact_id": contact_id,
                "name": name,
                "at": at.replace(microsecond=0),
                "properties": properties,
                "event_id": f"seed-{contact_id}-{index}",
            }
        )
    return events


def _time_edges(data: DemoData, now: datetime) -> None:
    """Give a few buyers a last order that turns 60 days old minutes after start-up."""
    buyers = {e["contact_id"] for e in data.events if e["name"] == "order.completed"}
    chosen = [c["contact_id"] for c in data.contacts if c["contact_id"] in buyers][:5]
    for offset, contact_id in enumerate(chosen, start=1):
        data.events = [
            e for e in data.events if not (e["contact_id"] == contact_id and e["name"] == "order.completed")
        ]
        at = (now - timedelta(days=60) + timedelta(minutes=2 * offset)).replace(microsecond=0)
        data.events.append(
            {
                "tenant_id": data.tenant_id,
                "contact_id": contact_id,
                "name": "order.completed",
                "at": at,
                "properties": {"order_id": f"o-{contact_id}-edge", "amount": 59.0, "currency": "USD"},
                "event_id": f"seed-{contact_id}-edge",
            }
        )


def _email_readers(data: DemoData, rng: random.Random, now: datetime) -> None:
    """Heavy email readers: 3-5 opens in the last 30 days and 2-12 clicks on campaigns
    sent since they joined (about half reach 10 clicks; some of those converted)."""
    for doc in data.contacts:
        if doc["suppression"]["unsubscribed"] or doc["scores"]["engagement"] < 55:
            continue
        if rng.random() >= _READER_SHARE:
            continue
        contact_id = doc["contact_id"]
        joined = _joined(doc)
        sent = [(c, now - timedelta(days=d)) for c, d in _CAMPAIGNS if now - timedelta(days=d) >= joined]
        recent = [(c, at) for c, at in sent if now - at < timedelta(days=30)]
        if not recent:
            continue
        out: list[tuple[str, datetime, dict[str, Any]]] = []

        def after(at: datetime, days: float) -> datetime:
            return min(now, at + timedelta(seconds=rng.random() * days * 86_400))

        for _ in range(rng.randint(3, 5)):
            campaign, at = rng.choice(recent)
            out.append(("email.opened", after(at, 2), {"campaign_id": campaign, "device": "mobile"}))
        clicks = rng.randint(10, 12) if rng.random() < 0.5 else rng.randint(2, 4)
        for _ in range(clicks):
            campaign, at = rng.choice(sent)
            url = rng.choice(("/pricing", "/blog/segments", "/features/automation", "/webinar"))
            out.append(("email.clicked", after(at, 10), {"campaign_id": campaign, "url": url}))
        if rng.random() < 0.3:
            campaign, at = rng.choice(sent)
            out.append(("email.converted", after(at, 10), {"campaign_id": campaign}))
        for index, (name, at, properties) in enumerate(sorted(out, key=lambda e: e[1])):
            data.events.append(
                {
                    "tenant_id": data.tenant_id,
                    "contact_id": contact_id,
                    "name": name,
                    "at": at.replace(microsecond=0),
                    "properties": properties,
                    "event_id": f"seed-{contact_id}-reader-{index}",
                }
            )


def _lifetime_values(data: DemoData, now: datetime) -> None:
    """``custom.customer_ltv``: whole months of the plan since sign-up plus the orders seen;
    ``custom.lead_score``: the lead score, as imported from a CRM."""
    spent: dict[str, float] = {}
    for event in data.events:
        if event["name"] == "order.completed":
            spent[event["contact_id"]] = spent.get(event["contact_id"], 0.0) + event["properties"]["amount"]
    for doc in data.contacts:
        attributes = doc["attributes"]
        months = (now - _joined(doc)).days // 30
        value = months * _MONTHLY_PRICE[attributes["plan"]] + spent.get(doc["contact_id"], 0.0)
        attributes["custom"]["customer_ltv"] = round(value)
        attributes["custom"]["lead_score"] = doc["scores"]["lead"]


# --- segments -------------------------------------------------------------------


def demo_segments(tenant_id: str, host: PluginHost) -> list[SegmentRecord]:
    """The plugins' templates as the tenant's segments (id = template id).

    A template whose rule does not validate with the installed plugins, or whose
    id cannot be a segment id, is skipped with a warning rather than saved.
    """
    found: list[SegmentRecord] = []
    for template in sorted(host.templates.values(), key=lambda t: t.id):
        try:
            keys.check_segment_id(template.id)
            parse_rule(template.rule, host)
        except (keys.InvalidKeyError, RuleValidationError) as exc:
            log.warning("template %s not saved as a demo segment: %s", template.id, exc)
            continue
        found.append(
            SegmentRecord(
                tenant_id=tenant_id,
                segment_id=template.id,
                name=template.name,
                rule=template.rule,
                description=template.description,
            )
        )
    return found


# --- writing --------------------------------------------------------------------


Progress = Callable[[str, int, int], None]
"""``(what, done, total)``: called as :func:`write` advances."""


def _counted(items: Sequence[Any], what: str, progress: Progress | None, every: int = 500) -> Iterator[Any]:
    for done, item in enumerate(items, start=1):
        yield item
        if progress is not None and (done % every == 0 or done == len(items)):
            progress(what, done, len(items))


def write(
    repos: Repositories,
    data: DemoData,
    segments: Iterable[SegmentRecord] = (),
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> SeedReport:
    """Save segments, then contacts and events in batches; returns what was written.

    ``progress`` hears how many contacts, then events, are written so far.
    """
    started = time.perf_counter()
    saved: list[str] = []
    for segment in segments:
        try:
            repos.segments.save(segment, now=now)
        except SegmentVersionConflict:
            log.info("segment %s already exists; left as it is", segment.segment_id)
            continue
        saved.append(segment.segment_id)
    repos.contacts.put_many(_counted(data.contacts, "contacts", progress), now=now)
    written = repos.events.append_many(_counted(data.events, "events", progress))
    return SeedReport(data.tenant_id, len(data.contacts), written, saved, time.perf_counter() - started)


def documents(data: DemoData) -> list[dict[str, Any]]:
    """The contacts as the view loader reads them back once written: each profile
    with its events, oldest first, times as stored (ISO 8601 strings)."""
    events: dict[str, list[dict[str, Any]]] = {}
    for event in sorted(data.events, key=lambda e: (e["at"], e.get("event_id") or "")):
        properties = dict(event.get("properties") or {})
        events.setdefault(event["contact_id"], []).append(
            {"name": event["name"], "at": iso(event["at"]), "properties": properties})
    docs = []
    for contact in data.contacts:
        attributes = dict(contact.get("attributes") or {})
        attributes["custom"] = dict(attributes.get("custom") or {})
        docs.append({
            "tenant_id": contact["tenant_id"],
            "contact_id": contact["contact_id"],
            "attributes": attributes,
            "tags": list(contact.get("tags") or []),
            "lists": list(contact.get("lists") or []),
            "suppression": dict(contact.get("suppression") or {}),
            "scores": dict(contact.get("scores") or {}),
            "events": events.get(contact["contact_id"], []),
        })
    return docs
