"""Behavioural evaluation: one contact with 500 events against behavioural segments."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from benchmarks.timing import median_us, row
from core.segments import SegmentDefinition, SegmentSet
from core.timeutil import to_iso
from plugins import default_host

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
EVENT_MIX = [
    ("email.sent", 0.18), ("email.delivered", 0.17), ("email.opened", 0.16), ("email.clicked", 0.06),
    ("product.viewed", 0.15), ("session.started", 0.1), ("feature_used", 0.06), ("cart.added", 0.03),
    ("order.completed", 0.03), ("nudge.shown", 0.03), ("nudge.clicked", 0.01), ("referral.invited", 0.02),
]


def contact_with_events(count: int = 500, seed: int = 7) -> dict:
    rng = random.Random(seed)
    names = [n for n, _ in EVENT_MIX]
    weights = [w for _, w in EVENT_MIX]
    events = []
    for i in range(count):
        name = rng.choices(names, weights)[0]
        at = NOW - timedelta(seconds=rng.randrange(90 * 86400))
        props: dict = {"campaign_id": rng.choice(["cmp_q4", "cmp_bf", "cmp_nl"]),
                       "device": rng.choice(["mobile", "desktop"])}
        if name == "email.clicked":
            props["url"] = rng.choice(["https://x.io/pricing", "https://x.io/blog", "https://x.io/unsubscribe"])
        if name == "order.completed":
            props = {"amount": rng.randrange(10, 400), "currency": "EUR", "order_id": f"o{i}"}
        if name.startswith("nudge."):
            props = {"nudge_id": rng.choice(["tour", "upgrade_banner"])}
        events.append({"name": name, "at": to_iso(at), "properties": props})
    rng.shuffle(events)  # stored order is not time order; the view sorts once
    return {
        "tenant_id": "t1", "contact_id": "c42",
        "attributes": {"plan": "free", "country": "GB", "signup_date": "2025-06-01"},
        "tags": ["vip"], "scores": {"lead": 82, "nps": 9, "engagement": 75},
        "events": events,
    }


def behavioural_segment(i: int) -> dict:
    """Five behavioural conditions that all match the benchmark contact (no short-circuit)."""
    return {"and": [
        {"email": {"action": "opened", "min_count": 3, "within": f"{30 + i % 7}d"}},
        {"email": {"action": "clicked", "min_count": 1, "within": "30d"}},
        {"event": {"name": "product.viewed", "min_count": 3, "within": "14d"}},
        {"rfm_frequency": {"min_count": 2, "within": "90d"}},
        {"nudge": {"action": "shown", "min_count": 1, "within": "30d"}},
    ]}


MIXED = [
    lambda i: behavioural_segment(i),
    lambda i: {"and": [{"score": {"name": "lead", "gte": 50 + i % 30}},
                       {"attribute": {"field": "plan", "op": "equals", "value": "free"}}]},
    lambda i: {"event_without": {"name": "product.viewed", "min_count": 3, "within": f"{48 + i}h",
                                 "without": {"name": "order.completed"}}},
    lambda i: {"email_last": {"action": "clicked", "older_than": f"{10 + i}d"}},
    lambda i: {"event_sequence": {"first": {"name": "cart.added"}, "then": {"name": "order.completed"},
                                  "max_gap": "1d", "within": "90d"}},
    lambda i: {"or": [{"referral": {"status": "invited", "min_count": 1 + i % 3}},
                      {"email_device": {"device": "mobile", "min_count": 5, "within": "30d"}}]},
    lambda i: {"event": {"name": "order.completed",
                         "where": {"amount": {"op": "greater_than", "value": 100 + i}},
                         "min_count": 1, "within": "90d"}},
    lambda i: {"email_click_url": {"contains": "/pricing", "within": f"{20 + i}d"}},
]


def main() -> None:
    host = default_host()
    doc = contact_with_events()
    one = SegmentSet(host, [SegmentDefinition("b0", behavioural_segment(0))])
    assert one.evaluate(one.view(doc), NOW)["b0"][0] is True, "benchmark contact should match"
    mixed = SegmentSet(host, [SegmentDefinition(f"m{i}", MIXED[i % len(MIXED)](i)) for i in range(100)])

    segment = one.segments["b0"].evaluate
    warm = one.view(doc)
    segment(warm, NOW)
    row("500-event contact x 5-condition behavioural segment, warm view",
        f"{median_us(lambda: segment(warm, NOW), number=2000):.1f} µs", "target ≤ 50 µs")
    row("  same, fresh view (includes sorting/parsing 500 events once)",
        f"{median_us(lambda: segment(one.view(doc), NOW), number=200):.0f} µs")
    total = median_us(lambda: mixed.evaluate(mixed.view(doc), NOW), number=50)
    row("500-event contact x 100 mixed segments, fresh view", f"{total:.0f} µs")
    row("  per segment", f"{total / 100:.1f} µs", "target ≤ 50 µs")


if __name__ == "__main__":
    main()
