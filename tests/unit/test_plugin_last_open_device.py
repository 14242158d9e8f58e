"""``email_last_open_device``: the device of the most recent open, on one hand-made contact.

Every expectation is worked out by hand from the times written in OPENS, at instants
a microsecond either side of each edge.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from growthos_segments.core.compiler import compile_rule
from growthos_segments.core.errors import RuleValidationError
from growthos_segments.core.host import PluginHost
from growthos_segments.core.rules import parse_rule
from growthos_segments.core.view import ContactView
from growthos_segments.plugins import email

HOST = PluginHost([email], load_entry_points=False)
US = timedelta(microseconds=1)
NAME = "email_last_open_device"


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def opened(at: str, **properties: Any) -> dict[str, Any]:
    return {"name": "email.opened", "at": at, "properties": properties}


OPENS = {
    "contact_id": "ana",
    "events": [
        opened("2026-11-02T08:00:00Z", device="mobile"),
        opened("2026-11-10T08:30:00Z", device=" Desktop\n"),
        {"name": "email.clicked", "at": "2026-11-12T08:00:00Z", "properties": {"device": "mobile"}},
        opened("2026-11-20T07:15:00Z", device="mobile"),
    ],
}


def run(params: dict[str, Any], now: datetime, doc: dict[str, Any] = OPENS) -> tuple[bool, datetime | None]:
    condition = HOST.condition_types[NAME]
    return condition.compile(condition.params.model_validate(params))(ContactView(doc), now)


@pytest.mark.parametrize(
    ("device", "now", "expected"),
    [
        ("mobile", t("2026-11-01T00:00:00Z"), (False, t("2026-11-02T08:00:00Z"))),  # no open yet
        ("mobile", t("2026-11-02T08:00:00Z"), (True, t("2026-11-10T08:30:00Z"))),
        ("desktop", t("2026-11-10T08:30:00Z") - US, (False, t("2026-11-10T08:30:00Z"))),
        ("desktop", t("2026-11-10T08:30:00Z"), (True, t("2026-11-20T07:15:00Z"))),
        ("desktop", t("2026-11-15T00:00:00Z"), (True, t("2026-11-20T07:15:00Z"))),  # a click is no open
        ("mobile", t("2026-11-20T07:15:00Z"), (True, None)),
        ("tablet", t("2026-11-25T00:00:00Z"), (False, None)),
    ],
)
def test_the_last_open_ever_decides(device: str, now: datetime, expected: Any) -> None:
    assert run({"device": device}, now) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (t("2026-11-20T07:15:00Z"), (True, t("2026-11-27T07:15:00Z"))),
        (t("2026-11-27T07:15:00Z") - US, (True, t("2026-11-27T07:15:00Z"))),
        (t("2026-11-27T07:15:00Z"), (False, None)),  # the last open left the 7-day window
    ],
)
def test_within_needs_the_last_open_in_the_window(now: datetime, expected: Any) -> None:
    assert run({"device": "mobile", "within": "7d"}, now) == expected


def test_an_older_open_on_the_device_does_not_count_once_a_newer_one_is_elsewhere() -> None:
    # At 11-15 the last open (11-10) is on desktop: the mobile open of 11-02 is not the last one,
    # and it stays so when the desktop open leaves a 7-day window (nothing then matches).
    assert run({"device": "mobile", "within": "30d"}, t("2026-11-15T00:00:00Z")) == (
        False, t("2026-11-20T07:15:00Z"))
    assert run({"device": "desktop", "within": "7d"}, t("2026-11-15T00:00:00Z")) == (
        True, t("2026-11-17T08:30:00Z"))
    assert run({"device": "mobile", "within": "7d"}, t("2026-11-18T00:00:00Z")) == (
        False, t("2026-11-20T07:15:00Z"))


def test_opens_at_the_same_instant_are_all_the_last_one() -> None:
    tie = {"contact_id": "tie", "events": [
        opened("2026-11-01T00:00:00Z", device="tablet"),
        opened("2026-11-05T00:00:00Z", device="desktop"),
        opened("2026-11-05T00:00:00Z", device="mobile"),
    ]}
    now = t("2026-11-06T00:00:00Z")
    assert run({"device": "mobile"}, now, tie) == (True, None)
    assert run({"device": "desktop"}, now, tie) == (True, None)
    assert run({"device": "tablet"}, now, tie) == (False, None)


@pytest.mark.parametrize("properties",
                         [{}, {"device": ""}, {"device": "  "}, {"device": None}, {"device": 3}])
def test_an_open_without_a_device_is_on_unknown(properties: dict[str, Any]) -> None:
    doc = {"contact_id": "u", "events": [opened("2026-11-01T00:00:00Z", device="mobile"),
                                        opened("2026-11-02T00:00:00Z", **properties)]}
    now = t("2026-11-03T00:00:00Z")
    assert run({"device": "unknown"}, now, doc) == (True, None)
    assert run({"device": "mobile"}, now, doc) == (False, None)


def test_a_future_open_on_another_device_is_the_recheck() -> None:
    now = t("2026-11-11T00:00:00Z")
    # The desktop open of 11-10 is last until the mobile one of 11-20 arrives.
    assert run({"device": "desktop", "within": "30d"}, now) == (True, t("2026-11-20T07:15:00Z"))
    # A future open on the same device changes nothing at its arrival: the window edge decides.
    same = {"contact_id": "s", "events": [opened("2026-11-10T00:00:00Z", device="mobile"),
                                         opened("2026-11-12T00:00:00Z", device="mobile")]}
    assert run({"device": "mobile", "within": "7d"}, now, same) == (True, t("2026-11-19T00:00:00Z"))


def test_never_opened_never_matches_and_reads_are_declared() -> None:
    assert run({"device": "unknown"}, t("2026-11-03T00:00:00Z"), {"contact_id": "n"}) == (False, None)
    condition = HOST.condition_types[NAME]
    reads = condition.reads(condition.params.model_validate({"device": "mobile"}))
    assert (reads.events, reads.lookback) == ({"email.opened"}, timedelta.max)
    reads = condition.reads(condition.params.model_validate({"device": "mobile", "within": "90d"}))
    assert (reads.events, reads.lookback) == ({"email.opened"}, timedelta(days=90))


def test_explanation_and_errors() -> None:
    rule = compile_rule(parse_rule({NAME: {"device": "mobile", "within": "7d"}}, HOST))
    trace = rule.explain(ContactView(OPENS), t("2026-11-21T00:00:00Z")).trace
    assert trace["match"] is True and trace["recheck_at"] == "2026-11-27T07:15:00Z"
    assert trace["description"] == "last email open in the last 7d on mobile"
    with pytest.raises(RuleValidationError) as caught:
        parse_rule({NAME: {"device": "phone", "within": "7 days"}}, HOST)
    paths = {e.path for e in caught.value.errors}
    assert paths == {f"/{NAME}/device", f"/{NAME}/within"}


def test_last_opened_on_mobile_template() -> None:
    from growthos_segments.plugins import templates

    rule = next(template.rule for template in templates.TEMPLATES if template.id == "last_opened_on_mobile")
    evaluate = compile_rule(parse_rule(rule, HOST)).evaluate
    assert evaluate(ContactView(OPENS), t("2026-11-15T00:00:00Z")) == (False, t("2026-11-20T07:15:00Z"))
    assert evaluate(ContactView(OPENS), t("2026-11-20T07:15:00Z")) == (True, None)
