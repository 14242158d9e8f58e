"""The attributes plugin through its condition types, as the engine calls them.

Each case validates params with the condition type's model, compiles, and
evaluates against a ContactView; expectations are written by hand.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from growthos_segments.core.contract import ConditionType
from growthos_segments.core.host import PluginHost
from growthos_segments.core.view import ContactView
from growthos_segments.plugins import attributes
from growthos_segments.plugins.attributes import ATTRIBUTE, LIST, SUPPRESSION, TAG

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

DOC: dict[str, Any] = {
    "tenant_id": "t1",
    "contact_id": "c42",
    "attributes": {
        "email": "Ann@Example.com",
        "city": "London",
        "country": "GB",
        "plan": "free",
        "signup_date": "2026-11-20",
        "seats": 12,
        "beta": True,
        "nickname": None,
        "custom": {
            "plan_type": "premium",
            "interests": ["automation", "analytics"],
            "billing": {"tier": {"code": "T2"}},
        },
    },
    "tags": ["vip", "beta"],
    "lists": ["launch-2026"],
    "suppression": {"unsubscribed": False, "bounced": True, "status": "bounced"},
}


def evaluate(
    ct: ConditionType[Any], params: dict[str, Any], doc: dict[str, Any] = DOC, now: datetime = NOW
) -> tuple[bool, datetime | None]:
    return ct.compile(ct.params.model_validate(params))(ContactView(doc), now)


def attr(
    params: dict[str, Any], doc: dict[str, Any] = DOC, now: datetime = NOW
) -> tuple[bool, datetime | None]:
    return evaluate(ATTRIBUTE, params, doc, now)


# --------------------------------------------------------------------------- attribute


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"field": "plan", "op": "equals", "value": "free"}, True),
        ({"field": "plan", "op": "equals", "value": "FREE"}, False),
        ({"field": "plan", "op": "equals", "value": "FREE", "case_insensitive": True}, True),
        ({"field": "plan", "op": "not_equals", "value": "pro"}, True),
        ({"field": "country", "op": "in", "values": ["GB", "IE"]}, True),
        ({"field": "email", "op": "ends_with", "value": "@example.com"}, False),
        ({"field": "email", "op": "ends_with", "value": "@example.com", "case_insensitive": True}, True),
        ({"field": "email", "op": "matches", "pattern": "^[^@]+@example\\.com$"}, False),
        ({"field": "email", "op": "matches", "pattern": "^ann@", "case_insensitive": True}, True),
        ({"field": "seats", "op": "between", "min": 10, "max": 12}, True),
        ({"field": "seats", "op": "greater_than", "value": 12}, False),
        ({"field": "beta", "op": "equals", "value": True}, True),
        ({"field": "beta", "op": "equals", "value": 1}, False),
        ({"field": "custom.plan_type", "op": "equals", "value": "premium"}, True),
        ({"field": "custom.interests", "op": "contains_any", "values": ["automation", "x"]}, True),
        ({"field": "custom.interests", "op": "contains_all", "values": ["automation", "x"]}, False),
        ({"field": "custom.interests", "op": "contains", "value": "analytics"}, True),
        ({"field": "custom.billing.tier.code", "op": "equals", "value": "T2"}, True),
        ({"field": "city", "op": "exists"}, True),
        ({"field": "nickname", "op": "exists"}, False),  # stored null
        ({"field": "nickname", "op": "not_exists"}, True),
    ],
)
def test_attribute_operators_on_a_contact(params: dict[str, Any], expected: bool) -> None:
    assert attr(params) == (expected, None)


@pytest.mark.parametrize(
    "field",
    ["phone", "custom.missing", "custom.plan_type.deeper", "city.name", "custom.billing.tier.missing"],
)
def test_missing_fields_fail_positive_and_pass_negative_operators(field: str) -> None:
    assert attr({"field": field, "op": "equals", "value": "x"}) == (False, None)
    assert attr({"field": field, "op": "not_equals", "value": "x"}) == (True, None)
    assert attr({"field": field, "op": "not_in", "values": ["x"]}) == (True, None)
    assert attr({"field": field, "op": "contains_none", "values": ["x"]}) == (True, None)
    assert attr({"field": field, "op": "exists"}) == (False, None)
    assert attr({"field": field, "op": "not_exists"}) == (True, None)
    assert attr({"field": field, "op": "within_last", "amount": 1}) == (False, None)


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"attributes": None},
        {"attributes": "not an object"},
        {"attributes": {"custom": "not an object"}},
        {"attributes": {"custom": ["plan_type"]}},
    ],
)
def test_malformed_documents_never_raise(doc: dict[str, Any]) -> None:
    assert attr({"field": "custom.plan_type", "op": "equals", "value": "premium"}, doc) == (False, None)
    assert attr({"field": "custom.plan_type", "op": "not_exists"}, doc) == (True, None)
    assert attr({"field": "plan", "op": "not_in", "values": ["free"]}, doc) == (True, None)


def test_attribute_dates_give_exact_recheck() -> None:
    # signup_date "2026-11-20" is midnight UTC; within the last 7 days until 2026-11-27T00:00Z
    assert attr({"field": "signup_date", "op": "within_last", "amount": 7}) == (
        True,
        datetime(2026, 11, 27, tzinfo=UTC),
    )
    # more than 30 days ago from 2026-12-20T00:00Z on
    assert attr({"field": "signup_date", "op": "more_than_ago", "amount": 30}) == (
        False,
        datetime(2026, 12, 20, tzinfo=UTC),
    )
    # in London (GMT in November) the calendar date is the same day
    assert attr({"field": "signup_date", "op": "last_days", "days": 2, "tz": "Europe/London"}) == (
        True,
        datetime(2026, 11, 23, tzinfo=UTC),
    )
    assert attr({"field": "signup_date", "op": "anniversary", "period": "this_week"}) == (
        True,
        datetime(2026, 11, 23, tzinfo=UTC),
    )


def test_numbers_stored_as_strings_are_not_numbers() -> None:
    doc = {"attributes": {"seats": "12"}}
    assert attr({"field": "seats", "op": "greater_than", "value": 5}, doc) == (False, None)
    assert attr({"field": "seats", "op": "equals", "value": 12}, doc) == (False, None)
    assert attr({"field": "seats", "op": "equals", "value": "12"}, doc) == (True, None)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("attributes.plan", "write 'plan'"),
        ("plan name", "not a valid path"),
        ("custom..plan", "not a valid path"),
        (".plan", "not a valid path"),
        ("plan.", "not a valid path"),
        ("pl$n", "not a valid path"),
        ("x" * 129, "the limit is 128"),
        (".".join("abcdefghi"), "nested too deeply"),
    ],
)
def test_field_paths_are_validated_with_a_clear_message(field: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ATTRIBUTE.params.model_validate({"field": field, "op": "exists"})
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "field", ["plan", "custom.plan_type", "utm-source", "a_1.B-2.c3", ".".join("abcdefgh")]
)
def test_valid_field_paths(field: str) -> None:
    ATTRIBUTE.params.model_validate({"field": field, "op": "exists"})


@pytest.mark.parametrize(
    "params",
    [
        {"op": "equals", "value": "free"},  # no field
        {"field": "plan", "op": "equalz", "value": "free"},
        {"field": "plan", "op": "equals", "value": "free", "extra": 1},
        {"field": "plan", "op": "matches", "pattern": "(a+)+\\1"},
        {"field": "plan", "op": "within_last", "amount": -1},
        {"field": "plan", "op": "anniversary", "period": "today", "tz": "Nowhere/City"},
        {"field": 5, "op": "exists"},
        {"field": "plan", "op": {"nested": "op"}},
    ],
)
def test_invalid_attribute_params(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ATTRIBUTE.params.model_validate(params)


def test_attribute_reads_and_describe() -> None:
    params = ATTRIBUTE.params.model_validate({"field": "custom.plan_type", "op": "in", "values": ["a", "b"]})
    assert ATTRIBUTE.reads(params).attributes == frozenset({"attributes.custom.plan_type"})
    assert ATTRIBUTE.reads(params).events == frozenset()
    assert ATTRIBUTE.reads(params).lookback is None
    assert ATTRIBUTE.describe is not None
    assert ATTRIBUTE.describe(params) == "custom.plan_type is one of 'a', 'b'"
    params = ATTRIBUTE.params.model_validate({"field": "signup_date", "op": "within_last", "amount": 7})
    assert ATTRIBUTE.describe(params) == "signup_date is within the last 7 days"


def test_attribute_params_dump_back_to_the_rule_shape() -> None:
    raw = {"field": "plan", "op": "equals", "value": "free"}
    params = ATTRIBUTE.params.model_validate(raw)
    assert params.model_dump(mode="json", exclude_defaults=True) == raw
    assert ATTRIBUTE.params.model_validate(params.model_dump(mode="json")) == params


# --------------------------------------------------------------------------- tag and list


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"tags": ["vip"]}, True),  # match defaults to "any"
        ({"match": "any", "tags": ["gold", "beta"]}, True),
        ({"match": "any", "tags": ["gold"]}, False),
        ({"match": "all", "tags": ["vip", "beta"]}, True),
        ({"match": "all", "tags": ["vip", "gold"]}, False),
        ({"match": "none", "tags": ["gold"]}, True),
        ({"match": "none", "tags": ["gold", "vip"]}, False),
        ({"match": "any", "tags": ["VIP"]}, False),
        ({"match": "any", "tags": ["VIP"], "case_insensitive": True}, True),
    ],
)
def test_tags(params: dict[str, Any], expected: bool) -> None:
    assert evaluate(TAG, params) == (expected, None)


@pytest.mark.parametrize("doc", [{}, {"tags": None}, {"tags": "vip"}, {"tags": []}])
def test_contact_without_tags_has_none_of_them(doc: dict[str, Any]) -> None:
    assert evaluate(TAG, {"match": "any", "tags": ["vip"]}, doc) == (False, None)
    assert evaluate(TAG, {"match": "all", "tags": ["vip"]}, doc) == (False, None)
    assert evaluate(TAG, {"match": "none", "tags": ["vip"]}, doc) == (True, None)


def test_lists() -> None:
    assert evaluate(LIST, {"lists": ["launch-2026"]}) == (True, None)
    assert evaluate(LIST, {"match": "all", "lists": ["launch-2026", "webinar"]}) == (False, None)
    assert evaluate(LIST, {"match": "none", "lists": ["churned"]}) == (True, None)
    assert evaluate(LIST, {"match": "none", "lists": ["churned"]}, {}) == (True, None)
    assert evaluate(LIST, {"match": "any", "lists": ["launch-2026"]}, {}) == (False, None)


@pytest.mark.parametrize(
    "params",
    [
        {"tags": []},
        {"tags": "vip"},
        {"tags": [""]},
        {"tags": [1]},
        {"match": "some", "tags": ["vip"]},
        {"tag": ["vip"]},
    ],
)
def test_invalid_tag_params(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TAG.params.model_validate(params)


def test_tag_and_list_reads_and_describe() -> None:
    tag = TAG.params.model_validate({"match": "all", "tags": ["vip", "beta"]})
    assert TAG.reads(tag).attributes == frozenset({"tags"})
    assert TAG.describe is not None and TAG.describe(tag) == "has all of the tags 'vip', 'beta'"
    member = LIST.params.model_validate({"match": "none", "lists": ["churned"]})
    assert LIST.reads(member).attributes == frozenset({"lists"})
    assert LIST.describe is not None and LIST.describe(member) == "is in none of the lists 'churned'"


# --------------------------------------------------------------------------- suppression


@pytest.mark.parametrize(
    ("suppression", "unsubscribed"),
    [
        ({"unsubscribed": True}, True),
        ({"unsubscribed": False}, False),
        ({"unsubscribed": "true"}, False),  # only JSON true sets a flag
        ({"unsubscribed": 1}, False),
        ({"unsubscribed": None}, False),
        ({}, False),
        (None, False),
    ],
)
def test_suppression_flag_and_its_exact_negation(suppression: Any, unsubscribed: bool) -> None:
    doc = {"suppression": suppression}
    assert evaluate(SUPPRESSION, {"flag": "unsubscribed"}, doc) == (unsubscribed, None)
    assert evaluate(SUPPRESSION, {"flag": "unsubscribed", "value": True}, doc) == (unsubscribed, None)
    assert evaluate(SUPPRESSION, {"flag": "unsubscribed", "value": False}, doc) == (not unsubscribed, None)


def test_suppression_status() -> None:
    assert evaluate(SUPPRESSION, {"status": "bounced"}) == (True, None)
    assert evaluate(SUPPRESSION, {"status": "ok"}) == (False, None)
    assert evaluate(SUPPRESSION, {"status": ["ok", "bounced"]}) == (True, None)
    assert evaluate(SUPPRESSION, {"status": "Bounced"}) == (False, None)
    assert evaluate(SUPPRESSION, {"status": "ok"}, {"suppression": {"status": 1}}) == (False, None)
    assert evaluate(SUPPRESSION, {"status": "ok"}, {}) == (False, None)
    assert evaluate(SUPPRESSION, {"flag": "bounced"}) == (True, None)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"flag": "unsubscribed", "status": "ok"},
        {"flag": "unsubscibed"},
        {"status": "ok", "value": False},
        {"flag": "bounced", "value": "no"},
        {"status": []},
        {"status": 3},
    ],
)
def test_invalid_suppression_params(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SUPPRESSION.params.model_validate(params)


def test_suppression_reads_and_describe() -> None:
    flag = SUPPRESSION.params.model_validate({"flag": "bounced", "value": False})
    status = SUPPRESSION.params.model_validate({"status": ["bounced", "complained"]})
    assert SUPPRESSION.reads(flag).attributes == frozenset({"suppression.bounced"})
    assert SUPPRESSION.reads(status).attributes == frozenset({"suppression.status"})
    assert SUPPRESSION.describe is not None
    assert SUPPRESSION.describe(flag) == "is not bounced"
    assert SUPPRESSION.describe(status) == "has a suppression status of 'bounced', 'complained'"


# --------------------------------------------------------------------------- catalog


def test_registered_through_the_plugin_host() -> None:
    host = PluginHost([attributes], load_entry_points=False)
    assert set(host.condition_types) == {"attribute", "tag", "list", "suppression"}
    assert host.condition_type("attribute") is ATTRIBUTE


@pytest.mark.parametrize("ct", [ATTRIBUTE, TAG, LIST, SUPPRESSION], ids=lambda ct: ct.name)
def test_examples_validate_compile_and_the_catalog_entry_is_json(ct: ConditionType[Any]) -> None:
    assert ct.examples
    for example in ct.examples:
        params = ct.params.model_validate(example)
        result = ct.compile(params)(ContactView(DOC), NOW)
        assert isinstance(result[0], bool)
        assert ct.reads(params).attributes
        assert ct.describe is not None and ct.describe(params)
    entry = ct.catalog_entry()
    assert entry["name"] == ct.name and entry["label"] and entry["description"]
    assert entry["category"] == "contact"
    schema = entry["schema"]
    assert "properties" in schema or "oneOf" in schema
    json.dumps(entry)


def test_attribute_schema_lists_every_operator_with_its_own_fields() -> None:
    schema = ATTRIBUTE.params.model_json_schema()
    assert schema["discriminator"]["propertyName"] == "op"
    ops = set(schema["discriminator"]["mapping"])
    assert {"equals", "in", "matches", "contains_all", "between", "within_last", "anniversary"} <= ops
    within = schema["$defs"]["AttributeRelative"]["properties"]
    assert set(within) == {"field", "op", "amount", "unit", "tz"}
    assert schema["$defs"]["AttributeRelative"]["additionalProperties"] is False
