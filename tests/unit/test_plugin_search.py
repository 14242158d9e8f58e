"""The search condition per contact: every word, in any searched field, ignoring case and
accents (the pairs a marketer expects to match), and params errors located by JSON pointer."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from growthos_segments.core.errors import RuleValidationError
from growthos_segments.core.host import PluginHost
from growthos_segments.core.rules import parse_rule
from growthos_segments.core.view import ContactView
from growthos_segments.plugins import attributes, search

HOST = PluginHost([attributes, search], load_entry_points=False)
NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def run(params: dict[str, Any], attrs: Any) -> tuple[bool, datetime | None]:
    condition = HOST.condition_types["search"]
    predicate = condition.compile(condition.params.model_validate(params))
    return predicate(ContactView({"attributes": attrs}), NOW)


@pytest.mark.parametrize(("q", "text"), [
    ("jose", "José"),
    ("JOSÉ", "jose"),
    ("emile", "ÉMILE"),
    ("strasse", "Hauptstraße 5"),
    ("STRAßE", "STRASSE"),
    ("ẞ", "Strasse"),
    ("finance", "\ufb01nance"),            # the fi ligature
    ("ΟΔΥΣΣΕΥΣ", "οδυσσευς"),                # Greek capital sigma and final sigma
    ("muller", "Müller"),
    ("nguyen", "Nguyễn"),
    ("zoe", "Zoe\u0308"),                    # e and a combining diaeresis
    ("a b", "A\u00a0B"),                     # a no-break space is a space
])
def test_case_and_accents_are_ignored(q: str, text: str) -> None:
    assert run({"q": q}, {"first_name": text}) == (True, None)


@pytest.mark.parametrize(("q", "text"), [
    ("jose", "Josef"),                        # a substring matches ...
    ("acm", "Acme Labs"),
])
def test_words_are_found_as_substrings(q: str, text: str) -> None:
    assert run({"q": q}, {"company": text}) == (True, None)


def test_every_word_must_be_found_in_some_field_in_any_order() -> None:
    ada = {"first_name": "Ada", "last_name": "Lovelace", "custom": {"company": "Acme Labs"}}
    assert run({"q": "acme ada"}, ada) == (True, None)
    assert run({"q": "  ADA   lovelace "}, ada) == (True, None)
    assert run({"q": "ada babbage"}, ada) == (False, None)
    assert run({"q": "lovelaceacme"}, ada) == (False, None)  # a word does not span two fields


def test_only_the_named_fields_are_searched() -> None:
    contact = {"email": "ada@acme.io", "custom": {"industry": "Robotics", "notes": ["likes ACME"]},
               "title": "CTO"}
    assert run({"q": "acme"}, contact) == (True, None)
    assert run({"q": "cto"}, contact) == (False, None)  # not a default field
    assert run({"q": "robotics", "custom_fields": False}, contact) == (False, None)
    fields = ["custom.industry", "custom.notes"]
    only = {"fields": fields, "custom_fields": False}
    assert run({"q": "robotics", **only}, contact) == (True, None)
    assert run({"q": "likes", **only}, contact) == (True, None)
    assert run({"q": "ada", **only}, contact) == (False, None)
    assert run({"q": "ada", "fields": fields}, contact) == (False, None)
    assert run({"q": "cto", "fields": ["title"], "custom_fields": False}, contact) == (True, None)


def test_every_custom_field_is_searched_by_default() -> None:
    contact = {"custom": {"industry": "Robotics", "tags": [3, "Gold Tier"], "seats": 1234,
                          "vip": True, "address": {"city": "Lyon"}}}
    assert run({"q": "robotics"}, contact) == (True, None)
    assert run({"q": "gold robotics"}, contact) == (True, None)  # a list's string items
    assert run({"q": "ROBÓTICS tier"}, contact) == (True, None)
    assert run({"q": "1234"}, contact) == (False, None)  # numbers, booleans and maps are not text
    assert run({"q": "true"}, contact) == (False, None)
    assert run({"q": "lyon"}, contact) == (False, None)
    assert run({"q": "lyon", "fields": ["custom.address.city"]}, contact) == (True, None)
    assert run({"q": "robotics"}, {"custom": ["Robotics"]}) == (False, None)  # not a map of fields
    assert run({"q": "robotics"}, {"custom": "Robotics"}) == (False, None)


@pytest.mark.parametrize("value", [
    None, 42, 4.2, True, {"name": "acme"}, ["x", 42, None], frozenset({"zz"}), [],
], ids=repr)
def test_values_without_text_are_not_searched(value: Any) -> None:
    assert run({"q": "acme"}, {"company": value}) == (False, None)
    assert run({"q": "42", "fields": ["company"]}, {"company": value}) == (False, None)


def test_lists_and_sets_of_text_are_searched() -> None:
    assert run({"q": "acme", "fields": ["tags"]}, {"tags": [1, "ACME-fan"]}) == (True, None)
    assert run({"q": "acme", "fields": ["tags"]}, {"tags": {"acme"}}) == (True, None)


def test_missing_fields_and_attributes_that_are_not_an_object() -> None:
    assert run({"q": "acme"}, {}) == (False, None)
    assert run({"q": "acme"}, ["acme"]) == (False, None)


def test_reads_and_wording() -> None:
    condition = HOST.condition_types["search"]
    params = condition.params.model_validate({"q": "acme"})
    assert condition.reads(params).attributes == {
        "attributes.name", "attributes.first_name", "attributes.last_name", "attributes.email",
        "attributes.company", "attributes.custom"}
    only = condition.params.model_validate({"q": "acme", "fields": ["custom.notes"], "custom_fields": False})
    assert condition.reads(only).attributes == {"attributes.custom.notes"}
    assert condition.reads(params).events == frozenset()
    assert condition.describe is not None
    assert condition.describe(
        condition.params.model_validate({"q": "José", "fields": ["email", "custom.notes"]})
    ) == "mentions every word of 'José' (ignoring case and accents) in email, every custom field"
    assert condition.describe(
        condition.params.model_validate({"q": "José", "fields": ["custom.notes"], "custom_fields": False})
    ) == "mentions every word of 'José' (ignoring case and accents) in custom.notes"


@pytest.mark.parametrize(("params", "where", "says"), [
    ({"q": ""}, "/search/q", "at least 1 character"),
    ({"q": "   "}, "/search/q", "no words"),
    ({"q": "\u0301\u0301"}, "/search/q", "no words"),
    ({"q": " ".join("abcdefghijk")}, "/search/q", "11 words; the limit is 10"),
    ({"q": "x" * 201}, "/search/q", "at most 200 characters"),
    ({"q": 5}, "/search/q", "valid string"),
    ({"q": "acme", "fields": []}, "/search/fields", "at least 1 item"),
    ({"q": "acme", "fields": ["attributes.email"]}, "/search/fields/0", "path under 'attributes'"),
    ({"q": "acme", "fields": ["a b"]}, "/search/fields/0", "not a valid path"),
    ({"q": "acme", "in": ["email"]}, "/search/in", "unknown parameter"),
    ({"q": "acme", "custom_fields": "no"}, "/search/custom_fields", "valid boolean"),
])
def test_bad_params_are_located(params: dict[str, Any], where: str, says: str) -> None:
    with pytest.raises(RuleValidationError) as caught:
        parse_rule({"search": params}, HOST)
    assert [e.path for e in caught.value.errors] == [where]
    assert says in caught.value.errors[0].message


def test_fold_is_the_documented_normalisation() -> None:
    assert search.fold("Ǆemal ĲSSEL Ærø") == "dzemal ijssel ærø"
    assert search.fold("plain ASCII") == "plain ascii"


def test_the_acme_template_finds_the_demo_contacts_at_acme() -> None:
    from growthos_segments.devstack.demo_data import generate
    from growthos_segments.plugins import default_host

    host = default_host(load_entry_points=False)
    condition = host.condition_types["search"]
    params = condition.params.model_validate(host.templates["mentions_acme"].rule["search"])
    predicate = condition.compile(params)
    contacts = generate("demo", 400, now=NOW).contacts
    members = {c["contact_id"] for c in contacts if predicate(ContactView(c), NOW)[0]}
    at_acme = {c["contact_id"] for c in contacts if c["attributes"]["email"].endswith("@acme.io")}
    assert members == at_acme  # no demo name or company says acme
    assert 0 < len(members) < len(contacts)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=24))
def test_folding_by_character_is_folding_the_whole_text(text: str) -> None:
    """The per-character table the predicate folds by gives the definition's answer."""
    whole = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    assert search.fold(text) == whole.casefold()
