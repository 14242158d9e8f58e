"""Segments: a rule plus how it composes with the tenant's other segments.

A tenant's segments are compiled together in a :class:`SegmentSet` because they
depend on each other: references (``{"segment": {"id": ...}}``), pinned
segments (ANDed into every other audience of the tenant, e.g. "not
unsubscribed"), exclusions, and manually selected contacts. Building the set
rejects unknown references and cycles, and fixes a dependency order in which
referenced segments are evaluated first, once per contact.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from growthos_segments.core.compiler import Explanation, compile_rule
from growthos_segments.core.contract import Reads, Result
from growthos_segments.core.errors import RuleError, RuleValidationError
from growthos_segments.core.graph import ReferenceGraph
from growthos_segments.core.host import PluginHost
from growthos_segments.core.limits import DEFAULT_LIMITS, Limits
from growthos_segments.core.rules import (
    And,
    Node,
    Not,
    SegmentRef,
    parse_rule,
    rule_reads,
    segment_references,
)
from growthos_segments.core.view import ContactView

__all__ = [
    "MAX_NAME_LENGTH",
    "MAX_VERSION",
    "CompiledSegment",
    "SegmentDefinition",
    "SegmentSet",
    "SegmentSetError",
    "SegmentType",
    "refuse_control_characters",
]


class SegmentType(StrEnum):
    SHARED = "shared"
    """A named audience other modules use."""
    EMBEDDED = "embedded"
    """Owned by one module (a sequence's entry rule); hidden from audience lists."""
    PINNED = "pinned"
    """ANDed into every other audience of the tenant (e.g. "is not unsubscribed")."""
    STATIC = "static"
    """A fixed list of contacts: ``include_contacts`` only, no rule."""


@dataclass(frozen=True)
class SegmentDefinition:
    """What a user saves. ``rule`` is raw JSON (normalised when the set is built)."""

    id: str
    rule: Any = None
    version: int = 1
    name: str = ""
    type: SegmentType = SegmentType.SHARED
    exclude_segments: tuple[str, ...] = ()
    include_contacts: frozenset[str] = field(default_factory=frozenset)
    exclude_contacts: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        _check_name(self.name)
        # Accept plain strings and lists from callers; store the canonical types.
        object.__setattr__(self, "type", SegmentType(self.type))
        object.__setattr__(self, "exclude_segments", tuple(self.exclude_segments))
        object.__setattr__(self, "include_contacts", frozenset(self.include_contacts))
        object.__setattr__(self, "exclude_contacts", frozenset(self.exclude_contacts))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SegmentDefinition:
        """A definition from parsed JSON; raises ``KeyError``, ``TypeError`` or ``ValueError``."""
        version = data.get("version", 1)
        if type(version) is not int or not 1 <= version <= MAX_VERSION:
            raise ValueError(f"version must be an integer from 1 to {MAX_VERSION}")
        return cls(
            id=str(data["id"]),
            rule=data.get("rule"),
            version=version,
            name=data.get("name", ""),
            type=SegmentType(data.get("type", "shared")),
            exclude_segments=tuple(data.get("exclude_segments", ())),
            include_contacts=frozenset(data.get("include_contacts", ())),
            exclude_contacts=frozenset(data.get("exclude_contacts", ())),
        )


MAX_NAME_LENGTH = 200
MAX_VERSION = 2**53 - 1
"""Versions count saves from 1; the bound keeps them exact in every JSON reader."""


def refuse_control_characters(text: str, allowed: str = "") -> str:
    """Names, descriptions and labels end up in logs, terminals and CSV exports, which a
    control character (Unicode category Cc) breaks: refuse one, saying where. ``allowed``
    holds the ones a text may contain (line breaks in a description)."""
    for index, char in enumerate(text):
        if unicodedata.category(char) == "Cc" and char not in allowed:
            raise ValueError(f"control character U+{ord(char):04X} at position {index} is not allowed")
    return text


def _check_name(name: str) -> None:
    if not isinstance(name, str):
        raise TypeError("name must be a string")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"name is {len(name)} characters; the limit is {MAX_NAME_LENGTH}")
    try:
        refuse_control_characters(name)
    except ValueError as exc:
        raise ValueError(f"name: {exc}") from None


class SegmentSetError(ValueError):
    """Errors in a set of segments, per segment id (JSON pointers into each rule)."""

    def __init__(self, errors: Mapping[str, Sequence[RuleError]]) -> None:
        self.errors = {k: tuple(v) for k, v in errors.items()}
        parts = [f"{sid}{e.path}: {e.message}" for sid, errs in self.errors.items() for e in errs]
        super().__init__("; ".join(parts))


class CompiledSegment:
    """One segment ready to evaluate: manual picks first, then the effective rule."""

    __slots__ = ("definition", "effective", "evaluate", "node", "reads", "rule")

    def __init__(self, definition: SegmentDefinition, node: Node | None, effective: Node | None) -> None:
        self.definition = definition
        self.node = node
        """The segment's own rule, normalised (``None`` for static segments)."""
        self.effective = effective
        """The rule actually evaluated: own rule AND pinned AND NOT exclusions."""
        self.rule = compile_rule(effective) if effective is not None else None
        self.reads: Reads = rule_reads(effective) if effective is not None else Reads()
        self.evaluate = self._build()

    def _build(self) -> Any:
        included = self.definition.include_contacts
        excluded = self.definition.exclude_contacts
        rule = self.rule.evaluate if self.rule is not None else None

        if not included and not excluded and rule is not None:
            return rule

        def evaluate(view: ContactView, now: datetime) -> Result:
            contact_id = view.contact_id
            if contact_id in excluded:
                return False, None
            if contact_id in included:
                return True, None
            return rule(view, now) if rule is not None else (False, None)

        return evaluate

    def explain(self, view: ContactView, now: datetime) -> Explanation:
        contact_id = view.contact_id
        manual = None
        if contact_id in self.definition.exclude_contacts:
            manual = (False, "contact is excluded by hand")
        elif contact_id in self.definition.include_contacts:
            manual = (True, "contact is included by hand")
        elif self.rule is None:
            manual = (False, "static segment: contact is not in its list")
        if manual is not None:
            trace = {"path": "", "kind": "manual", "match": manual[0], "recheck_at": None,
                     "description": manual[1]}
            return Explanation(manual[0], None, trace)
        assert self.rule is not None
        return self.rule.explain(view, now)


class SegmentSet:
    """Segment definitions validated and compiled together, so that references,
    pinned segments and exclusions resolve within the set.

    Any error in any definition (including an unknown reference or a cycle) refuses
    the whole set with :class:`SegmentSetError`: the audience API builds one to check
    a save or to evaluate a draft with the segments it needs. What evaluation runs
    for a tenant is :class:`growthos_segments.core.membership.TenantSegments`, which
    holds one of these.
    """

    def __init__(
        self,
        host: PluginHost,
        definitions: Iterable[SegmentDefinition],
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.definitions = {d.id: d for d in definitions}
        errors: dict[str, list[RuleError]] = {}
        own: dict[str, Node | None] = {}
        for segment_id, definition in self.definitions.items():
            if definition.type is SegmentType.STATIC or definition.rule is None:
                if definition.type is not SegmentType.STATIC:
                    errors.setdefault(segment_id, []).append(RuleError("", "a rule is required"))
                own[segment_id] = None
                continue
            try:
                own[segment_id] = parse_rule(definition.rule, host, limits)
            except RuleValidationError as exc:
                errors.setdefault(segment_id, []).extend(exc.errors)
        pinned = sorted(
            sid for sid, d in self.definitions.items() if d.type is SegmentType.PINNED and sid not in errors
        )
        effective: dict[str, Node | None] = {}
        for segment_id, node in own.items():
            definition = self.definitions[segment_id]
            effective[segment_id] = _effective(definition, node, pinned)
            for bad in _unknown_references(segment_id, definition, effective[segment_id], self.definitions):
                errors.setdefault(segment_id, []).append(bad)
        references = {sid: segment_references(node) for sid, node in effective.items()}
        graph = ReferenceGraph({sid: [ref for _, ref in refs] for sid, refs in references.items()})
        if not errors:
            for segment_id, index, loop in graph.cycles:
                errors.setdefault(segment_id, []).append(RuleError(
                    references[segment_id][index][0], "segment reference cycle: " + " → ".join(loop),
                    "remove one of the references"))
            depth: dict[str, int] = {}
            for segment_id in graph.order:
                refs = references[segment_id]
                deepest = max(range(len(refs)), key=lambda i: depth.get(refs[i][1], 0), default=None)
                depth[segment_id] = 1 + (depth.get(refs[deepest][1], 0) if deepest is not None else 0)
                if depth[segment_id] > limits.max_reference_depth and deepest is not None:
                    errors.setdefault(segment_id, []).append(RuleError(
                        refs[deepest][0],
                        f"segment references chain {depth[segment_id]} segments deep from here; "
                        f"the limit is {limits.max_reference_depth}",
                        "shorten the chain: copy referenced segments' conditions into this rule"))
        if errors:
            raise SegmentSetError(errors)
        self.order: list[str] = graph.order
        """Segment ids, each after every segment it references."""
        self.segments: dict[str, CompiledSegment] = {
            sid: CompiledSegment(self.definitions[sid], own[sid], effective[sid]) for sid in self.order
        }

    def view(self, doc: Mapping[str, Any], *, context: Mapping[str, Any] | None = None) -> ContactView:
        """A view whose segment references resolve within this set (memoised per view)."""
        return ContactView(doc, context=context, segments=self._resolve)

    def _resolve(self, segment_id: str, view: ContactView, now: datetime) -> Result:
        cache: dict[str, Result] = view.memo(("segments", id(self), now), dict)
        result = cache.get(segment_id)
        if result is None:
            segment = self.segments.get(segment_id)
            result = segment.evaluate(view, now) if segment is not None else (False, None)
            cache[segment_id] = result
        return result

    def evaluate(
        self, view: ContactView, now: datetime, only: Iterable[str] | None = None
    ) -> dict[str, Result]:
        """Membership of one contact in every segment (or ``only`` these), in dependency order."""
        wanted = None if only is None else set(only)
        return {
            sid: self._resolve(sid, view, now) for sid in self.order if wanted is None or sid in wanted
        }

    def explain(self, segment_id: str, view: ContactView, now: datetime) -> Explanation:
        return self.segments[segment_id].explain(view, now)


def _effective(definition: SegmentDefinition, node: Node | None, pinned: Sequence[str]) -> Node | None:
    if node is None:
        return None
    parts: list[Node] = [node]
    if definition.type is not SegmentType.PINNED:
        parts.extend(SegmentRef(p) for p in pinned if p != definition.id)
    parts.extend(Not(SegmentRef(x)) for x in definition.exclude_segments)
    if len(parts) == 1:
        return node
    flat: list[Node] = []
    for part in parts:
        flat.extend(part.children if isinstance(part, And) else (part,))
    return And(tuple(flat))


def _unknown_references(
    segment_id: str,
    definition: SegmentDefinition,
    node: Node | None,
    known: Mapping[str, SegmentDefinition],
) -> Iterable[RuleError]:
    for index, excluded in enumerate(definition.exclude_segments):
        if excluded not in known:
            yield RuleError(f"/exclude_segments/{index}", f"unknown segment {excluded!r}")
    for path, ref in segment_references(node):
        if ref not in known and ref not in definition.exclude_segments:
            yield RuleError(path, f"unknown segment {ref!r}")
        elif ref == segment_id:
            yield RuleError(path, "a segment cannot reference itself")
