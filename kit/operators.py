"""Value operators: one test applied to one raw value, shared by every plugin that filters values.

The attributes plugin uses them on contact fields; the behavioural plugins reuse
them on event properties. A test is a small pydantic model picked by ``op`` (a
discriminated union, so each operator's JSON Schema shows only its own fields)
and :func:`compile_value_test` turns it, once per rule version, into a plain
``fn(value, now) -> (match, recheck_at)`` whose per-call work is a type check
and a compare or two: strings are casefolded, sets built, dates parsed and
regexes compiled at compile time, never per contact.

Public API (keep it small; other plugins depend on it):

- :data:`ValueTest` / :data:`VALUE_TEST_MODELS`: the params models;
- :func:`compile_value_test`, :func:`describe_value_test`;
- :func:`flat_union`: the union of ``extra fields + each test model``, for
  condition params that read ``{"field": "plan", "op": "equals", ...}``;
- :data:`TIME_BASED_OPS`: operators whose result can change with time alone;
- :class:`ValueTestModel`, :class:`OperatorTable`, :func:`value_operator`:
  how an operator is defined and registered.

Adding an operator is one class below: a :class:`ValueTestModel` subclass
decorated with :func:`value_operator`, whose ``op`` literal names its
operators, whose fields are its params (their JSON Schema is the rule
builder's form), whose ``phrases`` word each operator, whose ``time_based``
says whether time alone changes its result, and whose ``compile`` builds its
function. The params union, the time-based set, compilation and wording all
follow from that class; document its results in the table here.

Value kinds (JSON keeps them apart, so do we; nothing is coerced):

- *string* ``str``; *number* ``int``/``float``/``Decimal`` (DynamoDB) but never
  ``bool`` (Python's ``True == 1`` is deliberately ignored); *boolean* ``bool``;
  *list* ``list``/``tuple``/``set``/``frozenset`` (multi-select fields, tags);
- *instant*: an ISO-8601 date-time, a calendar date (``"2026-10-02"``, midnight
  in the test's ``tz``) or Unix epoch seconds (not booleans) — read by
  :func:`growthos_segments.core.timeutil.parse_instant`;
- ``MISSING`` (field absent) and ``None`` (stored null) are never of any kind.

Results per operator. "wrong kind" includes MISSING and null. Every ``not_*``
operator, ``contains_none`` and ``not_exists`` is the exact negation of its
positive twin for every input, so it is TRUE on a missing field; every other
operator is FALSE on a missing, null or wrong-kind value. Only the time-based
operators ever return a ``recheck_at``; all others return ``None``.

=================================  ======================================  ===========================
op                                 true when the value ...                 missing / null / wrong kind
=================================  ======================================  ===========================
equals / not_equals                is of the target's kind and equal       False / True
                                   (numbers: ``1 == 1.0``; strings
                                   optionally casefolded)
in / not_in                        is a scalar equal to one of ``values``  False / True
                                   (a list value is the wrong kind: use
                                   ``contains_any``)
contains / not_contains            string: has the substring; list: has    False / True
                                   an element equal to ``value``
starts_with / not_starts_with      is a string with that prefix            False / True
ends_with / not_ends_with          is a string with that suffix            False / True
matches / not_matches              is a string the RE2 pattern finds       False / True
                                   (search, not anchored: use ``^…$``)
contains_any / contains_none       is a list with some / no element in     False / True
                                   ``values``
contains_all                       is a list holding every one of          False
                                   ``values``
greater_than ... less_or_equal     number target: is a number compared     False
                                   so; date target: is an instant compared
                                   so (a calendar-date target means the
                                   whole day in ``tz``: ``greater_than
                                   2026-10-31`` is "from Nov 1 on",
                                   ``less_or_equal`` includes all of Oct
                                   31)
between / not_between              ``min <= value <= max``, inclusive (a    False / True
                                   calendar-date max includes that day)
exists / not_exists                is present, not null, not ``""`` and     False / True
                                   not an empty list or object
within_last N unit                 is an instant in ``(now-N, now]``       False
more_than_ago N unit               is an instant ``<= now-N`` (N or more)  False
within_next N unit                 is an instant in ``(now, now+N]``       False
last_days N                        its calendar date in ``tz`` is between  False
                                   today-N and today (inclusive)
next_days N                        its calendar date in ``tz`` is between  False
                                   today and today+N (inclusive)
anniversary (period)               its month/day falls today / this ISO    False
                                   week (Mon-Sun) / this month / exactly
                                   N days from today / within the next N
                                   days, calendar in ``tz``
=================================  ======================================  ===========================

Time semantics. ``now`` is an aware UTC instant. Windows are half-open so that
``recheck_at`` is exact: ``within_last`` matches for ``now`` in ``[v, v+N)``
(a value exactly N ago has left the window, a value in the future has not
entered it yet: it enters at ``v``); ``more_than_ago`` and ``within_last``
partition the past exactly; ``within_next`` matches for ``now`` in
``[v-N, v)``. ``recheck_at`` is the first instant at which the result differs
(``None`` if it never will): e.g. ``v+N`` while within the last N, ``v`` for a
future value. Rolling units are fixed lengths (a day is 24 h even across a DST
change); the calendar operators (``last_days``, ``next_days``, ``anniversary``)
count local calendar days in ``tz`` and change at local midnight (the first
instant of the local day, which a DST gap can move). Date-only values are
calendar dates in ``tz``. Anniversaries ignore the year (the original date
itself counts); a Feb 29 date is celebrated on Feb 28 in non-leap years.
Values a date operator cannot parse give ``(False, None)``.
"""

from __future__ import annotations

import operator as _operator
import re
from abc import abstractmethod
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from functools import lru_cache, reduce
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_args

import re2
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StrictBool,
    StrictInt,
    StrictStr,
    create_model,
    model_validator,
)

from growthos_segments.core.errors import field_error
from growthos_segments.core.limits import DEFAULT_LIMITS, MAX_SPAN
from growthos_segments.core.regex import SafeRegex, compile_safe_regex
from growthos_segments.core.timeutil import parse_instant, zone
from growthos_segments.core.values import plain_number
from growthos_segments.core.view import MISSING

__all__ = [
    "TIME_BASED_OPS",
    "VALUE_OPERATORS",
    "VALUE_TEST_MODELS",
    "AnniversaryTest",
    "BetweenTest",
    "CalendarDaysTest",
    "CompareTest",
    "ContainsTest",
    "EqualsTest",
    "ExistsTest",
    "InTest",
    "OperatorTable",
    "RegexTest",
    "RelativeTest",
    "TextTest",
    "ValueFn",
    "ValueTest",
    "ValueTestModel",
    "compile_value_test",
    "describe_value_test",
    "flat_union",
    "value_operator",
]

ValueFn = Callable[[Any, datetime], tuple[bool, "datetime | None"]]
"""``fn(raw_value, now) -> (match, recheck_at)``; ``raw_value`` may be ``MISSING``."""

_TRUE: tuple[bool, None] = (True, None)
_FALSE: tuple[bool, None] = (False, None)
_SEQ_TYPES = frozenset({list, tuple, set, frozenset})
_NOKEY = object()  # the key of a value no target can equal (dicts, null, NaN Decimals)
_BOOL_KEYS = {True: ("bool", True), False: ("bool", False)}  # keeps True apart from 1
_MAX_STR = DEFAULT_LIMITS.max_string_length
_MAX_LIST = DEFAULT_LIMITS.max_list_length
_DAY = timedelta(days=1)
_MICRO = timedelta(microseconds=1)
_DATE_ONLY_RE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")

# --------------------------------------------------------------------------- param types


def _check_zone(name: str) -> str:
    zone(name)  # raises ValueError("unknown time zone ...")
    return name


def _check_date_text(text: str) -> str:
    if parse_instant(text) is None:
        raise ValueError(
            f"{text!r} is not an ISO-8601 date ('2026-10-02') or date-time "
            "('2026-10-02T09:00:00Z')"
        )
    return text


FiniteFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Text = Annotated[StrictStr, Field(max_length=_MAX_STR)]
Needle = Annotated[StrictStr, Field(min_length=1, max_length=_MAX_STR)]
Scalar = Text | StrictInt | FiniteFloat | StrictBool
"""A JSON string, number or boolean (never null: use ``exists``/``not_exists``)."""
ScalarList = Annotated[list[Scalar], Field(min_length=1, max_length=_MAX_LIST)]
DateText = Annotated[
    StrictStr,
    Field(max_length=64, description="ISO-8601 date (a whole calendar day) or date-time"),
    AfterValidator(_check_date_text),
]
NumberOrDate = StrictInt | FiniteFloat | DateText
TimeZoneName = Annotated[
    str,
    Field(max_length=64, description="IANA time zone, e.g. 'Europe/London'"),
    AfterValidator(_check_zone),
]
CaseInsensitive = Annotated[bool, Field(description="compare strings ignoring case (casefold)")]


# --------------------------------------------------------------------------- the registry


class ValueTestModel(BaseModel):
    """One group of value operators: its params, wording, time behaviour and compiled form.

    Subclasses declare ``op: Literal[...]`` (the operators of the group), their
    params as fields, ``phrases`` (``{op: wording}``, formatted with the
    params) and ``compile``; ``time_based`` is true when the result can change
    with time alone (it may then return a ``recheck_at``, and it is refused in
    event ``where`` filters).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    phrases: ClassVar[Mapping[str, str]]
    time_based: ClassVar[bool] = False

    @abstractmethod
    def compile(self) -> ValueFn:
        """``fn(value, now) -> (match, recheck_at)``, pure and never raising on a stored value.

        Called once per rule version: parse, casefold and build sets here, so
        that the returned function is a type check and a compare or two.
        """

    def describe(self) -> str:
        """Human wording of the test, without its subject: ``"is within the last 7 days"``."""
        data = self.model_dump()
        if "amount" in data:
            data["span"] = _count(data["amount"], data["unit"])
        elif data.get("days") is not None:
            data["span"] = _count(data["days"], "days")
        text = self._phrase(data)
        if data.get("case_insensitive"):
            text += " (ignoring case)"
        if data.get("tz", "UTC") != "UTC":
            text += f" ({data['tz']})"
        return text

    def _phrase(self, data: dict[str, Any]) -> str:
        shown = {
            k: _show_all(v) if isinstance(v, list) else v if k in ("pattern", "span") else _show(v)
            for k, v in data.items()
        }
        return self.phrases[data["op"]].format(**shown)


M = TypeVar("M", bound=type[ValueTestModel])


class OperatorTable:
    """An ordered set of operator groups; every form the engine needs is derived from it."""

    def __init__(self) -> None:
        self._models: list[type[ValueTestModel]] = []

    def register(self, model: M) -> M:
        """Add a group (usable as a class decorator); its operators must be new and worded."""
        ops = get_args(model.model_fields["op"].annotation)
        if not ops or set(ops) != set(model.phrases):
            raise TypeError(f"{model.__name__}: 'op' literal {sorted(ops)} and phrases "
                            f"{sorted(model.phrases)} must name the same operators")
        taken = set(ops) & {op for known in self._models for op in known.phrases}
        if taken:
            raise TypeError(f"{model.__name__}: operator {sorted(taken)[0]!r} is already registered")
        if getattr(model, "__abstractmethods__", None):
            raise TypeError(f"{model.__name__} does not define compile()")
        self._models.append(model)
        return model

    @property
    def models(self) -> tuple[type[ValueTestModel], ...]:
        return tuple(self._models)

    def union(self) -> Any:
        """Any one test of the table, chosen by ``op`` (a discriminated union)."""
        return Annotated[reduce(_operator.or_, self._models), Field(discriminator="op")]

    def time_based_ops(self) -> frozenset[str]:
        return frozenset(op for model in self._models if model.time_based for op in model.phrases)

    def flat_union(self, extra: type[BaseModel], name: str) -> type[RootModel[Any]]:
        """The params model ``extra fields + one value test``, flattened into one object.

        Each variant subclasses both ``extra`` and a test model, so a compiled
        instance is itself a test (``compile_value_test(params.root)`` works) and
        rules read ``{"field": "plan", "op": "equals", "value": "free"}`` with no
        nesting. Variants are named ``name + operator group`` (``AttributeEquals``) in
        the JSON Schema.
        """
        variants = [
            create_model(
                f"{name}{model.__name__.removesuffix('Test')}",
                __base__=(model, extra),
                __module__=extra.__module__,
                __doc__=model.__doc__,
            )
            for model in self._models
        ]
        union: Any = reduce(_operator.or_, variants)
        root: type[RootModel[Any]] = type(
            name,
            (RootModel[Annotated[union, Field(discriminator="op")]],),
            {"__module__": extra.__module__, "__doc__": extra.__doc__},
        )
        return root


VALUE_OPERATORS = OperatorTable()
"""The value operators of the engine, in the order their JSON Schemas list them."""

value_operator = VALUE_OPERATORS.register
"""Class decorator adding an operator group to :data:`VALUE_OPERATORS`."""


# --------------------------------------------------------------------------- the operators


@value_operator
class EqualsTest(ValueTestModel):
    """Is (not) exactly this string, number or boolean. E.g. {"op": "equals", "value": "free"}"""

    phrases = {"equals": "is {value}", "not_equals": "is not {value}"}

    op: Literal["equals", "not_equals"]
    value: Scalar
    case_insensitive: CaseInsensitive = False

    def compile(self) -> ValueFn:
        hit, miss = _outcomes(self.op == "not_equals")
        target = self.value
        if type(target) is str:
            if self.case_insensitive:
                folded = target.casefold()

                def equals_folded(value: Any, now: datetime) -> tuple[bool, None]:
                    return hit if type(value) is str and value.casefold() == folded else miss

                return equals_folded

            def equals_text(value: Any, now: datetime) -> tuple[bool, None]:
                return hit if type(value) is str and value == target else miss

            return equals_text
        if type(target) is bool:

            def equals_bool(value: Any, now: datetime) -> tuple[bool, None]:
                return hit if value is target else miss

            return equals_bool

        def equals_number(value: Any, now: datetime) -> tuple[bool, None]:
            kind = type(value)
            if kind is int or kind is float:
                return hit if value == target else miss
            if kind is Decimal:
                return hit if plain_number(value) == target else miss
            return miss

        return equals_number


@value_operator
class InTest(ValueTestModel):
    """Is (not) one of these values. E.g. {"op": "in", "values": ["free", "trial"]}"""

    phrases = {"in": "is one of {values}", "not_in": "is none of {values}"}

    op: Literal["in", "not_in"]
    values: ScalarList
    case_insensitive: CaseInsensitive = False

    def compile(self) -> ValueFn:
        hit, miss = _outcomes(self.op == "not_in")
        keys = _target_keys(self.values, self.case_insensitive)
        key = _folded_key if self.case_insensitive else _key

        def one_of(value: Any, now: datetime) -> tuple[bool, None]:
            return hit if key(value) in keys else miss

        return one_of


@value_operator
class TextTest(ValueTestModel):
    """Text test; on a list, contains means has that element.
    E.g. {"op": "ends_with", "value": "@example.com", "case_insensitive": true}"""

    phrases = {
        "contains": "contains {value}",
        "not_contains": "does not contain {value}",
        "starts_with": "starts with {value}",
        "not_starts_with": "does not start with {value}",
        "ends_with": "ends with {value}",
        "not_ends_with": "does not end with {value}",
    }

    op: Literal[
        "contains", "not_contains", "starts_with", "not_starts_with", "ends_with", "not_ends_with"
    ]
    value: Needle
    case_insensitive: CaseInsensitive = False

    def compile(self) -> ValueFn:
        negate = self.op.startswith("not_")
        hit, miss = _outcomes(negate)
        kind = self.op.removeprefix("not_")
        folding = self.case_insensitive
        needle = self.value.casefold() if folding else self.value

        def text_of(value: str) -> str:
            return value.casefold() if folding else value

        if kind == "contains":

            def contains(value: Any, now: datetime) -> tuple[bool, None]:
                vtype = type(value)
                if vtype is str:
                    return hit if needle in text_of(value) else miss
                if vtype in _SEQ_TYPES:
                    for item in value:
                        if type(item) is str and text_of(item) == needle:
                            return hit
                return miss

            return contains
        method = str.startswith if kind == "starts_with" else str.endswith

        def affix(value: Any, now: datetime) -> tuple[bool, None]:
            return hit if type(value) is str and method(text_of(value), needle) else miss

        return affix


@value_operator
class RegexTest(ValueTestModel):
    """Text (not) found by an RE2 regular expression. E.g. {"op": "matches", "pattern": "^\\\\+44"}"""

    phrases = {"matches": "matches /{pattern}/", "not_matches": "does not match /{pattern}/"}

    op: Literal["matches", "not_matches"]
    pattern: Annotated[SafeRegex, Field(min_length=1, description="RE2 pattern, searched")]
    case_insensitive: CaseInsensitive = False

    def compile(self) -> ValueFn:
        hit, miss = _outcomes(self.op == "not_matches")
        find = _regex_finder(self.pattern, self.case_insensitive)

        def matches(value: Any, now: datetime) -> tuple[bool, None]:
            if type(value) is not str:
                return miss
            try:
                return hit if find(value) else miss
            except UnicodeEncodeError:  # a lone surrogate cannot be UTF-8 for RE2: no match
                return miss

        return matches


@value_operator
class ContainsTest(ValueTestModel):
    """A list / multi-select value holds any, all or none of these.
    E.g. {"op": "contains_any", "values": ["automation", "analytics"]}"""

    phrases = {
        "contains_any": "contains any of {values}",
        "contains_all": "contains all of {values}",
        "contains_none": "contains none of {values}",
    }

    op: Literal["contains_any", "contains_all", "contains_none"]
    values: ScalarList
    case_insensitive: CaseInsensitive = False

    def compile(self) -> ValueFn:
        hit, miss = _outcomes(self.op == "contains_none")
        keys = _target_keys(self.values, self.case_insensitive)
        key = _folded_key if self.case_insensitive else _key
        if self.op == "contains_all":

            def contains_all(value: Any, now: datetime) -> tuple[bool, None]:
                if type(value) not in _SEQ_TYPES:
                    return _FALSE
                return _TRUE if keys.issubset(map(key, value)) else _FALSE

            return contains_all

        def contains_any(value: Any, now: datetime) -> tuple[bool, None]:
            if type(value) in _SEQ_TYPES:
                for item in value:
                    if key(item) in keys:
                        return hit
            return miss

        return contains_any


@value_operator
class CompareTest(ValueTestModel):
    """Number or date comparison; a date-only value means that whole day.
    E.g. {"op": "greater_or_equal", "value": 8} or {"op": "less_than", "value": "2026-01-01"}"""

    phrases = {
        "greater_than": "is greater than {value}",
        "greater_or_equal": "is at least {value}",
        "less_than": "is less than {value}",
        "less_or_equal": "is at most {value}",
    }

    op: Literal["greater_than", "greater_or_equal", "less_than", "less_or_equal"]
    value: NumberOrDate
    tz: TimeZoneName = "UTC"

    def compile(self) -> ValueFn:
        if not isinstance(self.value, str):
            return _number_compare(_COMPARE[self.op], self.value)
        bounds = self.instant_bounds()
        return _never if bounds is None else _instant_check(*bounds, zone(self.tz))

    def instant_bounds(self) -> tuple[datetime | None, datetime | None] | None:
        """For a date target: the inclusive ``(low, high)`` instants a value must fall
        within (``None``: open), or ``None`` when no instant can match."""
        tz = zone(self.tz)
        assert isinstance(self.value, str)
        low, high = _date_lower_bound(self.value, tz), _date_upper_bound(self.value, tz)
        # On datetimes (µs resolution) "after X" is ">= X + 1µs" and "before X" "<= X - 1µs";
        # a calendar-date target's bounds already span its whole day.
        try:
            if self.op == "greater_than":
                return None if high is None else (high + _MICRO, None)
            if self.op == "less_than":
                return None if low is None else (None, low - _MICRO)
        except OverflowError:  # a target at the very edge of datetime's range
            return None
        if self.op == "greater_or_equal":
            return low, None
        return None, high


@value_operator
class BetweenTest(ValueTestModel):
    """Inclusive range of numbers or of dates. E.g. {"op": "between", "min": 1, "max": 5}"""

    phrases = {
        "between": "is between {min} and {max}",
        "not_between": "is not between {min} and {max}",
    }

    op: Literal["between", "not_between"]
    min: NumberOrDate
    max: NumberOrDate
    tz: TimeZoneName = "UTC"

    @model_validator(mode="after")
    def _ordered(self) -> BetweenTest:
        low_is_date, high_is_date = isinstance(self.min, str), isinstance(self.max, str)
        if low_is_date != high_is_date:
            raise ValueError("min and max must both be numbers or both be dates")
        if low_is_date:
            tz = zone(self.tz)
            low, high = _date_lower_bound(self.min, tz), _date_upper_bound(self.max, tz)
            if low is None or high is None:
                edge = self.min if low is None else self.max
                raise ValueError(f"{edge!r} is too close to year 1 or 9999 to compare in {self.tz}")
            ordered = low <= high
        else:
            ordered = self.min <= self.max
        if not ordered:
            raise ValueError(f"min ({self.min!r}) is after max ({self.max!r})")
        return self

    def instant_bounds(self) -> tuple[datetime | None, datetime | None]:
        """For dates: the inclusive ``(low, high)`` instants (a calendar-date max ends with its day)."""
        tz = zone(self.tz)
        assert isinstance(self.min, str) and isinstance(self.max, str)
        return _date_lower_bound(self.min, tz), _date_upper_bound(self.max, tz)

    def compile(self) -> ValueFn:
        hit, miss = _outcomes(self.op == "not_between")
        if isinstance(self.min, str):
            inner = _instant_check(*self.instant_bounds(), zone(self.tz))

            def between_dates(value: Any, now: datetime) -> tuple[bool, None]:
                return hit if inner(value, now)[0] else miss

            return between_dates
        low, high = self.min, self.max

        def between_numbers(value: Any, now: datetime) -> tuple[bool, None]:
            kind = type(value)
            if kind is int or kind is float:
                return hit if low <= value <= high else miss
            if kind is Decimal:
                number = plain_number(value)
                return hit if number is not None and low <= number <= high else miss
            return miss

        return between_numbers


@value_operator
class ExistsTest(ValueTestModel):
    """Has a value: present, not null, not an empty string, list or object. E.g. {"op": "exists"}"""

    phrases = {"exists": "is known", "not_exists": "is unknown"}

    op: Literal["exists", "not_exists"]

    def compile(self) -> ValueFn:
        hit, miss = _outcomes(self.op == "not_exists")

        def exists(value: Any, now: datetime) -> tuple[bool, None]:
            if value is MISSING or value is None:
                return miss
            kind = type(value)
            if (kind is str or kind is dict or kind in _SEQ_TYPES) and not value:
                return miss
            return hit

        return exists


_UNIT = {
    "minutes": timedelta(minutes=1),
    "hours": timedelta(hours=1),
    "days": timedelta(days=1),
    "weeks": timedelta(weeks=1),
}


@value_operator
class RelativeTest(ValueTestModel):
    """Rolling time window relative to now (a day is 24 h).
    E.g. {"op": "within_last", "amount": 7, "unit": "days"}"""

    phrases = {
        "within_last": "is within the last {span}",
        "more_than_ago": "is {span} ago or more",
        "within_next": "is within the next {span}",
    }
    time_based = True

    op: Literal["within_last", "more_than_ago", "within_next"]
    amount: Annotated[StrictInt, Field(ge=1, description=(
        f"at most 100 years: {MAX_SPAN.days:,} days, {MAX_SPAN // _UNIT['weeks']:,} weeks, "
        f"{MAX_SPAN // _UNIT['hours']:,} hours or {MAX_SPAN // _UNIT['minutes']:,} minutes"))]
    unit: Literal["minutes", "hours", "days", "weeks"] = "days"
    tz: TimeZoneName = "UTC"

    @model_validator(mode="after")
    def _bounded(self) -> RelativeTest:
        # Compared as integers: amount * unit could itself overflow a timedelta.
        most = MAX_SPAN // _UNIT[self.unit]
        if self.amount > most:
            raise field_error("amount", f"{self.amount} {self.unit} is longer than 100 years; "
                                        f"the limit is {most:,} {self.unit}")
        return self

    def compile(self) -> ValueFn:
        span = self.amount * _UNIT[self.unit]
        tz = zone(self.tz)
        cache = _instant_cache(tz)

        # The three closures inline the cached parse: it is half of their cost otherwise.
        if self.op == "within_last":

            def within_last(value: Any, now: datetime) -> tuple[bool, datetime | None]:
                if type(value) is str:
                    moment = cache.get(value, _UNSEEN)
                    if moment is _UNSEEN:
                        moment = _remember(cache, value, tz)
                else:
                    moment = parse_instant(value, tz)
                if moment is None:
                    return _FALSE
                if moment > now:
                    return False, moment  # enters the window when it stops being in the future
                if now - moment < span:
                    return True, _plus(moment, span)
                return _FALSE

            return within_last

        if self.op == "more_than_ago":

            def more_than_ago(value: Any, now: datetime) -> tuple[bool, datetime | None]:
                if type(value) is str:
                    moment = cache.get(value, _UNSEEN)
                    if moment is _UNSEEN:
                        moment = _remember(cache, value, tz)
                else:
                    moment = parse_instant(value, tz)
                if moment is None:
                    return _FALSE
                if now - moment >= span:
                    return _TRUE
                return False, _plus(moment, span)

            return more_than_ago

        def within_next(value: Any, now: datetime) -> tuple[bool, datetime | None]:
            if type(value) is str:
                moment = cache.get(value, _UNSEEN)
                if moment is _UNSEEN:
                    moment = _remember(cache, value, tz)
            else:
                moment = parse_instant(value, tz)
            if moment is None or moment <= now:
                return _FALSE
            if moment - now <= span:
                return True, moment
            return False, moment - span

        return within_next


@value_operator
class CalendarDaysTest(ValueTestModel):
    """Calendar days in tz, today included: between N days ago and today, or today and N days
    from now. E.g. {"op": "next_days", "days": 7, "tz": "Europe/London"}"""

    phrases = {
        "last_days": "is between {span} ago and today",
        "next_days": "is between today and {span} from now",
    }
    time_based = True

    op: Literal["last_days", "next_days"]
    days: Annotated[StrictInt, Field(ge=0, le=MAX_SPAN.days)]
    tz: TimeZoneName = "UTC"

    def compile(self) -> ValueFn:
        tz = zone(self.tz)
        span = timedelta(days=self.days)
        upcoming = self.op == "next_days"

        def calendar_days(value: Any, now: datetime) -> tuple[bool, datetime | None]:
            day = _local_date(value, tz)
            if day is None:
                return _FALSE
            today = _local_day(now, tz)
            # The value matches on the local days [first, last]; flips at their edges.
            try:
                first, last = (day - span, day) if upcoming else (day, day + span)
            except OverflowError:
                first, last = (date.min, day) if upcoming else (day, date.max)
            if today < first:
                return False, _day_start(first, tz)
            if today <= last:
                return True, _next_day_start(last, tz)
            return _FALSE

        return calendar_days

    def _phrase(self, data: dict[str, Any]) -> str:
        return "is today" if self.days == 0 else super()._phrase(data)


@value_operator
class AnniversaryTest(ValueTestModel):
    """Month and day recur today / this week (Mon-Sun) / this month / in exactly N days /
    within the next N days (needs days), in tz; Feb 29 falls on Feb 28 in other years.
    E.g. {"op": "anniversary", "period": "this_month", "tz": "Europe/London"}"""

    phrases = {"anniversary": "has its anniversary {when}"}
    periods: ClassVar[Mapping[str, str]] = {
        "today": "today",
        "this_week": "this week",
        "this_month": "this month",
        "in_days": "in exactly {span}",
        "within_days": "within the next {span}",
    }
    time_based = True

    op: Literal["anniversary"]
    period: Literal["today", "this_week", "this_month", "in_days", "within_days"]
    days: Annotated[StrictInt, Field(ge=0, le=366)] | None = None
    tz: TimeZoneName = "UTC"

    @model_validator(mode="after")
    def _days_fit_period(self) -> AnniversaryTest:
        needs_days = self.period in ("in_days", "within_days")
        if needs_days and self.days is None:
            raise ValueError(f"period {self.period!r} needs 'days' (0-366)")
        if not needs_days and self.days is not None:
            raise ValueError(f"period {self.period!r} takes no 'days'")
        return self

    def compile(self) -> ValueFn:
        tz = zone(self.tz)
        holds, edges = _anniversary_rule(self)

        def holds_on(today: date, month: int, day: int) -> bool:
            years = range(today.year - 1, today.year + 2)
            return any(holds(today, _anniversary_in(y, month, day)) for y in years)

        @lru_cache(maxsize=4096)
        def decide(today: date, month: int, day: int) -> tuple[bool, date | None]:
            match = holds_on(today, month, day)
            flips = sorted(
                edge
                for y in range(today.year - 1, today.year + 4)
                for edge in edges(_anniversary_in(y, month, day))
                if edge > today
            )
            for flip in flips:
                if holds_on(flip, month, day) != match:
                    return match, flip
            return match, None

        def anniversary(value: Any, now: datetime) -> tuple[bool, datetime | None]:
            original = _local_date(value, tz)
            if original is None:
                return _FALSE
            try:
                match, flip = decide(_local_day(now, tz), original.month, original.day)
            except (OverflowError, ValueError):  # a `now` within a year of 0001 or 9999
                return _FALSE
            return match, None if flip is None else _day_start(flip, tz)

        return anniversary

    def _phrase(self, data: dict[str, Any]) -> str:
        return self.phrases["anniversary"].format(when=self.periods[self.period].format(**data))


# --------------------------------------------------------------------------- derived forms

VALUE_TEST_MODELS: tuple[type[ValueTestModel], ...] = VALUE_OPERATORS.models

ValueTest = VALUE_OPERATORS.union()
"""Any one value test, chosen by ``op``."""

TIME_BASED_OPS = VALUE_OPERATORS.time_based_ops()
"""Operators whose result can change with the passage of time alone."""


def flat_union(extra: type[BaseModel], name: str) -> type[RootModel[Any]]:
    """:meth:`OperatorTable.flat_union` over the engine's operators."""
    return VALUE_OPERATORS.flat_union(extra, name)


def compile_value_test(test: BaseModel) -> ValueFn:
    """Compile a validated test (or a :func:`flat_union` variant) into ``fn(value, now)``.

    Call once per rule version; the returned function is pure, never raises on
    any stored value, and returns ``(match, recheck_at)`` as the module table says.
    """
    if not isinstance(test, ValueTestModel):
        raise TypeError(f"not a value test: {type(test).__name__}")
    return test.compile()


def describe_value_test(test: BaseModel) -> str:
    """Human wording of a test, without its subject: ``"is within the last 7 days"``."""
    if not isinstance(test, ValueTestModel):
        raise TypeError(f"not a value test: {type(test).__name__}")
    return test.describe()


# --------------------------------------------------------------------------- kinds and keys


def _key(value: Any) -> Any:
    """A hashable identity for set operators: strings and numbers as is, bools tagged."""
    kind = type(value)
    if kind is str or kind is int or kind is float:
        return value
    if kind is bool:
        return _BOOL_KEYS[value]
    if kind is Decimal:
        number = plain_number(value)
        return _NOKEY if number is None else number
    return _NOKEY


def _folded_key(value: Any) -> Any:
    return value.casefold() if type(value) is str else _key(value)


def _target_keys(values: list[Any], case_insensitive: bool) -> frozenset[Any]:
    key = _folded_key if case_insensitive else _key
    return frozenset(key(v) for v in values)


# --------------------------------------------------------------------------- time helpers


@lru_cache(maxsize=8192)
def _day_start(day: date, tz: tzinfo) -> datetime | None:
    """The first instant whose local date in ``tz`` is ``day`` or later (None past year 9999).

    Local midnight is usually it; a DST gap at midnight moves it to the end of
    the gap (``fold=0`` lands there), and a gap that swallows midnight from the
    day before is found by bisection so ``recheck_at`` is exact in every zone.
    """
    try:
        naive = datetime(day.year, day.month, day.day)
        start = naive.replace(tzinfo=tz).astimezone(UTC)
        if tz is UTC or (start - _MICRO).astimezone(tz).date() < day:
            return start
        low = start - timedelta(days=3)  # local date < day; `start` has local date >= day
        while start - low > _MICRO:
            middle = low + (start - low) // 2
            if middle.astimezone(tz).date() >= day:
                start = middle
            else:
                low = middle
        return start
    except (OverflowError, ValueError):
        return None


def _next_day_start(day: date, tz: tzinfo) -> datetime | None:
    try:
        return _day_start(day + _DAY, tz)
    except OverflowError:
        return None


@lru_cache(maxsize=16384)
def _local_day(moment: datetime, tz: tzinfo) -> date:
    """Local calendar date of an instant; cached because zoneinfo conversion costs ~0.7 µs."""
    return moment.astimezone(tz).date()


@lru_cache(maxsize=16384)
def _local_date_text(text: str, tz: tzinfo) -> date | None:
    if len(text) == 10:  # a calendar date stays that date, whatever the zone
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    return _stored_local_day(parse_instant(text, tz), tz)


def _local_date(value: Any, tz: tzinfo) -> date | None:
    """The calendar date of a stored value in ``tz``; a date-only string is taken as is."""
    if type(value) is str:
        return _local_date_text(value, tz)
    if type(value) is date:
        return value
    return _stored_local_day(parse_instant(value, tz), tz)


def _stored_local_day(moment: datetime | None, tz: tzinfo) -> date | None:
    """A stored instant's local date; None when it falls outside years 1-9999 in ``tz``."""
    if moment is None:
        return None
    try:
        return _local_day(moment, tz)
    except OverflowError:  # 9999-12-31T23:00Z is already year 10000 east of UTC
        return None


def _date_lower_bound(text: str, tz: tzinfo) -> datetime | None:
    """Smallest instant a date target admits: a calendar day starts at its first instant."""
    if _DATE_ONLY_RE.match(text):
        return _day_start(date.fromisoformat(text), tz)
    return parse_instant(text, tz)


def _date_upper_bound(text: str, tz: tzinfo) -> datetime | None:
    """Largest instant a date target admits: a calendar day ends just before the next one."""
    if _DATE_ONLY_RE.match(text):
        following = _next_day_start(date.fromisoformat(text), tz)
        return None if following is None else following - _MICRO
    return parse_instant(text, tz)


# --------------------------------------------------------------------------- builder helpers


def _outcomes(negate: bool) -> tuple[tuple[bool, None], tuple[bool, None]]:
    """(result when the positive test holds, result when it does not)."""
    return (_FALSE, _TRUE) if negate else (_TRUE, _FALSE)


def _regex_finder(pattern: str, case_insensitive: bool) -> Callable[[str], Any]:
    """``finder(text)`` is truthy when the pattern occurs in ``text``.

    A one-pattern RE2 Set answers "is there a match" without computing spans or
    building a Match object: ~1.5 µs per call instead of ~10 µs for ``search``.
    """
    regex = compile_safe_regex(pattern, case_insensitive)  # validated; RE2 linear time
    try:
        finder = re2.Set.SearchSet(regex.options)
        finder.Add(pattern)
        finder.Compile()
    except re2.error:  # not expected for a pattern RE2 compiled; keep the slow path honest
        return regex.search
    return finder.Match


_COMPARE = {
    "greater_than": _operator.gt,
    "greater_or_equal": _operator.ge,
    "less_than": _operator.lt,
    "less_or_equal": _operator.le,
}


def _number_compare(compare: Callable[[Any, Any], bool], target: float) -> ValueFn:
    def compare_number(value: Any, now: datetime) -> tuple[bool, None]:
        kind = type(value)
        if kind is int or kind is float:
            return _TRUE if compare(value, target) else _FALSE
        if kind is Decimal:
            number = plain_number(value)
            return _TRUE if number is not None and compare(number, target) else _FALSE
        return _FALSE

    return compare_number


def _instant_check(low: datetime | None, high: datetime | None, tz: tzinfo) -> ValueFn:
    """``low <= instant <= high`` (either bound may be open), dates parsed in ``tz``."""

    def in_range(value: Any, now: datetime) -> tuple[bool, None]:
        moment = parse_instant(value, tz)
        if moment is None:
            return _FALSE
        if low is not None and moment < low:
            return _FALSE
        if high is not None and moment > high:
            return _FALSE
        return _TRUE

    return in_range


def _never(value: Any, now: datetime) -> tuple[bool, None]:
    return _FALSE


_INSTANT_CACHES: dict[tzinfo, dict[str, datetime | None]] = {}


_INSTANT_CACHE_LIMIT = 65536


_UNSEEN: Any = object()


def _instant_cache(tz: tzinfo) -> dict[str, datetime | None]:
    """Parsed stored timestamps per zone, so a hot rolling window is a dict hit, not a parse.

    ``parse_instant`` is cached too, but reaching its cache costs two calls and a
    strip per value; a hundred segments read the same few timestamps per contact.
    """
    return _INSTANT_CACHES.setdefault(tz, {})


def _remember(cache: dict[str, datetime | None], text: str, tz: tzinfo) -> datetime | None:
    if len(cache) >= _INSTANT_CACHE_LIMIT:  # bounded: start over rather than track recency
        cache.clear()
    moment = cache[text] = parse_instant(text, tz)
    return moment


def _plus(moment: datetime, span: timedelta) -> datetime | None:
    """``moment + span``, or None when that is past year 9999 (so: never)."""
    try:
        return moment + span
    except OverflowError:
        return None


def _anniversary_in(year: int, month: int, day: int) -> date:
    if month == 2 and day == 29 and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        return date(year, 2, 28)
    return date(year, month, day)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _month_after(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def _anniversary_rule(
    test: AnniversaryTest,
) -> tuple[Callable[[date, date], bool], Callable[[date], tuple[date, date]]]:
    """``(holds(today, anniversary), edges(anniversary))`` for one period.

    For each anniversary A the set of days on which the test holds because of A
    is one interval of days; ``edges`` gives its first day and the day after its
    last, the only days on which the result can flip.
    """
    offset = timedelta(days=test.days or 0)
    if test.period == "today":
        return (lambda today, a: a == today), (lambda a: (a, a + _DAY))
    if test.period == "in_days":
        return (lambda today, a: a == today + offset), (lambda a: (a - offset, a - offset + _DAY))
    if test.period == "within_days":
        return (
            (lambda today, a: today <= a <= today + offset),
            (lambda a: (a - offset, a + _DAY)),
        )
    if test.period == "this_week":
        return (
            (lambda today, a: _monday(a) == _monday(today)),
            (lambda a: (_monday(a), _monday(a) + timedelta(days=7))),
        )
    return (
        (lambda today, a: a.year == today.year and a.month == today.month),
        (lambda a: (a.replace(day=1), _month_after(a))),
    )


# --------------------------------------------------------------------------- wording helpers


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    return str(value).lower() if type(value) is bool else str(value)


def _show_all(values: list[Any]) -> str:
    shown = ", ".join(_show(v) for v in values[:5])
    return shown + (f" (+{len(values) - 5} more)" if len(values) > 5 else "")


def _count(amount: int, unit: str) -> str:
    return f"{amount} {unit.removesuffix('s') if amount == 1 else unit}"
