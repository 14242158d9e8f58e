"""The demo tenant seeds every template as a segment: the guide's templates must have
members there (and near misses), reading data the demo contacts really carry."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest

from growthos_segments.core.compiler import compile_rule
from growthos_segments.core.rules import parse_rule
from growthos_segments.core.view import ContactView
from growthos_segments.devstack.demo_data import generate
from growthos_segments.plugins import default_host

HOST = default_host(load_entry_points=False)
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
DATA = generate("demo", 400, now=NOW)


def _views() -> list[ContactView]:
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in DATA.events:
        events[event["contact_id"]].append(
            {"name": event["name"], "at": event["at"].isoformat(), "properties": event["properties"]})
    return [ContactView({**doc, "events": events[doc["contact_id"]]}) for doc in DATA.contacts]


VIEWS = _views()


@pytest.mark.parametrize("template_id", ["engaged", "engaged_or_high_value",
                                         "click_but_never_convert", "hot_leads", "warm_leads",
                                         "cold_leads"])
def test_guide_templates_have_members_and_non_members_in_the_demo(template_id: str) -> None:
    rule = compile_rule(parse_rule(HOST.templates[template_id].rule, HOST))
    members = sum(rule.evaluate(view, NOW)[0] for view in VIEWS)
    assert 0 < members < len(VIEWS)


def test_high_value_and_heavy_clickers_come_from_real_demo_fields() -> None:
    ltv = [doc["attributes"]["custom"]["customer_ltv"] for doc in DATA.contacts]
    assert all(type(value) is int and value >= 0 for value in ltv)  # whole units: exact in DynamoDB
    high = [doc for doc in DATA.contacts
            if doc["attributes"]["custom"]["lead_score"] >= 75
            and doc["attributes"]["custom"]["customer_ltv"] >= 1000]
    assert high
    clicks: dict[str, int] = defaultdict(int)
    converted = set()
    for event in DATA.events:
        if event["name"] == "email.clicked":
            clicks[event["contact_id"]] += 1
        elif event["name"] == "email.converted":
            converted.add(event["contact_id"])
    heavy = {cid for cid, n in clicks.items() if n >= 10}
    assert heavy - converted and heavy & converted  # members and near misses
