"""Compile a validated rule tree into one callable, and explain its result.

Compilation turns each node into a closure over its children's closures, once
per rule version; evaluation is then a chain of plain calls with
short-circuiting and no validation, lookups or pluggy dispatch.

``recheck_at`` combines conservatively: it is never later than the first
instant the result could change, and exact whenever no short-circuit hides a
later child. For ``and``: when true, the earliest child recheck (any child
flipping turns it false); when false, the recheck of the child that made it
false (the result cannot turn true before that child does). ``or`` is the
mirror image, ``!`` keeps its child's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from growthos_segments.core.contract import Predicate, Result
from growthos_segments.core.expressions import CompiledExpression
from growthos_segments.core.rules import And, Condition, Expr, Node, Not, Or, SegmentRef, to_json
from growthos_segments.core.timeutil import to_iso
from growthos_segments.core.view import MISSING, ContactView, resolve_path

__all__ = ["CompiledRule", "Explanation", "compile_rule"]


def compile_rule(node: Node) -> CompiledRule:
    """Compile a parsed rule (see :func:`growthos_segments.core.rules.parse_rule`)."""
    return CompiledRule(node)


@dataclass(frozen=True, slots=True)
class Explanation:
    """The result of an evaluation with its per-node trace."""

    match: bool
    recheck_at: datetime | None
    trace: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"match": self.match, "recheck_at": to_iso(self.recheck_at), "trace": self.trace}


class CompiledRule:
    """A rule ready to evaluate many contacts."""

    __slots__ = ("evaluate", "node")

    def __init__(self, node: Node) -> None:
        self.node = node
        self.evaluate: Predicate = _compile(node)
        """``evaluate(view, now) -> (match, recheck_at)``: the hot path."""

    def explain(self, view: ContactView, now: datetime) -> Explanation:
        """Evaluate with a trace of every node: why the contact is, or is not, a member.

        Every node is evaluated (so the trace also shows conditions that a
        short-circuit skipped, marked ``"short_circuited": true``), but the
        result combines exactly as :attr:`evaluate` does, so both always agree.
        """
        trace = _explain(self.node, view, now, "")
        return Explanation(trace["match"], trace["_recheck"], _public(trace))


# --------------------------------------------------------------------------- hot path


def _compile(node: Node) -> Predicate:
    if isinstance(node, Condition):
        return node.condition_type.compile(node.params)
    if isinstance(node, And):
        return _all_of([_compile(c) for c in node.children])
    if isinstance(node, Or):
        return _any_of([_compile(c) for c in node.children])
    if isinstance(node, Not):
        return _negate(_compile(node.child))
    if isinstance(node, SegmentRef):
        return _reference(node.segment_id)
    if isinstance(node, Expr):
        return CompiledExpression(node.logic)
    raise TypeError(f"not a rule node: {node!r}")


def _all_of(predicates: Sequence[Predicate]) -> Predicate:
    predicates = tuple(predicates)

    def all_of(view: ContactView, now: datetime) -> Result:
        soonest = None
        for predicate in predicates:
            match, recheck = predicate(view, now)
            if not match:
                return False, recheck
            if recheck is not None and (soonest is None or recheck < soonest):
                soonest = recheck
        return True, soonest

    return all_of


def _any_of(predicates: Sequence[Predicate]) -> Predicate:
    predicates = tuple(predicates)

    def any_of(view: ContactView, now: datetime) -> Result:
        soonest = None
        for predicate in predicates:
            match, recheck = predicate(view, now)
            if match:
                return True, recheck
            if recheck is not None and (soonest is None or recheck < soonest):
                soonest = recheck
        return False, soonest

    return any_of


def _negate(predicate: Predicate) -> Predicate:
    def negate(view: ContactView, now: datetime) -> Result:
        match, recheck = predicate(view, now)
        return not match, recheck

    return negate


def _reference(segment_id: str) -> Predicate:
    def reference(view: ContactView, now: datetime) -> Result:
        return view.segments(segment_id, view, now)

    return reference


# --------------------------------------------------------------------------- explanation


def _explain(node: Node, view: ContactView, now: datetime, path: str) -> dict[str, Any]:
    if isinstance(node, And | Or):
        key = "and" if isinstance(node, And) else "or"
        children = [_explain(c, view, now, f"{path}/{key}/{i}") for i, c in enumerate(node.children)]
        match, recheck = _combine(key, children)
        return {"path": path, "kind": key, "match": match, "_recheck": recheck, "children": children}
    if isinstance(node, Not):
        child = _explain(node.child, view, now, f"{path}/!")
        return {"path": path, "kind": "not", "match": not child["match"],
                "_recheck": child["_recheck"], "children": [child]}
    if isinstance(node, SegmentRef):
        match, recheck = view.segments(node.segment_id, view, now)
        return {"path": path, "kind": "segment", "segment_id": node.segment_id, "match": match,
                "_recheck": recheck, "description": f"member of segment {node.segment_id!r}"}
    if isinstance(node, Condition):
        match, recheck = node.condition_type.compile(node.params)(view, now)
        describe = node.condition_type.describe
        return {
            "path": path,
            "kind": "condition",
            "type": node.type,
            "params": node.params_json,
            "description": describe(node.params) if describe else node.condition_type.label,
            "match": match,
            "_recheck": recheck,
            "values": _values_read(node, view, now),
        }
    assert isinstance(node, Expr)
    compiled = CompiledExpression(node.logic)
    match, recheck = compiled(view, now)
    value, error = compiled.value(view)
    entry: dict[str, Any] = {"path": path, "kind": "expression", "expression": to_json(node),
                             "match": match, "_recheck": recheck, "value": value}
    if error:
        entry["error"] = error
    return entry


def _combine(key: str, children: list[dict[str, Any]]) -> Result:
    """The same combination as the hot path, marking what a short-circuit skipped."""
    decide_on = key == "or"  # "or" stops at the first match, "and" at the first miss
    soonest = None
    decided: Result | None = None
    for child in children:
        if decided is not None:
            child["short_circuited"] = True
            continue
        if child["match"] is decide_on:
            decided = (decide_on, child["_recheck"])
            continue
        recheck = child["_recheck"]
        if recheck is not None and (soonest is None or recheck < soonest):
            soonest = recheck
    return decided if decided is not None else (not decide_on, soonest)


def _values_read(node: Condition, view: ContactView, now: datetime) -> dict[str, Any]:
    """What the condition looked at: attribute values and matching event counts."""
    values: dict[str, Any] = {}
    reads = node.reads
    for path in sorted(reads.attributes):
        if path == "*":
            continue
        value = resolve_path(view.doc, path.split("."))
        values[path] = "(missing)" if value is MISSING else value
    if reads.events:
        # Count what the window sees, (now - lookback, now]: an event exactly at the
        # edge has left a "within" window, and a future event has not happened yet.
        lookback = reads.lookback
        start = None if lookback in (None, timedelta.max) else now - lookback
        for prefix in sorted(reads.events):
            events: Sequence[Any] = view.events_named(prefix) if prefix else view.events()
            counted = sum(1 for e in events if (start is None or e.at > start) and e.at <= now)
            values[f"events:{prefix or '*'}"] = counted
    return values


def _public(trace: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in trace.items() if k not in ("_recheck", "children")}
    out["recheck_at"] = to_iso(trace["_recheck"])
    if "children" in trace:
        out["children"] = [_public(c) for c in trace["children"]]
    return out
