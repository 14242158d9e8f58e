"""Every time parameter of every condition type in the catalog, pushed to its extremes.

For each condition type the test finds the duration and date fields from the
type's own JSON Schema (the durations publish the duration pattern, the dates
the supported years), so a type added to the catalog later is covered too. It
draws values from far beyond the bounds to their edges, in any combination:

- a rule is either refused with pointers into the condition, or accepted;
- an accepted rule compiles and evaluates (with its explanation) at the first
  and last supported instant and in between, on a contact whose events and
  dates lie anywhere in years 1-9999, without raising anything.

The oracle is only "no exception": what the results are is other tests' job.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from growthos_segments.core.errors import RuleValidationError
from growthos_segments.core.limits import EARLIEST_INSTANT, LATEST_INSTANT
from growthos_segments.core.rules import parse_rule
from growthos_segments.core.segments import SegmentDefinition, SegmentSet
from growthos_segments.core.timeutil import DURATION_RE
from growthos_segments.plugins import default_host

HOST = default_host()
LAST_INSTANT = LATEST_INSTANT - timedelta(microseconds=1)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _alternatives(schema: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(schema, root)
    return [schema, *(_resolve(s, root) for s in schema.get("anyOf", []))]


def _is_duration(schema: dict[str, Any], root: dict[str, Any]) -> bool:
    return any(s.get("pattern") == DURATION_RE.pattern for s in _alternatives(schema, root))


def _is_instant_pair(schema: dict[str, Any], root: dict[str, Any]) -> bool:
    return any(len(s.get("prefixItems", [])) == 2 for s in _alternatives(schema, root))


def _is_instant(schema: dict[str, Any], root: dict[str, Any]) -> bool:
    years = f"from {EARLIEST_INSTANT.year}"
    return any(str(s.get("description", "")).startswith(years) for s in _alternatives(schema, root))


def _fields(condition_type: Any) -> dict[str, list[str]]:
    """Top-level params of each time kind, read from the params model's JSON Schema."""
    root = condition_type.params.model_json_schema()
    found: dict[str, list[str]] = {"duration": [], "instant": [], "pair": []}
    for variant in _alternatives(root, root):
        for name, schema in variant.get("properties", {}).items():
            for kind, test in (("duration", _is_duration), ("pair", _is_instant_pair),
                               ("instant", _is_instant)):
                if test(schema, root) and name not in found[kind]:
                    found[kind].append(name)
                    break
    return found


FIELDS = {name: _fields(condition_type) for name, condition_type in HOST.condition_types.items()}
TIMED = sorted(name for name, kinds in FIELDS.items() if any(kinds.values()))

EDGE_TEXTS = ["0001-01-01", "1899-12-31T23:59:59Z", "1900-01-01", "2026-11-22T12:00:00Z", "2199-12-31",
              "2199-12-31T23:59:59.999999Z", "2200-01-01", "9999-12-31", "9999-12-31T23:59:59Z"]
instant_texts = st.one_of(
    st.sampled_from(EDGE_TEXTS),
    st.dates().map(lambda d: d.isoformat()),
    st.datetimes(timezones=st.just(UTC)).map(lambda t: t.isoformat().replace("+00:00", "Z")),
)
durations = st.one_of(
    st.sampled_from(["36600d", "36601d", "5228w", "5229w", "878400h", "878401h", "999999w", "0d"]),
    st.builds(lambda n, unit: f"{n}{unit}", st.integers(0, 999_999),
              st.sampled_from(["m", "min", "h", "d", "w"])),
)
amounts = st.one_of(st.sampled_from([36600, 36601, 5228, 5229, 878400, 52704000, 2**31, 10**9, 10**30]),
                    st.integers(1, 2**64))
zones = st.sampled_from(["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Europe/London"])


@st.composite
def attribute_conditions(draw: st.DrawFn) -> dict[str, Any]:
    """The attribute type's time operators, whose amounts are not a duration field."""
    op = draw(st.sampled_from(["within_last", "more_than_ago", "within_next", "last_days", "next_days",
                               "anniversary"]))
    params: dict[str, Any] = {"field": "d", "op": op, "tz": draw(zones)}
    if op in ("last_days", "next_days"):
        params["days"] = draw(st.integers(0, 10**6))
    elif op == "anniversary":
        params["period"] = draw(st.sampled_from(["today", "this_week", "this_month", "within_days"]))
        if params["period"] == "within_days":
            params["days"] = draw(st.integers(0, 366))
    else:
        params["amount"] = draw(amounts)
        params["unit"] = draw(st.sampled_from(["minutes", "hours", "days", "weeks"]))
    return {"attribute": params}


@st.composite
def timed_conditions(draw: st.DrawFn) -> dict[str, Any]:
    """A catalog example with some of its time fields replaced by extreme values."""
    name = draw(st.sampled_from(TIMED))
    params = copy.deepcopy(dict(draw(st.sampled_from(HOST.condition_type(name).examples))))
    kinds = FIELDS[name]
    for field in kinds["duration"]:
        if draw(st.booleans()):
            params[field] = draw(durations)
    for field in kinds["instant"]:
        if draw(st.booleans()):
            params[field] = draw(instant_texts)
    for field in kinds["pair"]:
        if draw(st.booleans()):
            params[field] = [draw(instant_texts), draw(instant_texts)]
            if draw(st.booleans()):
                params.pop("within", None)  # the two are exclusive; sometimes keep both
    return {name: params}


EVENT_NAMES = ["email.sent", "email.opened", "email.clicked", "order.completed", "app.login", "cart.added",
               "viewed_product", "nudge.shown", "nudge.clicked", "referral.invited", "referral.converted"]
PROPERTIES = {"campaign_id": "cmp_q4", "url": "https://x.example/pricing", "device": "mobile",
              "amount": 120, "currency": "EUR", "nudge_id": "upgrade_banner", "friend_id": "f1",
              "category": "shoes", "order_id": "o1"}
supported_instants = st.one_of(
    st.sampled_from([EARLIEST_INSTANT, LAST_INSTANT]),
    st.datetimes(min_value=EARLIEST_INSTANT.replace(tzinfo=None), max_value=LAST_INSTANT.replace(tzinfo=None),
                 timezones=st.just(UTC)),
)


@st.composite
def contacts(draw: st.DrawFn) -> dict[str, Any]:
    events = [{"name": draw(st.sampled_from(EVENT_NAMES)), "at": draw(instant_texts),
               "properties": PROPERTIES} for _ in range(draw(st.integers(0, 12)))]
    return {"tenant_id": "t", "contact_id": "c", "events": events,
            "attributes": {"d": draw(st.one_of(instant_texts, st.integers(-(10**12), 10**12))),
                           "created_at": draw(instant_texts),
                           "signup_date": draw(instant_texts)},
            "scores": {"nps": 9, "lead": 80}}


def test_the_catalog_has_time_fields_to_push() -> None:
    """Guards the schema reading above: if it found nothing, the property would test nothing."""
    assert {"email", "event_sequence", "email_opened_not_clicked", "rfm_recency"} <= set(TIMED)
    assert FIELDS["event_sequence"]["duration"] == ["max_gap", "within"]
    assert FIELDS["email"]["pair"] == ["between"]
    assert FIELDS["event_first_last"]["instant"] == ["before", "after"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=st.one_of(timed_conditions(), attribute_conditions()), doc=contacts(), now=supported_instants)
def test_time_params_are_refused_with_pointers_or_safe_everywhere(rule: dict[str, Any], doc: dict[str, Any],
                                                                   now: datetime) -> None:
    (name,) = rule
    try:
        parse_rule(rule, HOST)
    except RuleValidationError as exc:
        assert all(error.path.startswith(f"/{name}") for error in exc.errors), exc.errors
        return
    segments = SegmentSet(HOST, [SegmentDefinition("s", rule)])
    for moment in (EARLIEST_INSTANT, now, LAST_INSTANT):
        view = segments.view(doc, context=HOST.tenant_context("t", [doc], moment))
        segments.segments["s"].evaluate(view, moment)
        segments.explain("s", view, moment)
