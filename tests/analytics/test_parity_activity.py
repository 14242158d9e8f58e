"""``email_last_open_device`` and ``active_days`` through both paths: one table of rules over
one population of histories, the per-contact evaluator against the SQL engine.

The population is drawn (with a fixed seed) from pools holding the edges these types read:
opens a microsecond either side of each window edge and of NOW, opens after NOW, several
opens at the same microsecond on different devices, devices of every JSON kind (the email
table's pool), and activity a microsecond either side of local midnights in UTC, in
Kathmandu (UTC+5:45) and in Vancouver across the end of its daylight saving time
(2026-11-01 09:00 UTC), inside and outside each window. A few contacts are written out by
hand, with the answers worked out by hand in the last test.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.analytics.conftest import both_paths
from tests.analytics.test_parity_email import DEVICES

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
DAY = timedelta(days=1)

EDGES = [NOW - 30 * DAY, NOW - 7 * DAY, NOW - DAY, NOW]
"""Window edges of the rules below: within 30d, 7d, 1d, and NOW."""
MIDNIGHTS = [
    datetime(2026, 11, 22, tzinfo=UTC),  # UTC
    datetime(2026, 11, 29, tzinfo=UTC),
    datetime(2026, 11, 21, 18, 15, tzinfo=UTC),  # Kathmandu (UTC+5:45)
    datetime(2026, 11, 28, 18, 15, tzinfo=UTC),
    datetime(2026, 11, 1, 7, tzinfo=UTC),  # Vancouver, Nov 1 (still PDT, UTC-7)
    datetime(2026, 11, 2, 8, tzinfo=UTC),  # Vancouver, Nov 2 (PST, UTC-8)
    datetime(2026, 11, 28, 8, tzinfo=UTC),
]
TIMES = sorted(
    {edge + d for edge in EDGES + MIDNIGHTS for d in (-US, timedelta(0), US)}
    | {NOW - 400 * DAY, NOW + DAY, NOW - 3 * DAY, NOW - 10 * DAY, NOW - 20 * DAY + 3 * US}
)
NAMES = ["email.opened", "email.opened", "email.opened", "email.clicked", "app.login", "app.login",
         "app", "app.login.retry", "session.started", "order.completed"]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _event(rng: random.Random) -> dict[str, Any]:
    event: dict[str, Any] = {"name": rng.choice(NAMES), "at": _iso(rng.choice(TIMES))}
    device = rng.choice(DEVICES)
    if rng.random() < 0.9:
        event["properties"] = {} if device == "MISSING" else {"device": device}
    return event


def _drawn(rng: random.Random, index: int) -> dict[str, Any]:
    events = [_event(rng) for _ in range(rng.randrange(0, 10))]
    if events and rng.random() < 0.3:  # a tie: another open at the same microsecond as one of them
        events.append({"name": "email.opened", "at": rng.choice(events)["at"],
                       "properties": {"device": rng.choice(DEVICES[:9])}})
    return {"contact_id": f"r{index}", "events": events}


def _opens(contact_id: str, *opens: tuple[datetime, Any]) -> dict[str, Any]:
    return {"contact_id": contact_id, "events": [
        {"name": "email.opened", "at": _iso(at), "properties": {} if device is None else {"device": device}}
        for at, device in opens]}


def _active(contact_id: str, *times: datetime, name: str = "app.login") -> dict[str, Any]:
    return {"contact_id": contact_id, "events": [{"name": name, "at": _iso(at)} for at in times]}


HAND: list[dict[str, Any]] = [
    {"contact_id": "nothing"},
    _opens("tie-mobile-desktop", (NOW - 3 * DAY, "desktop"), (NOW - 3 * DAY, "mobile"),
           (NOW - 5 * DAY, "tablet")),
    _opens("last-open-at-the-7d-edge", (NOW - 7 * DAY, "mobile")),
    _opens("last-open-inside-the-7d-edge", (NOW - 7 * DAY + US, "mobile")),
    _opens("newer-open-elsewhere", (NOW - 2 * DAY, "mobile"), (NOW - DAY, " Desktop ")),
    _opens("future-open-elsewhere", (NOW - 2 * DAY, "mobile"), (NOW + US, "desktop")),
    _opens("last-open-without-device", (NOW - 2 * DAY, "mobile"), (NOW - DAY, None)),
    # Ten UTC days in the last 30, the oldest a microsecond inside the cut.
    _active("ten-days", NOW - 30 * DAY + US, *(NOW - d * DAY for d in range(1, 10))),
    _active("ten-days-one-at-the-cut", NOW - 30 * DAY, *(NOW - d * DAY for d in range(1, 10))),
    # Kathmandu's midnight of Nov 22 is 18:15 UTC on Nov 21: two UTC days, one there.
    _active("two-days-in-utc-one-in-kathmandu", datetime(2026, 11, 21, 18, 15, tzinfo=UTC),
            datetime(2026, 11, 21, 18, 15, tzinfo=UTC) + US, datetime(2026, 11, 22, tzinfo=UTC)),
    _active("future-only", NOW + US),
]


TWO_DAYS_OF_OPENS = {"tie-mobile-desktop", "newer-open-elsewhere", "last-open-without-device"}


def _population() -> list[dict[str, Any]]:
    rng = random.Random(13)
    return HAND + [_drawn(rng, index) for index in range(150)]


POPULATION = _population()


def _rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for device in ("mobile", "desktop", "tablet", "unknown"):
        rules += [{"email_last_open_device": {"device": device, **w}}
                  for w in ({}, {"within": "7d"}, {"within": "30d"})]
    bounds: list[dict[str, Any]] = [{}, {"min_days": 2}, {"min_days": 10}, {"max_days": 0},
                                    {"max_days": 1}, {"min_days": 1, "max_days": 2}]
    rules += [{"active_days": {**b, "within": "30d"}} for b in bounds]
    for zone in ("UTC", "Asia/Kathmandu", "America/Vancouver", "Europe/London"):
        for within in ("1d", "7d", "30d"):
            rules.append({"active_days": {"min_days": 2, "within": within, "timezone": zone}})
        rules.append({"active_days": {"max_days": 1, "within": "30d", "timezone": zone, "events": ["app.*"]}})
    for names in (["app.*"], ["app.login"], ["app"], ["session.started", "email.opened"]):
        rules.append({"active_days": {"min_days": 1, "within": "7d", "events": names}})
    return rules


@pytest.mark.parametrize("rule", _rules(), ids=repr)
def test_both_paths_agree(con: Any, host: Any, rule: dict[str, Any]) -> None:
    expected, got = both_paths(con, host, rule, POPULATION, NOW)
    assert (got.path, set(got.members), got.decided_per_contact) == ("sql", expected, 0), got.reason


@pytest.mark.parametrize("now", [NOW - US, NOW + US, NOW - 30 * DAY, NOW + 7 * DAY],
                         ids=lambda t: t.isoformat())
@pytest.mark.parametrize("rule", [
    {"and": [{"email_last_open_device": {"device": "mobile", "within": "7d"}},
             {"active_days": {"min_days": 2, "within": "30d", "timezone": "America/Vancouver"}}]},
    {"!": {"or": [{"email_last_open_device": {"device": "unknown"}},
                  {"active_days": {"max_days": 1, "within": "7d", "events": ["app.*"]}}]}},
], ids=repr)
def test_combined_rules_agree_at_other_instants(
    con: Any, host: Any, rule: dict[str, Any], now: datetime
) -> None:
    expected, got = both_paths(con, host, rule, POPULATION, now)
    assert (got.path, set(got.members), got.decided_per_contact) == ("sql", expected, 0)


def test_a_daylight_saving_zone_outside_the_converted_years_is_decided_per_contact(
    con: Any, host: Any
) -> None:
    old = _active("old", datetime(1999, 6, 1, 23, 30, tzinfo=UTC), datetime(1999, 6, 2, 0, 30, tzinfo=UTC))
    rule = {"active_days": {"min_days": 2, "within": "36500d", "timezone": "Europe/London"}}
    expected, got = both_paths(con, host, rule, [old, HAND[7]], NOW)
    # London is UTC+1 in June: both events are on June 2 there, so "old" has one day.
    assert expected == set(got.members) == {"ten-days"}
    assert (got.path, got.decided_per_contact) == ("sql", 1)


def test_the_edges_decide_as_written(con: Any, host: Any) -> None:
    """Worked cases, so that agreement is agreement on the right answer."""
    cases = [
        ({"email_last_open_device": {"device": "mobile"}},
         {"tie-mobile-desktop", "last-open-at-the-7d-edge", "last-open-inside-the-7d-edge",
          "future-open-elsewhere"}),
        ({"email_last_open_device": {"device": "desktop"}}, {"tie-mobile-desktop", "newer-open-elsewhere"}),
        ({"email_last_open_device": {"device": "mobile", "within": "7d"}},
         {"tie-mobile-desktop", "last-open-inside-the-7d-edge", "future-open-elsewhere"}),
        ({"email_last_open_device": {"device": "unknown"}}, {"last-open-without-device"}),
        ({"active_days": {"min_days": 10, "within": "30d"}}, {"ten-days"}),
        # Opens are activity too: three of the open histories have two days by NOW.
        ({"active_days": {"min_days": 2, "within": "30d"}},
         {"ten-days", "ten-days-one-at-the-cut", "two-days-in-utc-one-in-kathmandu", *TWO_DAYS_OF_OPENS}),
        ({"active_days": {"min_days": 2, "within": "30d", "timezone": "Asia/Kathmandu"}},
         {"ten-days", "ten-days-one-at-the-cut", *TWO_DAYS_OF_OPENS}),
        ({"active_days": {"max_days": 0, "within": "30d", "events": ["app.*"]}},
         {"nothing", "future-only", *(doc["contact_id"] for doc in HAND[1:7])}),
    ]
    for rule, members in cases:
        expected, got = both_paths(con, host, rule, HAND, NOW)
        assert expected == set(got.members) == members, rule
