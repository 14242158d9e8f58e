"""The email and referral condition types through both paths: one table of rules over one
population of histories, the per-contact evaluator against the SQL engine.

The population is drawn (with a fixed seed) from pools that hold every edge those
types read: events a microsecond either side of each window edge and of NOW, events
after NOW, ties at the same microsecond, campaign ids that are missing, null, numbers
or lists, URLs and devices of every JSON kind (Unicode whitespace, the Kelvin sign,
text beyond ASCII), referee ids that are strings, integers (beyond 64 bits too),
empty, booleans or floats, and contact ages and zones read from attributes. A few
contacts are written out by hand for the cases the draw may miss.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from growthos_segments.analytics.compiler import compile_rule
from growthos_segments.analytics.documents import load_documents
from growthos_segments.analytics.engine import answer
from growthos_segments.core.errors import RuleValidationError
from growthos_segments.core.host import PluginHost
from growthos_segments.core.ports_analytics import ExactAnswer
from growthos_segments.core.rules import parse_rule
from growthos_segments.core.segments import SegmentDefinition, SegmentSet
from growthos_segments.core.timeutil import zone
from growthos_segments.kit.sql_email import SPAN_COVERED, local_time, zone_offsets
from growthos_segments.kit.sql_events import EVENT_AT
from tests.analytics.conftest import both_paths

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
DAY = timedelta(days=1)

EDGES = [
    NOW - 30 * DAY,
    NOW - 7 * DAY,
    NOW - 2 * DAY,
    NOW,
    datetime(2026, 11, 1, tzinfo=UTC),
    datetime(2026, 11, 28, 12, tzinfo=UTC),
]
"""Window edges of the rules below: within 30d, older_than 7d, after_send 2d, NOW, the between range."""
HOURS = [
    datetime(2026, 11, 27, 21, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 11, 27, 22, tzinfo=UTC),
    datetime(2026, 11, 28, 2, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 11, 28, 3, tzinfo=UTC),
    datetime(2026, 11, 23, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 11, 24, tzinfo=UTC),
    datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 0, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
]
"""Hour and weekday edges in UTC, and London's 2026 DST changes."""
TIMES = sorted(
    {edge + d for edge in EDGES for d in (-US, timedelta(0), US)}
    | set(HOURS)
    | {NOW - 400 * DAY, NOW + DAY, NOW - 3 * DAY, NOW - 10 * DAY}
)

CAMPAIGNS: list[Any] = ["c1", "c1", "c2", "c2", "", None, 7, ["c1"], "C1", "MISSING"]
URLS: list[Any] = [
    "https://x.com/pricing",
    "HTTPS://X.COM/PRICING",
    "https://x.com/Pricing?ref=ß",
    "https://x.com/\u212aey",
    "https://x.com/key",
    "https://x.com/unsubscribe",
    "",
    None,
    5,
    ["https://x.com/pricing"],
    "MISSING",
]
DEVICES: list[Any] = [
    "mobile",
    " Mobile\n",
    "MOBILE",
    "\u00a0desktop\u2003",
    "DES\u212aTOP",
    "desktop",
    "tablet ",
    "tab let",
    "",
    "   ",
    "\u00a0\u3000",
    "\x1c",
    None,
    3,
    True,
    "phone",
    "mobile.",
    "MISSING",
]
FRIENDS: list[Any] = ["f1", "f1", "f2", 1, "1", 1, "", None, True, 1.0, 2**70, 2**70, -3, "MISSING"]
ACTIONS = ("sent", "delivered", "opened", "clicked", "bounced", "unsubscribed", "complained", "converted")
NAMES = [f"email.{a}" for a in ACTIONS] + [
    "email.opened",
    "email.sent",
    "email.clicked",
    "email",
    "email.opened.extra",
    "referral.invited",
    "referral.converted",
]
CREATED: list[Any] = [
    "MISSING",
    NOW - 10 * DAY,
    NOW - 30 * DAY,
    NOW - 30 * DAY + US,
    "2026-11-29",
    "soon",
    "2026-11-20T10:00:00",
    1795348800,
    1795348800.5,
    None,
    "9999-01-01",
]
ZONE_NAMES: list[Any] = ["MISSING", "UTC", "utc", "Z", "Europe/London", "Nowhere/Land", "", 5]
REFERRERS: list[Any] = ["MISSING", "c42", 42, "42", "", None, True, 42.0, 2**70, 0, ["c42"]]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _event(rng: random.Random, name: str) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for key, pool in (
        ("campaign_id", CAMPAIGNS),
        ("url", URLS),
        ("device", DEVICES),
        ("referee_id", FRIENDS),
    ):
        value = rng.choice(pool)
        if value != "MISSING":
            props[key] = value
    event: dict[str, Any] = {"name": name, "at": _iso(rng.choice(TIMES))}
    if rng.random() < 0.9:
        event["properties"] = props
    elif rng.random() < 0.5:
        event["properties"] = "not an object"
    return event


def _drawn(rng: random.Random, index: int) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for key, pool in (("created_at", CREATED), ("timezone", ZONE_NAMES), ("referred_by", REFERRERS)):
        value = rng.choice(pool)
        if value != "MISSING":
            attributes[key] = _iso(value) if isinstance(value, datetime) else value
    events = [_event(rng, rng.choice(NAMES)) for _ in range(rng.randrange(0, 9))]
    return {"contact_id": f"r{index}", "attributes": attributes, "events": events}


def _history(contact_id: str, *events: tuple[datetime, str, Any]) -> dict[str, Any]:
    """A contact with ``(at, action, campaign_id)`` email events."""
    timeline = [{"name": f"email.{action}", "at": _iso(at), "properties": {"campaign_id": campaign}}
                for at, action, campaign in events]
    return {"contact_id": contact_id, "events": timeline}


def _referrals(contact_id: str, *events: tuple[datetime, str, Any]) -> dict[str, Any]:
    """A contact with ``(at, status, referee_id)`` referral events."""
    timeline = [{"name": f"referral.{status}", "at": _iso(at), "properties": {"referee_id": friend}}
                for at, status, friend in events]
    return {"contact_id": contact_id, "events": timeline}


HAND: list[dict[str, Any]] = [
    {"contact_id": "nothing"},
    {"contact_id": "no-events", "events": []},
    {"contact_id": "events-not-a-list", "events": {"name": "email.opened"}},
    {"contact_id": "attributes-not-an-object", "attributes": ["timezone"],
     "events": [{"name": "email.opened", "at": _iso(NOW - DAY)}]},
    # Two sends at the newest microsecond: opening either one is opening the most recent.
    _history("tie-opened-second", (NOW - 3 * DAY, "sent", "c1"), (NOW - 3 * DAY, "sent", "c2"),
             (NOW - 3 * DAY, "opened", "c2")),
    _history("tie-none-opened", (NOW - 3 * DAY, "sent", "c1"), (NOW - 3 * DAY, "sent", "c2"),
             (NOW - 4 * DAY, "opened", "c3")),
    _history("open-before-latest-send", (NOW - 5 * DAY, "sent", "c1"), (NOW - 4 * DAY, "opened", "c1"),
             (NOW - 3 * DAY, "sent", "c1")),
    _history("open-at-the-send", (NOW - 3 * DAY, "sent", "c1"), (NOW - 3 * DAY, "opened", "c1")),
    _history("open-after-now", (NOW - 3 * DAY, "sent", "c1"), (NOW + US, "opened", "c1")),
    _history("send-after-now", (NOW - 3 * DAY, "sent", "c1"), (NOW - 2 * DAY, "opened", "c1"),
             (NOW + US, "sent", "c2")),
    _history("newest-send-unattributed", (NOW - 5 * DAY, "sent", "c1"), (NOW - 4 * DAY, "opened", "c1"),
             (NOW - 3 * DAY, "sent", None)),
    # Opened then clicked, and resent afterwards: the resend is judged afresh.
    _history("clicked-then-resent", (NOW - 20 * DAY, "sent", "c1"), (NOW - 19 * DAY, "opened", "c1"),
             (NOW - 18 * DAY, "clicked", "c1"), (NOW - 5 * DAY, "sent", "c1"),
             (NOW - 4 * DAY, "opened", "c1")),
    _history("click-at-the-send", (NOW - 5 * DAY, "sent", "c1"), (NOW - 4 * DAY, "opened", "c1"),
             (NOW - 5 * DAY, "clicked", "c1")),
    _history("click-after-now", (NOW - 5 * DAY, "sent", "c1"), (NOW - 4 * DAY, "opened", "c1"),
             (NOW + US, "clicked", "c1")),
    _history("sent-exactly-after-send-ago", (NOW - 2 * DAY, "sent", "c1"), (NOW - DAY, "opened", "c1")),
    _history("sent-exactly-sent-within-ago", (NOW - 30 * DAY, "sent", "c1"), (NOW - DAY, "opened", "c1")),
    _referrals("same-friend-three-times", *((NOW - d * DAY, "invited", "f1") for d in (40, 20, 1))),
    _referrals("friend-last-seen-at-the-edge", (NOW - 30 * DAY + US, "invited", 7),
               (NOW - 30 * DAY, "invited", "7"), (NOW + US, "invited", "8")),
    _referrals("huge-friends", (NOW - DAY, "converted", 2**70), (NOW - 2 * DAY, "converted", 2**70),
               (NOW - 2 * DAY, "converted", 2**70 + 1)),
]


def _population() -> list[dict[str, Any]]:
    rng = random.Random(12)
    return HAND + [_drawn(rng, index) for index in range(160)]


POPULATION = _population()

WINDOWS: list[dict[str, Any]] = [{}, {"within": "30d"}, {"between": ["2026-11-01", "2026-11-28T12:00:00Z"]}]
COUNTS: list[dict[str, Any]] = [{}, {"min_count": 2}, {"exactly": 0}, {"min_count": 1, "max_count": 2}]
CAMPAIGN_FILTERS: list[dict[str, Any]] = [{}, {"campaign_id": "c1"}, {"campaign_id": ["c1", "c2"]}]


def _counted(name: str, base: dict[str, Any]) -> list[dict[str, Any]]:
    """A count type with every window and count shape, and the young contacts policy."""
    rules = [{name: {**base, **window, **count}} for window in WINDOWS for count in COUNTS]
    rules.append({name: {**base, "within": "30d", "exactly": 0, "young_contacts": "wait"}})
    rules.append({name: {**base, "within": "30d", "max_count": 1, "young_contacts": "wait"}})
    return rules


def _rules() -> list[tuple[dict[str, Any], bool]]:
    """(rule, answered by SQL)."""
    rules: list[dict[str, Any]] = [{"email": {"action": action}} for action in ACTIONS]
    rules += _counted("email", {"action": "opened"})
    for campaign in CAMPAIGN_FILTERS[1:]:
        rules += [{"email": {"action": "clicked", **campaign, **window}} for window in WINDOWS]
    for timing in ({"within": "7d"}, {"older_than": "7d"}, {"within": "30d", "older_than": "2d"}):
        for never in (False, True):
            rules.append({"email_last": {"action": "opened", **timing, "include_never": never}})
        rules += [
            {"email_last": {"action": "sent", **timing, **campaign}} for campaign in CAMPAIGN_FILTERS[1:]
        ]
    rules += _counted("email_click_url", {"contains": "pricing"})
    for text in (
        {"contains": "PRICING", "case_insensitive": True},
        {"contains": "key", "case_insensitive": True},
        {"not_contains": "pricing"},
        {"not_contains": "Pricing", "case_insensitive": True},
        {"contains": "'"},
    ):
        rules += [{"email_click_url": {**text, **count}} for count in COUNTS]
        rules.append({"email_click_url": {**text, "campaign_id": "c1", "within": "30d"}})
    rules += _counted("email_device", {"device": "mobile"})
    for device in ("desktop", "tablet", "unknown"):
        for action in ("opened", "clicked"):
            rules += [{"email_device": {"device": device, "action": action, **count}} for count in COUNTS[:3]]
        rules.append({"email_device": {"device": device, "campaign_id": ["c2"], "within": "30d"}})
    for campaign in CAMPAIGN_FILTERS:
        for wait in (
            {},
            {"after_send": "2d"},
            {"sent_within": "30d"},
            {"after_send": "2d", "sent_within": "30d"},
        ):
            rules.append({"email_opened_not_clicked": {**campaign, **wait}})
    rules.append({"email_opened_last_sent": {}})
    rules += _counted("referral", {"status": "invited"})
    rules += [{"referral": {"status": "converted", **count}} for count in COUNTS]
    rules += [
        {"referred_by": {}},
        {"referred_by": {"referrer_id": "42"}},
        {"referred_by": {"referrer_id": "c42"}},
        {"referred_by": {"referrer_id": str(2**70)}},
        {"referred_by": {"referrer_id": "True"}},
    ]
    cases = [(rule, True) for rule in rules]
    for timing in (
        {"hours": [9, 17]},
        {"hours": [22, 2]},
        {"hours": [0, 23]},
        {"hours": [21, 21]},
        {"weekdays": ["sat", "sun"]},
        {"weekdays": ["mon"]},
        {"hours": [22, 2], "weekdays": ["fri", "sat"], "within": "30d"},
        {"hours": [3, 12], "min_opens": 3},
    ):
        cases.append(({"email_open_time": timing}, True))
        cases += [
            ({"email_open_time": {**timing, "timezone": name}}, True)
            for name in ("UTC", "utc", "Europe/London", "America/Vancouver", "Asia/Kathmandu")
        ]
    return cases


def _composed() -> list[dict[str, Any]]:
    """Types combined with and / or / ! (their aggregates side by side in one pass)."""
    return [
        {
            "and": [
                {"email": {"action": "opened", "within": "30d"}},
                {"!": {"email_click_url": {"contains": "pricing"}}},
            ]
        },
        {
            "or": [
                {"email_opened_last_sent": {}},
                {"referral": {"status": "invited", "min_count": 2}},
                {"!": {"referred_by": {}}},
            ]
        },
        {
            "!": {
                "and": [
                    {"email_opened_not_clicked": {"after_send": "2d"}},
                    {"email_device": {"device": "unknown", "exactly": 0}},
                ]
            }
        },
        {
            "and": [
                {"email_last": {"action": "opened", "within": "7d", "include_never": True}},
                {"email_open_time": {"hours": [22, 2]}},
                {"attribute": {"field": "timezone", "op": "exists"}},
            ]
        },
        {"!": {"email_open_time": {"weekdays": ["sat"]}}},
    ]


CASES = [pytest.param(rule, sql, id=repr(rule)) for rule, sql in _rules()]


@pytest.fixture(scope="module")
def population(con: Any) -> str:
    """The population loaded once, under a tenant of its own: the tenant's id."""
    tenant = "email-table"
    load_documents(con, [{**doc, "tenant_id": tenant} for doc in POPULATION])
    return tenant


def _both(con: Any, host: PluginHost, tenant: str, rule: Any, now: datetime) -> tuple[set[str], ExactAnswer]:
    """(per-contact members of the population, the engine's answer over its loaded copy)."""
    segments = SegmentSet(host, [SegmentDefinition("rule", rule)])
    evaluate = segments.segments["rule"].evaluate
    expected = {doc["contact_id"] for doc in POPULATION if evaluate(segments.view(doc), now)[0]}
    return expected, answer(con, host, segments, "rule", tenant, now)


@pytest.mark.parametrize(("rule", "sql"), CASES)
def test_both_paths_agree(con: Any, host: Any, population: str, rule: dict[str, Any], sql: bool) -> None:
    expected, got = _both(con, host, population, rule, NOW)
    assert got.path == ("sql" if sql else "per-contact"), got.reason
    assert set(got.members) == expected


@pytest.mark.parametrize(
    "now", [NOW - US, NOW + US, NOW - 30 * DAY, NOW + 30 * DAY], ids=lambda t: t.isoformat()
)
@pytest.mark.parametrize("rule", _composed(), ids=repr)
def test_combined_rules_agree_at_other_instants(
    con: Any, host: Any, population: str, rule: dict[str, Any], now: datetime
) -> None:
    expected, got = _both(con, host, population, rule, now)
    assert (got.path, set(got.members)) == ("sql", expected)
    assert 0 < len(expected) < len(POPULATION) or now != NOW - US  # the population tells contacts apart


def test_the_edges_decide_as_the_windows_say(con: Any, host: Any) -> None:
    """Worked cases, so that agreement is agreement on the right answer."""
    at = {"edge": NOW - 30 * DAY, "inside": NOW - 30 * DAY + US, "now": NOW, "future": NOW + US}
    docs = [
        {"contact_id": key, "events": [{"name": "email.opened", "at": _iso(moment)}]}
        for key, moment in at.items()
    ]
    expected, got = both_paths(con, host, {"email": {"action": "opened", "within": "30d"}}, docs, NOW)
    assert expected == set(got.members) == {"inside", "now"}
    expected, got = both_paths(
        con, host, {"email_last": {"action": "opened", "older_than": "30d"}}, docs, NOW
    )
    assert expected == set(got.members) == {"edge"}
    expected, got = both_paths(con, host, {"email_opened_last_sent": {}}, HAND, NOW)
    assert (
        expected
        == set(got.members)
        == {
            "tie-opened-second",
            "open-at-the-send",
            "send-after-now",
            "clicked-then-resent",
            "click-at-the-send",
            "click-after-now",
            "sent-exactly-after-send-ago",
            "sent-exactly-sent-within-ago",
        }
    )
    expected, got = both_paths(
        con, host, {"email_opened_not_clicked": {"after_send": "2d", "sent_within": "30d"}}, HAND, NOW
    )
    assert (
        expected
        == set(got.members)
        == {
            "tie-opened-second",
            "open-before-latest-send",
            "open-at-the-send",
            "send-after-now",
            "newest-send-unattributed",
            "clicked-then-resent",
            "click-after-now",
            "sent-exactly-after-send-ago",
        }
    )
    expected, got = both_paths(
        con, host, {"referral": {"status": "invited", "within": "30d", "min_count": 2}}, HAND, NOW
    )
    assert expected == set(got.members) == set()
    expected, got = both_paths(con, host, {"referral": {"status": "converted", "exactly": 2}}, HAND, NOW)
    assert expected == set(got.members) == {"huge-friends"}


def test_devices_read_as_python_strips_and_lowers(con: Any, host: Any) -> None:
    devices = {
        "nbsp": "\u00a0desktop\u2003",
        "kelvin": "DES\u212aTOP",
        "inner-space": "desk top",
        "fs": "\x1cdesktop\x1f",
        "blank": "\u3000",
        "number": 1,
    }
    docs = [
        {
            "contact_id": key,
            "events": [{"name": "email.opened", "at": _iso(NOW - DAY), "properties": {"device": value}}],
        }
        for key, value in devices.items()
    ]
    expected, got = both_paths(con, host, {"email_device": {"device": "desktop"}}, docs, NOW)
    assert expected == set(got.members) == {"nbsp", "kelvin", "fs"}
    expected, got = both_paths(con, host, {"email_device": {"device": "unknown"}}, docs, NOW)
    assert expected == set(got.members) == {"blank", "number"}


def test_case_insensitive_urls_beyond_ascii_are_decided_per_contact(con: Any, host: Any) -> None:
    urls = {"kelvin": "https://x.com/\u212aEY", "ascii": "https://x.com/KEY", "sharp": "https://x.com/straße"}
    docs = [
        {
            "contact_id": key,
            "events": [{"name": "email.clicked", "at": _iso(NOW - DAY), "properties": {"url": value}}],
        }
        for key, value in urls.items()
    ]
    expected, got = both_paths(
        con, host, {"email_click_url": {"contains": "key", "case_insensitive": True}}, docs, NOW
    )
    assert (got.path, expected, set(got.members)) == ("sql", {"kelvin", "ascii"}, {"kelvin", "ascii"})
    assert got.decided_per_contact == 2


def test_open_time_leaves_contacts_in_other_zones_to_the_per_contact_path(con: Any, host: Any) -> None:
    opens = [{"name": "email.opened", "at": _iso(datetime(2026, 11, 20, 23, 30, tzinfo=UTC))}]
    docs = [
        {"contact_id": zone, "attributes": {"timezone": zone}, "events": opens}
        for zone in ("UTC", "Asia/Tokyo", "Nowhere/Land")
    ]
    docs.append({"contact_id": "none-yet", "attributes": {"timezone": "Asia/Tokyo"}})
    expected, got = both_paths(con, host, {"email_open_time": {"hours": [23, 23]}}, docs, NOW)
    assert (got.path, expected, set(got.members)) == ("sql", {"UTC", "Nowhere/Land"}, {"UTC", "Nowhere/Land"})
    assert got.decided_per_contact == 2  # Tokyo and Nowhere/Land; the contact without opens is decided in SQL


def test_every_form_reads_back_in_trino(host: Any) -> None:
    """A rule of each type with and without its optional parts (sqlglot's Trino round trip
    is the slow part)."""
    shapes: dict[str, dict[str, Any]] = {}
    optional = {"within", "between", "young_contacts", "campaign_id", "case_insensitive", "timezone",
                "weekdays", "after_send", "sent_within", "older_than", "referrer_id"}
    for rule, _ in _rules():
        ((name, params),) = rule.items()
        shapes.setdefault(f"{name} {sorted(optional & set(params))}", rule)
    for rule in [*shapes.values(), *_composed()]:
        query = compile_rule(parse_rule(rule, host))
        assert isinstance(sqlglot.parse_one(query.transpile("trino"), read="trino"), exp.Select), rule


LOCAL_ZONES = ("Europe/London", "America/Vancouver", "Asia/Kathmandu", "Australia/Lord_Howe",
               "Africa/Casablanca", "Europe/Amsterdam", "America/St_Johns", "Pacific/Kiritimati", "Etc/GMT+5",
               "Africa/Freetown", "Asia/Gaza", "America/Cambridge_Bay", "UTC")
"""DST of an hour and of half an hour, offsets in quarter hours and in seconds (Amsterdam's
mean time until 1937), Morocco's Ramadan changes, the Pacific's date-line jump, fixed
offsets, and the zones whose changes lie closest together."""


@pytest.mark.parametrize("name", LOCAL_ZONES)
def test_local_time_is_pythons_at_every_change_of_offset(con: Any, name: str) -> None:
    """Every change of the zone's offset from 1900 to 2200 (a microsecond either side), and
    every 29th day between: the local hour and weekday in SQL are Python's, where SQL
    converts (everywhere, or inside SPAN_COVERED for a zone with many changes)."""
    changes = [moment for moment, _ in zone_offsets(name)][1:]
    days = [datetime(1900, 1, 1, 7, 13, tzinfo=UTC) + timedelta(days=d) for d in range(0, 300 * 365, 29)]
    instants = sorted({m + d for m in changes for d in (-US, timedelta(0), US)} | set(days))
    table = pa.table({"at": pa.array(instants, pa.timestamp("us", tz="UTC"))})
    local, outside = local_time(name)
    query = exp.select(EVENT_AT.copy(), exp.Hour(this=local), exp.DayOfWeekIso(this=local.copy()),
                       outside or exp.false())
    query = query.from_("instants")
    con.register("instants", table)
    try:
        rows = con.execute(query.sql(dialect="duckdb")).fetchall()
    finally:
        con.unregister("instants")
    tz = zone(name)
    wrong = [(at, hour, day) for at, hour, day, out in rows
             if not out and (hour, day) != (at.astimezone(tz).hour, at.astimezone(tz).isoweekday())]
    assert not wrong, wrong[:5]
    assert len(rows) == len(instants)
    start, end = SPAN_COVERED
    assert [out for *_, out in rows] == [outside is not None and not start <= at < end for at, *_ in rows]
    assert (outside is None) == (name in ("Asia/Kathmandu", "Pacific/Kiritimati", "Etc/GMT+5", "UTC"))


@pytest.mark.parametrize("name", ["Africa/Freetown", "America/Cambridge_Bay", "Asia/Gaza", "Europe/London",
                                  "Africa/Casablanca", "Europe/Amsterdam"])
def test_the_offsets_change_where_the_tz_database_says(name: str) -> None:
    """The daily probe finds every transition of Python's reading of the database up to its
    last explicit one, for the zones whose transitions lie closest together."""
    from zoneinfo._zoneinfo import ZoneInfo as PureZoneInfo  # Python's reader, with its list of transitions

    first, last = datetime(1900, 1, 1, tzinfo=UTC).timestamp(), datetime(2200, 1, 1, tzinfo=UTC).timestamp()
    listed = [t for t in PureZoneInfo(name)._trans_utc if first < t < last]  # type: ignore[attr-defined]
    tz = zone(name)
    offsets = [(datetime.fromtimestamp(t - 1, UTC).astimezone(tz).utcoffset(),
                datetime.fromtimestamp(t, UTC).astimezone(tz).utcoffset()) for t in listed]
    changes = {datetime.fromtimestamp(t, UTC) for t, (before, after) in zip(listed, offsets, strict=True)
               if before != after}
    found = {moment for moment, _ in zone_offsets(name)[1:]}
    assert changes and changes == {moment for moment in found if moment.timestamp() <= max(listed)}


def test_opens_outside_the_converted_years_are_decided_per_contact(con: Any, host: Any) -> None:
    """London at 23:30 UTC is 23:30 in winter and 00:30 in summer, in 1995 and 2045 too."""
    summer = [datetime(1995, 7, 1, 23, 30, tzinfo=UTC), datetime(2045, 7, 1, 23, 30, tzinfo=UTC),
              datetime(2026, 7, 1, 23, 30, tzinfo=UTC)]
    docs = [{"contact_id": str(at.year), "events": [{"name": "email.opened", "at": _iso(at)}]}
            for at in summer]
    docs.append({"contact_id": "winter", "events": [{"name": "email.opened", "at": "1995-01-01T23:30:00Z"}]})
    rule = {"email_open_time": {"hours": [0, 0], "timezone": "Europe/London"}}
    expected, got = both_paths(con, host, rule, docs, datetime(2050, 1, 1, tzinfo=UTC))
    assert (got.path, set(got.members)) == ("sql", expected)
    assert expected == {"1995", "2045", "2026"}
    assert got.decided_per_contact == 3  # 1995 (twice) and 2045; 2026 is converted in SQL


def test_a_zone_name_that_is_a_folder_of_the_tz_database_is_no_zone(con: Any, host: Any) -> None:
    """``America`` names a folder of zones, not a zone: a contact naming it is read in UTC
    (as any unknown zone is) and a rule naming it is refused with its pointer, instead of
    the folder's read error escaping from the evaluator and from params validation."""
    opened = [{"name": "email.opened", "at": "2026-11-20T10:00:00Z"}]
    docs = [{"contact_id": name, "attributes": {"timezone": name}, "events": opened}
            for name in ("America", "Etc")]
    expected, got = both_paths(con, host, {"email_open_time": {"hours": [10, 10]}}, docs, NOW)
    assert (got.path, expected, set(got.members)) == ("sql", {"America", "Etc"}, {"America", "Etc"})
    with pytest.raises(RuleValidationError, match="/email_open_time: unknown time zone 'America'"):
        parse_rule({"email_open_time": {"hours": [10, 10], "timezone": "America"}}, host)


def test_every_aggregate_reads_only_the_events_its_condition_names(host: Any) -> None:
    """Each per-contact aggregate, and each semi-join standing for an existence test, filters
    its rows by event name (the one GROUP BY pass serves every condition, so an aggregate
    must not count other events)."""
    for rule, _ in _rules():
        query = compile_rule(parse_rule(rule, host)).query
        grouped = [select for select in query.find_all(exp.Select) if select.args.get("group")]
        aggregates = [part for select in grouped for part in select.expressions
                      if isinstance(part, exp.Alias)]
        semi_joins = [test.args["query"] for test in query.find_all(exp.In) if test.args.get("query")]
        named = [any(column.name == "name" for column in part.find_all(exp.Column))
                 for part in aggregates + semi_joins]
        assert all(named), rule
        assert aggregates or semi_joins or "referred_by" in rule, rule
