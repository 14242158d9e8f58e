"""Scenario tests for the email family on one hand-made contact.

Every expectation below was worked out by hand from the event times written
in ANA (not computed by the plugin), at instants on both sides of each edge.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from growthos_segments.core.host import PluginHost
from growthos_segments.core.view import ContactView
from growthos_segments.plugins import email

HOST = PluginHost([email], load_entry_points=False)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def ev(name: str, at: str, **properties: Any) -> dict[str, Any]:
    return {"name": name, "at": at, "properties": properties}


ANA = {
    "contact_id": "ana",
    "attributes": {"created_at": "2026-09-01T00:00:00Z"},
    "events": [
        ev("email.sent", "2026-11-01T09:00:00Z", campaign_id="cmp_q4"),
        ev("email.opened", "2026-11-02T08:00:00Z", campaign_id="cmp_q4", device="mobile"),
        ev("email.opened", "2026-11-10T08:30:00Z", campaign_id="cmp_q4", device="Desktop "),
        ev("email.sent", "2026-11-19T10:00:00Z", campaign_id="cmp_bf"),
        ev("email.opened", "2026-11-20T07:15:00Z", campaign_id="cmp_bf", device="mobile"),
        ev("email.clicked", "2026-11-20T07:20:00Z", campaign_id="cmp_bf",
           url="https://shop.example/pricing?utm=nl", device="mobile"),
    ],
}


def run(name: str, params: dict[str, Any], now: str, doc: dict[str, Any] = ANA
        ) -> tuple[bool, datetime | None]:
    return run_at(name, params, t(now), doc)


def run_at(name: str, params: dict[str, Any], now: datetime, doc: dict[str, Any] = ANA
           ) -> tuple[bool, datetime | None]:
    condition = HOST.condition_types[name]
    predicate = condition.compile(condition.params.model_validate(params))
    return predicate(ContactView(doc), now)


# --------------------------------------------------------------------------- email

OPENED_3_IN_30D = {"action": "opened", "min_count": 3, "within": "30d"}


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-20T07:14:00Z", (False, t("2026-11-20T07:15:00Z"))),  # third open not yet
        ("2026-11-22T12:00:00Z", (True, t("2026-12-02T08:00:00Z"))),  # oldest leaves at +30d
        ("2026-12-02T07:59:59Z", (True, t("2026-12-02T08:00:00Z"))),
        ("2026-12-02T08:00:00Z", (False, None)),  # an event exactly 30d old is out
    ],
)
def test_opened_at_least_three_times_in_30_days(now: str, expected: Any) -> None:
    assert run("email", OPENED_3_IN_30D, now) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-12-04T07:14:59Z", (False, t("2026-12-04T07:15:00Z"))),
        ("2026-12-04T07:15:00Z", (True, None)),
    ],
)
def test_has_not_opened_in_14_days(now: str, expected: Any) -> None:
    assert run("email", {"action": "opened", "exactly": 0, "within": "14d"}, now) == expected


def test_has_done_means_at_least_once_ever() -> None:
    assert run("email", {"action": "clicked"}, "2026-11-22T00:00:00Z") == (True, None)
    assert run("email", {"action": "converted"}, "2026-11-22T00:00:00Z") == (False, None)


def test_campaign_filter_single_and_any_of_several() -> None:
    now = "2026-11-22T00:00:00Z"
    assert run("email", {"action": "clicked", "campaign_id": ["cmp_bf", "cmp_x"]}, now) == (
        True, None)
    assert run("email", {"action": "clicked", "campaign_id": "cmp_q4"}, now) == (False, None)
    assert run("email", {"action": "opened", "campaign_id": "cmp_q4", "exactly": 2}, now) == (
        True, None)


def test_events_without_campaign_count_only_when_no_campaign_is_asked() -> None:
    doc = {"events": [ev("email.opened", "2026-11-20T00:00:00Z")]}
    now = "2026-11-22T00:00:00Z"
    assert run("email", {"action": "opened"}, now, doc) == (True, None)
    assert run("email", {"action": "opened", "campaign_id": "cmp_q4"}, now, doc) == (False, None)


def test_between_two_dates_includes_the_whole_end_day() -> None:
    now = "2026-11-22T00:00:00Z"
    assert run("email", {"action": "opened", "exactly": 1,
                         "between": ["2026-11-01", "2026-11-09"]}, now) == (True, None)
    assert run("email", {"action": "opened", "exactly": 2,
                         "between": ["2026-11-01", "2026-11-10"]}, now) == (True, None)
    # A date-time end is exclusive: the open at exactly 08:30 is outside.
    assert run("email", {"action": "opened", "exactly": 1,
                         "between": ["2026-11-01", "2026-11-10T08:30:00Z"]}, now) == (True, None)


def test_between_waits_for_an_event_inside_the_range_that_has_not_happened_yet() -> None:
    params = {"action": "opened", "exactly": 2, "between": ["2026-11-01", "2026-11-10"]}
    assert run("email", params, "2026-11-10T08:00:00Z") == (False, t("2026-11-10T08:30:00Z"))
    assert run("email", params, "2026-11-10T08:30:00Z") == (True, None)


def test_count_between_min_and_max() -> None:
    params = {"action": "opened", "min_count": 1, "max_count": 2, "within": "30d"}
    # Three opens in the window: too many until the first leaves (11-02 08:00 + 30d).
    assert run("email", params, "2026-11-22T00:00:00Z") == (False, t("2026-12-02T08:00:00Z"))
    # Two left: 11-10 08:30 leaving still leaves one (>= 1), so the change is when
    # the last one leaves (11-20 07:15 + 30d).
    assert run("email", params, "2026-12-02T08:00:00Z") == (True, t("2026-12-20T07:15:00Z"))


# --------------------------------------------------------------------------- young contacts

YOUNG = {"attributes": {"created_at": "2026-11-25T00:00:00Z"}, "events": []}
NOT_OPENED_14D = {"action": "opened", "exactly": 0, "within": "14d"}


def test_young_contact_matches_by_default() -> None:
    assert run("email", NOT_OPENED_14D, "2026-11-26T00:00:00Z", YOUNG) == (True, None)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-26T00:00:00Z", (False, t("2026-12-09T00:00:00Z"))),
        ("2026-12-08T23:59:59Z", (False, t("2026-12-09T00:00:00Z"))),
        ("2026-12-09T00:00:00Z", (True, None)),
    ],
)
def test_young_contact_waits_for_the_whole_window(now: str, expected: Any) -> None:
    params = {**NOT_OPENED_14D, "young_contacts": "wait"}
    assert run("email", params, now, YOUNG) == expected


def test_young_contact_age_falls_back_to_signup_date_then_to_old_enough() -> None:
    params = {**NOT_OPENED_14D, "young_contacts": "wait"}
    by_signup = {"attributes": {"signup_date": "2026-11-25"}, "events": []}
    assert run("email", params, "2026-11-26T00:00:00Z", by_signup) == (
        False, t("2026-12-09T00:00:00Z"))
    unknown_age = {"attributes": {}, "events": []}
    assert run("email", params, "2026-11-26T00:00:00Z", unknown_age) == (True, None)


def test_young_contact_that_acted_is_rechecked_when_the_action_leaves_the_window() -> None:
    doc = {"attributes": {"created_at": "2026-11-25T00:00:00Z"},
           "events": [ev("email.opened", "2026-11-26T10:00:00Z")]}
    params = {**NOT_OPENED_14D, "young_contacts": "wait"}
    # Of age on 12-09, but the open is still in the window then; it leaves 12-10 10:00.
    assert run("email", params, "2026-11-27T00:00:00Z", doc) == (False, t("2026-12-10T10:00:00Z"))


def test_young_contacts_option_is_refused_where_it_means_nothing() -> None:
    condition = HOST.condition_types["email"]
    with pytest.raises(ValueError, match="young_contacts"):
        condition.params.model_validate({"action": "opened", "min_count": 1, "within": "7d",
                                         "young_contacts": "wait"})
    with pytest.raises(ValueError, match="within"):
        condition.params.model_validate({"action": "opened", "exactly": 0,
                                         "young_contacts": "wait"})


# --------------------------------------------------------------------------- email_last


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-27T07:14:59Z", (True, t("2026-11-27T07:15:00Z"))),
        ("2026-11-27T07:15:00Z", (False, None)),
    ],
)
def test_last_opened_within_7_days(now: str, expected: Any) -> None:
    assert run("email_last", {"action": "opened", "within": "7d"}, now) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-12-20T07:19:59Z", (False, t("2026-12-20T07:20:00Z"))),
        ("2026-12-20T07:20:00Z", (True, None)),
    ],
)
def test_last_clicked_more_than_30_days_ago(now: str, expected: Any) -> None:
    assert run("email_last", {"action": "clicked", "older_than": "30d"}, now) == expected


def test_never_clicked_matches_older_than_only_when_asked() -> None:
    doc = {"events": [ev("email.opened", "2026-11-01T00:00:00Z")]}
    now = "2026-12-20T00:00:00Z"
    assert run("email_last", {"action": "clicked", "older_than": "30d"}, now, doc) == (False, None)
    assert run("email_last", {"action": "clicked", "older_than": "30d", "include_never": True},
               now, doc) == (True, None)


def test_last_action_between_two_ages() -> None:
    params = {"action": "opened", "older_than": "1d", "within": "3d"}  # 1 to 3 days ago
    assert run("email_last", params, "2026-11-21T07:14:59Z") == (False, t("2026-11-21T07:15:00Z"))
    assert run("email_last", params, "2026-11-21T07:15:00Z") == (True, t("2026-11-23T07:15:00Z"))


# --------------------------------------------------------------------------- email_click_url


def test_clicked_url_contains_and_does_not_contain() -> None:
    now = "2026-11-22T00:00:00Z"
    assert run("email_click_url", {"contains": "/pricing"}, now) == (True, None)
    assert run("email_click_url", {"not_contains": "/pricing"}, now) == (False, None)
    assert run("email_click_url", {"contains": "PRICING"}, now) == (False, None)
    assert run("email_click_url", {"contains": "PRICING", "case_insensitive": True}, now) == (
        True, None)
    assert run("email_click_url", {"contains": "/pricing", "campaign_id": "cmp_q4"}, now) == (
        False, None)
    assert run("email_click_url", {"contains": "/pricing", "within": "2d"}, now) == (
        True, t("2026-11-22T07:20:00Z"))


def test_click_without_url_matches_neither_contains_nor_not_contains() -> None:
    doc = {"events": [ev("email.clicked", "2026-11-20T00:00:00Z", campaign_id="cmp_q4")]}
    now = "2026-11-22T00:00:00Z"
    assert run("email_click_url", {"contains": "/"}, now, doc) == (False, None)
    assert run("email_click_url", {"not_contains": "zzz"}, now, doc) == (False, None)
    # ... so "never clicked a pricing link" holds for it.
    assert run("email_click_url", {"contains": "/pricing", "exactly": 0}, now, doc) == (True, None)


def test_click_url_needs_exactly_one_text() -> None:
    condition = HOST.condition_types["email_click_url"]
    with pytest.raises(ValueError, match="exactly one"):
        condition.params.model_validate({"contains": "a", "not_contains": "b"})


# --------------------------------------------------------------------------- email_device


def test_opens_per_device() -> None:
    now = "2026-11-22T00:00:00Z"
    assert run("email_device", {"device": "mobile", "exactly": 2}, now) == (True, None)
    assert run("email_device", {"device": "desktop", "exactly": 1}, now) == (True, None)  # "Desktop "
    assert run("email_device", {"device": "tablet", "exactly": 0}, now) == (True, None)
    assert run("email_device", {"device": "mobile", "action": "clicked"}, now) == (True, None)
    assert run("email_device", {"device": "mobile", "min_count": 2, "within": "14d"}, now) == (
        False, None)


def test_open_without_device_is_unknown() -> None:
    doc = {"events": [ev("email.opened", "2026-11-20T00:00:00Z")]}
    now = "2026-11-22T00:00:00Z"
    assert run("email_device", {"device": "unknown"}, now, doc) == (True, None)
    assert run("email_device", {"device": "mobile"}, now, doc) == (False, None)


# --------------------------------------------------------------------------- opened, not clicked


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-04T08:59:59Z", (False, t("2026-11-04T09:00:00Z"))),
        ("2026-11-04T09:00:00Z", (True, None)),
    ],
)
def test_opened_but_not_clicked_three_days_after_send(now: str, expected: Any) -> None:
    assert run("email_opened_not_clicked", {"campaign_id": "cmp_q4", "after_send": "3d"},
               now) == expected


def test_opened_not_clicked_ends_when_the_click_happens() -> None:
    params = {"campaign_id": "cmp_bf", "after_send": "1h"}
    # Sent 11-19 10:00, opened 11-20 07:15, clicked 11-20 07:20.
    assert run("email_opened_not_clicked", params, "2026-11-20T07:16:00Z") == (
        True, t("2026-11-20T07:20:00Z"))
    assert run("email_opened_not_clicked", params, "2026-11-20T07:20:00Z") == (False, None)


def test_opened_not_clicked_any_campaign_and_send_window() -> None:
    params = {"after_send": "3d", "sent_within": "30d"}
    # cmp_q4 qualifies (cmp_bf was clicked); its send leaves the window 12-01 09:00.
    assert run("email_opened_not_clicked", params, "2026-11-22T12:00:00Z") == (
        True, t("2026-12-01T09:00:00Z"))
    assert run("email_opened_not_clicked", params, "2026-12-01T09:00:00Z") == (False, None)


def test_opened_not_clicked_needs_a_recorded_send() -> None:
    doc = {"events": [ev("email.opened", "2026-11-02T08:00:00Z", campaign_id="cmp_q4")]}
    assert run("email_opened_not_clicked", {"campaign_id": "cmp_q4"}, "2026-11-22T00:00:00Z",
               doc) == (False, None)


# --------------------------------------------------------------------------- opened the last send

MICRO = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Newest send is cmp_q4 (11-01 09:00), opened 11-02: a match until cmp_bf is sent.
        # Nothing sent yet; the send itself changes nothing, its open does.
        (t("2026-11-01T09:00:00Z") - MICRO, (False, t("2026-11-02T08:00:00Z"))),
        (t("2026-11-01T09:00:00Z"), (False, t("2026-11-02T08:00:00Z"))),  # sent, not opened
        (t("2026-11-02T08:00:00Z") - MICRO, (False, t("2026-11-02T08:00:00Z"))),
        (t("2026-11-02T08:00:00Z"), (True, t("2026-11-19T10:00:00Z"))),
        (t("2026-11-19T10:00:00Z") - MICRO, (True, t("2026-11-19T10:00:00Z"))),
        # cmp_bf is now the newest send; the older opens of cmp_q4 do not count for it.
        (t("2026-11-19T10:00:00Z"), (False, t("2026-11-20T07:15:00Z"))),
        (t("2026-11-20T07:15:00Z") - MICRO, (False, t("2026-11-20T07:15:00Z"))),
        (t("2026-11-20T07:15:00Z"), (True, None)),
        (t("2027-06-01T00:00:00Z"), (True, None)),  # no window: it never lapses with time
    ],
)
def test_opened_the_most_recent_email_sent(now: datetime, expected: Any) -> None:
    assert run_at("email_opened_last_sent", {}, now) == expected


def test_an_open_counts_from_the_instant_of_the_send_and_only_for_its_campaign() -> None:
    sent = ev("email.sent", "2026-11-10T00:00:00Z", campaign_id="cmp_a")
    now = t("2026-11-22T00:00:00Z")
    same_instant = {"events": [sent, ev("email.opened", "2026-11-10T00:00:00Z", campaign_id="cmp_a")]}
    assert run_at("email_opened_last_sent", {}, now, same_instant) == (True, None)
    just_before = {"events": [sent, ev("email.opened", "2026-11-09T23:59:59.999999Z",
                                       campaign_id="cmp_a")]}
    assert run_at("email_opened_last_sent", {}, now, just_before) == (False, None)
    other = {"events": [sent, ev("email.opened", "2026-11-11T00:00:00Z", campaign_id="cmp_b")]}
    assert run_at("email_opened_last_sent", {}, now, other) == (False, None)
    unattributed = {"events": [sent, ev("email.opened", "2026-11-11T00:00:00Z")]}
    assert run_at("email_opened_last_sent", {}, now, unattributed) == (False, None)


def test_a_resend_of_the_same_campaign_needs_a_new_open() -> None:
    doc = {"events": [
        ev("email.sent", "2026-11-01T00:00:00Z", campaign_id="cmp_a"),
        ev("email.opened", "2026-11-02T00:00:00Z", campaign_id="cmp_a"),
        ev("email.sent", "2026-11-15T00:00:00Z", campaign_id="cmp_a"),
    ]}
    assert run_at("email_opened_last_sent", {}, t("2026-11-14T00:00:00Z"), doc) == (
        True, t("2026-11-15T00:00:00Z"))
    assert run_at("email_opened_last_sent", {}, t("2026-11-15T00:00:00Z"), doc) == (False, None)


def test_sends_at_the_same_instant_are_all_the_most_recent() -> None:
    sends = [ev("email.sent", "2026-11-10T00:00:00Z", campaign_id="cmp_a"),
             ev("email.sent", "2026-11-10T00:00:00Z", campaign_id="cmp_b")]
    now = t("2026-11-22T00:00:00Z")
    for campaign, expected in (("cmp_a", True), ("cmp_b", True), ("cmp_c", False)):
        doc = {"events": [*sends, ev("email.opened", "2026-11-11T00:00:00Z", campaign_id=campaign)]}
        assert run_at("email_opened_last_sent", {}, now, doc) == (expected, None), campaign


def test_never_sent_or_newest_send_without_campaign_never_matches() -> None:
    now = t("2026-11-22T00:00:00Z")
    opens_only = {"events": [ev("email.opened", "2026-11-11T00:00:00Z", campaign_id="cmp_a")]}
    assert run_at("email_opened_last_sent", {}, now, opens_only) == (False, None)
    assert run_at("email_opened_last_sent", {}, now, {"events": []}) == (False, None)
    anonymous = {"events": [
        ev("email.sent", "2026-11-01T00:00:00Z", campaign_id="cmp_a"),
        ev("email.opened", "2026-11-02T00:00:00Z", campaign_id="cmp_a"),
        ev("email.sent", "2026-11-10T00:00:00Z"),
        ev("email.opened", "2026-11-11T00:00:00Z"),
    ]}
    assert run_at("email_opened_last_sent", {}, now, anonymous) == (False, None)


def test_opened_last_sent_reads_sends_and_opens_of_all_history() -> None:
    condition = HOST.condition_types["email_opened_last_sent"]
    reads = condition.reads(condition.params.model_validate({}))
    assert reads.events == {"email.sent", "email.opened"}
    assert reads.lookback == timedelta.max  # the newest send may be of any age
    with pytest.raises(ValueError, match="campaign_id"):
        condition.params.model_validate({"campaign_id": "cmp_a"})


def test_opened_last_sent_explanation_shows_what_it_read() -> None:
    from growthos_segments.core.compiler import compile_rule
    from growthos_segments.core.rules import parse_rule

    rule = compile_rule(parse_rule({"email_opened_last_sent": {}}, HOST))
    trace = rule.explain(ContactView(ANA), t("2026-11-19T12:00:00Z")).trace
    assert trace["match"] is False and trace["recheck_at"] == "2026-11-20T07:15:00Z"
    assert trace["description"] == "opened the most recent email sent to them"
    assert trace["values"] == {"events:email.opened": 2, "events:email.sent": 2}


# --------------------------------------------------------------------------- email_open_time


def test_most_common_open_hour_in_utc_and_local_time() -> None:
    now = "2026-11-22T12:00:00Z"  # opens at 08:00, 08:30, 07:15 UTC: hour 8 wins
    assert run("email_open_time", {"hours": [8, 8]}, now) == (True, None)
    assert run("email_open_time", {"hours": [7, 7]}, now) == (False, None)
    assert run("email_open_time", {"hours": [22, 8]}, now) == (True, None)  # wraps midnight
    # New York is UTC-5 in November: 03:00, 03:30, 02:15.
    assert run("email_open_time", {"hours": [3, 3], "timezone": "America/New_York"}, now) == (
        True, None)
    local = {**ANA, "attributes": {"timezone": "America/New_York"}}
    assert run("email_open_time", {"hours": [3, 3]}, now, local) == (True, None)


def test_preferred_weekdays_with_a_tie() -> None:
    now = "2026-11-22T12:00:00Z"  # Mon, Tue, Fri once each: a three-way tie
    assert run("email_open_time", {"weekdays": ["fri"]}, now) == (True, None)
    assert run("email_open_time", {"weekdays": ["sat", "sun"]}, now) == (False, None)
    assert run("email_open_time", {"weekdays": ["fri"], "min_opens": 4}, now) == (False, None)


def test_open_hour_in_a_window_changes_as_opens_leave() -> None:
    params = {"hours": [8, 8], "within": "20d"}
    # In the window: 11-10 08:30 and 11-20 07:15 (a tie, 8 qualifies) until the
    # 08:30 open leaves on 11-30 08:30; then only hour 7 is left.
    assert run("email_open_time", params, "2026-11-22T12:00:00Z") == (
        True, t("2026-11-30T08:30:00Z"))
    assert run("email_open_time", params, "2026-11-30T08:30:00Z") == (False, None)


def test_catalog_examples_validate() -> None:
    for condition in email.CONDITION_TYPES:
        for example in condition.examples:
            condition.params.model_validate(example)
        assert condition.catalog_entry()["schema"]["type"] == "object"


def test_invalid_params_get_readable_errors_at_their_field() -> None:
    from growthos_segments.core.errors import RuleValidationError
    from growthos_segments.core.rules import parse_rule

    with pytest.raises(RuleValidationError) as caught:
        parse_rule({"email": {"action": "opened", "within": "30 days", "campaign_id": []}}, HOST)
    errors = {e.path: e.message for e in caught.value.errors}
    assert errors["/email/within"] == (
        "not a duration: '30 days' (use e.g. '15m', '12h', '30d', '2w')")
    assert errors["/email/campaign_id"] == "give 1 to 100 id values"
