"""Value operators: results, recheck_at and params validation, with hand-checked expectations.

Every expected value here is written out by hand (instants as literals) from the
semantics table in ``kit/operators.py``; none is computed with the code under
test. Calendar facts used: 2026-11-22 is a Sunday; London's clocks go forward on
2026-03-29 at 01:00 UTC and back on 2026-10-25 at 01:00 UTC; Santiago skips
local midnight on 2026-09-06 (the day starts at 04:00 UTC).
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from growthos_segments.core.view import MISSING
from growthos_segments.kit.operators import (
    TIME_BASED_OPS,
    VALUE_TEST_MODELS,
    EqualsTest,
    OperatorTable,
    ValueFn,
    ValueTest,
    ValueTestModel,
    compile_value_test,
    describe_value_test,
    flat_union,
)

ADAPTER: TypeAdapter[Any] = TypeAdapter(ValueTest)
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # a Sunday


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def run(test: dict[str, Any], value: Any, now: datetime = NOW) -> tuple[bool, datetime | None]:
    return compile_value_test(ADAPTER.validate_python(test))(value, now)


def match(test: dict[str, Any], value: Any, now: datetime = NOW) -> bool:
    result, recheck = run(test, value, now)
    if test["op"] not in TIME_BASED_OPS:
        assert recheck is None
    return result


# --------------------------------------------------------------------------- equality


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("free", True),
        ("Free", False),
        ("free ", False),
        (MISSING, False),
        (None, False),
        (5, False),
        (["free"], False),
        ({"plan": "free"}, False),
    ],
)
def test_equals_string_and_its_exact_negation(value: Any, expected: bool) -> None:
    assert match({"op": "equals", "value": "free"}, value) is expected
    assert match({"op": "not_equals", "value": "free"}, value) is (not expected)


def test_equals_case_insensitive_uses_casefold() -> None:
    test = {"op": "equals", "value": "Straße", "case_insensitive": True}
    assert match(test, "STRASSE") is True
    assert match(test, "strasse") is True
    assert match(test, "strase") is False
    assert match(test, MISSING) is False
    assert match({**test, "op": "not_equals"}, "STRASSE") is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, True),
        (1.0, True),
        (Decimal("1"), True),
        (Decimal("1.00"), True),
        (True, False),  # Python says True == 1; JSON does not
        ("1", False),  # no coercion of numeric strings
        (2, False),
        (Decimal("NaN"), False),
    ],
)
def test_equals_number_keeps_booleans_and_strings_apart(value: Any, expected: bool) -> None:
    assert match({"op": "equals", "value": 1}, value) is expected
    assert match({"op": "not_equals", "value": 1}, value) is (not expected)


def test_equals_decimal_from_dynamodb_matches_its_json_float() -> None:
    assert match({"op": "equals", "value": 0.1}, Decimal("0.1")) is True
    assert match({"op": "equals", "value": 0.1}, Decimal("0.2")) is False


@pytest.mark.parametrize(("value", "expected"), [(True, True), (False, False), (1, False), ("true", False)])
def test_equals_boolean(value: Any, expected: bool) -> None:
    assert match({"op": "equals", "value": True}, value) is expected
    assert match({"op": "equals", "value": False}, 0) is False


# --------------------------------------------------------------------------- in


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("trial", True),
        ("TRIAL", False),
        (3, True),
        (3.0, True),
        (Decimal("3"), True),
        (True, True),
        (1, False),  # True is in the list, 1 is not
        (False, False),
        (["trial"], False),  # a list is the wrong kind: contains_any is for lists
        (MISSING, False),
        (None, False),
    ],
)
def test_in_and_not_in(value: Any, expected: bool) -> None:
    values = ["free", "trial", 3, True]
    assert match({"op": "in", "values": values}, value) is expected
    assert match({"op": "not_in", "values": values}, value) is (not expected)


def test_in_number_list_does_not_admit_booleans_and_vice_versa() -> None:
    assert match({"op": "in", "values": [1, 0]}, True) is False
    assert match({"op": "in", "values": [1, 0]}, False) is False
    assert match({"op": "in", "values": [True]}, 1) is False


def test_in_case_insensitive() -> None:
    test = {"op": "in", "values": ["GB", "ie"], "case_insensitive": True}
    assert match(test, "gb") is True
    assert match(test, "IE") is True
    assert match(test, "fr") is False


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ann@gmail.com", True),
        ("ann@GMAIL.com", False),
        ("gmail", True),
        (["gmail", "yahoo"], True),  # a list contains the element
        (["ann@gmail.com"], False),  # ... not a substring of an element
        (MISSING, False),
        (None, False),
        (42, False),
    ],
)
def test_contains_on_strings_and_lists(value: Any, expected: bool) -> None:
    assert match({"op": "contains", "value": "gmail"}, value) is expected
    assert match({"op": "not_contains", "value": "gmail"}, value) is (not expected)


def test_contains_case_insensitive_on_string_and_list() -> None:
    test = {"op": "contains", "value": "GMail", "case_insensitive": True}
    assert match(test, "ann@gmail.COM") is True
    assert match(test, ["GMAIL"]) is True
    assert match(test, ["hotmail"]) is False


def test_starts_and_ends_with() -> None:
    assert match({"op": "starts_with", "value": "+44"}, "+447700900123") is True
    assert match({"op": "starts_with", "value": "+44"}, "0044") is False
    assert match({"op": "starts_with", "value": "+44"}, ["+44"]) is False
    assert match({"op": "not_starts_with", "value": "+44"}, MISSING) is True
    test = {"op": "ends_with", "value": "@Example.com", "case_insensitive": True}
    assert match(test, "ANN@EXAMPLE.COM") is True
    assert match(test, "ann@example.co") is False
    assert match({"op": "ends_with", "value": "@example.com"}, "ann@EXAMPLE.com") is False
    assert match({"op": "not_ends_with", "value": "@example.com"}, None) is True
    assert match({"op": "not_ends_with", "value": "@example.com"}, "b@example.com") is False


# --------------------------------------------------------------------------- regex


def test_matches_searches_unanchored_and_negates_exactly() -> None:
    assert match({"op": "matches", "pattern": "gmail"}, "ann@gmail.com") is True
    assert match({"op": "matches", "pattern": r"^\+44\d{10}$"}, "+447700900123") is True
    assert match({"op": "matches", "pattern": r"^\+44\d{10}$"}, "+4477009001234") is False
    assert match({"op": "matches", "pattern": "^abc"}, "ABCdef") is False
    assert match({"op": "matches", "pattern": "^abc", "case_insensitive": True}, "ABCdef") is True
    assert match({"op": "matches", "pattern": "x"}, MISSING) is False
    assert match({"op": "matches", "pattern": "1"}, 1) is False
    assert match({"op": "not_matches", "pattern": "x"}, MISSING) is True
    assert match({"op": "not_matches", "pattern": "gmail"}, "ann@gmail.com") is False


def test_matches_handles_non_ascii_and_unencodable_text() -> None:
    assert match({"op": "matches", "pattern": "^Zür"}, "Zürich") is True
    assert match({"op": "matches", "pattern": "a"}, "a\ud800") is False  # lone surrogate: no exception
    assert match({"op": "not_matches", "pattern": "a"}, "a\ud800") is True


def test_matches_runs_in_linear_time_on_a_pattern_that_explodes_with_backtracking() -> None:
    start = time.perf_counter()
    assert match({"op": "matches", "pattern": "^(a+)+$"}, "a" * 5000 + "b") is False
    assert time.perf_counter() - start < 0.5


# --------------------------------------------------------------------------- contains any/all/none


@pytest.mark.parametrize(
    ("values", "value", "any_", "all_"),
    [
        (["automation", "analytics"], ["automation", "ai"], True, False),
        (["automation", "ai"], ["automation", "ai", "x"], True, True),
        (["x"], ["automation"], False, False),
        (["x"], [], False, False),
        (["x"], "x", False, False),  # a string is not a list
        (["x"], MISSING, False, False),
        (["x"], None, False, False),
        ([True], [1], False, False),
        ([1], [True, 1.0], True, True),
        ([1], [Decimal("1")], True, True),
        (["a"], ("a", "b"), True, True),
        (["a"], {"a", "b"}, True, True),
        (["a"], [{"a": 1}, ["a"], None], False, False),  # unhashable elements are skipped, not fatal
    ],
)
def test_contains_any_all_none(values: list[Any], value: Any, any_: bool, all_: bool) -> None:
    assert match({"op": "contains_any", "values": values}, value) is any_
    assert match({"op": "contains_all", "values": values}, value) is all_
    assert match({"op": "contains_none", "values": values}, value) is (not any_)


def test_contains_any_case_insensitive() -> None:
    assert match({"op": "contains_any", "values": ["vip"], "case_insensitive": True}, ["VIP"]) is True
    assert match({"op": "contains_any", "values": ["vip"]}, ["VIP"]) is False
    assert match({"op": "contains_all", "values": ["A", "b"], "case_insensitive": True}, ["a", "B"]) is True


# --------------------------------------------------------------------------- comparisons


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("greater_than", 6, True),
        ("greater_than", 5, False),
        ("greater_than", 5.000001, True),
        ("greater_than", Decimal("5.5"), True),
        ("greater_than", "6", False),
        ("greater_or_equal", 5, True),
        ("greater_or_equal", 4.999, False),
        ("less_than", 5, False),
        ("less_than", -1, True),
        ("less_or_equal", 5.0, True),
        ("less_or_equal", 5.1, False),
        ("less_or_equal", None, False),
        ("less_or_equal", MISSING, False),
    ],
)
def test_number_comparisons(op: str, value: Any, expected: bool) -> None:
    assert match({"op": op, "value": 5}, value) is expected


def test_booleans_are_not_numbers_in_comparisons() -> None:
    assert match({"op": "greater_than", "value": 0}, True) is False  # Python: True > 0
    assert match({"op": "less_than", "value": 1}, False) is False  # Python: False < 1
    assert match({"op": "between", "min": 0, "max": 1}, True) is False


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        # a calendar-date target is the whole day 2026-10-31 (UTC here)
        ("greater_than", "2026-10-31T23:59:59Z", False),
        ("greater_than", "2026-11-01T00:00:00Z", True),
        ("greater_than", "2026-10-31", False),
        ("greater_than", "2026-11-01", True),
        ("greater_or_equal", "2026-10-31T00:00:00Z", True),
        ("greater_or_equal", "2026-10-30T23:59:59Z", False),
        ("less_than", "2026-10-30T23:59:59Z", True),
        ("less_than", "2026-10-31T00:00:00Z", False),
        ("less_or_equal", "2026-10-31T23:59:59Z", True),
        ("less_or_equal", "2026-11-01T00:00:00Z", False),
        ("less_or_equal", "2026-10-31", True),
        ("less_than", "not a date", False),
        ("less_than", True, False),
        ("less_than", None, False),
        ("less_than", 1767225600, True),  # epoch seconds of 2026-01-01T00:00Z
        ("greater_than", 1793491199, False),  # epoch of 2026-10-31T23:59:59Z
        ("greater_than", 1793491200, True),  # epoch of 2026-11-01T00:00:00Z
        ("greater_than", 5, False),  # epoch 5 is 1970
    ],
)
def test_date_comparisons_treat_a_calendar_date_as_the_whole_day(op: str, value: Any, expected: bool) -> None:
    assert match({"op": op, "value": "2026-10-31"}, value) is expected


def test_date_comparison_with_an_instant_target_is_exact() -> None:
    target = "2026-10-31T12:00:00Z"
    assert match({"op": "greater_than", "value": target}, "2026-10-31T12:00:00Z") is False
    assert match({"op": "greater_than", "value": target}, "2026-10-31T12:00:00.000001Z") is True
    assert match({"op": "greater_or_equal", "value": target}, "2026-10-31T12:00:00Z") is True
    assert match({"op": "greater_or_equal", "value": target}, "2026-10-31T11:59:59Z") is False
    assert match({"op": "less_than", "value": target}, "2026-10-31T11:59:59.999999Z") is True
    assert match({"op": "less_than", "value": target}, "2026-10-31T12:00:00Z") is False
    assert match({"op": "less_or_equal", "value": target}, "2026-10-31T13:00:00+01:00") is True
    assert match({"op": "greater_than", "value": "2026-01-01T00:00:00Z"}, 1767225601) is True


def test_date_comparison_days_are_local_to_tz() -> None:
    # 2026-07-01 in London (BST) starts at 2026-06-30T23:00Z.
    test = {"op": "less_than", "value": "2026-07-01", "tz": "Europe/London"}
    assert match(test, "2026-06-30T22:59:59Z") is True
    assert match(test, "2026-06-30T23:00:00Z") is False
    # a stored calendar date is read in the same zone
    assert match(test, "2026-06-30") is True
    assert match(test, "2026-07-01") is False


# --------------------------------------------------------------------------- between


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, True), (5, True), (3.5, True), (0.999, False), (5.001, False), ("3", False), (MISSING, False)],
)
def test_between_numbers_is_inclusive(value: Any, expected: bool) -> None:
    assert match({"op": "between", "min": 1, "max": 5}, value) is expected
    assert match({"op": "not_between", "min": 1, "max": 5}, value) is (not expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-10-01", True),
        ("2026-10-01T00:00:00Z", True),
        ("2026-09-30T23:59:59Z", False),
        ("2026-10-31T23:59:59Z", True),  # the max day is included whole
        ("2026-11-01T00:00:00Z", False),
        ("garbage", False),
    ],
)
def test_between_dates_includes_both_whole_days(value: Any, expected: bool) -> None:
    assert match({"op": "between", "min": "2026-10-01", "max": "2026-10-31"}, value) is expected
    assert match({"op": "not_between", "min": "2026-10-01", "max": "2026-10-31"}, value) is (not expected)


def test_between_the_same_day_is_that_day() -> None:
    test = {"op": "between", "min": "2026-10-25", "max": "2026-10-25", "tz": "Europe/London"}
    # London's 25-hour day: 2026-10-24T23:00Z (BST midnight) to 2026-10-26T00:00Z (GMT midnight)
    assert match(test, "2026-10-24T22:59:59Z") is False
    assert match(test, "2026-10-24T23:00:00Z") is True
    assert match(test, "2026-10-25T23:59:59Z") is True
    assert match(test, "2026-10-26T00:00:00Z") is False


# --------------------------------------------------------------------------- exists


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("x", True),
        (0, True),
        (False, True),
        ([None], True),
        ("", False),
        ([], False),
        ({}, False),
        (None, False),
        (MISSING, False),
    ],
)
def test_exists_means_has_a_value(value: Any, expected: bool) -> None:
    assert match({"op": "exists"}, value) is expected
    assert match({"op": "not_exists"}, value) is (not expected)


# --------------------------------------------------------------------------- rolling windows

WEEK = {"op": "within_last", "amount": 7, "unit": "days"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-15T12:00:00Z", (False, None)),  # exactly 7 days ago: has left the window
        ("2026-11-15T12:00:01Z", (True, at("2026-11-22T12:00:01Z"))),
        ("2026-11-15T11:59:59Z", (False, None)),
        ("2026-11-22T12:00:00Z", (True, at("2026-11-29T12:00:00Z"))),  # now itself is in
        ("2026-11-22T12:00:01Z", (False, at("2026-11-22T12:00:01Z"))),  # future: enters at v
        ("2026-11-16", (True, at("2026-11-23T00:00:00Z"))),  # calendar date: midnight UTC
        (1795348800, (True, at("2026-11-29T12:00:00Z"))),  # epoch of 2026-11-22T12:00Z
        ("yesterday", (False, None)),
        (True, (False, None)),
        (None, (False, None)),
        (MISSING, (False, None)),
        (1.5e20, (False, None)),  # epoch out of range
        ("9999-12-31T23:00:00Z", (False, at("9999-12-31T23:00:00Z"))),
    ],
)
def test_within_last_window_and_recheck(value: Any, expected: tuple[bool, datetime | None]) -> None:
    assert run(WEEK, value) == expected


def test_within_last_recheck_is_none_when_leaving_overflows() -> None:
    now = at("9999-12-31T23:30:00Z")
    assert run(WEEK, "9999-12-31T23:00:00Z", now) == (True, None)


@pytest.mark.parametrize(
    ("unit", "amount", "inside", "outside"),
    [
        ("minutes", 90, "2026-11-22T10:30:01Z", "2026-11-22T10:30:00Z"),
        ("hours", 36, "2026-11-21T00:00:01Z", "2026-11-21T00:00:00Z"),
        ("weeks", 2, "2026-11-08T12:00:01Z", "2026-11-08T12:00:00Z"),
    ],
)
def test_within_last_units(unit: str, amount: int, inside: str, outside: str) -> None:
    test = {"op": "within_last", "amount": amount, "unit": unit}
    assert run(test, inside) == (True, at("2026-11-22T12:00:01Z"))
    assert run(test, outside) == (False, None)


def test_within_last_reads_calendar_dates_in_tz() -> None:
    # "2026-07-01" in London is 2026-06-30T23:00Z, so one day later is 2026-07-01T23:00Z
    test = {"op": "within_last", "amount": 1, "unit": "days", "tz": "Europe/London"}
    assert run(test, "2026-07-01", at("2026-07-01T22:59:59Z")) == (True, at("2026-07-01T23:00:00Z"))
    assert run(test, "2026-07-01", at("2026-07-01T23:00:00Z")) == (False, None)
    assert run(test, "2026-07-01", at("2026-06-30T22:00:00Z")) == (False, at("2026-06-30T23:00:00Z"))


def test_rolling_days_are_24_hours_across_a_dst_change() -> None:
    # 00:30 BST on the day London falls back; one rolling day later is 23:30 GMT the same date.
    test = {"op": "within_last", "amount": 1, "unit": "days", "tz": "Europe/London"}
    value = "2026-10-25T00:30:00"  # naive: read in London, = 2026-10-24T23:30Z
    assert run(test, value, at("2026-10-25T23:29:59Z")) == (True, at("2026-10-25T23:30:00Z"))
    assert run(test, value, at("2026-10-25T23:30:00Z")) == (False, None)


SIXTY = {"op": "more_than_ago", "amount": 60, "unit": "days"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-09-23T12:00:00Z", (True, None)),  # exactly 60 days ago counts
        ("2026-09-23T11:59:59Z", (True, None)),
        ("2026-09-23T12:00:01Z", (False, at("2026-11-22T12:00:01Z"))),
        ("2026-11-23T12:00:00Z", (False, at("2027-01-22T12:00:00Z"))),  # future value
        ("garbage", (False, None)),
        (MISSING, (False, None)),
    ],
)
def test_more_than_ago(value: Any, expected: tuple[bool, datetime | None]) -> None:
    assert run(SIXTY, value) == expected


@pytest.mark.parametrize("seconds_ago", [0, 1, 59, 60, 61, 3600])
def test_within_last_and_more_than_ago_partition_the_past(seconds_ago: int) -> None:
    value = NOW - timedelta(seconds=seconds_ago)
    last = run({"op": "within_last", "amount": 1, "unit": "minutes"}, value)[0]
    ago = run({"op": "more_than_ago", "amount": 1, "unit": "minutes"}, value)[0]
    assert (last, ago) == ((True, False) if seconds_ago < 60 else (False, True))


NEXT3 = {"op": "within_next", "amount": 3, "unit": "days"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-22T12:00:00Z", (False, None)),  # now is not "next"
        ("2026-11-22T12:00:01Z", (True, at("2026-11-22T12:00:01Z"))),
        ("2026-11-25T12:00:00Z", (True, at("2026-11-25T12:00:00Z"))),  # exactly 3 days ahead is in
        ("2026-11-25T12:00:01Z", (False, at("2026-11-22T12:00:01Z"))),
        ("2026-11-20T12:00:00Z", (False, None)),
        (None, (False, None)),
    ],
)
def test_within_next(value: Any, expected: tuple[bool, datetime | None]) -> None:
    assert run(NEXT3, value) == expected


# --------------------------------------------------------------------------- calendar days


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-22", (True, at("2026-11-23T00:00:00Z"))),  # today
        ("2026-11-29", (True, at("2026-11-30T00:00:00Z"))),  # today + 7
        ("2026-11-29T23:59:59Z", (True, at("2026-11-30T00:00:00Z"))),
        ("2026-11-30", (False, at("2026-11-23T00:00:00Z"))),  # enters tomorrow
        ("2026-11-21", (False, None)),
        ("2026-02-30", (False, None)),  # not a date
        (MISSING, (False, None)),
    ],
)
def test_next_days_between_today_and_n_days_from_now(value: Any, expected: Any) -> None:
    assert run({"op": "next_days", "days": 7}, value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-15", (True, at("2026-11-23T00:00:00Z"))),  # today - 7: leaves at midnight
        ("2026-11-22T00:00:00Z", (True, at("2026-11-30T00:00:00Z"))),
        ("2026-11-14", (False, None)),
        ("2026-11-23", (False, at("2026-11-23T00:00:00Z"))),
        (date(2026, 11, 20), (True, at("2026-11-28T00:00:00Z"))),
    ],
)
def test_last_days(value: Any, expected: Any) -> None:
    assert run({"op": "last_days", "days": 7}, value) == expected


def test_calendar_days_follow_the_zone() -> None:
    # 2026-11-22T03:00Z is still Nov 21 in New York (EST, UTC-5).
    test = {"op": "next_days", "days": 7, "tz": "America/New_York"}
    now = at("2026-11-22T03:00:00Z")
    assert run(test, "2026-11-28", now) == (True, at("2026-11-29T05:00:00Z"))
    assert run(test, "2026-11-21", now) == (True, at("2026-11-22T05:00:00Z"))
    # a date-time is placed on its local date: 04:59Z on Nov 29 is Nov 28 in New York
    assert run(test, "2026-11-29T04:59:00Z", now) == (True, at("2026-11-29T05:00:00Z"))
    assert run(test, "2026-11-29T05:00:00Z", now) == (False, at("2026-11-22T05:00:00Z"))


def test_calendar_day_boundaries_across_london_dst() -> None:
    today_only = {"op": "next_days", "days": 0, "tz": "Europe/London"}
    # 2026-03-29 is 23 hours long in London: it ends at 2026-03-29T23:00Z
    assert run(today_only, "2026-03-29", at("2026-03-29T12:00:00Z")) == (True, at("2026-03-29T23:00:00Z"))
    assert run(today_only, "2026-03-29", at("2026-03-29T22:59:59Z")) == (True, at("2026-03-29T23:00:00Z"))
    assert run(today_only, "2026-03-29", at("2026-03-29T23:00:00Z")) == (False, None)
    assert run(today_only, "2026-03-29", at("2026-03-28T23:59:59Z")) == (False, at("2026-03-29T00:00:00Z"))
    # 2026-10-25 is 25 hours long: it starts 2026-10-24T23:00Z and ends 2026-10-26T00:00Z
    assert run(today_only, "2026-10-25", at("2026-10-24T22:59:59Z")) == (False, at("2026-10-24T23:00:00Z"))
    assert run(today_only, "2026-10-25", at("2026-10-25T23:30:00Z")) == (True, at("2026-10-26T00:00:00Z"))


def test_calendar_day_starts_after_a_dst_gap_at_midnight() -> None:
    # Santiago: 2026-09-06 00:00 does not exist; the day begins at 01:00 -03 = 04:00Z.
    today_only = {"op": "next_days", "days": 0, "tz": "America/Santiago"}
    assert run(today_only, "2026-09-06", at("2026-09-05T12:00:00Z")) == (False, at("2026-09-06T04:00:00Z"))
    assert run(today_only, "2026-09-06", at("2026-09-06T03:59:59Z")) == (False, at("2026-09-06T04:00:00Z"))
    assert run(today_only, "2026-09-06", at("2026-09-06T04:00:00Z")) == (True, at("2026-09-07T03:00:00Z"))


# --------------------------------------------------------------------------- anniversaries


def anniversary(period: str, days: int | None = None, tz: str = "UTC") -> dict[str, Any]:
    test: dict[str, Any] = {"op": "anniversary", "period": period, "tz": tz}
    if days is not None:
        test["days"] = days
    return test


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1990-11-22", (True, at("2026-11-23T00:00:00Z"))),
        ("1990-11-23", (False, at("2026-11-23T00:00:00Z"))),
        ("1990-11-21", (False, at("2027-11-21T00:00:00Z"))),
        ("2026-11-22", (True, at("2026-11-23T00:00:00Z"))),  # the original date counts
        ("1990-11-22T23:30:00Z", (True, at("2026-11-23T00:00:00Z"))),
        ("1990-13-01", (False, None)),
        (MISSING, (False, None)),
        (19901122, (False, at("2027-08-19T00:00:00Z"))),  # epoch seconds: 1970-08-19
    ],
)
def test_anniversary_today(value: Any, expected: Any) -> None:
    assert run(anniversary("today"), value) == expected


def test_feb_29_is_celebrated_on_feb_28_in_common_years() -> None:
    test = anniversary("today")
    assert run(test, "2000-02-29", at("2027-02-28T12:00:00Z")) == (True, at("2027-03-01T00:00:00Z"))
    assert run(test, "2000-02-29", at("2027-02-27T12:00:00Z")) == (False, at("2027-02-28T00:00:00Z"))
    assert run(test, "2000-02-29", at("2028-02-28T12:00:00Z")) == (False, at("2028-02-29T00:00:00Z"))
    assert run(test, "2000-02-29", at("2028-02-29T12:00:00Z")) == (True, at("2028-03-01T00:00:00Z"))
    assert run(test, "2000-02-29", at("2027-03-01T00:00:00Z")) == (False, at("2028-02-29T00:00:00Z"))
    assert run(test, "2001-02-28", at("2027-02-28T12:00:00Z")) == (True, at("2027-03-01T00:00:00Z"))


def test_anniversary_today_in_a_zone() -> None:
    test = anniversary("today", tz="America/Los_Angeles")
    # 07:00Z on Nov 22 is 23:00 PST on Nov 21; the local day Nov 22 starts at 08:00Z.
    assert run(test, "1990-11-22", at("2026-11-22T07:00:00Z")) == (False, at("2026-11-22T08:00:00Z"))
    assert run(test, "1990-11-22", at("2026-11-22T08:00:00Z")) == (True, at("2026-11-23T08:00:00Z"))
    # a date-time is placed on its local date first: 03:00Z Nov 22 is Nov 21 in Los Angeles
    assert run(test, "1990-11-22T03:00:00Z", at("2026-11-22T07:00:00Z")) == (True, at("2026-11-22T08:00:00Z"))


@pytest.mark.parametrize(
    ("value", "now", "expected"),
    [
        ("1985-11-16", NOW, (True, at("2026-11-23T00:00:00Z"))),  # Monday of this week
        ("1985-11-22", NOW, (True, at("2026-11-23T00:00:00Z"))),  # Sunday (today)
        ("1985-11-23", NOW, (False, at("2026-11-23T00:00:00Z"))),  # next Monday
        ("1985-11-15", NOW, (False, at("2027-11-15T00:00:00Z"))),  # last Sunday; 2027-11-15 is a Monday
        ("2000-01-02", at("2026-12-30T12:00:00Z"), (True, at("2027-01-04T00:00:00Z"))),  # across new year
        ("2000-12-28", at("2027-01-03T12:00:00Z"), (True, at("2027-01-04T00:00:00Z"))),
    ],
)
def test_anniversary_this_iso_week(value: str, now: datetime, expected: Any) -> None:
    assert run(anniversary("this_week"), value, now) == expected


def test_anniversary_this_month() -> None:
    test = anniversary("this_month")
    assert run(test, "1990-11-30", NOW) == (True, at("2026-12-01T00:00:00Z"))
    assert run(test, "1990-12-05", NOW) == (False, at("2026-12-01T00:00:00Z"))
    assert run(test, "1990-10-05", NOW) == (False, at("2027-10-01T00:00:00Z"))
    london = anniversary("this_month", tz="Europe/London")
    assert run(london, "1990-10-05", NOW) == (False, at("2027-09-30T23:00:00Z"))  # BST midnight
    assert run(test, "2000-02-29", at("2027-02-01T00:00:00Z")) == (True, at("2027-03-01T00:00:00Z"))


def test_anniversary_in_exactly_n_days() -> None:
    test = anniversary("in_days", 3)
    assert run(test, "1990-11-25") == (True, at("2026-11-23T00:00:00Z"))
    assert run(test, "1990-11-26") == (False, at("2026-11-23T00:00:00Z"))
    assert run(test, "1990-11-24") == (False, at("2027-11-21T00:00:00Z"))


def test_anniversary_within_the_next_n_days() -> None:
    test = anniversary("within_days", 7)
    assert run(test, "1990-11-29") == (True, at("2026-11-30T00:00:00Z"))
    assert run(test, "1990-11-22") == (True, at("2026-11-23T00:00:00Z"))
    assert run(test, "1990-11-30") == (False, at("2026-11-23T00:00:00Z"))
    assert run(test, "1990-11-21") == (False, at("2027-11-14T00:00:00Z"))


def test_anniversary_within_a_whole_year_never_changes() -> None:
    # windows of 367 days overlap from one anniversary to the next: always true, never rechecked
    assert run(anniversary("within_days", 366), "1990-03-04") == (True, None)
    assert run(anniversary("within_days", 366), "2000-02-29") == (True, None)


# --------------------------------------------------------------------------- params validation


@pytest.mark.parametrize(
    "test",
    [
        {"op": "equalz", "value": "free"},
        {"value": "free"},
        {"op": "equals"},
        {"op": "equals", "value": None},
        {"op": "equals", "value": "free", "vaule": 1},
        {"op": "equals", "value": float("nan")},
        {"op": "in", "values": []},
        {"op": "in", "values": "free"},
        {"op": "contains", "value": ""},
        {"op": "matches", "pattern": "(a+)+\\1"},
        {"op": "matches", "pattern": "(?=look)ahead"},
        {"op": "matches", "pattern": "("},
        {"op": "matches", "pattern": "a" * 300},
        {"op": "greater_than", "value": "5"},
        {"op": "greater_than", "value": "soon"},
        {"op": "greater_than", "value": True},
        {"op": "greater_than", "value": 5, "tz": "Mars/Olympus_Mons"},
        {"op": "between", "min": 5, "max": 1},
        {"op": "between", "min": 1, "max": "2026-01-01"},
        {"op": "between", "min": "2026-02-01", "max": "2026-01-31"},
        {"op": "within_last", "amount": -7, "unit": "days"},
        {"op": "within_last", "amount": 0, "unit": "days"},
        {"op": "within_last", "amount": 7.5, "unit": "days"},
        {"op": "within_last", "amount": "7", "unit": "days"},
        {"op": "within_last", "amount": 7, "unit": "months"},
        {"op": "within_last", "amount": 101 * 365, "unit": "days"},
        {"op": "within_last", "amount": 7, "tz": "Not/AZone"},
        {"op": "next_days", "days": -1},
        {"op": "anniversary", "period": "in_days"},
        {"op": "anniversary", "period": "today", "days": 3},
        {"op": "anniversary", "period": "within_days", "days": 400},
        {"op": "anniversary", "period": "this_year"},
        {"op": "anniversary", "period": "today", "tz": "Europe/Londn"},
        {"op": "exists", "value": 1},
    ],
)
def test_invalid_params_raise_validation_error(test: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ADAPTER.validate_python(test)


def test_validation_messages_are_readable() -> None:
    with pytest.raises(ValidationError) as caught:
        ADAPTER.validate_python({"op": "matches", "pattern": "(a+)+\\1"})
    assert "back-references" in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        ADAPTER.validate_python({"op": "within_last", "amount": 7, "tz": "Europe/Londn"})
    assert "unknown time zone 'Europe/Londn'" in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        ADAPTER.validate_python({"op": "anniversary", "period": "in_days"})
    assert "needs 'days'" in str(caught.value)


@pytest.mark.parametrize(
    ("test", "wording"),
    [
        ({"op": "equals", "value": "free"}, "is 'free'"),
        ({"op": "not_equals", "value": True}, "is not true"),
        ({"op": "in", "values": ["a", "b"], "case_insensitive": True}, "is one of 'a', 'b' (ignoring case)"),
        ({"op": "matches", "pattern": "^a"}, "matches /^a/"),
        ({"op": "between", "min": 1, "max": 5}, "is between 1 and 5"),
        ({"op": "within_last", "amount": 7}, "is within the last 7 days"),
        ({"op": "more_than_ago", "amount": 2, "unit": "hours"}, "is 2 hours ago or more"),
        (
            {"op": "next_days", "days": 7, "tz": "Europe/London"},
            "is between today and 7 days from now (Europe/London)",
        ),
        ({"op": "within_last", "amount": 1, "unit": "hours"}, "is within the last 1 hour"),
        ({"op": "last_days", "days": 0}, "is today"),
        ({"op": "last_days", "days": 1}, "is between 1 day ago and today"),
        ({"op": "anniversary", "period": "in_days", "days": 3}, "has its anniversary in exactly 3 days"),
        ({"op": "anniversary", "period": "this_week"}, "has its anniversary this week"),
        ({"op": "not_exists"}, "is unknown"),
    ],
)
def test_describe(test: dict[str, Any], wording: str) -> None:
    assert describe_value_test(ADAPTER.validate_python(test)) == wording


# --------------------------------------------------------------------------- API shape


def test_each_model_schema_shows_only_its_own_fields() -> None:
    schema = EqualsTest.model_json_schema()
    assert set(schema["properties"]) == {"op", "value", "case_insensitive"}
    assert schema["additionalProperties"] is False
    ops = [op for model in VALUE_TEST_MODELS for op in model.model_fields["op"].annotation.__args__]
    assert len(ops) == len(set(ops))  # no op claimed by two models
    assert {"equals", "within_last", "anniversary", "contains_none", "not_matches"} <= set(ops)


def test_flat_union_adds_fields_and_stays_a_test() -> None:
    class PropertyField(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        property: str

    model = flat_union(PropertyField, "Property")
    params = model.model_validate({"property": "device", "op": "in", "values": ["mobile"]})
    assert params.root.property == "device"
    assert compile_value_test(params.root)("mobile", NOW) == (True, None)
    assert params.model_dump(mode="json", exclude_defaults=True) == {
        "property": "device",
        "op": "in",
        "values": ["mobile"],
    }
    schema = model.model_json_schema()
    assert schema["discriminator"]["propertyName"] == "op"
    fields = set(schema["$defs"]["PropertyEquals"]["properties"])
    assert fields == {"property", "op", "value", "case_insensitive"}
    with pytest.raises(ValidationError):
        model.model_validate({"op": "in", "values": ["mobile"]})


def test_compile_refuses_a_non_test() -> None:
    class NotATest(BaseModel):
        op: str = "equals"

    with pytest.raises(TypeError):
        compile_value_test(NotATest())


def test_one_class_is_all_a_new_operator_needs() -> None:
    table = OperatorTable()
    for model in VALUE_TEST_MODELS:
        table.register(model)

    @table.register
    class ParityTest(ValueTestModel):
        """Is an even / odd integer. E.g. {"op": "is_even"}"""

        phrases = {"is_even": "is even", "is_odd": "is odd"}
        op: Literal["is_even", "is_odd"]

        def compile(self) -> ValueFn:
            want = 0 if self.op == "is_even" else 1
            return lambda value, now: (type(value) is int and value % 2 == want, None)

    adapter: TypeAdapter[Any] = TypeAdapter(table.union())
    odd = adapter.validate_python({"op": "is_odd"})
    assert compile_value_test(odd)(3, NOW) == (True, None)
    assert compile_value_test(odd)(4, NOW) == (False, None)
    assert describe_value_test(odd) == "is odd"
    assert adapter.validate_python({"op": "equals", "value": 1}) == EqualsTest(op="equals", value=1)
    assert table.time_based_ops() == {
        "within_last", "more_than_ago", "within_next", "last_days", "next_days", "anniversary"
    }

    class PropertyField(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        property: str

    params = table.flat_union(PropertyField, "Property").model_validate({"property": "n", "op": "is_even"})
    assert compile_value_test(params.root)(2, NOW) == (True, None)
    assert ParityTest not in VALUE_TEST_MODELS  # a table of its own leaves the engine's alone


def test_the_table_refuses_an_operator_it_cannot_word_or_that_is_taken() -> None:
    table = OperatorTable()
    table.register(EqualsTest)

    class Unworded(ValueTestModel):
        phrases = {"is_even": "is even"}
        op: Literal["is_even", "is_odd"]

        def compile(self) -> ValueFn:
            return lambda value, now: (False, None)

    class Taken(ValueTestModel):
        phrases = {"equals": "is"}
        op: Literal["equals"]

        def compile(self) -> ValueFn:
            return lambda value, now: (False, None)

    class Uncompiled(ValueTestModel):
        phrases = {"is_even": "is even"}
        op: Literal["is_even"]

    with pytest.raises(TypeError, match="is_odd"):
        table.register(Unworded)
    with pytest.raises(TypeError, match="'equals' is already registered"):
        table.register(Taken)
    with pytest.raises(TypeError, match="compile"):
        table.register(Uncompiled)
