"""Compiled evaluation: short-circuiting, recheck_at combination, explanations."""

from __future__ import annotations

from datetime import timedelta

from growthos_segments.core.compiler import compile_rule
from growthos_segments.core.rules import parse_rule
from growthos_segments.core.timeutil import to_iso
from growthos_segments.core.view import ContactView
from tests.conftest import NOW


def run(rule, doc, host, now=NOW):
    compiled = compile_rule(parse_rule(rule, host))
    return compiled.evaluate(ContactView(doc), now)


def window(field: str, seconds: int) -> dict:
    return {"toy_window": {"field": field, "seconds": seconds}}


PLAN_FREE = {"toy_eq": {"field": "plan", "value": "free"}}
HOUR = 3600


def doc(**attributes):
    return {"contact_id": "c1", "attributes": attributes}


def test_window_condition_rechecks_at_its_edges(toy_host):
    start = NOW + timedelta(minutes=5)
    assert run(window("t", HOUR), doc(t=to_iso(start)), toy_host) == (False, start)
    assert run(window("t", HOUR), doc(t=to_iso(NOW)), toy_host) == (True, NOW + timedelta(hours=1))
    assert run(window("t", HOUR), doc(t=to_iso(NOW - timedelta(hours=2))), toy_host) == (False, None)


def test_and_true_takes_the_earliest_child_recheck(toy_host):
    a, b = NOW - timedelta(minutes=30), NOW - timedelta(minutes=50)
    rule = {"and": [window("a", HOUR), window("b", HOUR)]}
    # a ends at NOW+30m, b at NOW+10m: the conjunction can change at NOW+10m
    assert run(rule, doc(a=to_iso(a), b=to_iso(b)), toy_host) == (True, NOW + timedelta(minutes=10))


def test_and_false_stops_at_the_first_false_child(toy_host):
    later = NOW + timedelta(minutes=20)
    rule = {"and": [window("a", HOUR), {"toy_eq": {"field": "missing", "value": 1}}]}
    assert run(rule, doc(a=to_iso(later)), toy_host) == (False, later)
    # A permanently false child first: never changes.
    rule = {"and": [{"toy_eq": {"field": "plan", "value": "pro"}}, window("a", HOUR)]}
    assert run(rule, doc(plan="free", a=to_iso(later)), toy_host) == (False, None)


def test_or_false_takes_the_earliest_child_recheck(toy_host):
    a, b = NOW + timedelta(minutes=40), NOW + timedelta(minutes=15)
    rule = {"or": [window("a", HOUR), window("b", HOUR), {"toy_eq": {"field": "x", "value": 1}}]}
    assert run(rule, doc(a=to_iso(a), b=to_iso(b)), toy_host) == (False, b)


def test_or_true_stops_at_the_first_true_child(toy_host):
    rule = {"or": [PLAN_FREE, window("a", HOUR)]}
    assert run(rule, doc(plan="free", a=to_iso(NOW)), toy_host) == (True, None)


def test_not_keeps_the_recheck(toy_host):
    start = NOW + timedelta(minutes=5)
    assert run({"!": window("t", HOUR)}, doc(t=to_iso(start)), toy_host) == (True, start)


def test_expression_evaluates_against_the_document(toy_host):
    rule = {"and": [PLAN_FREE, {"in": ["vip", {"var": "tags"}]}]}
    assert run(rule, {**doc(plan="free"), "tags": ["vip"]}, toy_host) == (True, None)
    assert run(rule, {**doc(plan="free"), "tags": []}, toy_host) == (False, None)


def test_expression_runtime_error_is_a_non_match(toy_host):
    rule = {">": [{"/": [{"var": "scores.nps"}, 0]}, 1]}
    assert run(rule, {"contact_id": "c", "scores": {"nps": 3}}, toy_host) == (False, None)


def test_segment_reference_without_resolver_is_not_a_member(toy_host):
    assert run({"segment": {"id": "s1"}}, doc(), toy_host) == (False, None)


def test_explanation_agrees_and_marks_short_circuit(toy_host):
    compiled = compile_rule(parse_rule({"and": [PLAN_FREE, window("a", HOUR), {"in": [1, [1]]}]}, toy_host))
    view = ContactView(doc(plan="pro", a=to_iso(NOW)))
    explanation = compiled.explain(view, NOW)
    assert (explanation.match, explanation.recheck_at) == compiled.evaluate(view, NOW)
    first, second, third = explanation.trace["children"]
    assert first["match"] is False and first["values"] == {"attributes.plan": "pro"}
    assert first["description"] == "plan equals 'free'"
    assert second["match"] is True and second["short_circuited"] is True
    assert third["kind"] == "expression" and third["short_circuited"] is True
    assert "short_circuited" not in first


def test_explanation_shows_missing_values_and_paths(toy_host):
    compiled = compile_rule(parse_rule({"or": [{"!": PLAN_FREE}, window("a", 60)]}, toy_host))
    trace = compiled.explain(ContactView(doc()), NOW).trace
    assert trace["children"][0]["path"] == "/or/0"
    assert trace["children"][0]["children"][0]["path"] == "/or/0/!"
    assert trace["children"][0]["children"][0]["values"] == {"attributes.plan": "(missing)"}


def test_tags_stored_as_a_dynamodb_set_are_read(toy_host):
    view = ContactView({"contact_id": "c1", "tags": {"vip", "beta"}, "lists": frozenset({"l1"})})
    assert sorted(view.tags) == ["beta", "vip"] and list(view.lists) == ["l1"]


def test_explanation_counts_events_inside_the_window_only():
    from growthos_segments.plugins import default_host

    host = default_host(load_entry_points=False)
    rule = {"email": {"action": "opened", "min_count": 1, "within": "30d"}}
    compiled = compile_rule(parse_rule(rule, host))
    at = lambda delta: to_iso(NOW + delta)  # noqa: E731
    doc = {"contact_id": "c1", "events": [
        {"name": "email.opened", "at": at(-timedelta(days=30)), "properties": {}},   # on the edge: out
        {"name": "email.opened", "at": at(-timedelta(days=29)), "properties": {}},   # in
        {"name": "email.opened", "at": at(timedelta(hours=1)), "properties": {}},    # future: out
    ]}
    trace = compiled.explain(ContactView(doc), NOW).trace
    counts = {k: v for k, v in trace["values"].items() if k.startswith("events:")}
    assert list(counts.values()) == [1]
