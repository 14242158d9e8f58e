"""Core evaluation: one contact against attribute segments, and rule validation."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from benchmarks.timing import median_us, row
from core.rules import parse_rule
from core.segments import SegmentDefinition, SegmentSet
from plugins import default_host

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CONTACT = {
    "tenant_id": "t1",
    "contact_id": "c42",
    "attributes": {
        "email": "ada@example.com", "city": "London", "country": "GB", "plan": "free",
        "signup_date": "2026-11-02", "custom": {"plan_type": "premium", "interests": ["automation", "ai"]},
    },
    "tags": ["vip", "beta"],
    "lists": ["launch-2026"],
    "suppression": {"unsubscribed": False, "bounced": False, "status": "ok"},
    "scores": {"lead": 82, "nps": 9, "engagement": 75},
    "events": [],
}


def attribute_segment(i: int) -> dict:
    """A typical five-condition attribute segment; ``i`` varies the values."""
    return {"and": [
        {"attribute": {"field": "plan", "op": "equals", "value": "free" if i % 3 else "pro"}},
        {"attribute": {"field": "country", "op": "in", "values": ["GB", "IE", f"X{i}"]}},
        {"attribute": {"field": "signup_date", "op": "within_last", "amount": 30 + i, "unit": "days"}},
        {"attribute": {"field": "custom.interests", "op": "contains_any", "values": ["automation", f"t{i}"]}},
        {"!": {"suppression": {"flag": "unsubscribed"}}},
    ]}


def main() -> None:
    host = default_host()
    one = SegmentSet(host, [SegmentDefinition("s0", attribute_segment(1))])
    hundred = SegmentSet(host, [SegmentDefinition(f"s{i}", attribute_segment(i)) for i in range(100)])
    assert one.evaluate(one.view(CONTACT), NOW)["s0"][0] is True

    evaluate_one = one.segments["s0"].evaluate
    view = one.view(CONTACT)
    row("1 contact x 1 five-condition attribute segment (median)",
        f"{median_us(lambda: evaluate_one(view, NOW), number=20000):.2f} µs", "target ≤ 5 µs")
    row("1 contact x 100 such segments, fresh view each time (median)",
        f"{median_us(lambda: hundred.evaluate(hundred.view(CONTACT), NOW), number=300):.0f} µs",
        "target ≤ 1000 µs")

    groups = 143  # 1 + 143 x (and + 4 conditions + ! + condition) = 1,002 nodes
    big = {"or": [attribute_segment(i) for i in range(groups)]}
    nodes = 1 + groups * 7
    started = time.perf_counter()
    runs = 20
    for _ in range(runs):
        parse_rule(big, host)
    row(f"validate a {nodes}-node rule (mean of {runs})",
        f"{(time.perf_counter() - started) / runs * 1000:.1f} ms", "target ≤ 20 ms (1,000 nodes)")


if __name__ == "__main__":
    main()
