"""The condition-type contract: what a plugin gives the engine for each condition.

A condition type is data plus one factory. The engine validates params with the
pydantic model on save, then calls ``compile(params)`` once per rule version; the
returned predicate is a plain callable on the per-contact path (no pluggy, no
validation, no parsing there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from growthos_segments.core.view import ContactView

__all__ = [
    "ConditionType",
    "Predicate",
    "Reads",
    "Result",
    "Template",
]

Result = tuple[bool, datetime | None]
"""``(match, recheck_at)``: ``recheck_at`` is the earliest instant the match could
change with no new data, or ``None`` if it never can."""

Predicate = Callable[[ContactView, datetime], Result]
"""``predicate(view, now) -> (match, recheck_at)``. Pure: never reads the clock."""

P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Reads:
    """What a compiled condition reads; feeds the dependency index and the loader.

    ``attributes`` are dotted paths in the contact document (``attributes.plan``,
    ``tags``, ``scores.nps``); ``events`` are event-name prefixes (``email.``,
    ``order.completed``); ``lookback`` is how far back events matter (``None``:
    no events read; ``timedelta.max``: all history). ``segments`` lists the
    segment ids referenced; ``context`` the tenant-context namespaces read
    (``rfm``): when a tenant's stored context changes, the segments declaring
    a context read are backfilled.
    """

    attributes: frozenset[str] = frozenset()
    events: frozenset[str] = frozenset()
    lookback: timedelta | None = None
    segments: frozenset[str] = frozenset()
    context: frozenset[str] = frozenset()

    def union(self, other: Reads) -> Reads:
        lookbacks = [x for x in (self.lookback, other.lookback) if x is not None]
        return Reads(
            attributes=self.attributes | other.attributes,
            events=self.events | other.events,
            lookback=max(lookbacks) if lookbacks else None,
            segments=self.segments | other.segments,
            context=self.context | other.context,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "attributes": sorted(self.attributes),
            "events": sorted(self.events),
            "lookback_seconds": None
            if self.lookback is None
            else (None if self.lookback == timedelta.max else int(self.lookback.total_seconds())),
            "all_history": self.lookback == timedelta.max,
            "segments": sorted(self.segments),
            "context": sorted(self.context),
        }


@dataclass(frozen=True)
class ConditionType(Generic[P]):
    """One condition type contributed by a plugin.

    - ``name``: the key used in rules, ``{"<name>": {params}}``; unique per host.
    - ``params``: pydantic model; its JSON Schema drives the rule-builder UI.
    - ``compile(params) -> Predicate``: called once per rule version.
    - ``reads(params) -> Reads``: declared inputs of one configured condition.
    - ``describe(params) -> str``: optional human wording for explanations.
    - ``examples``: params objects (as JSON) that validate against ``params``.
    """

    name: str
    label: str
    description: str
    category: str
    params: type[P]
    compile: Callable[[P], Predicate]
    reads: Callable[[P], Reads]
    examples: Sequence[Mapping[str, Any]] = ()
    describe: Callable[[P], str] | None = None
    bulk_compile: Callable[[P], Any] | None = field(default=None)
    """The condition as SQL, for whole-tenant answers (``growthos_segments.analytics``):
    ``bulk_compile(params)`` returns a ``growthos_segments.kit.sql.SqlForm`` (a sqlglot
    predicate, plus per-contact aggregates over events), or ``None`` when no SQL form
    answers exactly as ``compile`` does for these params. Without it (or with ``None``)
    rules using the condition are answered per contact. Typed ``Any`` so that core
    does not import sqlglot."""

    def catalog_entry(self) -> dict[str, Any]:
        """The public description for ``segments condition-types`` and the API."""
        return {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "category": self.category,
            "schema": self.params.model_json_schema(),
            "examples": [{self.name: dict(example)} for example in self.examples],
        }


@dataclass(frozen=True, slots=True)
class Template:
    """A pre-built segment a plugin offers (``register_templates``)."""

    id: str
    name: str
    description: str
    rule: Mapping[str, Any]
    category: str = "general"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "category": self.category,
            "rule": dict(self.rule),
        }
