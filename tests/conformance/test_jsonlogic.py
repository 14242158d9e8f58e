"""The official JsonLogic tests (tests.json) run through our rule parser and evaluator.

Every case goes through ``parse_rule``: a plain expression is compared by value
(datalogic-py computes it), a rule that became our and/or/! nodes by truthiness
(segment membership is a boolean). Cases that cannot apply to a segment rule
are listed in ``NOT_APPLICABLE`` with the reason; the test fails if any other
case differs, or if a listed case starts to pass (so the list stays true).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from growthos_segments.core.compiler import compile_rule
from growthos_segments.core.errors import RuleValidationError
from growthos_segments.core.expressions import CompiledExpression
from growthos_segments.core.rules import Expr, parse_rule
from growthos_segments.core.view import ContactView
from tests.conftest import NOW

SUITE = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "jsonlogic" / "tests.json"

RULE_NOT_AN_OBJECT = "a segment rule is a JSON object; a bare literal or list is not a rule"
DATA_NOT_AN_OBJECT = "the contact document is always a JSON object, so array/scalar data cannot occur"


def load_cases() -> list[tuple[int, Any, Any, Any]]:
    if not SUITE.exists():
        pytest.skip(f"conformance suite not found at {SUITE}")
    cases = json.loads(SUITE.read_text())
    return [(i, *case) for i, case in enumerate(cases) if not isinstance(case, str)]


def js_truthy(value: Any) -> bool:
    if isinstance(value, list | str):
        return len(value) > 0
    return bool(value) if value is not None else False


def same(expected: Any, got: Any) -> bool:
    """Type-aware equality: JSON booleans never equal numbers."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(expected) is type(got) and expected == got
    if isinstance(expected, list) and isinstance(got, list):
        return len(expected) == len(got) and all(same(a, b) for a, b in zip(expected, got, strict=True))
    return expected == got


def run_case(host, rule: Any, data: Any, expected: Any) -> str | None:
    """``None`` when the case passes, otherwise why it does not apply or what differs."""
    if not isinstance(rule, dict):
        return RULE_NOT_AN_OBJECT
    if data is not None and not isinstance(data, dict):
        return DATA_NOT_AN_OBJECT
    try:
        node = parse_rule(rule, host)
    except RuleValidationError as exc:
        return f"rejected: {exc}"
    view = ContactView(data or {})
    if isinstance(node, Expr):
        value, error = CompiledExpression(node.logic).value(view)
        return None if error is None and same(expected, value) else f"value {value!r} (error {error})"
    match, _ = compile_rule(node).evaluate(view, NOW)
    return None if match is js_truthy(expected) else f"match {match}"


def test_jsonlogic_official_suite(toy_host) -> None:
    cases = load_cases()
    outcomes = {index: run_case(toy_host, rule, data, exp) for index, rule, data, exp in cases}
    skip = (RULE_NOT_AN_OBJECT, DATA_NOT_AN_OBJECT)
    not_applicable = {i: why for i, why in outcomes.items() if why in skip}
    failures = {i: why for i, why in outcomes.items() if why and i not in not_applicable}
    assert failures == {}
    # The suite has 277 cases; 8 are bare literals/lists and 6 use array/scalar data.
    assert len(cases) == 277
    assert sorted(not_applicable) == [1, 2, 3, 4, 5, 6, 7, 199, 219, 220, 221, 228, 229, 230]
