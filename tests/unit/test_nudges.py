"""Scenario tests for nudge interactions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from growthos_segments.core.host import PluginHost
from growthos_segments.core.view import ContactView
from growthos_segments.plugins import nudges

HOST = PluginHost([nudges], load_entry_points=False)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def ev(name: str, at: str, **properties: Any) -> dict[str, Any]:
    return {"name": name, "at": at, "properties": properties}


DAN = {
    "contact_id": "dan",
    "events": [
        ev("nudge.shown", "2026-11-15T09:00:00Z", nudge_id="upgrade_banner"),
        ev("nudge.shown", "2026-11-18T09:00:00Z", nudge_id="upgrade_banner"),
        ev("nudge.dismissed", "2026-11-18T09:01:00Z", nudge_id="upgrade_banner"),
        ev("nudge.shown", "2026-11-20T09:00:00Z", nudge_id="upgrade_banner"),
        ev("nudge.shown", "2026-11-21T12:00:00Z", nudge_id="tour"),
        ev("nudge.clicked", "2026-11-21T12:02:00Z", nudge_id="tour"),
        ev("nudge.shown", "2026-11-21T13:00:00Z"),  # no nudge_id
    ],
}


def run(params: dict[str, Any], now: str, doc: dict[str, Any] = DAN
        ) -> tuple[bool, datetime | None]:
    condition = HOST.condition_types["nudge"]
    predicate = condition.compile(condition.params.model_validate(params))
    return predicate(ContactView(doc), t(now))


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-20T08:59:59Z", (False, t("2026-11-20T09:00:00Z"))),
        ("2026-11-22T00:00:00Z", (True, t("2026-11-22T09:00:00Z"))),  # 11-15 + 7d
        ("2026-11-22T09:00:00Z", (False, None)),
    ],
)
def test_shown_the_upgrade_banner_three_times_in_a_week(now: str, expected: Any) -> None:
    params = {"action": "shown", "nudge_id": "upgrade_banner", "min_count": 3, "within": "7d"}
    assert run(params, now) == expected


def test_counts_per_nudge_any_of_several_and_any() -> None:
    now = "2026-11-22T00:00:00Z"
    assert run({"action": "shown", "exactly": 5}, now) == (True, None)  # any, unattributed too
    assert run({"action": "shown", "nudge_id": "tour", "exactly": 1}, now) == (True, None)
    assert run({"action": "shown", "nudge_id": ["tour", "upgrade_banner"], "exactly": 4}, now) == (
        True, None)
    assert run({"action": "clicked", "nudge_id": "upgrade_banner"}, now) == (False, None)
    assert run({"action": "dismissed", "nudge_id": "upgrade_banner", "within": "30d"}, now) == (
        True, t("2026-12-18T09:01:00Z"))


def test_never_shown_a_nudge() -> None:
    never = {"action": "shown", "exactly": 0}
    assert run(never, "2026-11-22T00:00:00Z") == (False, None)
    assert run(never, "2026-11-22T00:00:00Z", {"events": []}) == (True, None)
    # Before the first nudge was shown the contact matched, until 11-15 09:00.
    assert run(never, "2026-11-01T00:00:00Z") == (True, t("2026-11-15T09:00:00Z"))


def test_not_clicked_recently_with_young_contacts_waiting() -> None:
    params = {"action": "clicked", "exactly": 0, "within": "14d", "young_contacts": "wait"}
    young = {"attributes": {"signup_date": "2026-11-20"}, "events": []}
    assert run(params, "2026-11-22T00:00:00Z", young) == (False, t("2026-12-04T00:00:00Z"))
    assert run({**params, "young_contacts": "match"}, "2026-11-22T00:00:00Z", young) == (True, None)


def test_catalog_examples_validate() -> None:
    for condition in nudges.CONDITION_TYPES:
        for example in condition.examples:
            condition.params.model_validate(example)
