"""The rule language: parsing, validation and normalisation of segment rules.

A rule arrives as JSON in JsonLogic shape and leaves as an immutable typed
tree. Validation happens here, on save, and reports every problem at once with
a JSON pointer; the compiler can then trust the tree and do no checks per
contact. Rule content is data: nothing here (or anywhere) turns it into source.

Normal form (what :func:`normalize` returns, and what is stored):

- ``"not"`` becomes ``"!"`` and a one-element list under ``"!"`` is unwrapped;
- nested ``and`` inside ``and`` (and ``or`` inside ``or``) are flattened, an
  ``and``/``or`` with one child is that child, and ``!!x`` is ``x``;
- condition params are the params model dumped as JSON without defaults;
- plain JsonLogic expressions are kept as written.

``normalize(normalize(r)) == normalize(r)`` and ``parse(to_json(t)) == t``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

from pydantic import BaseModel, ValidationError

from growthos_segments.core.contract import ConditionType, Reads
from growthos_segments.core.errors import RuleError, RuleValidationError, pointer, suggest
from growthos_segments.core.expressions import (
    EXPRESSION_OPERATORS,
    check_expression,
    expression_reads,
    object_keys,
)
from growthos_segments.core.host import PluginHost
from growthos_segments.core.ids import SEGMENT_ID_DESCRIPTION, SEGMENT_ID_RE
from growthos_segments.core.limits import (
    DEFAULT_LIMITS,
    MAX_NUMBER,
    MAX_SIGNIFICANT_DIGITS,
    MIN_NUMBER,
    Limits,
)
from growthos_segments.core.regex import regex_budget

__all__ = [
    "And",
    "Condition",
    "Expr",
    "Node",
    "Not",
    "Or",
    "SegmentRef",
    "iter_nodes",
    "load_json",
    "normalize",
    "parse_rule",
    "rule_reads",
    "segment_references",
    "to_json",
]

LOGIC_KEYS = frozenset({"and", "or", "!", "not"})
_ALIASES = {"not": "!"}


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class SegmentRef:
    segment_id: str


@dataclass(frozen=True)
class Condition:
    """A plugin condition with validated params (``type`` is the condition-type name)."""

    type: str
    params: BaseModel
    condition_type: ConditionType[Any]

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Condition)
            and self.type == other.type
            and self.params_json == other.params_json
        )

    def __hash__(self) -> int:
        return hash((self.type, json.dumps(self.params_json, sort_keys=True)))

    @cached_property
    def params_json(self) -> dict[str, Any]:
        return self.params.model_dump(mode="json", exclude_defaults=True)

    @cached_property
    def reads(self) -> Reads:
        return self.condition_type.reads(self.params)


@dataclass(frozen=True)
class Expr:
    """A plain JsonLogic expression over the contact document."""

    logic: Any

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expr) and _canonical(self.logic) == _canonical(other.logic)

    def __hash__(self) -> int:
        return hash(_canonical(self.logic))


Node = And | Or | Not | SegmentRef | Condition | Expr


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# --------------------------------------------------------------------------- output


def to_json(node: Node) -> Any:
    """The normal-form JSON of a tree."""
    if isinstance(node, And):
        return {"and": [to_json(c) for c in node.children]}
    if isinstance(node, Or):
        return {"or": [to_json(c) for c in node.children]}
    if isinstance(node, Not):
        return {"!": to_json(node.child)}
    if isinstance(node, SegmentRef):
        return {"segment": {"id": node.segment_id}}
    if isinstance(node, Condition):
        return {node.type: node.params_json}
    return node.logic


def iter_nodes(node: Node, path: str = "") -> Iterator[tuple[str, Node]]:
    """Every node of a tree with its JSON pointer in the normal form, depth first."""
    yield path, node
    if isinstance(node, And | Or):
        key = "and" if isinstance(node, And) else "or"
        for index, child in enumerate(node.children):
            yield from iter_nodes(child, f"{path}/{key}/{index}")
    elif isinstance(node, Not):
        yield from iter_nodes(node.child, f"{path}/!")


def segment_references(node: Node | None) -> list[tuple[str, str]]:
    """``(JSON pointer, segment id)`` of every segment reference in a tree, depth first."""
    if node is None:
        return []
    return [(path, item.segment_id) for path, item in iter_nodes(node) if isinstance(item, SegmentRef)]


def rule_reads(node: Node) -> Reads:
    """Everything a rule reads: the union of its conditions' declared reads."""
    total = Reads()
    for _, item in iter_nodes(node):
        if isinstance(item, Condition):
            total = total.union(item.reads)
        elif isinstance(item, SegmentRef):
            total = total.union(Reads(segments=frozenset({item.segment_id})))
        elif isinstance(item, Expr):
            total = total.union(expression_reads(item.logic))
    return total


# --------------------------------------------------------------------------- input


def parse_rule(raw: Any, host: PluginHost, limits: Limits = DEFAULT_LIMITS) -> Node:
    """Validate ``raw`` and return its normalised tree; raises with every error found.

    ``raw`` may be JSON text, a parsed JSON value, or a ``jsonlogic`` (jsonlogic-py)
    expression object built in Python.
    """
    raw = _coerce_input(raw, limits)
    errors = list(_check_limits(raw, limits))
    if errors:  # a rule over the limits is not walked further: it could be hostile
        raise RuleValidationError(errors)
    parser = _Parser(host, limits)
    node = parser.node(raw, [])
    if parser.errors:
        raise RuleValidationError(parser.errors)
    assert node is not None
    return node


def normalize(raw: Any, host: PluginHost, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Validate and return the normal-form JSON of a rule."""
    return to_json(parse_rule(raw, host, limits))


def _coerce_input(raw: Any, limits: Limits) -> Any:
    if isinstance(raw, str | bytes):
        if len(raw) > limits.max_text_length:
            raise RuleValidationError([RuleError(
                "", f"rule text is {len(raw):,} characters; the limit is {limits.max_text_length:,}")])
        try:
            return load_json(raw)
        except (ValueError, RecursionError) as exc:
            raise RuleValidationError([RuleError("", f"rule is not valid JSON: {exc}")]) from None
    module = type(raw).__module__ or ""
    if module == "jsonlogic" or module.startswith("jsonlogic."):
        # jsonlogic-py builders render themselves as JSON text; the rest is ours.
        return json.loads(str(raw))
    return raw


_Trail = tuple[Any, str | int] | None
"""A path as a linked list (parent, key): cheap to extend, turned into a pointer only on error."""


_PLAIN = frozenset({dict, list, tuple, str, float, int, bool, type(None)})
_CONVERTIBLE_DIGITS = 4300  # CPython's default cap on int <-> str conversion of long integers


def _pointer(trail: _Trail) -> str:
    parts: list[str | int] = []
    while trail is not None:
        trail, key = trail
        parts.append(key)
    return pointer(reversed(parts))


def load_json(text: str | bytes) -> Any:
    """``json.loads`` that reports an over-long integer like any other syntax error.

    CPython refuses to convert integers of more than 4,300 digits with a bare
    ``ValueError``; here it is a ``json.JSONDecodeError`` with a line and column,
    so every reader (rules, the CLI's files) answers it as invalid JSON. Bytes
    that are not text raise ``UnicodeDecodeError`` (a ``ValueError``), and absurdly
    nested text ``RecursionError``, as with ``json.loads``.
    """
    if isinstance(text, bytes):
        text = text.decode(json.detect_encoding(text))
    document = text

    def parse_int(digits: str) -> int:
        if len(digits) > _CONVERTIBLE_DIGITS:
            raise json.JSONDecodeError(
                f"integer of {len(digits):,} digits (numbers are at most {MAX_SIGNIFICANT_DIGITS} "
                "significant digits)", document, max(document.find(digits), 0))
        return int(digits)

    return json.loads(document, parse_int=parse_int)


def _number_problem(value: int | float) -> str | None:
    """Why a number cannot be stored (DynamoDB's number type), or None if it can."""
    if isinstance(value, float):
        if value != value:
            return "NaN is not a JSON number"
        if value in (math.inf, -math.inf):
            return "Infinity is not a JSON number"
        if value == 0.0 or 1e-129 < abs(value) < 9e125:
            return None
        shown = float.__repr__(value)  # the text a writer sends, compared exactly
        exact = abs(Decimal(shown))
        if exact > MAX_NUMBER:
            return f"number {shown} is too large; {_TOO_LARGE}"
        if exact < MIN_NUMBER:
            return f"number {shown} is too close to zero; non-zero numbers are at least 1E-130 in magnitude"
        return None  # a float has at most 17 significant digits
    whole = abs(int(value))
    if whole < 10**MAX_SIGNIFICANT_DIGITS:
        return None
    if whole > _MAX_INT:  # compared as ints: a Decimal would convert it through text
        return f"number is too large; {_TOO_LARGE}"
    shown = int.__repr__(int(value))
    digits = len(shown.lstrip("-").rstrip("0"))
    if digits > MAX_SIGNIFICANT_DIGITS:
        return f"number {shown} has {digits} significant digits; the limit is {MAX_SIGNIFICANT_DIGITS}"
    return None


_MAX_INT = int(MAX_NUMBER)
_TOO_LARGE = "numbers are at most 9.99E+125 in magnitude"


def _check_limits(raw: Any, limits: Limits) -> Iterator[RuleError]:
    """Walk the raw JSON iteratively (no recursion: depth is what we are checking).

    Besides the per-item limits it keeps two budgets for the whole rule, the
    number of values and the size as compact JSON, and stops at the first one
    exceeded: what is left of a rule that large is not worth walking.
    """
    nodes = 0
    values = 1
    size = 0
    stack: list[tuple[Any, _Trail, int]] = [(raw, None, 1)]
    reported_depth = False
    max_depth, max_list, max_string = limits.max_depth, limits.max_list_length, limits.max_string_length
    max_values, max_size = limits.max_values, limits.max_size
    encode = encode_basestring_ascii
    while stack:
        value, trail, depth = stack.pop()
        kind = type(value)
        if kind not in _PLAIN:  # subclasses (OrderedDict, str enums) get no free pass
            kind = next((base for base in (dict, list, tuple, str, float, int)
                         if isinstance(value, base)), kind)
        if kind is str:
            size += len(encode(value))
            if len(value) > max_string:
                yield RuleError(_pointer(trail),
                                f"string has {len(value)} characters; the limit is {max_string}")
        elif kind is dict or kind is list or kind is tuple:
            if depth > max_depth:
                if not reported_depth:
                    reported_depth = True
                    yield RuleError(_pointer(trail), f"rule is nested deeper than {max_depth} levels",
                                    "flatten nested and/or groups")
                continue
            values += len(value)
            if values > max_values:
                yield RuleError("", f"rule has more than {max_values:,} values (objects, lists, "
                                "strings, numbers, booleans and nulls)",
                                "split it into segments and reference them")
                return
            size += 1 + max(len(value), 1)  # brackets and commas
            if kind is dict:
                if len(value) == 1 or depth == 1:
                    nodes += 1
                    if nodes > limits.max_nodes:
                        yield RuleError("", f"rule has more than {limits.max_nodes} nodes",
                                        "split it into segments and reference them")
                        return
                for key, item in value.items():
                    if type(key) is not str:
                        yield RuleError(_pointer(trail), "object keys must be strings")
                    elif len(key) > max_string:
                        yield RuleError(_pointer(trail),
                                        f"object key has {len(key)} characters; the limit is {max_string}")
                    else:
                        size += len(encode(key)) + 1  # the key and its colon
                        stack.append((item, (trail, key), depth + 1))
            elif len(value) > max_list:
                yield RuleError(_pointer(trail), f"list has {len(value)} items; the limit is {max_list}")
            else:
                for index, item in enumerate(value):
                    # A list inside a list is one level deeper (objects count their own
                    # level); without this, [[[...]]] could nest past Python's recursion limit.
                    inner = type(item) is list or type(item) is tuple
                    stack.append((item, (trail, index), depth + 1 if inner else depth))
        elif kind is int or kind is float:
            problem = _number_problem(value)
            if problem is not None:
                yield RuleError(_pointer(trail), problem)
                size += 1
            else:
                size += len(float.__repr__(value) if kind is float else int.__repr__(value))
        elif value is None or kind is bool:
            size += 4 if value is None or value else 5
        if size > max_size:
            yield RuleError("", f"rule is more than {max_size:,} characters as compact JSON",
                            "split it into segments and reference them")
            return


class _Parser:
    def __init__(self, host: PluginHost, limits: Limits) -> None:
        self.host = host
        self.errors: list[RuleError] = []
        self.context = regex_budget(limits.max_regexes)
        """Validation context shared by every condition of the rule (it counts patterns)."""

    def fail(self, path: list[str | int], message: str, suggestion: str | None = None) -> None:
        self.errors.append(RuleError(pointer(path), message, suggestion))

    def node(self, raw: Any, path: list[str | int]) -> Node | None:
        if not isinstance(raw, dict):
            kind = "a list" if isinstance(raw, list) else f"the value {json.dumps(raw)[:40]}"
            self.fail(path, f"expected a rule object like {{\"and\": [...]}}, got {kind}")
            return None
        if len(raw) != 1:
            keys = ", ".join(repr(k) for k in list(raw)[:5]) or "none"
            self.fail(path, f"a rule node has exactly one key, got {len(raw)} ({keys})",
                      "wrap several conditions in {\"and\": [...]}" if len(raw) > 1 else None)
            return None
        (key, value), = raw.items()
        here = [*path, key]
        if key in LOGIC_KEYS and self.is_plain_logic(value):
            # and/or/! over literals is plain JsonLogic (value semantics, e.g.
            # {"or": [0, "x"]}); only rule objects can be combined by our nodes.
            return self.expression({_ALIASES.get(key, key): value}, path)
        if key in ("and", "or"):
            return self.group(key, value, here)
        if key in ("!", "not"):
            return self.negation(value, here)
        if key == "segment":
            return self.segment(value, here)
        condition_type = self.host.condition_type(key)
        if condition_type is not None:
            return self.condition(condition_type, value, here)
        if key in EXPRESSION_OPERATORS:
            return self.expression(raw, path)
        ours = [*self.host.condition_types, "and", "or", "!", "segment"]
        hint = suggest(key, ours) or suggest(key, EXPRESSION_OPERATORS)
        self.fail(path, f"unknown condition type {key!r}", hint)
        return None

    def is_plain_logic(self, value: Any) -> bool:
        """True when a logic node holds a literal and no condition: a JsonLogic expression."""
        items = value if isinstance(value, list) else [value]
        if all(isinstance(item, dict) for item in items):
            return False
        names = set(self.host.condition_types) | {"segment"}
        return not any(key in names for _, key in object_keys(value))

    def group(self, key: str, value: Any, path: list[str | int]) -> Node | None:
        if not isinstance(value, list):
            self.fail(path, f"{key!r} takes a list of rules")
            return None
        if not value:
            self.fail(path, f"{key!r} needs at least one rule")
            return None
        children: list[Node] = []
        kind = And if key == "and" else Or
        for index, item in enumerate(value):
            child = self.node(item, [*path, index])
            if child is None:
                continue
            if isinstance(child, kind):
                children.extend(child.children)  # flatten and-in-and / or-in-or
            else:
                children.append(child)
        if not children:
            return None
        if len(children) == 1:
            return children[0]
        return kind(tuple(children))

    def negation(self, value: Any, path: list[str | int]) -> Node | None:
        if isinstance(value, list):
            if len(value) != 1:
                self.fail(path, f"'!' takes exactly one rule, got {len(value)}")
                return None
            value, path = value[0], [*path, 0]
        child = self.node(value, path)
        if child is None:
            return None
        return child.child if isinstance(child, Not) else Not(child)

    def segment(self, value: Any, path: list[str | int]) -> Node | None:
        if not isinstance(value, dict) or set(value) != {"id"}:
            self.fail(path, "a segment reference is {\"segment\": {\"id\": \"<segment id>\"}}")
            return None
        segment_id = value["id"]
        if not isinstance(segment_id, str) or not SEGMENT_ID_RE.fullmatch(segment_id):
            self.fail([*path, "id"], f"segment id must be {SEGMENT_ID_DESCRIPTION}")
            return None
        return SegmentRef(segment_id)

    def condition(self, condition_type: ConditionType[Any], value: Any, path: list[str | int]) -> Node | None:
        try:
            params = condition_type.params.model_validate(value, context=self.context)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                ctx = error.get("ctx") or {}
                field = ctx.get("field")  # set by core.errors.field_error
                where = (*error["loc"], field) if isinstance(field, str) else error["loc"]
                loc = _json_location(value, where)
                if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
                    loc.append(str(ctx.get("discriminator", "op")).strip("'"))
                message, suggestion = _message(condition_type, error)
                self.fail([*path, *loc], message, suggestion)
            return None
        except (ValueError, TypeError) as exc:  # validators outside pydantic's wrapping
            self.fail(path, str(exc))
            return None
        return Condition(condition_type.name, params, condition_type)

    def expression(self, raw: dict[str, Any], path: list[str | int]) -> Node | None:
        raw = _rename_not(raw)
        wide = [RuleError(pointer(path) + where, f"integer {number} is too large for a plain JsonLogic "
                          "expression (64 bits)", "write it as a decimal number, e.g. 1e40")
                for where, number in _wide_integers(raw)]
        if wide:  # datalogic cannot even read the expression
            self.errors.extend(wide)
            return None
        problems = check_expression(raw, set(self.host.condition_types))
        for sub_path, message, suggestion in problems:
            self.errors.append(RuleError(pointer(path) + sub_path, message, suggestion))
        return None if problems else Expr(raw)


def _rename_not(value: Any) -> Any:
    """jsonlogic-py emits ``"not"``; JsonLogic (and our normal form) spells it ``"!"``."""
    if isinstance(value, dict):
        return {_ALIASES.get(k, k) if len(value) == 1 else k: _rename_not(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename_not(v) for v in value]
    return value


def _wide_integers(value: Any) -> Iterator[tuple[str, int]]:
    """Integers outside datalogic's range (a signed or unsigned 64-bit integer), with their pointers."""
    stack: list[tuple[Any, _Trail]] = [(value, None)]
    while stack:
        item, trail = stack.pop()
        if isinstance(item, dict):
            stack.extend((child, (trail, key)) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, (trail, index)) for index, child in enumerate(item))
        elif isinstance(item, int) and not isinstance(item, bool) and not -(2**63) <= item < 2**64:
            yield _pointer(trail), item


def _json_location(value: Any, loc: tuple[Any, ...]) -> list[str | int]:
    """Pydantic's ``loc`` as a path into the JSON the user wrote.

    Discriminated unions insert the tag (``"within_last"``) and validators their
    names into ``loc``; those are not steps in the document, so only parts that
    exist in the input are kept, plus a final one naming a missing field.
    """
    out: list[str | int] = []
    current = value
    for index, part in enumerate(loc):
        in_object = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_object or in_list:
            current = current[part]
            out.append(part)
        elif index == len(loc) - 1 and isinstance(part, str | int):
            out.append(part)
    return out


def _message(condition_type: ConditionType[Any], error: Mapping[str, Any]) -> tuple[str, str | None]:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "union_tag_invalid":
        tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",") if t.strip()]
        field = ctx.get("discriminator", "'op'").strip("'")
        hint = suggest(str(ctx.get("tag")), tags)
        return f"unknown {field} {ctx.get('tag')!r}", hint or f"one of: {', '.join(tags)}"
    if kind == "union_tag_not_found":
        return f"{str(ctx.get('discriminator', 'op')).strip(chr(39))!r} is required", None
    if kind == "extra_forbidden" and error["loc"]:
        return "unknown parameter", suggest(str(error["loc"][-1]), _schema_fields(condition_type.params))
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    return message, None


def _schema_fields(model: type[BaseModel]) -> set[str]:
    schema = model.model_json_schema()
    names: set[str] = set(schema.get("properties", {}))
    for definition in schema.get("$defs", {}).values():
        names.update(definition.get("properties", {}))
    return names
