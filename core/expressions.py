"""Plain JsonLogic expressions over the contact document, run by datalogic-py.

datalogic-py is a Rust JsonLogic engine that passes the official suite and
compiles a rule once for many evaluations. The contact document is converted
to its data handle once per view (see ``ContactView.data_handle``), so each
expression costs a native call, not a Python walk.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import datalogic_py

from growthos_segments.core.contract import Reads
from growthos_segments.core.errors import pointer
from growthos_segments.core.view import ContactView

__all__ = [
    "ENGINE",
    "EXPRESSION_OPERATORS",
    "OPS_BUDGET",
    "CompiledExpression",
    "check_expression",
    "expression_reads",
    "object_keys",
]

OPS_BUDGET = 100_000
"""Operations one expression may charge per evaluation (datalogic's ``ops_budget``:
a dispatched node or an item an iterator examines). Nested iteration multiplies:
three ``some`` over 1,000-item lists are 10^9 operations, seconds per contact from
a rule of a few hundred characters. Past the budget the evaluation fails, which
:class:`CompiledExpression` answers as no match; 100,000 takes a few milliseconds."""

ENGINE = datalogic_py.Engine(config={"ops_budget": OPS_BUDGET})
EXPRESSION_OPERATORS: frozenset[str] = frozenset(
    name for info in ENGINE.operators() for name in (info["name"], *info["aliases"])
)
_local = threading.local()


def _session() -> Any:
    # Sessions reuse an arena but are not thread-safe: one per thread.
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = ENGINE.session()
    return session


def check_expression(
    logic: Any, condition_types: Iterable[str]
) -> list[tuple[str, str, str | None]]:
    """Problems in a plain expression as ``(sub-pointer, message, suggestion)``."""
    names = set(condition_types) | {"segment"}
    problems: list[tuple[str, str, str | None]] = []
    for path, key in object_keys(logic):
        if key in names and key not in EXPRESSION_OPERATORS:
            problems.append((
                pointer(path),
                f"condition {key!r} cannot be used inside a plain JsonLogic expression",
                "combine conditions and expressions with and/or/! at the rule level",
            ))
    if problems:
        return problems
    for diagnostic in ENGINE.check(logic):
        if diagnostic["severity"] == "error":
            problems.append((diagnostic["pointer"], diagnostic["message"], None))
    if problems:
        return problems
    try:
        facts = ENGINE.compile(logic).facts()
    except datalogic_py.DataLogicError as exc:
        return [("", f"invalid JsonLogic expression: {exc}", None)]
    if not facts["deterministic"]:
        problems.append((
            "",
            "expression reads the clock; evaluation must depend only on the contact and 'now'",
            "use a time-based condition such as {\"attribute\": {\"op\": \"within_last\", ...}}",
        ))
    return problems


def object_keys(value: Any, path: tuple[str | int, ...] = ()) -> Iterable[tuple[list[str | int], str]]:
    """Every object key in a JSON value, with the path of the object that holds it."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield [*path], key
            yield from object_keys(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from object_keys(item, (*path, index))


def expression_reads(logic: Any) -> Reads:
    """Document paths an expression reads, from datalogic's static analysis."""
    facts = ENGINE.compile(logic).facts()
    if facts["computed_reads"] or not facts["reads_complete"]:
        return Reads(attributes=frozenset({"*"}), events=frozenset({""}), lookback=timedelta.max)
    paths = {".".join(str(p) for p in path) for path in facts["reads"]}
    reads_events = any(p == "events" or p.startswith("events.") for p in paths)
    return Reads(
        attributes=frozenset(p for p in paths if not p.startswith("events")),
        events=frozenset({""}) if reads_events else frozenset(),
        lookback=timedelta.max if reads_events else None,
    )


class CompiledExpression:
    """One expression compiled once; called per contact."""

    __slots__ = ("logic", "rule")

    def __init__(self, logic: Any) -> None:
        self.logic = logic
        self.rule = ENGINE.compile(logic)

    def __call__(self, view: ContactView, now: datetime) -> tuple[bool, datetime | None]:
        # The expression cannot read the clock (checked on save), so it never
        # changes without new data: recheck_at is always None.
        try:
            return _session().evaluate_truthy(self.rule, view.data_handle()), None
        except datalogic_py.DataLogicError:
            return False, None

    def value(self, view: ContactView) -> tuple[Any, str | None]:
        """The raw result (or the error text), for explanations."""
        try:
            return self.rule.evaluate_data(view.data_handle()), None
        except datalogic_py.DataLogicError as exc:
            return None, str(exc)
