"""Time properties of every behavioural condition type, on generated contacts.

For each condition the test checks the contract the scheduler relies on:

- stable: the result at ``now`` holds at every instant in ``[now, recheck_at)``,
  probed at every instant where something could plausibly change (each event
  time, each event time plus every duration in the rule, RFM thresholds, the
  staleness instant, one microsecond either side of each) and at random ones;
- exact: at ``recheck_at`` the result really is different (no wasted wake-ups,
  and no "just after" instants the scheduler could not be given);
- lookback: adding events older than the declared lookback (every kind of event
  the generator knows, at and beyond the edge) changes neither the match nor
  the re-check.

The expected behaviour is not computed by the code under test: the oracle is
the same condition evaluated at other instants.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from growthos_segments.core.contract import ConditionType, Predicate
from growthos_segments.core.timeutil import parse_duration
from growthos_segments.core.view import ContactView
from growthos_segments.plugins import email, events, nudges, referrals, rfm, scores

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
MICRO = timedelta(microseconds=1)

POOL: list[tuple[str, dict[str, Any]]] = [
    ("email.sent", {"campaign_id": "cmp_q4"}),
    ("email.sent", {"campaign_id": "cmp_bf"}),
    ("email.opened", {"campaign_id": "cmp_q4", "device": "mobile"}),
    ("email.opened", {"campaign_id": "cmp_bf", "device": "Desktop"}),
    ("email.opened", {}),
    ("email.clicked", {"campaign_id": "cmp_q4", "url": "https://x.example/pricing", "device": "mobile"}),
    ("email.clicked", {"campaign_id": "cmp_bf", "url": "https://x.example/blog"}),
    ("email.clicked", {"campaign_id": "cmp_q4"}),
    ("email.converted", {"campaign_id": "cmp_q4"}),
    ("viewed_product", {"category": "shoes"}),
    ("viewed_product", {"category": "hats"}),
    ("order.completed", {"amount": 120, "currency": "EUR"}),
    ("order.completed", {"amount": 40, "currency": "usd"}),
    ("order.completed", {"amount": 700}),
    ("order.completed", {}),
    ("cart.added", {}),
    ("checkout.started", {}),
    ("trial.started", {}),
    ("subscription.created", {}),
    ("app.login", {}),
    ("feature_used", {"feature": "export"}),
    ("nudge.shown", {"nudge_id": "upgrade_banner"}),
    ("nudge.shown", {"nudge_id": "tour"}),
    ("nudge.clicked", {"nudge_id": "tour"}),
    ("nudge.dismissed", {"nudge_id": "upgrade_banner"}),
    ("referral.invited", {"referee_id": "f1"}),
    ("referral.invited", {"referee_id": "f2"}),
    ("referral.invited", {}),
    ("referral.converted", {"referee_id": "f1"}),
]

CONTEXT = {
    "rfm": {
        "computed_at": "2026-11-20T00:00:00Z",
        "max_age_days": 7,
        "thresholds": {
            "recency_days": [10, 30, 60, 120],
            "frequency": [1, 2, 3, 5],
            "monetary": [50, 100, 200, 400],
        },
    },
    "scores": {"bands": {"lead": {"hot": 90, "warm": 60, "cold": 0}}},
}

# Extra shapes beyond each type's catalog examples, so that every window kind,
# count bound and option is exercised.
EXTRA: dict[str, list[dict[str, Any]]] = {
    "email": [
        {"action": "opened", "max_count": 1, "within": "3d"},
        {"action": "opened", "exactly": 2, "within": "10d"},
        {"action": "clicked", "min_count": 1, "max_count": 2, "within": "20d"},
        {"action": "opened", "campaign_id": "cmp_q4", "exactly": 0, "within": "7d",
         "young_contacts": "wait"},
        {"action": "sent", "min_count": 2, "between": ["2026-10-01", "2026-11-25"]},
    ],
    "email_last": [
        {"action": "opened", "within": "20d", "older_than": "2d"},
        {"action": "opened", "within": "5d", "include_never": True},
    ],
    "email_click_url": [{"contains": "PRICING", "case_insensitive": True, "within": "15d"}],
    "email_device": [{"device": "unknown", "within": "40d", "max_count": 1}],
    "email_last_open_device": [{"device": "desktop", "within": "3d"}, {"device": "unknown", "within": "10d"}],
    "email_opened_not_clicked": [{"after_send": "1d", "sent_within": "5d"}],
    "email_opened_last_sent": [{}],
    "email_open_time": [{"hours": [10, 14], "within": "15d"}, {"weekdays": ["mon", "tue", "wed"],
                                                              "within": "9d"}],
    "event": [
        {"name": "viewed_product", "where": {"category": {"op": "equals", "value": "shoes"}},
         "exactly": 1, "within": "4d"},
        {"name": "order.*", "min_count": 2, "within": "60d"},
    ],
    "event_first_last": [
        {"name": "viewed_product", "which": "last", "within": "6d"},
        {"name": "app.login", "which": "last", "older_than": "3d", "include_never": True},
        {"name": "cart.added", "which": "first", "older_than": "2d", "within": "40d"},
    ],
    "last_activity": [
        {"within": "5d", "include_never": True},
        {"older_than": "3d"},
        {"older_than": "10d", "within": "40d", "include_never": True, "young_contacts": "wait"},
    ],
    "active_days": [{"max_days": 1, "within": "5d"},
                    {"min_days": 1, "max_days": 2, "within": "10d", "timezone": "America/New_York"}],
    "event_without": [{"name": "viewed_product", "min_count": 2, "within": "5d",
                       "without": {"name": "cart.added"}}],
    "event_sequence": [
        {"first": {"name": "viewed_product"}, "then": {"name": "cart.added"}, "max_gap": "2d",
         "within": "10d"},
        {"first": {"name": "cart.added"}, "then": {"name": "checkout.started"}, "max_gap": "1d",
         "mode": "not_then", "within": "20d"},
        {"first": {"name": "viewed_product"}, "then": {"name": "order.completed"}},
    ],
    "referral": [{"status": "invited", "min_count": 2, "within": "10d"},
                 {"status": "invited", "max_count": 1, "within": "10d"}],
    "nudge": [{"action": "shown", "exactly": 1, "within": "6d"}],
    "rfm_recency": [{"older_than": "5d", "include_never": True}],
    "rfm_frequency": [{"min_count": 2, "max_count": 3, "within": "30d"}],
    "rfm_monetary": [{"measure": "total", "gte": 100, "within": "20d"},
                     {"measure": "average", "lte": 100, "within": "30d"}],
    "rfm_score": [{"dimension": "recency", "min": 3}, {"dimension": "frequency", "min": 2},
                  {"dimension": "monetary", "max": 3, "if_stale": "no_match"}],
    "rfm_tier": [{"tier": t} for t in rfm.TIERS],
}

TYPES: dict[str, ConditionType[Any]] = {
    ct.name: ct
    for module in (email, events, scores, referrals, nudges, rfm)
    for ct in module.CONDITION_TYPES
}
CASES = {name: [dict(e) for e in ct.examples] + EXTRA.get(name, []) for name, ct in TYPES.items()}
DURATION = re.compile(r"^\d+\s*(m|min|h|d|w)$")


def _durations(value: Any) -> Iterator[timedelta]:
    if isinstance(value, str) and DURATION.match(value):
        yield parse_duration(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _durations(item)
    elif isinstance(value, list):
        for item in value:
            yield from _durations(item)


offsets = st.one_of(
    st.integers(-120 * 24, 3 * 24).map(lambda h: timedelta(hours=h)),
    st.sampled_from([timedelta(days=-d) for d in (1, 2, 3, 7, 10, 30, 59, 60, 61)]),
)
event_st = st.tuples(st.sampled_from(range(len(POOL))), offsets)
contact_st = st.fixed_dictionaries(
    {
        "events": st.lists(event_st, max_size=14),
        "created": st.one_of(st.none(), offsets),
        "timezone": st.sampled_from([None, "America/New_York", "Asia/Tokyo", "Not/AZone"]),
    }
)


def _doc(contact: dict[str, Any], extra: list[dict[str, Any]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    attributes: dict[str, Any] = {}
    if contact["created"] is not None:
        attributes["created_at"] = (NOW + contact["created"]).isoformat()
    if contact["timezone"] is not None:
        attributes["timezone"] = contact["timezone"]
    evs = [
        {"name": POOL[i][0], "at": (NOW + offset).isoformat(), "properties": POOL[i][1]}
        for i, offset in contact["events"]
    ]
    return {"attributes": attributes, "events": evs + list(extra), "scores": {"lead": 75}}


def _probes(params: dict[str, Any], doc: dict[str, Any], until: datetime | None) -> set[datetime]:
    spans = [timedelta(0), rfm.PERIOD, *_durations(params)]
    spans += [timedelta(days=d) for d in CONTEXT["rfm"]["thresholds"]["recency_days"]]
    times = [datetime.fromisoformat(e["at"]) for e in doc["events"]]
    created = doc["attributes"].get("created_at")
    if created:
        times.append(datetime.fromisoformat(created))
    points = {NOW + MICRO, NOW + timedelta(days=400), datetime(2026, 11, 27, tzinfo=UTC)}
    for t in times:
        for span in spans:
            base = t + span
            points.update((base - MICRO, base, base + MICRO))
    return {p for p in points if p > NOW and (until is None or p < until)}


def _compile(name: str, params: dict[str, Any]) -> Predicate:
    ct = TYPES[name]
    return ct.compile(ct.params.model_validate(params))


def _check_stable_and_exact(name: str, params: dict[str, Any], doc: dict[str, Any],
                            minutes: list[int]) -> None:
    predicate = _compile(name, params)
    view = ContactView(doc, context=CONTEXT)
    match, recheck = predicate(view, NOW)
    assert recheck is None or recheck > NOW
    probes = _probes(params, doc, recheck)
    probes.update(NOW + timedelta(minutes=m) for m in minutes
                  if recheck is None or NOW + timedelta(minutes=m) < recheck)
    for probe in sorted(probes):
        assert predicate(view, probe)[0] == match, f"changed at {probe} before {recheck}"
    if recheck is not None:
        assert predicate(ContactView(doc, context=CONTEXT), recheck)[0] != match, (
            f"recheck_at {recheck} is not a change"
        )


@pytest.mark.parametrize("name", sorted(TYPES))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), contact=contact_st)
def test_stable_until_recheck_and_exact_at_it(name: str, data: st.DataObject,
                                              contact: dict[str, Any]) -> None:
    params = data.draw(st.sampled_from(CASES[name]), label="params")
    minutes = data.draw(st.lists(st.integers(1, 400 * 24 * 60), max_size=5), label="minutes")
    _check_stable_and_exact(name, params, _doc(contact), minutes)


# Conditions whose answer changes only when an event arrives (no window of their
# own, or a short one) need contacts with events still to come, and ties: sends,
# opens and a few other events a few days either side of now, on a coarse grid
# so that instants coincide.
near = st.integers(-10 * 4, 10 * 4).map(lambda q: timedelta(hours=6 * q))
NEAR_POOL = [i for i, (n, _) in enumerate(POOL)
             if n in ("email.sent", "email.opened", "app.login", "nudge.shown")]
near_contact_st = st.fixed_dictionaries(
    {
        "events": st.lists(st.tuples(st.sampled_from(NEAR_POOL), near), max_size=10),
        "created": st.one_of(st.none(), near),
        "timezone": st.none(),
    }
)


@pytest.mark.parametrize("name", ["email_opened_last_sent", "last_activity", "email_last_open_device",
                                  "active_days"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), contact=near_contact_st)
def test_stable_and_exact_with_events_still_to_come(name: str, data: st.DataObject,
                                                     contact: dict[str, Any]) -> None:
    params = data.draw(st.sampled_from(CASES[name]), label="params")
    _check_stable_and_exact(name, params, _doc(contact), [])


@pytest.mark.parametrize("name", sorted(TYPES))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), contact=contact_st,
       beyond=st.sampled_from([timedelta(0), MICRO, timedelta(days=1), timedelta(days=400)]))
def test_events_older_than_lookback_never_matter(name: str, data: st.DataObject,
                                                 contact: dict[str, Any], beyond: timedelta) -> None:
    params = data.draw(st.sampled_from(CASES[name]), label="params")
    ct = TYPES[name]
    lookback = ct.reads(ct.params.model_validate(params)).lookback
    if lookback is None or lookback == timedelta.max:
        return  # nothing is old enough not to matter
    at = (NOW - lookback - beyond).isoformat()
    old = [{"name": n, "at": at, "properties": p} for n, p in POOL]
    predicate = _compile(name, params)
    plain = predicate(ContactView(_doc(contact), context=CONTEXT), NOW)
    padded = predicate(ContactView(_doc(contact, old), context=CONTEXT), NOW)
    assert padded == plain
