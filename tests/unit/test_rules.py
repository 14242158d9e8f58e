"""Parsing, validation and normal form of segment rules."""

from __future__ import annotations

import json

import jsonlogic
import pytest

from growthos_segments.core.errors import RuleValidationError
from growthos_segments.core.limits import Limits
from growthos_segments.core.rules import (
    And,
    Condition,
    Expr,
    Not,
    Or,
    SegmentRef,
    normalize,
    parse_rule,
    rule_reads,
    to_json,
)

EQ = {"toy_eq": {"field": "plan", "value": "free"}}
EQ2 = {"toy_eq": {"field": "city", "value": "London"}}


def errors_of(raw, host, limits=None):
    with pytest.raises(RuleValidationError) as caught:
        parse_rule(raw, host, limits or Limits())
    return [(e.path, e.message, e.suggestion) for e in caught.value.errors]


def test_parses_each_node_kind(toy_host):
    node = parse_rule(
        {"and": [EQ, {"or": [EQ2, {"segment": {"id": "seg_1"}}]}, {"not": {"in": ["vip", {"var": "tags"}]}}]},
        toy_host,
    )
    assert isinstance(node, And)
    first, second, third = node.children
    assert isinstance(first, Condition) and first.type == "toy_eq" and first.params.value == "free"
    assert isinstance(second, Or) and isinstance(second.children[1], SegmentRef)
    assert isinstance(third, Not) and isinstance(third.child, Expr)


def test_not_alias_and_list_form_normalize_to_bang(toy_host):
    assert normalize({"not": EQ}, toy_host) == {"!": EQ}
    assert normalize({"!": [EQ]}, toy_host) == {"!": EQ}
    assert normalize({"not": [{"!": EQ}]}, toy_host) == EQ  # double negation removed


def test_flattening_and_single_child_groups(toy_host):
    raw = {"and": [{"and": [EQ, {"and": [EQ2]}]}, {"or": [{"or": [EQ, EQ2]}]}]}
    assert normalize(raw, toy_host) == {"and": [EQ, EQ2, {"or": [EQ, EQ2]}]}


def test_normalize_is_idempotent_and_round_trips(toy_host):
    raw = {"or": [{"not": [EQ]}, {"and": [EQ2, {"==": [{"var": "attributes.plan"}, "pro"]}]}]}
    once = normalize(raw, toy_host)
    assert normalize(once, toy_host) == once
    assert parse_rule(once, toy_host) == parse_rule(raw, toy_host)
    assert json.loads(json.dumps(once)) == once


def test_params_are_dumped_without_defaults_and_validated_types(toy_host):
    node = parse_rule({"toy_window": {"field": "signup", "seconds": 60}}, toy_host)
    assert to_json(node) == {"toy_window": {"field": "signup", "seconds": 60}}


def test_accepts_json_text_and_jsonlogic_py_builders(toy_host):
    built = jsonlogic.Variable("scores.nps") >= 9
    assert normalize(built, toy_host) == {">=": [{"var": "scores.nps"}, 9]}
    assert normalize(json.dumps(EQ), toy_host) == EQ


def test_all_errors_reported_at_once_with_pointers_and_suggestions(toy_host):
    found = errors_of(
        {"and": [
            {"toy_eqq": {}},
            {"toy_eq": {"field": "plan", "valeu": "x"}},
            {"segment": {"id": ""}},
            {"or": []},
            "nope",
        ]},
        toy_host,
    )
    assert ("/and/0", "unknown condition type 'toy_eqq'", "did you mean 'toy_eq'?") in found
    assert any(p == "/and/1/toy_eq/value" and "required" in m.lower() for p, m, _ in found)
    assert ("/and/1/toy_eq/valeu", "unknown parameter", "did you mean 'value'?") in found
    assert any(p == "/and/2/segment/id" for p, _, _ in found)
    assert any(p == "/and/3/or" and "at least one" in m for p, m, _ in found)
    assert any(p == "/and/4" and "expected a rule object" in m for p, m, _ in found)
    assert len(found) == 6


def test_a_reference_takes_only_ids_that_can_be_stored(toy_host):
    # The storage keys take segment ids of at most 64 characters: a rule naming a
    # longer one could never match a saved segment, so it is an error where it is written.
    longest = "s" * 64
    assert parse_rule({"segment": {"id": longest}}, toy_host) == SegmentRef(longest)
    found = errors_of({"and": [EQ, {"segment": {"id": "s" * 65}}, {"segment": {"id": "seg\n"}}]}, toy_host)
    assert [path for path, _, _ in found] == ["/and/1/segment/id", "/and/2/segment/id"]
    assert all(message == "segment id must be 1-64 letters, digits, '_', '.', ':', '-'; "
               "starts with a letter or digit" for _, message, _ in found)


def test_node_with_two_keys_is_an_error(toy_host):
    [(path, message, suggestion)] = errors_of({"toy_eq": EQ["toy_eq"], "and": []}, toy_host)
    assert path == "" and "exactly one key" in message and "and" in suggestion


def test_pointer_escapes_slash_and_tilde(toy_host):
    [(path, _, _)] = errors_of({"and": [{"a/b~c": {}}]}, toy_host)
    assert path == "/and/0"
    found = errors_of({"toy_eq": {"field": "plan", "value": "x", "a/b~c": 1}}, toy_host)
    assert found[0][0] == "/toy_eq/a~1b~0c"


def test_conditions_are_not_allowed_inside_plain_expressions(toy_host):
    [(path, message, _)] = errors_of({"if": [EQ, True, False]}, toy_host)
    assert path == "/if/0" and "toy_eq" in message


def test_expression_errors_carry_the_engine_pointer(toy_host):
    [(path, message, _)] = errors_of({"and": [EQ, {"==": [1]}]}, toy_host)
    assert path == "/and/1" and "==" in message


def test_expressions_that_read_the_clock_are_rejected(toy_host):
    [(path, message, _)] = errors_of({"<": [{"var": "attributes.t"}, {"now": []}]}, toy_host)
    assert path == "" and "clock" in message


def test_invalid_json_text_is_a_validation_error(toy_host):
    [(path, message, _)] = errors_of("{not json", toy_host)
    assert path == "" and "not valid JSON" in message


@pytest.mark.parametrize(
    ("limits", "raw", "needle"),
    [
        (Limits(max_depth=3), {"!": {"!": {"!": {"!": EQ}}}}, "nested deeper than 3"),
        (Limits(max_nodes=3), {"and": [EQ, EQ2, EQ, EQ2]}, "more than 3 nodes"),
        (Limits(max_list_length=2), {"and": [EQ, EQ2, EQ]}, "limit is 2"),
        (Limits(max_string_length=6), {"toy_eq": {"field": "plan", "value": "premium"}}, "limit is 6"),
    ],
)
def test_limits_give_clear_errors(toy_host, limits, raw, needle):
    found = errors_of(raw, toy_host, limits)
    assert any(needle in message for _, message, _ in found), found


def test_very_deep_input_fails_cleanly_without_recursion_error(toy_host):
    raw: dict = EQ
    for _ in range(5000):
        raw = {"!": raw}
    found = errors_of(raw, toy_host)
    assert found[0][1].startswith("rule is nested deeper than")


def test_deeply_nested_lists_in_an_expression_fail_cleanly(toy_host):
    # Lists inside lists are nesting too: [[[...]]] used to pass the depth check
    # and then overflow the stack while the expression was normalised.
    deep: list = [1]
    for _ in range(950):
        deep = [deep]
    found = errors_of({"in": ["x", deep]}, toy_host)
    assert found[0][1].startswith("rule is nested deeper than"), found
    assert found[0][0].startswith("/in/1/0/0")


def test_reserved_and_expression_names_do_not_shadow_each_other(toy_host):
    # "!!" is a JsonLogic operator, so it is an expression, not a double negation.
    node = parse_rule({"!!": [{"var": "tags"}]}, toy_host)
    assert isinstance(node, Expr)


def test_rule_reads_union(toy_host):
    node = parse_rule({"and": [EQ, {"segment": {"id": "s1"}}, {"in": ["x", {"var": "tags"}]}]}, toy_host)
    reads = rule_reads(node)
    assert reads.attributes == {"attributes.plan", "tags"}
    assert reads.segments == {"s1"}


def test_limits_apply_to_mapping_and_string_subclasses(toy_host):
    from collections import OrderedDict

    class Text(str):
        pass

    raw = OrderedDict(toy_eq=OrderedDict(field="plan", value=Text("x" * 50)))
    found = errors_of(raw, toy_host, Limits(max_string_length=10))
    assert found == [("/toy_eq/value", "string has 50 characters; the limit is 10", None)]
