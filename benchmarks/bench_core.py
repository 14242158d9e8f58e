"""Core evaluation: contacts against attribute segments, and rule validation.

Contacts are the demo tenant's (``growthos_segments.devstack.demo_data``: 3,000 distinct profiles
with their events), taken in turn, so each figure is a median over different
contacts as real traffic is, not one contact whose timestamps are already
parsed and cached. The one-segment figure is given twice: for the same
contacts changed so that the segment matches each of them (every condition
runs: the cost a target bounds), and for the contacts as they are (most stop at
the first condition).
"""

from __future__ import annotations

import copy
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.timing import median_us, row
from growthos_segments.core.rules import parse_rule
from growthos_segments.core.segments import SegmentDefinition, SegmentSet
from growthos_segments.plugins import default_host

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CONTACTS = 3000


def contacts(count: int = CONTACTS) -> list[dict[str, Any]]:
    """``count`` distinct demo contacts with their events, as the view loader returns them."""
    from growthos_segments.devstack.demo_data import documents, generate

    return documents(generate("t1", count, now=NOW))


def matching(doc: dict[str, Any], n: int) -> dict[str, Any]:
    """The contact changed so that ``attribute_segment(1)`` matches it: every condition is evaluated."""
    doc = copy.deepcopy(doc)
    attributes = doc["attributes"]
    signed_up = (NOW - timedelta(days=n % 30)).date().isoformat()
    attributes.update(plan="free", country="GB", signup_date=signed_up)
    attributes["custom"]["interests"] = [*attributes["custom"].get("interests", []), "automation"]
    doc["suppression"]["unsubscribed"] = False
    return doc


def attribute_segment(i: int) -> dict:
    """A typical five-condition attribute segment; ``i`` varies the values."""
    return {"and": [
        {"attribute": {"field": "plan", "op": "equals", "value": "free" if i % 3 else "pro"}},
        {"attribute": {"field": "country", "op": "in", "values": ["GB", "IE", f"X{i}"]}},
        {"attribute": {"field": "signup_date", "op": "within_last", "amount": 30 + i, "unit": "days"}},
        {"attribute": {"field": "custom.interests", "op": "contains_any", "values": ["automation", f"t{i}"]}},
        {"!": {"suppression": {"flag": "unsubscribed"}}},
    ]}


PROFILE_TYPES: dict[str, dict[str, Any]] = {
    "attribute: plan equals 'free'": {"attribute": {"field": "plan", "op": "equals", "value": "free"}},
    "tag: any of vip, beta": {"tag": {"match": "any", "tags": ["vip", "beta"]}},
    "geo_radius: within 50 km of Berlin": {
        "geo_radius": {"latitude": 52.52, "longitude": 13.405, "radius_km": 50}},
    "geo_radius: beyond 500 km of New York": {
        "geo_radius": {"latitude": 40.7128, "longitude": -74.006, "radius_km": 500, "inside": False}},
    "search: 'acme' (default fields and every custom field)": {"search": {"q": "acme"}},
    "search: 'muller labs' (2 words, default fields)": {"search": {"q": "muller labs"}},
    "search: 'acme' (6 named fields only)": {"search": {"q": "acme", "custom_fields": False}},
    "search: 'automation' in custom.interests only": {
        "search": {"q": "automation", "fields": ["custom.interests"], "custom_fields": False}},
}
"""One profile condition each, the newer ones beside the cheapest existing ones."""


def per_profile_condition(host: Any, docs: list[dict[str, Any]]) -> None:
    """Each condition alone over the demo contacts' views in turn: its cost per contact (these
    conditions derive nothing a view memoises, so a view's second turn costs as its first)."""
    for label, rule in PROFILE_TYPES.items():
        segments = SegmentSet(host, [SegmentDefinition("one", rule)])
        evaluate = segments.segments["one"].evaluate
        views = [segments.view(doc) for doc in docs]
        matches = sum(evaluate(view, NOW)[0] for view in views)
        next_view = itertools.cycle(views).__next__
        row(f"  {label}",
            f"{median_us(lambda e=evaluate, turn=next_view: e(turn(), NOW), number=5000):.2f} µs",
            f"{matches:,} of {len(docs):,} match")


def main() -> None:
    host = default_host()
    one = SegmentSet(host, [SegmentDefinition("s0", attribute_segment(1))])
    hundred = SegmentSet(host, [SegmentDefinition(f"s{i}", attribute_segment(i)) for i in range(100)])
    docs = contacts()
    evaluate_one = one.segments["s0"].evaluate
    for label, views in (
        ("all five conditions evaluated", [one.view(matching(doc, n)) for n, doc in enumerate(docs)]),
        ("the demo contacts as they are", [one.view(doc) for doc in docs]),
    ):
        matches = sum(evaluate_one(view, NOW)[0] for view in views)
        next_view = itertools.cycle(views).__next__
        row(f"1 contact x 1 five-condition attribute segment, {label}",
            f"{median_us(lambda turn=next_view: evaluate_one(turn(), NOW), number=20000):.2f} µs",
            f"target ≤ 5 µs; {matches:,} of {len(views):,} match")
    next_doc = itertools.cycle(docs).__next__
    row("1 contact x 100 such segments, fresh view each time",
        f"{median_us(lambda: hundred.evaluate(hundred.view(next_doc()), NOW), number=300):.0f} µs",
        "target ≤ 1000 µs")

    row("1 contact x 1 profile condition (the segment's evaluation of that condition alone)", "", "")
    per_profile_condition(host, docs)

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
