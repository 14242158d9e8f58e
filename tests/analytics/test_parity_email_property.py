"""Random rule trees over the email and referral types, random histories, random instants:
the SQL engine and the per-contact evaluator give the same member set.

Instants are drawn near the event times shifted by the rules' window widths, so that
events land on window edges to the microsecond far more often than chance would
make them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.analytics.conftest import both_paths
from tests.analytics.strategies import rule_trees
from tests.analytics.test_parity_email import (
    ACTIONS,
    CREATED,
    DEVICES,
    FRIENDS,
    REFERRERS,
    TIMES,
    URLS,
    ZONE_NAMES,
)

US = timedelta(microseconds=1)
WIDTHS = {"30d": timedelta(days=30), "7d": timedelta(days=7), "2d": timedelta(days=2)}

campaigns = st.sampled_from(["c1", "c2", "", None, 7, ["c1"], "MISSING"])
campaign_filters = st.sampled_from([{}, {"campaign_id": "c1"}, {"campaign_id": ["c1", "c2"]}])
windows = st.sampled_from(
    [{}, {"within": "30d"}, {"within": "2d"}, {"between": ["2026-11-01", "2026-11-28T12:00:00Z"]}]
)
counts = st.sampled_from(
    [{}, {"min_count": 2}, {"exactly": 0}, {"max_count": 1}, {"min_count": 1, "max_count": 2}]
)


def _counted(base: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A count condition's params, ``young_contacts: wait`` where it applies."""

    def build(
        params: dict[str, Any], window: dict[str, Any], count: dict[str, Any], wait: bool
    ) -> dict[str, Any]:
        out = {**params, **window, **count}
        if wait and "within" in window and count.get("min_count", 0) == 0 and count != {}:
            out["young_contacts"] = "wait"
        return out

    return st.builds(build, base, windows, counts, st.booleans())


def _last() -> st.SearchStrategy[dict[str, Any]]:
    timing = st.sampled_from([{"within": "7d"}, {"older_than": "7d"}, {"within": "30d", "older_than": "2d"}])
    return st.builds(
        lambda a, t, n, c: {"action": a, **t, "include_never": n, **c},
        st.sampled_from(ACTIONS),
        timing,
        st.booleans(),
        campaign_filters,
    )


def _onc() -> st.SearchStrategy[dict[str, Any]]:
    waits = st.sampled_from(
        [{}, {"after_send": "2d"}, {"sent_within": "30d"}, {"after_send": "2d", "sent_within": "7d"}]
    )
    return st.builds(lambda c, w: {**c, **w}, campaign_filters, waits)


def _open_time() -> st.SearchStrategy[dict[str, Any]]:
    hours = st.tuples(st.integers(0, 23), st.integers(0, 23)).map(list)
    days = st.lists(
        st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1, max_size=3
    )
    timing = st.one_of(
        hours.map(lambda h: {"hours": h}),
        days.map(lambda d: {"weekdays": d}),
        st.builds(lambda h, d: {"hours": h, "weekdays": d}, hours, days),
    )
    extra = st.sampled_from([{}, {"timezone": "UTC"}, {"within": "30d"}, {"min_opens": 2}])
    return st.builds(lambda t, e: {**t, **e}, timing, extra)


def _leaf() -> st.SearchStrategy[dict[str, Any]]:
    url = st.sampled_from(
        [
            {"contains": "pricing"},
            {"contains": "KEY", "case_insensitive": True},
            {"not_contains": "pricing"},
            {"not_contains": "x.com", "case_insensitive": True},
        ]
    )
    device = st.builds(
        lambda d, a, c: {"device": d, "action": a, **c},
        st.sampled_from(["mobile", "desktop", "tablet", "unknown"]),
        st.sampled_from(["opened", "clicked"]),
        campaign_filters,
    )
    return st.one_of(
        _counted(st.builds(lambda a, c: {"action": a, **c}, st.sampled_from(ACTIONS), campaign_filters)).map(
            lambda p: {"email": p}
        ),
        _last().map(lambda p: {"email_last": p}),
        _counted(st.builds(lambda u, c: {**u, **c}, url, campaign_filters)).map(
            lambda p: {"email_click_url": p}
        ),
        _counted(device).map(lambda p: {"email_device": p}),
        _onc().map(lambda p: {"email_opened_not_clicked": p}),
        st.just({"email_opened_last_sent": {}}),
        _open_time().map(lambda p: {"email_open_time": p}),
        _counted(st.sampled_from([{"status": "invited"}, {"status": "converted"}])).map(
            lambda p: {"referral": p}
        ),
        st.sampled_from([{}, {"referrer_id": "42"}, {"referrer_id": "c42"}]).map(
            lambda p: {"referred_by": p}
        ),
    )


rules = rule_trees(_leaf(), max_leaves=5)


def _props(campaign: Any, url: Any, device: Any, friend: Any) -> dict[str, Any]:
    pairs = (("campaign_id", campaign), ("url", url), ("device", device), ("referee_id", friend))
    return {key: value for key, value in pairs if value != "MISSING"}


events = st.builds(
    lambda name, at, props: {"name": name, "at": at.isoformat(), "properties": props},
    st.sampled_from(
        [f"email.{a}" for a in ("sent", "opened", "clicked", "delivered")]
        + ["email.sent", "email.opened", "email.clicked", "referral.invited", "referral.converted"]
    ),
    st.sampled_from(TIMES),
    st.builds(_props, campaigns, st.sampled_from(URLS), st.sampled_from(DEVICES), st.sampled_from(FRIENDS)),
)


def _contact(
    index: int, history: list[dict[str, Any]], created: Any, zone: Any, referrer: Any
) -> dict[str, Any]:
    attributes = {
        key: (value.isoformat() if isinstance(value, datetime) else value)
        for key, value in (("created_at", created), ("timezone", zone), ("referred_by", referrer))
        if value != "MISSING"
    }
    return {"contact_id": f"c{index}", "attributes": attributes, "events": history}


contacts = st.lists(
    st.tuples(
        st.lists(events, max_size=8),
        st.sampled_from(CREATED),
        st.sampled_from(ZONE_NAMES),
        st.sampled_from(REFERRERS),
    ),
    min_size=1,
    max_size=6,
).map(lambda rows: [_contact(i, *row) for i, row in enumerate(rows)])
instants = st.one_of(
    st.builds(
        lambda t, w, d: t + w + d,
        st.sampled_from(TIMES),
        st.sampled_from([timedelta(0), *WIDTHS.values()]),
        st.sampled_from([-US, timedelta(0), US]),
    ),
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(UTC)),
)
"""Mostly an event time plus a window width, a microsecond either side; sometimes any instant."""


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rule=rules, docs=contacts, now=instants)
def test_random_email_rules_agree_on_both_paths(
    con: Any, host: Any, rule: Any, docs: list[dict[str, Any]], now: datetime
) -> None:
    expected, got = both_paths(con, host, rule, docs, now)
    assert (got.path, set(got.members)) == ("sql", expected), got.reason
