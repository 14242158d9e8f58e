"""Random rule trees over ``email_last_open_device`` and ``active_days``, random histories,
random instants: the SQL engine and the per-contact evaluator give the same member set.

Instants are drawn near the event times shifted by the rules' window widths, so that
events land on window edges to the microsecond far more often than chance would make them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.analytics.conftest import both_paths
from tests.analytics.strategies import rule_trees
from tests.analytics.test_parity_activity import NAMES, TIMES
from tests.analytics.test_parity_email import DEVICES

US = timedelta(microseconds=1)
WIDTHS = [timedelta(0), timedelta(days=1), timedelta(days=7), timedelta(days=30)]

devices = st.builds(
    lambda d, w: {"device": d, **w},
    st.sampled_from(["mobile", "desktop", "tablet", "unknown"]),
    st.sampled_from([{}, {"within": "7d"}, {"within": "1d"}]),
)
days = st.builds(
    lambda b, w, z, e: {**b, **w, **z, **e},
    st.sampled_from([{}, {"min_days": 2}, {"max_days": 1}, {"min_days": 1, "max_days": 2}, {"max_days": 0}]),
    st.sampled_from([{"within": "1d"}, {"within": "7d"}, {"within": "30d"}]),
    st.sampled_from([{}, {"timezone": "Asia/Kathmandu"}, {"timezone": "America/Vancouver"}]),
    st.sampled_from([{}, {"events": ["app.*"]}, {"events": ["email.opened", "session.started"]}]),
)
rules = rule_trees(
    st.one_of(devices.map(lambda p: {"email_last_open_device": p}), days.map(lambda p: {"active_days": p})),
    max_leaves=4,
)


def _event(name: str, at: datetime, device: Any) -> dict[str, Any]:
    properties = {} if device == "MISSING" else {"device": device}
    return {"name": name, "at": at.isoformat(), "properties": properties}


events = st.builds(_event, st.sampled_from(NAMES), st.sampled_from(TIMES), st.sampled_from(DEVICES))
contacts = st.lists(st.lists(events, max_size=8), min_size=1, max_size=6).map(
    lambda histories: [{"contact_id": f"c{i}", "events": h} for i, h in enumerate(histories)])
instants = st.one_of(
    st.builds(lambda t, w, d: t + w + d, st.sampled_from(TIMES), st.sampled_from(WIDTHS),
              st.sampled_from([-US, timedelta(0), US])),
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 6, 1), timezones=st.just(UTC)),
)
"""Mostly an event time plus a window width, a microsecond either side; sometimes any instant."""


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rule=rules, docs=contacts, now=instants)
def test_random_activity_rules_agree_on_both_paths(
    con: Any, host: Any, rule: Any, docs: list[dict[str, Any]], now: datetime
) -> None:
    expected, got = both_paths(con, host, rule, docs, now)
    assert (got.path, set(got.members), got.decided_per_contact) == ("sql", expected, 0), got.reason
