"""Contact-data conditions: attribute fields, tags, lists and suppression flags.

Condition types (all in category ``contact``)::

    {"attribute": {"field": "plan", "op": "equals", "value": "free"}}
    {"attribute": {"field": "custom.interests", "op": "contains_any", "values": ["automation"]}}
    {"attribute": {"field": "signup_date", "op": "within_last", "amount": 7, "unit": "days"}}
    {"tag": {"match": "any", "tags": ["vip", "beta"]}}
    {"list": {"match": "none", "lists": ["churned-2026"]}}
    {"suppression": {"flag": "unsubscribed"}}            # flag is true
    {"suppression": {"flag": "bounced", "value": false}} # flag is not true
    {"suppression": {"status": ["bounced", "complained"]}}

``attribute`` takes every operator of :mod:`growthos_segments.kit.operators` (whose module
docstring holds the table of results for missing, null and wrong-kind values).
``field`` is a dotted path under ``attributes``: ``plan``, ``custom.plan_type``.
The path is resolved at compile time into the cheapest getter (a top-level field
is one ``dict.get``), so the per-contact cost is that lookup plus the operator.

``tag`` and ``list`` compare exact strings (optionally ignoring case): ``any``
is true when the contact has at least one of them, ``all`` when every one,
``none`` is the exact negation of ``any``, so it holds for a contact with no
tags or lists at all.

``suppression`` reads ``suppression.<flag>`` (true only for JSON ``true``; a
missing flag, null or ``"yes"`` is not set, and ``value: false`` is the exact
negation) or ``suppression.status`` (equal to the string, or one of the list).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, Field, RootModel, StrictBool, StrictStr, model_validator

from growthos_segments.core.limits import DEFAULT_LIMITS
from growthos_segments.core.view import resolve_path
from growthos_segments.kit import (
    MISSING,
    ConditionType,
    ContactView,
    Predicate,
    Reads,
    Result,
    hookimpl,
)
from growthos_segments.kit.operators import (
    ContainsTest,
    compile_value_test,
    describe_value_test,
    flat_union,
)
from growthos_segments.kit.params import ParamsModel

if TYPE_CHECKING:
    from growthos_segments.kit.sql import SqlForm

CATEGORY = "contact"
MAX_PATH_LENGTH = 128
MAX_PATH_DEPTH = 8
_PATH_RE = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\Z")
PATH_PATTERN = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"


def _check_path(path: str) -> str:
    if len(path) > MAX_PATH_LENGTH:
        raise ValueError(f"field path is {len(path)} characters; the limit is {MAX_PATH_LENGTH}")
    if path == "attributes" or path.startswith("attributes."):
        raise ValueError(
            "field is a path under 'attributes': write 'plan' or 'custom.plan_type', "
            "not 'attributes.plan'"
        )
    if not _PATH_RE.match(path):
        raise ValueError(
            f"field {path!r} is not a valid path: use letters, digits, '_' and '-', with dots "
            "between nested names (e.g. 'city' or 'custom.plan_type')"
        )
    if path.count(".") >= MAX_PATH_DEPTH:
        raise ValueError(f"field {path!r} is nested too deeply; the limit is {MAX_PATH_DEPTH} levels")
    return path


AttributePath = Annotated[
    StrictStr,
    Field(
        min_length=1,
        description="dotted path under the contact's attributes, e.g. 'plan' or 'custom.plan_type'",
        json_schema_extra={"pattern": PATH_PATTERN, "maxLength": MAX_PATH_LENGTH},
    ),
    AfterValidator(_check_path),
]
Name = Annotated[StrictStr, Field(min_length=1, max_length=DEFAULT_LIMITS.max_string_length)]
Names = Annotated[list[Name], Field(min_length=1, max_length=DEFAULT_LIMITS.max_list_length)]


class AttributeField(ParamsModel):
    """A test on one contact attribute (standard or ``custom.*``)."""

    field: AttributePath


AttributeParams = flat_union(AttributeField, "Attribute")
"""``{"field": <path>, "op": <operator>, ...that operator's fields}``."""


# --------------------------------------------------------------------------- attribute


def _nested_getter(parts: tuple[str, ...]) -> Callable[[ContactView], Any]:
    """Lookup for a nested path; ``custom.x`` (two levels) is the common case, so it is unrolled."""
    if len(parts) == 2:
        outer, inner = parts

        def two_levels(view: ContactView) -> Any:
            parent = view.attributes.get(outer)
            if type(parent) is dict or isinstance(parent, Mapping):  # the ABC check is slow
                return parent.get(inner, MISSING)
            return MISSING

        return two_levels
    return lambda view: resolve_path(view.attributes, parts)


def attribute_getter(field: str) -> Callable[[ContactView], Any]:
    """The cheapest lookup of a validated path under ``attributes`` (``MISSING`` where it
    is absent), for other conditions reading attribute paths."""
    parts = tuple(field.split("."))
    if len(parts) == 1:
        (key,) = parts
        return lambda view: view.attributes.get(key, MISSING)
    return _nested_getter(parts)


def _compile_attribute(params: RootModel[Any]) -> Predicate:
    test = params.root
    fn = compile_value_test(test)
    parts = tuple(test.field.split("."))
    if len(parts) == 1:
        # Top-level fields are most rules' bread and butter: one dict.get, no getter call.
        (key,) = parts

        def attribute(view: ContactView, now: datetime) -> Result:
            return fn(view.attributes.get(key, MISSING), now)

        return attribute
    get = _nested_getter(parts)

    def nested_attribute(view: ContactView, now: datetime) -> Result:
        return fn(get(view), now)

    return nested_attribute


def _reads_attribute(params: RootModel[Any]) -> Reads:
    return Reads(attributes=frozenset({f"attributes.{params.root.field}"}))


def _sql_attribute(params: RootModel[Any]) -> SqlForm | None:
    # kit.sql (and sqlglot) load on the analytical path only: no function's cold start pays for them.
    from growthos_segments.kit.sql import json_at, value_test_form

    test = params.root
    return value_test_form(test, json_at(("attributes", *test.field.split("."))))


def _describe_attribute(params: RootModel[Any]) -> str:
    return f"{params.root.field} {describe_value_test(params.root)}"


ATTRIBUTE = ConditionType(
    name="attribute",
    label="Contact attribute",
    description=(
        "Compare a standard or custom contact field (plan, country, signup_date, "
        "custom.plan_type...) with a value, a list, a pattern, a range or a date window."
    ),
    category=CATEGORY,
    params=AttributeParams,
    compile=_compile_attribute,
    reads=_reads_attribute,
    describe=_describe_attribute,
    bulk_compile=_sql_attribute,
    examples=(
        {"field": "plan", "op": "equals", "value": "free"},
        {"field": "country", "op": "in", "values": ["GB", "IE"]},
        {"field": "email", "op": "ends_with", "value": "@example.com", "case_insensitive": True},
        {"field": "email", "op": "matches", "pattern": "^[^@]+@(gmail|googlemail)\\.com$"},
        {"field": "custom.interests", "op": "contains_any", "values": ["automation", "analytics"]},
        {"field": "custom.seats", "op": "between", "min": 5, "max": 50},
        {"field": "signup_date", "op": "within_last", "amount": 7, "unit": "days"},
        {"field": "custom.trial_ends", "op": "next_days", "days": 3, "tz": "Europe/London"},
        {"field": "custom.birthday", "op": "anniversary", "period": "today", "tz": "America/New_York"},
        {"field": "city", "op": "not_exists"},
    ),
)


# --------------------------------------------------------------------------- tag and list


class TagParams(ParamsModel):
    """The contact has any / all / none of these tags."""

    match: Literal["any", "all", "none"] = "any"
    tags: Names
    case_insensitive: bool = False


class ListParams(ParamsModel):
    """The contact is in any / all / none of these lists."""

    match: Literal["any", "all", "none"] = "any"
    lists: Names
    case_insensitive: bool = False


def _membership_test(match: str, names: list[str], case_insensitive: bool) -> ContainsTest:
    return ContainsTest(op=f"contains_{match}", values=list(names), case_insensitive=case_insensitive)


def _compile_tag(params: TagParams) -> Predicate:
    fn = compile_value_test(_membership_test(params.match, params.tags, params.case_insensitive))

    def tag(view: ContactView, now: datetime) -> Result:
        return fn(view.tags, now)

    return tag


def _compile_list(params: ListParams) -> Predicate:
    fn = compile_value_test(_membership_test(params.match, params.lists, params.case_insensitive))

    def member(view: ContactView, now: datetime) -> Result:
        return fn(view.lists, now)

    return member


def _sql_membership(field: str, match: str, names: list[str], case_insensitive: bool) -> SqlForm | None:
    from growthos_segments.kit.sql import SqlForm, beyond_ascii, contains_sql, json_at

    value = json_at((field,))
    predicate = contains_sql(f"contains_{match}", value, names, case_insensitive)
    if predicate is None:
        return None
    return SqlForm(predicate, undecided=beyond_ascii(value) if case_insensitive else None)


_MATCH_WORDS = {"any": "any of", "all": "all of", "none": "none of"}


def _case(params: TagParams | ListParams) -> str:
    return " (ignoring case)" if params.case_insensitive else ""


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:5])
    return shown + (f" (+{len(names) - 5} more)" if len(names) > 5 else "")


TAG = ConditionType(
    name="tag",
    label="Tag",
    description="The contact has any, all or none of the given tags.",
    category=CATEGORY,
    params=TagParams,
    compile=_compile_tag,
    reads=lambda params: Reads(attributes=frozenset({"tags"})),
    describe=lambda p: f"has {_MATCH_WORDS[p.match]} the tags {_names(p.tags)}{_case(p)}",
    bulk_compile=lambda p: _sql_membership("tags", p.match, p.tags, p.case_insensitive),
    examples=(
        {"match": "any", "tags": ["vip"]},
        {"match": "all", "tags": ["beta", "power-user"]},
        {"match": "none", "tags": ["do-not-call"], "case_insensitive": True},
    ),
)

LIST = ConditionType(
    name="list",
    label="List membership",
    description="The contact is a member of any, all or none of the given lists.",
    category=CATEGORY,
    params=ListParams,
    compile=_compile_list,
    reads=lambda params: Reads(attributes=frozenset({"lists"})),
    describe=lambda p: f"is in {_MATCH_WORDS[p.match]} the lists {_names(p.lists)}{_case(p)}",
    bulk_compile=lambda p: _sql_membership("lists", p.match, p.lists, p.case_insensitive),
    examples=(
        {"match": "any", "lists": ["launch-2026"]},
        {"match": "none", "lists": ["churned", "competitors"]},
    ),
)


# --------------------------------------------------------------------------- suppression

SuppressionFlag = Literal["unsubscribed", "bounced"]


class SuppressionParams(ParamsModel):
    """Either a suppression flag (is / is not set) or the suppression status (is one of)."""

    flag: SuppressionFlag | None = Field(
        default=None, description="flag under suppression; true only when it is JSON true"
    )
    value: StrictBool = Field(
        default=True, description="with flag: true = the flag is set, false = it is not"
    )
    status: Name | Names | None = Field(
        default=None, description="suppression.status equals this string, or one of this list"
    )

    @model_validator(mode="after")
    def _one_subject(self) -> SuppressionParams:
        if (self.flag is None) == (self.status is None):
            raise ValueError("give exactly one of 'flag' (unsubscribed, bounced) or 'status'")
        if self.status is not None and "value" in self.model_fields_set:
            raise ValueError("'value' goes with 'flag'; for 'status' list the accepted statuses")
        return self


def _compile_suppression(params: SuppressionParams) -> Predicate:
    if params.flag is not None:
        flag = params.flag
        hit, miss = ((True, None), (False, None)) if params.value else ((False, None), (True, None))

        def flagged(view: ContactView, now: datetime) -> Result:
            return hit if view.suppression.get(flag) is True else miss

        return flagged
    accepted = frozenset([params.status] if isinstance(params.status, str) else params.status or ())

    def status(view: ContactView, now: datetime) -> Result:
        current = view.suppression.get("status")
        return (type(current) is str and current in accepted), None

    return status


def _sql_suppression(params: SuppressionParams) -> SqlForm | None:
    from growthos_segments.kit.sql import SqlForm, any_equal, json_at, negate, scalar_equals

    if params.flag is not None:
        flagged = scalar_equals(json_at(("suppression", params.flag)), True)
        assert flagged is not None  # a boolean target always has an exact form
        return SqlForm(flagged if params.value else negate(flagged))
    accepted = [params.status] if isinstance(params.status, str) else list(params.status or ())
    predicate = any_equal(json_at(("suppression", "status")), accepted)
    return None if predicate is None else SqlForm(predicate)


def _reads_suppression(params: SuppressionParams) -> Reads:
    return Reads(attributes=frozenset({f"suppression.{params.flag or 'status'}"}))


def _describe_suppression(params: SuppressionParams) -> str:
    if params.flag is not None:
        return f"is {'' if params.value else 'not '}{params.flag}"
    if isinstance(params.status, str):
        return f"has suppression status {params.status!r}"
    return f"has a suppression status of {_names(list(params.status or ()))}"


SUPPRESSION = ConditionType(
    name="suppression",
    label="Suppression",
    description=(
        "Unsubscribed or bounced flags and the suppression status, e.g. to keep "
        "unsubscribed contacts out of a campaign audience."
    ),
    category=CATEGORY,
    params=SuppressionParams,
    compile=_compile_suppression,
    reads=_reads_suppression,
    describe=_describe_suppression,
    bulk_compile=_sql_suppression,
    examples=(
        {"flag": "unsubscribed"},
        {"flag": "bounced", "value": False},
        {"status": "ok"},
        {"status": ["bounced", "complained"]},
    ),
)


CONDITION_TYPES: tuple[ConditionType[Any], ...] = (ATTRIBUTE, TAG, LIST, SUPPRESSION)


@hookimpl
def register_condition_types(register: Callable[..., None]) -> None:
    register(*CONDITION_TYPES)
