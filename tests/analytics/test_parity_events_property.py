"""Random rule trees over the event-family condition types, random event histories, random
instants: the SQL engine answers by SQL and gives the per-contact member set.

Event times, window widths, gaps and contact ages are drawn from one grid of durations
(each a microsecond either side too), so random histories often sit exactly on a
window's edge, a sequence's gap or a contact's coming of age at the drawn instant.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from growthos_segments.core.timeutil import parse_duration, to_iso
from growthos_segments.plugins.events import (
    EventParams,
    EventWithoutParams,
    FirstLastParams,
    LastActivityParams,
    SequenceParams,
)
from growthos_segments.plugins.nudges import NudgeParams
from tests.analytics.conftest import both_paths
from tests.analytics.strategies import rule_trees

BASE = datetime(2026, 11, 29, 12, tzinfo=UTC)
US = timedelta(microseconds=1)
DURATIONS = ("1h", "2h", "48h", "7d")
NAMES = ("cart.added", "order.completed", "nudge.shown", "order")
SELECTED = ("cart.added", "cart.added", "order.completed", "order.*", "nudge.*")
PROPERTY_VALUES: list[Any] = [100, 100.5, "100", "shoes", "Shoes", "straße", "", None, True, ["shoes"],
                              {"sku": "A1"}, "tour", "2026-11-22T12:00:00Z", "2026-11-22", "22/11/2026"]
DATES = ("2026-11-22", "2026-11-22T12:00:00Z", "2026-11-28T12:00:00.000001Z", "2026-11-29", "2026-11-30")
MISSING = object()



def _durations_in(node: Any) -> set[timedelta]:
    """Every duration a rule names (windows, ages, gaps)."""
    found: set[timedelta] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("within", "older_than", "max_gap") and isinstance(value, str):
                found.add(parse_duration(value))
            else:
                found |= _durations_in(value)
    elif isinstance(node, list):
        for child in node:
            found |= _durations_in(child)
    return found


def _offsets(spans: list[timedelta]) -> st.SearchStrategy[timedelta]:
    """How far from BASE an event (or a contact's birth) is: mostly on an edge of the rule
    (a duration it names, or the sum of two, before or after BASE, a microsecond either
    side or on it), else anywhere in the 40 days before BASE or the day after."""
    on_edge = st.builds(lambda a, b, sign, shift: sign * (a + b) + shift * US,
                        st.sampled_from(spans), st.sampled_from([timedelta(0), timedelta(0), *spans]),
                        st.sampled_from((-1, -1, 1)), st.sampled_from((-1, 0, 0, 1)))
    anywhere = st.integers(-40 * 86_400_000_000, 86_400_000_000).map(lambda us: timedelta(microseconds=us))
    return st.one_of(on_edge, on_edge, on_edge, anywhere)


def _properties(amount: Any, category: Any, nudge_id: Any) -> dict[str, Any]:
    pairs = (("amount", amount), ("category", category), ("nudge_id", nudge_id))
    return {key: value for key, value in pairs if value is not MISSING}


def _contacts(spans: list[timedelta]) -> st.SearchStrategy[list[dict[str, Any]]]:
    offsets = _offsets(spans)
    values = st.sampled_from([*PROPERTY_VALUES, MISSING])
    events = st.builds(
        lambda name, offset, props: {"name": name, "at": to_iso(BASE + offset), "properties": props},
        st.sampled_from(NAMES), offsets, st.builds(_properties, values, values, values),
    )
    ages = st.one_of(
        st.just({}),
        offsets.map(lambda offset: {"created_at": to_iso(BASE + offset)}),
        offsets.map(lambda offset: {"signup_date": to_iso(BASE + offset)}),
        st.sampled_from([{"created_at": "soon"}, {"created_at": "2026-11-22"}, {"created_at": 1795348800},
                         {"created_at": "2026/11/25"}, {"created_at": None, "signup_date": "2026-11-28"}]),
    )
    return st.lists(st.tuples(ages, st.lists(events, max_size=6)), min_size=1, max_size=8).map(
        lambda rows: [{"contact_id": f"c{i}", "attributes": age, "events": history}
                      for i, (age, history) in enumerate(rows)])


def _instants(spans: list[timedelta]) -> st.SearchStrategy[datetime]:
    """Mostly BASE itself (where the events sit on the edges), else near it or anywhere."""
    return st.one_of(st.just(BASE), st.just(BASE),
                     st.sampled_from((-1, 1)).map(lambda shift: BASE + shift * US),
                     _offsets(spans).map(lambda offset: BASE + offset))


wheres = st.one_of(
    st.just({}), st.just({}),
    st.sampled_from([
        {"amount": {"op": "greater_than", "value": 99.5}}, {"amount": {"op": "not_equals", "value": 100}},
        {"amount": {"op": "exists"}},
        {"category": {"op": "equals", "value": "shoes", "case_insensitive": True}},
        {"category": {"op": "contains_any", "values": ["shoes"]}},
        {"category": {"op": "not_starts_with", "value": "S"}},
        {"category": {"op": "greater_or_equal", "value": "2026-11-22", "tz": "Europe/Paris"}},
        {"category.sku": {"op": "in", "values": ["A1", "B2"]}},
    ]).map(lambda where: {"where": where}),
)
refs = st.builds(lambda name, where: {"name": name, **where}, st.sampled_from(SELECTED), wheres)
counts = st.sampled_from([{}, {"min_count": 2}, {"max_count": 1}, {"exactly": 0}, {"exactly": 1},
                          {"min_count": 1, "max_count": 2}])
windows = st.one_of(
    st.just({}),
    st.sampled_from(DURATIONS).map(lambda d: {"within": d}),
    st.sampled_from(DURATIONS).map(lambda d: {"within": d}),
    st.lists(st.sampled_from(DATES), min_size=2, max_size=2, unique=True).map(
        lambda pair: {"between": sorted(pair)}),
)
young = st.sampled_from([{}, {}, {"young_contacts": "wait"}])
durations = st.sampled_from((None, *DURATIONS))


def _valid(model: type[Any]) -> Any:
    """Keep the drawn params that validate (the generators above draw a few that do not)."""

    def check(params: dict[str, Any]) -> bool:
        try:
            model.model_validate(params)
        except ValidationError:
            return False
        return True

    return check


def _drop_none(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _leaf() -> st.SearchStrategy[dict[str, Any]]:
    count_window = st.builds(lambda c, w, y: {**c, **w, **y}, counts, windows, young)
    return st.one_of(
        st.builds(lambda r, cw: {**r, **cw}, refs, count_window).filter(_valid(EventParams))
        .map(lambda p: {"event": p}),
        st.builds(lambda r, which, within, older, after, before, never: {
            **r, "which": which, **_drop_none(within=within, older_than=older, after=after, before=before),
            "include_never": never},
            refs, st.sampled_from(("first", "last")), durations, durations,
            st.sampled_from((None, *DATES)), st.sampled_from((None, *DATES)), st.booleans(),
        ).filter(_valid(FirstLastParams)).map(lambda p: {"event_first_last": p}),
        st.builds(lambda r, cw, other: {**r, **cw, "without": other}, refs, count_window, refs)
        .filter(_valid(EventWithoutParams)).map(lambda p: {"event_without": p}),
        st.builds(lambda a, b, gap, mode, within: {"first": a, "then": b, "mode": mode,
                                                   **_drop_none(max_gap=gap, within=within)},
                  refs, refs, durations, st.sampled_from(("then", "not_then")), durations,
                  ).filter(_valid(SequenceParams)).map(lambda p: {"event_sequence": p}),
        st.builds(lambda within, older, never, y: {**_drop_none(within=within, older_than=older),
                                                   "include_never": never, **y},
                  durations, durations, st.booleans(), young,
                  ).filter(_valid(LastActivityParams)).map(lambda p: {"last_activity": p}),
        st.builds(lambda action, ids, cw: {"action": action, **_drop_none(nudge_id=ids), **cw},
                  st.sampled_from(("shown", "clicked", "dismissed")),
                  st.sampled_from((None, "tour", ["tour", "100"], "upgrade_banner")), count_window,
                  ).filter(_valid(NudgeParams)).map(lambda p: {"nudge": p}),
    )


rules = rule_trees(_leaf(), max_leaves=4)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.filter_too_much])
@given(rule=rules, data=st.data())
def test_random_event_rules_agree_on_both_paths(con: Any, host: Any, rule: Any, data: st.DataObject) -> None:
    spans = sorted(_durations_in(rule) | {timedelta(0)})
    docs = data.draw(_contacts(spans), label="contacts")
    now = data.draw(_instants(spans), label="now")
    expected, got = both_paths(con, host, rule, docs, now)
    assert got.path == "sql", got.reason
    assert set(got.members) == expected
