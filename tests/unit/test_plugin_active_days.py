"""``active_days``: distinct calendar days with activity in a sliding window, on one hand-made
contact whose events straddle midnight in UTC and in Vancouver across the end of its
daylight saving time (2026-11-01 09:00 UTC: PDT, UTC-7, before; PST, UTC-8, after).

Local days of ACT's events, worked out by hand:

=========================  ==========  ==================
at (UTC)                   UTC day     Vancouver day
=========================  ==========  ==================
2026-11-01T06:30Z login    Nov 1       Oct 31 (23:30 PDT)
2026-11-01T07:30Z login    Nov 1       Nov 1 (00:30 PDT)
2026-11-02T07:30Z session  Nov 2       Nov 1 (23:30 PST)
2026-11-02T08:30Z opened   Nov 2       Nov 2 (00:30 PST)
=========================  ==========  ==================
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
from growthos_segments.plugins import events

HOST = PluginHost([events], load_entry_points=False)
US = timedelta(microseconds=1)
NAME = "active_days"
VANCOUVER = {"timezone": "America/Vancouver"}


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


ACT = {
    "contact_id": "act",
    "events": [
        {"name": "app.login", "at": "2026-11-01T06:30:00Z"},
        {"name": "app.login", "at": "2026-11-01T07:30:00Z"},
        {"name": "session.started", "at": "2026-11-02T07:30:00Z"},
        {"name": "email.opened", "at": "2026-11-02T08:30:00Z"},
    ],
}


def run(params: dict[str, Any], now: datetime, doc: dict[str, Any] = ACT) -> tuple[bool, datetime | None]:
    condition = HOST.condition_types[NAME]
    return condition.compile(condition.params.model_validate(params))(ContactView(doc), now)


NOV_3 = t("2026-11-03T00:00:00Z")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"min_days": 2, "within": "7d"}, (True, t("2026-11-08T07:30:00Z"))),  # Nov 1 leaves last
        ({"min_days": 3, "within": "7d"}, (False, None)),  # two UTC days, and no new data adds one
        ({"min_days": 3, "within": "7d", **VANCOUVER}, (True, t("2026-11-08T06:30:00Z"))),  # Oct 31 leaves
        ({"max_days": 1, "within": "7d"}, (False, t("2026-11-08T07:30:00Z"))),
        ({"max_days": 2, "within": "7d", **VANCOUVER}, (False, t("2026-11-08T06:30:00Z"))),
        ({"min_days": 2, "max_days": 2, "within": "7d", **VANCOUVER}, (False, t("2026-11-08T06:30:00Z"))),
        ({"within": "7d", "events": ["app.*"]}, (True, t("2026-11-08T07:30:00Z"))),
        ({"min_days": 2, "within": "7d", "events": ["app.*"]}, (False, None)),
        ({"min_days": 2, "within": "7d", "events": ["app.login", "email.opened"]},
         (True, t("2026-11-08T07:30:00Z"))),
        ({"min_days": 1, "within": "7d", "events": ["order.completed"]}, (False, None)),
    ],
)
def test_distinct_days_in_utc_and_in_a_zone_across_a_dst_change(params: dict[str, Any],
                                                                 expected: Any) -> None:
    assert run(params, NOV_3) == expected


@pytest.mark.parametrize(
    ("now", "utc", "vancouver"),
    [
        # The cut (now - 7d) falls between the two logins: the first day is partial, and counts.
        (t("2026-11-08T07:00:00Z"), 2, 2),
        (t("2026-11-08T07:30:00Z") - US, 2, 2),
        (t("2026-11-08T07:30:00Z"), 1, 2),  # the 07:30 login is at the cut: out, Nov 1 (UTC) is gone
        (t("2026-11-09T07:30:00Z") - US, 1, 2),
        (t("2026-11-09T07:30:00Z"), 1, 1),  # Vancouver's Nov 1 leaves with the session, at the cut
        (t("2026-11-09T08:30:00Z"), 0, 0),
    ],
)
def test_the_first_day_of_the_window_counts_only_after_the_cut(now: datetime, utc: int,
                                                               vancouver: int) -> None:
    for zone_params, days in (({}, utc), (VANCOUVER, vancouver)):
        for n in (1, 2):
            assert run({"min_days": n, "within": "7d", **zone_params}, now)[0] is (days >= n)


def test_events_stamped_after_now_raise_the_count_when_they_arrive() -> None:
    now = t("2026-11-01T07:00:00Z")  # only the 06:30 login has happened
    assert run({"min_days": 2, "within": "7d"}, now) == (False, t("2026-11-02T07:30:00Z"))
    # "At most one day" flips when the second day arrives, not when the same day's login does.
    assert run({"max_days": 1, "within": "7d"}, now) == (True, t("2026-11-02T07:30:00Z"))


def test_no_activity_at_all() -> None:
    assert run({"min_days": 1, "within": "30d"}, NOV_3, {"contact_id": "n"}) == (False, None)
    assert run({"max_days": 0, "within": "30d"}, NOV_3, {"contact_id": "n"}) == (True, None)


def test_reads_explanation_and_errors() -> None:
    condition = HOST.condition_types[NAME]
    reads = condition.reads(condition.params.model_validate({"min_days": 10, "within": "30d"}))
    assert (reads.events, reads.lookback) == ({""}, timedelta(days=30))
    reads = condition.reads(condition.params.model_validate(
        {"within": "7d", "events": ["app.*", "session.started"]}))
    assert (reads.events, reads.lookback) == ({"app.", "session.started"}, timedelta(days=7))
    rule = compile_rule(parse_rule({NAME: {"min_days": 3, "within": "7d", **VANCOUVER}}, HOST))
    trace = rule.explain(ContactView(ACT), NOV_3).trace
    assert trace["match"] is True and trace["recheck_at"] == "2026-11-08T06:30:00Z"
    assert trace["description"] == (
        "active (any event) on at least 3 distinct days in the last 7d (America/Vancouver days)")
    wording = {
        "active ('app.*') on at least 1 distinct day in the last 7d": {"events": ["app.*"]},
        "active (any event) on at most 0 distinct days in the last 7d": {"max_days": 0},
        "active (any event) on exactly 2 distinct days in the last 7d": {"min_days": 2, "max_days": 2},
        "active (any event) on 1 to 3 distinct days in the last 7d": {"min_days": 1, "max_days": 3},
    }
    for text, params in wording.items():
        assert condition.describe is not None
        assert condition.describe(condition.params.model_validate({**params, "within": "7d"})) == text
    for params, path in (
        ({"min_days": 3, "max_days": 2, "within": "7d"}, f"/{NAME}"),
        ({"min_days": 1, "within": "7d", "timezone": "Mars/Olympus"}, f"/{NAME}"),
        ({"min_days": 1}, f"/{NAME}/within"),
        ({"min_days": True, "within": "7d"}, f"/{NAME}/min_days"),
        ({"within": "7d", "events": ["bad name!"]}, f"/{NAME}/events/0"),
    ):
        with pytest.raises(RuleValidationError) as caught:
            parse_rule({NAME: params}, HOST)
        assert [e.path for e in caught.value.errors] == [path], params


def test_monthly_active_users_template_at_the_edge_of_its_window() -> None:
    from growthos_segments.plugins import templates

    rule = next(template.rule for template in templates.TEMPLATES if template.id == "monthly_active_users")
    evaluate = compile_rule(parse_rule(rule, HOST)).evaluate
    ten = {"contact_id": "ten", "events": [  # Nov 1 to Nov 10, at noon UTC
        {"name": "app.login", "at": f"2026-11-{day:02d}T12:00:00Z"} for day in range(1, 11)]}
    nine = {"contact_id": "nine", "events": ten["events"][1:]}
    now = t("2026-11-11T00:00:00Z")
    assert evaluate(ContactView(ten), now) == (True, t("2026-12-01T12:00:00Z"))  # Nov 1 leaves
    assert evaluate(ContactView(ten), t("2026-12-01T12:00:00Z") - US)[0] is True
    assert evaluate(ContactView(ten), t("2026-12-01T12:00:00Z"))[0] is False
    assert evaluate(ContactView(nine), now) == (False, None)
