"""EventBridge-style event patterns, as Lambda's ``FilterCriteria`` apply them.

The template filters stream records with patterns such as
``{"eventName": ["INSERT", "MODIFY"]}``; the local pump must drop exactly the
records Lambda would drop, or a handler would see REMOVE records locally that it
never sees on AWS. Supported: exact values (strings, numbers, booleans, null),
``prefix``, ``suffix``, ``anything-but``, ``exists`` and ``numeric``, nested
objects, and matching against list values (any element). Anything else raises
when the pattern is compiled, never silently matches.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["PatternError", "compile_filters", "compile_pattern"]

Matcher = Callable[[Any], bool]

_MISSING = object()
_NUMERIC_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
    ">=": operator.ge,
    ">": operator.gt,
}


class PatternError(ValueError):
    """A filter pattern the local stack does not understand."""


def compile_filters(patterns: tuple[str, ...] | list[str]) -> Callable[[Mapping[str, Any]], bool]:
    """A record passes if any pattern matches (no patterns: everything passes)."""
    compiled = [compile_pattern(json.loads(p) if isinstance(p, str) else p) for p in patterns]
    if not compiled:
        return lambda record: True
    return lambda record: any(match(record) for match in compiled)


def compile_pattern(pattern: Any) -> Callable[[Mapping[str, Any]], bool]:
    if not isinstance(pattern, Mapping):
        raise PatternError(f"a pattern is a JSON object, got {pattern!r}")
    return _object(pattern, "")


def _object(pattern: Mapping[str, Any], where: str) -> Matcher:
    fields: list[tuple[str, Matcher]] = []
    for key, rule in pattern.items():
        path = f"{where}.{key}" if where else key
        if isinstance(rule, Mapping):
            fields.append((key, _nested(_object(rule, path))))
        elif isinstance(rule, list):
            fields.append((key, _values(rule, path)))
        else:
            raise PatternError(f"{path}: expected an object or a list of values, got {rule!r}")

    def match(value: Any) -> bool:
        if not isinstance(value, Mapping):
            return False
        return all(test(value.get(key, _MISSING)) for key, test in fields)

    return match


def _nested(inner: Matcher) -> Matcher:
    return lambda value: value is not _MISSING and inner(value)


def _values(rules: list[Any], where: str) -> Matcher:
    tests = [_value(rule, where) for rule in rules]
    only_exists_false = any(isinstance(r, Mapping) and r.get("exists") is False for r in rules)

    def match(value: Any) -> bool:
        if value is _MISSING:
            return only_exists_false
        candidates = value if isinstance(value, list) else [value]
        return any(test(candidate) for test in tests for candidate in candidates)

    return match


def _same(expected: Any) -> Matcher:
    """Equality that keeps JSON types apart: ``true`` is not ``1``, ``"1"`` is not ``1``."""
    if expected is None:
        return lambda value: value is None

    def same(value: Any) -> bool:
        return type(value) is type(expected) and value == expected

    return same


def _value(rule: Any, where: str) -> Matcher:
    if not isinstance(rule, Mapping):
        if isinstance(rule, list):
            raise PatternError(f"{where}: nested lists are not patterns")
        return _same(rule)
    if len(rule) != 1:
        raise PatternError(f"{where}: one operator per object, got {sorted(rule)}")
    ((name, arg),) = rule.items()
    if name == "prefix" and isinstance(arg, str):
        return lambda value: isinstance(value, str) and value.startswith(arg)
    if name == "suffix" and isinstance(arg, str):
        return lambda value: isinstance(value, str) and value.endswith(arg)
    if name == "exists" and isinstance(arg, bool):
        return lambda value: arg  # presence was checked by the caller
    if name == "anything-but":
        excluded = arg if isinstance(arg, list) else [arg]
        if any(isinstance(e, Mapping | list) for e in excluded):
            raise PatternError(f"{where}: only plain values are supported in anything-but")
        tests = [_same(e) for e in excluded]
        return lambda value: not any(test(value) for test in tests)
    if name == "numeric" and isinstance(arg, list) and len(arg) in (2, 4):
        pairs = list(zip(arg[::2], arg[1::2], strict=True))
        for op, bound in pairs:
            if op not in _NUMERIC_OPS or isinstance(bound, bool) or not isinstance(bound, int | float):
                raise PatternError(f"{where}: bad numeric condition {op!r} {bound!r}")

        def numeric(value: Any) -> bool:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return False
            return all(_NUMERIC_OPS[op](value, bound) for op, bound in pairs)

        return numeric
    raise PatternError(f"{where}: operator {name!r} with {arg!r} is not supported locally")
