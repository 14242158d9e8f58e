"""Hard limits of the rule language: durations, numbers, whole-rule budgets, time range.

Each limit is a validation error with a JSON pointer (never an exception of
another kind), and what a limit accepts must be safe to compile and evaluate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from growthos_segments.core.errors import RuleValidationError
from growthos_segments.core.host import PluginHost
from growthos_segments.core.limits import DEFAULT_LIMITS, EARLIEST_INSTANT, LATEST_INSTANT, MAX_SPAN, Limits
from growthos_segments.core.rules import load_json, parse_rule
from growthos_segments.core.segments import SegmentDefinition, SegmentSet
from growthos_segments.core.timeutil import parse_instant, zone
from growthos_segments.plugins import default_host

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LAST_NOW = LATEST_INSTANT - timedelta(microseconds=1)


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return default_host()


def errors_of(raw: Any, host: PluginHost, limits: Limits = DEFAULT_LIMITS) -> list[tuple[str, str]]:
    with pytest.raises(RuleValidationError) as caught:
        parse_rule(raw, host, limits)
    return [(e.path, e.message) for e in caught.value.errors]


def evaluate(host: PluginHost, rule: Any, doc: dict[str, Any], now: datetime) -> tuple[bool, Any]:
    segments = SegmentSet(host, [SegmentDefinition("s", rule)])
    view = segments.view(doc, context=host.tenant_context("t", [doc], now))
    segments.segments["s"].explain(view, now)
    return segments.segments["s"].evaluate(view, now)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(("amount", "unit"), [
    (2147483648, "days"),  # used to raise OverflowError (a C int) from the params model
    (1000000000, "days"),  # used to raise OverflowError (timedelta's day range)
    (36601, "days"), (5229, "weeks"), (878401, "hours"), (52704001, "minutes"),
])
def test_relative_amount_over_100_years_is_an_error_at_the_amount(host, amount, unit) -> None:
    for op in ("within_last", "more_than_ago", "within_next"):
        rule = {"attribute": {"field": "signup_date", "op": op, "amount": amount, "unit": unit}}
        [(path, message)] = errors_of(rule, host)
        assert path == "/attribute/amount"
        assert f"{amount} {unit} is longer than 100 years" in message


@pytest.mark.parametrize(("amount", "unit"), [(36600, "days"), (5228, "weeks"), (878400, "hours"),
                                              (52704000, "minutes")])
def test_the_longest_relative_amounts_evaluate_at_both_ends_of_time(host, amount, unit) -> None:
    values = ["1900-01-01", "2199-12-31", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]
    for op in ("within_last", "more_than_ago", "within_next"):
        rule = {"attribute": {"field": "d", "op": op, "amount": amount, "unit": unit}}
        for value in values:
            for now in (EARLIEST_INSTANT, NOW, LAST_NOW):
                evaluate(host, rule, {"contact_id": "c", "attributes": {"d": value}}, now)


@pytest.mark.parametrize(("rule", "path"), [
    ({"email": {"action": "opened", "within": "999999w"}}, "/email/within"),
    ({"email": {"action": "opened", "within": "36601d"}}, "/email/within"),
    ({"email_last": {"action": "clicked", "older_than": "5229w"}}, "/email_last/older_than"),
    ({"email_opened_not_clicked": {"after_send": "999999d"}}, "/email_opened_not_clicked/after_send"),
    ({"event_sequence": {"first": {"name": "a"}, "then": {"name": "b"}, "max_gap": "878401h"}},
     "/event_sequence/max_gap"),
    ({"rfm_recency": {"older_than": "5300w"}}, "/rfm_recency/older_than"),
])
def test_durations_over_100_years_are_errors_at_the_field(host, rule, path) -> None:
    [(where, message)] = errors_of(rule, host)
    assert where == path and "longer than 100 years" in message


def test_between_dates_outside_the_supported_years_are_errors(host) -> None:
    # "9999-12-31" used to overflow while the window end (the next day) was computed.
    found = errors_of({"email": {"action": "opened", "between": ["2026-01-01", "9999-12-31"]}}, host)
    assert found == [("/email/between/1", "'9999-12-31' is outside the supported years 1900-2199")]
    [(where, _)] = errors_of({"email": {"action": "opened", "between": ["1899-12-31", "2026-01-01"]}}, host)
    assert where == "/email/between/0"


def test_events_outside_the_supported_years_are_skipped_not_fatal(host) -> None:
    """An event stamped 9999-12-31 used to overflow `at + window` in most behavioural types."""
    far = [{"name": name, "at": at, "properties": {"campaign_id": "c", "amount": 5}}
           for name in ("email.sent", "email.opened", "order.completed", "app.login")
           for at in ("0001-01-01T00:00:00Z", "9999-12-31T23:00:00Z")]
    doc = {"contact_id": "c", "attributes": {"created_at": "9999-12-31"}, "events": far}
    rules = [
        {"email": {"action": "opened", "min_count": 1, "within": "30d"}},
        {"email": {"action": "opened", "exactly": 0, "within": "14d", "young_contacts": "wait"}},
        {"event_first_last": {"name": "app.login", "which": "last", "older_than": "14d"}},
        {"rfm_frequency": {"min_count": 1, "within": "365d"}},
    ]
    for rule in rules:
        for now in (EARLIEST_INSTANT, NOW, LAST_NOW):
            evaluate(host, rule, doc, now)
    # Skipped, so they count as no event at all.
    assert evaluate(host, rules[0], doc, NOW) == (False, None)
    # created_at 9999-12-31 is not a birth date: the contact counts as old enough.
    assert evaluate(host, rules[1], doc, NOW) == (True, None)


def test_calendar_operators_survive_stored_instants_at_the_end_of_time(host) -> None:
    """9999-12-31T23:59:59Z is year 10000 in Kiritimati (UTC+14): no local date, no match."""
    for op in ({"op": "last_days", "days": 3}, {"op": "anniversary", "period": "this_month"}):
        rule = {"attribute": {"field": "d", **op, "tz": "Pacific/Kiritimati"}}
        for value in ("9999-12-31T23:59:59Z", 253402300799):
            assert evaluate(host, rule, {"contact_id": "c", "attributes": {"d": value}}, NOW) == (False, None)


def test_dates_at_year_1_west_of_utc_are_no_instant(host) -> None:
    """Midnight of 0001-01-01 in UTC-11 is before year 1 in UTC: parse_instant raised OverflowError."""
    assert parse_instant("0001-01-01", zone("Pacific/Pago_Pago")) is None
    assert parse_instant("0001-01-01T00:00:00", zone("Pacific/Pago_Pago")) is None
    assert parse_instant(datetime(1, 1, 1), zone("Pacific/Pago_Pago")) is None
    rule = {"attribute": {"field": "d", "op": "within_last", "amount": 3, "tz": "Pacific/Pago_Pago"}}
    assert evaluate(host, rule, {"contact_id": "c", "attributes": {"d": "0001-01-01"}}, NOW) == (False, None)


def test_max_span_is_what_the_schemas_publish(host) -> None:
    schema = json.dumps(host.condition_type("email").params.model_json_schema())
    assert f"at most 100 years ({MAX_SPAN.days}d)" in schema


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(("rule", "path", "needle"), [
    ({"score": {"name": "nps", "gte": 1e308}}, "/score/gte", "number 1e+308 is too large"),
    ({">=": [{"var": "scores.nps"}, -1e200]}, "/>=/1", "number -1e+200 is too large"),
    ({"in": [{"var": "x"}, [1, 2, 1e-131]]}, "/in/1/2", "too close to zero"),
    ({"score": {"name": "nps", "gte": 10**126}}, "/score/gte", "number is too large"),
    ({"score": {"name": "nps", "gte": 10**5000}}, "/score/gte", "number is too large"),
    ({"==": [{"var": "x"}, 12345678901234567890123456789012345678901]}, "/==/1",
     "has 41 significant digits; the limit is 38"),
    ({"score": {"name": "nps", "lt": float("inf")}}, "/score/lt", "Infinity is not a JSON number"),
    ({"attribute": {"field": "n", "op": "in", "values": [float("nan")]}}, "/attribute/values/0",
     "NaN is not a JSON number"),
])
def test_numbers_dynamodb_cannot_store_are_errors_anywhere(host, rule, path, needle) -> None:
    found = errors_of(rule, host)
    assert [p for p, _ in found] == [path] and needle in found[0][1], found


@pytest.mark.parametrize("number", [
    0, -0.0, 1e-130, -1e-130, 9.9e125, 99999999999999999999999999999999999999 * 10**88,
    12345678901234567890123456789012345678 * 10**50, 5e-324 * 0,
])
def test_numbers_at_the_edges_of_the_range_are_accepted(host, number) -> None:
    parse_rule({"score": {"name": "nps", "gte": number}}, host)
    if isinstance(number, float):  # long integers have their own limit in expressions (below)
        parse_rule({"==": [{"var": "x"}, number]}, host)


def test_integers_datalogic_cannot_read_are_errors_in_expressions(host) -> None:
    """An integer past 64 bits used to crash datalogic's check with a ParseError."""
    parse_rule({"==": [{"var": "x"}, [2**64 - 1, -(2**63)]]}, host)
    found = errors_of({"and": [{"tag": {"tags": ["a"]}}, {"==": [{"var": "x"}, [1, 2**64]]}]}, host)
    assert found == [("/and/1/==/1/1", f"integer {2**64} is too large for a plain JsonLogic expression "
                                       "(64 bits)")]


def test_an_integer_too_long_to_convert_is_invalid_json_with_a_position(host) -> None:
    text = '{"score": {"name": "nps",\n "gte": ' + "9" * 5000 + "}}"
    [(path, message)] = errors_of(text, host)
    assert path == "" and "integer of 5,000 digits" in message and "line 2 column 9" in message
    with pytest.raises(json.JSONDecodeError) as caught:
        load_json('{"version": ' + "1" * 4301 + "}")
    assert caught.value.lineno == 1 and caught.value.colno == 13


# --------------------------------------------------------------------------- whole-rule budgets


def test_a_rule_of_a_million_values_is_refused_at_once(host) -> None:
    """999 lists x 1,000 values (7.9 MB) passed every limit and took seconds to validate."""
    huge = {"or": [{"attribute": {"field": "f", "op": "in", "values": ["abcdef"] * 1000}}] * 999}
    found = errors_of(huge, host)
    assert len(found) == 1 and found[0][0] == "" and "more than 20,000 values" in found[0][1]


def test_size_budget_counts_compact_json(host) -> None:
    rule = {"attribute": {"field": "plan", "op": "in", "values": ["é" * 10, "x\n"]}}
    size = len(json.dumps(rule, separators=(",", ":")))  # é is \u00e9: six characters
    parse_rule(rule, host, Limits(max_size=size))
    [(path, message)] = errors_of(rule, host, Limits(max_size=size - 1))
    assert path == "" and f"more than {size - 1:,} characters as compact JSON" in message


def test_values_budget_counts_every_json_value(host) -> None:
    # {in}, its list, {var}, "tags", the outer list, [], [], [None, True], None, True
    rule = {"in": [{"var": "tags"}, [[], [], [None, True]]]}
    parse_rule(rule, host, Limits(max_values=10))
    [(_, message)] = errors_of(rule, host, Limits(max_values=9))
    assert "more than 9 values" in message


def test_empty_lists_cannot_hide_from_the_budgets(host) -> None:
    nested: list[Any] = [[[]] * 1000] * 1000  # a million empty lists (one object, shared)
    [(_, message)] = errors_of({"in": ["x", nested]}, host)
    assert "more than 20,000 values" in message


def test_rule_text_is_bounded_before_it_is_parsed(host) -> None:
    text = json.dumps({"tag": {"tags": ["vip"]}}) + " " * 100
    [(path, message)] = errors_of(text, host, Limits(max_text_length=100))
    assert path == "" and f"rule text is {len(text)} characters; the limit is 100" == message


def json_values(value: Any) -> int:
    """Every JSON value in ``value`` (the oracle for the values budget)."""
    if isinstance(value, dict):
        return 1 + sum(json_values(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(json_values(v) for v in value)
    return 1


def within_budgets(rule: Any) -> bool:
    return (len(json.dumps(rule, separators=(",", ":"))) <= DEFAULT_LIMITS.max_size
            and json_values(rule) <= DEFAULT_LIMITS.max_values)


def largest(build: Callable[[int], Any]) -> int:
    """The largest ``n`` for which ``build(n)`` is within the size and values budgets."""
    low, high = 1, 2
    while within_budgets(build(high)):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if within_budgets(build(middle)) else (low, middle)
    return low


def tag_rule(n: int) -> dict[str, Any]:
    """Tag lists of 1,000 names: the values budget binds."""
    tags = [f"t{i:04d}" for i in range(1000)]
    return {"or": [{"tag": {"match": "any", "tags": tags}}] * n}


def expression_rule(n: int) -> dict[str, Any]:
    """Plain JsonLogic over literal lists of 1,000 numbers."""
    return {"or": [{"in": [{"var": "attributes.n"}, list(range(i, i + 1000))]} for i in range(n)]}


def string_rule(n: int) -> dict[str, Any]:
    """Strings of the maximum length: the size budget binds."""
    return {"or": [{"attribute": {"field": "f", "op": "equals", "value": chr(97 + i % 26) * 2048}}
                   for i in range(n)]}


def regex_rule(n: int) -> dict[str, Any]:
    """Distinct patterns near RE2's program cap, case-insensitive (the dearest to compile)."""
    return {"or": [{"attribute": {"field": "f", "op": "matches", "pattern": rf"[\pL\pN]{{6}}{i}",
                                  "case_insensitive": True}} for i in range(n)]}


def condition_rule(n: int) -> dict[str, Any]:
    """Small conditions in two groups of at most 1,000: the node limit binds before either budget."""
    conditions = [{"attribute": {"field": f"f{i}", "op": "greater_than", "value": i}} for i in range(n)]
    return {"or": [{"and": conditions[:999]}, {"and": conditions[999:]}]}


BUDGET_BOUND = [tag_rule, expression_rule, string_rule]


def worst_rules() -> dict[str, Any]:
    """The largest rule of each shape the limits accept (also measured for the README)."""
    rules = {build.__name__: build(largest(build)) for build in BUDGET_BOUND}
    rules["regex_rule"] = regex_rule(DEFAULT_LIMITS.max_regexes)
    rules["condition_rule"] = condition_rule(DEFAULT_LIMITS.max_nodes - 3)
    return rules


@pytest.mark.parametrize("build", BUDGET_BOUND)
def test_the_largest_rules_the_budgets_allow_are_accepted(host, build) -> None:
    n = largest(build)
    parse_rule(build(n), host)
    [(path, message)] = errors_of(build(n + 1), host)
    assert path == "" and ("rule is more than" in message or "rule has more than" in message)


def test_node_and_regex_bound_rules_are_accepted_up_to_their_limits(host) -> None:
    parse_rule(condition_rule(DEFAULT_LIMITS.max_nodes - 3), host)
    parse_rule(regex_rule(DEFAULT_LIMITS.max_regexes), host)


def test_a_rule_holds_a_bounded_number_of_regular_expressions(host) -> None:
    found = errors_of(regex_rule(12), host)
    assert found == [(f"/or/{i}/attribute/pattern", "a rule holds at most 10 regular expressions")
                     for i in (10, 11)]
    # Patterns inside event property filters count too.
    where = {f"p{i}": {"op": "matches", "pattern": f"x{i}"} for i in range(7)}
    rule = {"and": [{"event": {"name": "a", "where": where}}, {"event": {"name": "b", "where": where}}]}
    assert len(errors_of(rule, host)) == 4


def test_a_regular_expression_with_a_huge_program_is_refused(host) -> None:
    """\\pL{10} twenty times compiled for most of a second under RE2's default memory cap."""
    [(path, message)] = errors_of({"attribute": {"field": "f", "op": "matches", "pattern": r"\pL{10}" * 20}},
                                  host)
    assert path == "/attribute/pattern" and "too large once compiled" in message
    parse_rule({"attribute": {"field": "f", "op": "matches", "pattern": r"^\pL+@[\w.-]{1,200}$"}}, host)


def test_a_plain_expression_is_cut_off_at_its_operation_budget(host) -> None:
    """Three nested `some` over 1,000 items are 10^9 operations: seconds per contact, unbounded."""
    inner: Any = {"==": [{"var": ""}, -1]}
    for _ in range(3):
        inner = {"some": [list(range(1000)), inner]}
    segments = SegmentSet(host, [SegmentDefinition("s", {"and": [{"tag": {"tags": ["a"]}}, inner]})])
    view = segments.view({"contact_id": "c", "tags": ["a"]})
    assert segments.segments["s"].evaluate(view, NOW) == (False, None)
    [_, expression] = segments.explain("s", view, NOW).trace["children"]
    assert "Operation budget exceeded" in expression["error"]


# --------------------------------------------------------------------------- segment definitions


@pytest.mark.parametrize(("name", "message"), [
    ("vip\x00", "name: control character U+0000 at position 3 is not allowed"),
    ("a\nb", "name: control character U+000A at position 1 is not allowed"),
    ("\x9b", "name: control character U+009B at position 0 is not allowed"),
    ("x" * 201, "name is 201 characters; the limit is 200"),
])
def test_segment_names_are_one_line_without_control_characters(name, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        SegmentDefinition("s", {"tag": {"tags": ["a"]}}, name=name)
    with pytest.raises(ValueError, match=re.escape(message)):
        SegmentDefinition.from_json({"id": "s", "name": name})
    assert SegmentDefinition("s", None, name="Café — VIP ✓").name == "Café — VIP ✓"


@pytest.mark.parametrize("version", [0, True, "2", 1.5, 2**53, 10**5000],
                         ids=["zero", "true", "text", "float", "2**53", "10**5000"])
def test_segment_versions_from_json_are_positive_integers(version) -> None:
    with pytest.raises(ValueError, match="version must be an integer from 1 to"):
        SegmentDefinition.from_json({"id": "s", "version": version})
