"""Scenario tests for referral conditions: distinct friends, windows, referred-by."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from growthos_segments.core.host import PluginHost
from growthos_segments.core.view import ContactView
from growthos_segments.plugins import referrals

HOST = PluginHost([referrals], load_entry_points=False)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def ev(name: str, at: str, **properties: Any) -> dict[str, Any]:
    return {"name": name, "at": at, "properties": properties}


CARA = {
    "contact_id": "cara",
    "attributes": {"plan": "free", "created_at": "2026-01-01"},
    "events": [
        ev("referral.invited", "2026-10-01T10:00:00Z", referee_id="f1"),
        ev("referral.invited", "2026-11-01T10:00:00Z", referee_id="f2"),
        ev("referral.invited", "2026-11-05T10:00:00Z", referee_id="f1"),  # f1 again
        ev("referral.invited", "2026-11-10T10:00:00Z", referee_id="f3"),
        ev("referral.converted", "2026-11-12T10:00:00Z", referee_id="f2"),
    ],
}


def run(name: str, params: dict[str, Any], now: str, doc: dict[str, Any] = CARA
        ) -> tuple[bool, datetime | None]:
    condition = HOST.condition_types[name]
    predicate = condition.compile(condition.params.model_validate(params))
    return predicate(ContactView(doc), t(now))


def test_friends_are_counted_once_however_often_invited() -> None:
    now = "2026-11-22T00:00:00Z"
    assert run("referral", {"status": "invited", "exactly": 3}, now) == (True, None)
    assert run("referral", {"status": "invited", "min_count": 4}, now) == (False, None)
    assert run("referral", {"status": "converted", "exactly": 1}, now) == (True, None)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # In the last 30 days: f2 (11-01), f1 (last invited 11-05), f3 (11-10).
        ("2026-11-22T00:00:00Z", (True, t("2026-12-01T10:00:00Z"))),
        ("2026-12-01T09:59:59Z", (True, t("2026-12-01T10:00:00Z"))),
        ("2026-12-01T10:00:00Z", (False, None)),  # f2 left: 2 friends
    ],
)
def test_referred_three_friends_in_30_days(now: str, expected: Any) -> None:
    assert run("referral", {"status": "invited", "min_count": 3, "within": "30d"}, now) == expected


def test_re_inviting_keeps_a_friend_in_the_window() -> None:
    # f1's first invite (10-01) left long ago; the second (11-05) keeps f1 until 12-05.
    params = {"status": "invited", "min_count": 2, "within": "30d"}
    assert run("referral", params, "2026-12-01T10:00:00Z") == (True, t("2026-12-05T10:00:00Z"))


def test_friends_without_an_id_each_count() -> None:
    doc = {"events": [ev("referral.invited", "2026-11-01T00:00:00Z"),
                      ev("referral.invited", "2026-11-02T00:00:00Z"),
                      ev("referral.invited", "2026-11-03T00:00:00Z", referee_id="")]}
    assert run("referral", {"status": "invited", "exactly": 3}, "2026-11-22T00:00:00Z", doc) == (
        True, None)


def test_fixed_range_counts_friends_with_an_invite_inside_it() -> None:
    params = {"status": "invited", "exactly": 2, "between": ["2026-10-01", "2026-11-01"]}
    # Inside [10-01, 11-02): f1 (10-01) and f2 (11-01); f1 is invited again later, still once.
    assert run("referral", params, "2026-11-22T00:00:00Z") == (True, None)


def test_an_invite_in_the_future_counts_when_it_happens() -> None:
    params = {"status": "invited", "exactly": 3}
    assert run("referral", params, "2026-11-09T00:00:00Z") == (False, t("2026-11-10T10:00:00Z"))


def test_never_referred_anyone() -> None:
    never = {"status": "invited", "exactly": 0}
    assert run("referral", never, "2026-11-22T00:00:00Z") == (False, None)
    assert run("referral", never, "2026-11-22T00:00:00Z", {"events": []}) == (True, None)


def test_young_contacts_wait_for_the_window() -> None:
    doc = {"attributes": {"created_at": "2026-11-20T00:00:00Z"}, "events": []}
    params = {"status": "invited", "exactly": 0, "within": "30d", "young_contacts": "wait"}
    assert run("referral", params, "2026-11-22T00:00:00Z", doc) == (False, t("2026-12-20T00:00:00Z"))
    assert run("referral", params, "2026-12-20T00:00:00Z", doc) == (True, None)


@pytest.mark.parametrize(
    ("referred_by", "anyone", "by_c42"),
    [("c42", True, True), ("c7", True, False), (42, True, False), ("", False, False),
     (None, False, False), (True, False, False)],
)
def test_referred_by(referred_by: Any, anyone: bool, by_c42: bool) -> None:
    doc = {"attributes": {"referred_by": referred_by}}
    now = "2026-11-22T00:00:00Z"
    assert run("referred_by", {}, now, doc) == (anyone, None)
    assert run("referred_by", {"referrer_id": "c42"}, now, doc) == (by_c42, None)


def test_not_referred_when_the_attribute_is_missing() -> None:
    assert run("referred_by", {}, "2026-11-22T00:00:00Z", CARA) == (False, None)


def test_catalog_examples_validate() -> None:
    for condition in referrals.CONDITION_TYPES:
        for example in condition.examples:
            condition.params.model_validate(example)
