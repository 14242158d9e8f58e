"""Field help: what attribute paths and event names a tenant's data has, and rules that miss them.

A rule that names a field no contact has (``pln`` for ``plan``) is valid and
silently estimates 0. So the engine keeps, per tenant, the attribute paths it
has observed (with JSON types and a few samples) and the event names (with
counts), and validation warns about a condition that reads anything else.

Cost is bounded by construction:

- The catalog is read once per tenant per container and then kept for
  ``refresh_seconds`` (or until this container stores a path or name it did
  not know); a batch whose paths and event names are all known writes nothing
  for paths, and one ADD per (tenant, event name) for counts.
- A stream batch says which paths changed but not their values, so the
  profiles of contacts that may show something new (a new contact, a changed
  path not yet known) are read, at most ``profile_reads`` per batch: the
  vocabulary of a tenant is small and repeats, so a sample of a batch learns it.
- At most :data:`~growthos_segments.core.ports.FIELD_CAP` paths and as many
  event names per tenant are stored; past that, new ones are ignored. Containers
  that learn at the same time may each add some before they see the cap, so
  the store can exceed it by what they add meanwhile; the catalog read returns
  at most the cap.

Event counts are approximate: a batch counts each event name once per contact
that had it (the stream change merges a contact's events), and a redelivered
batch counts again. They tell a marketer which events are common, not how many
there were. The local initial load counts every event exactly.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from growthos_segments.core.errors import suggest
from growthos_segments.core.expressions import expression_reads
from growthos_segments.core.ports import (
    FIELD_CAP,
    SAMPLE_CAP,
    SAMPLE_CHARS,
    ContactChanges,
    ContactViewLoader,
    FieldCatalog,
    ObservedAttribute,
    ObservedFields,
    Sample,
    sample_key,
)
from growthos_segments.core.rules import Condition, Expr, Node, iter_nodes

__all__ = ["FieldsService", "RuleWarning", "document_samples", "observe_documents", "rule_warnings"]

MAPS = ("attributes", "scores", "suppression")
"""Document fields that are maps: observed down to their leaves (``attributes.custom.x``)."""
NAMES = ("tags", "lists")
"""Document fields that are lists of names: each name is observed as ``tags.<name>``."""
WARNED = ("attributes", "scores", "tags", "lists")
"""Top-level fields whose reads are checked. Suppression flags are fixed by the document
contract (a condition picks one from an enum), so a flag no contact has yet is no typo."""
MAX_PATH = 256
"""Longer paths and names are not observed (no rule builder completes them)."""


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple | set | frozenset):
        return "array"
    return "object"


def _sample(value: Any) -> Sample | None:
    if isinstance(value, str):
        return value[:SAMPLE_CHARS]
    if isinstance(value, bool | int | float):
        return value
    return None


def _samples(value: Any) -> Iterator[Sample]:
    """The samples one leaf value gives: itself, or each item of a list."""
    for item in value if isinstance(value, list | tuple) else [value]:
        sample = _sample(item)
        if sample is not None:
            yield sample


@dataclass
class _Path:
    types: set[str] = field(default_factory=set)
    samples: list[Sample] = field(default_factory=list)

    def add(self, value: Any) -> None:
        self.types.add(_json_type(value))
        for sample in _samples(value):
            if sample not in self.samples and len(self.samples) < SAMPLE_CAP:
                self.samples.append(sample)


def _leaves(value: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    """The observed paths below a map with their values (maps are walked, not observed)."""
    for key, child in value.items():
        path = f"{prefix}.{key}"
        if len(path) > MAX_PATH:
            continue
        if isinstance(child, Mapping):
            yield from _leaves(child, path)
        else:
            yield path, child


def _document_leaves(doc: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for name in MAPS:
        value = doc.get(name)
        if isinstance(value, Mapping):
            yield from _leaves(value, name)


def document_samples(doc: Mapping[str, Any]) -> dict[str, list[Sample]]:
    """Every sample one contact document could have given each observed path, as
    :func:`observe_documents` takes them but without its cap: what to remove from the
    catalog when the contact is forgotten, whichever of its values were kept."""
    found: dict[str, dict[tuple[bool, Sample], Sample]] = {}
    for path, child in _document_leaves(doc):
        for sample in _samples(child):
            found.setdefault(path, {})[sample_key(sample)] = sample
    return {path: list(samples.values()) for path, samples in found.items()}


def observe_documents(docs: Iterable[Mapping[str, Any]]) -> tuple[list[ObservedAttribute], Counter[str]]:
    """The attribute paths of contact documents (types, first samples) and their events' names, counted."""
    paths: dict[str, _Path] = {}
    events: Counter[str] = Counter()
    for doc in docs:
        for path, child in _document_leaves(doc):
            paths.setdefault(path, _Path()).add(child)
        for name in NAMES:
            for item in doc.get(name) or ():
                if isinstance(item, str) and len(item) + len(name) < MAX_PATH:
                    paths.setdefault(f"{name}.{item}", _Path())
        for event in doc.get("events") or ():
            event_name = event.get("name") if isinstance(event, Mapping) else None
            if isinstance(event_name, str) and event_name and len(event_name) <= MAX_PATH:
                events[event_name] += 1
    observed = [ObservedAttribute(p, frozenset(v.types), tuple(v.samples)) for p, v in sorted(paths.items())]
    return observed, events


# --------------------------------------------------------------------------- warnings


@dataclass(frozen=True, slots=True)
class RuleWarning:
    """Something a valid rule reads that the tenant's data has never had."""

    path: str
    """JSON pointer of the condition node in the rule's normal form."""
    message: str
    suggestion: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "message": self.message, "suggestion": self.suggestion}


class _Vocabulary:
    """Known paths and event names with their ancestors, so whether a read is known is a
    few set lookups however large the catalog (a validation must stay cheap)."""

    def __init__(self, paths: Iterable[str], events: Iterable[str] = ()) -> None:
        self.paths = set(paths)
        self.above = {a for p in self.paths for a in _ancestors(p)}
        """Paths with something known below them (``tags`` when ``tags.vip`` is known)."""
        self.events = set(events)
        self.families = {a + "." for n in self.events for a in _ancestors(n)}
        """``email.`` when ``email.opened`` is known: the prefixes some known name is under."""
        self._siblings: dict[str, list[str]] = {}
        self._suggestions: dict[tuple[str, str | None], str | None] = {}

    def knows(self, path: str) -> bool:
        """A read of a map or list (``tags``, ``attributes.custom``) is known when anything
        below it is; a read below a known path (an array's element) is known too."""
        return path in self.paths or path in self.above or any(a in self.paths for a in _ancestors(path))

    def has_event(self, prefix: str) -> bool:
        """Whether any known name is one a condition reading ``prefix`` sees (as
        :func:`growthos_segments.core.dependencies.event_matches` decides)."""
        if not prefix:
            return bool(self.events)
        if prefix in self.families:
            return True
        return not prefix.endswith(".") and (prefix in self.events or prefix + "." in self.families)

    def suggest(self, word: str, parent: str | None) -> str | None:
        """The closest known leaf below ``parent`` (an event name when ``None``), remembered:
        a rule builder validates the same rule again after every edit."""
        key = (word, parent)
        if key not in self._suggestions:
            if len(self._suggestions) >= 4096:
                self._suggestions.clear()
            choices = self.events if parent is None else self.siblings(parent)
            self._suggestions[key] = suggest(word, choices)
        return self._suggestions[key]

    def siblings(self, parent: str) -> list[str]:
        """The names directly below ``parent`` (what a misspelt leaf is compared with)."""
        found = self._siblings.get(parent)
        if found is None:
            found = self._siblings[parent] = sorted(
                {p[len(parent) + 1:].split(".")[0] for p in self.paths if p.startswith(parent + ".")})
        return found


def _ancestors(path: str) -> list[str]:
    parts = path.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


SUGGESTED = 5
"""Warnings per rule that get a suggestion: each new one compares a name with up to a
catalog's worth of names (20-40 ms against 2,000), so a rule full of unknown names stays
cheap to validate."""

_last: list[tuple[FieldCatalog, _Vocabulary]] = []
"""The vocabulary of the catalog last checked against: a container answers many
validations from one cached catalog, and building it costs more than checking a rule."""


def _vocabulary(catalog: FieldCatalog) -> _Vocabulary:
    last = _last[0] if _last else None
    if last is not None and last[0] is catalog:
        return last[1]
    built = _Vocabulary((a.path for a in catalog.attributes), catalog.events)
    _last[:] = [(catalog, built)]
    return built


def rule_warnings(node: Node, catalog: FieldCatalog) -> list[RuleWarning]:
    """A warning per condition (or plain JsonLogic) node per path or event it reads that the
    tenant never had. An empty catalog gives none: nothing observed yet (a new tenant, or
    data loaded before the catalog existed) is no evidence that a name is wrong."""
    if catalog.empty:
        return []
    known = _vocabulary(catalog)
    warnings: list[RuleWarning] = []

    def suggestion(word: str, parent: str | None) -> str | None:
        return known.suggest(word, parent) if len(warnings) < SUGGESTED else None

    for pointer, item in iter_nodes(node):
        if not isinstance(item, Condition | Expr):
            continue
        reads = item.reads if isinstance(item, Condition) else expression_reads(item.logic)
        for path in sorted(reads.attributes):
            if path.split(".")[0] in WARNED and not known.knows(path):
                parent, _, leaf = path.rpartition(".")
                warnings.append(RuleWarning(pointer, f"no contact of this tenant has had `{path}`",
                                            suggestion(leaf, parent)))
        for prefix in sorted(reads.events):
            if prefix and not known.has_event(prefix):  # "" (every event) names nothing to miss
                shown = prefix + "*" if prefix.endswith(".") else prefix
                warnings.append(RuleWarning(pointer, f"no event named `{shown}` has arrived for this tenant",
                                            suggestion(prefix.rstrip("."), None)))
    return warnings


# --------------------------------------------------------------------------- the service


@dataclass
class _Known:
    read_at: float
    paths: dict[str, frozenset[str]]
    events: set[str]
    catalog: FieldCatalog
    """What was read, at most the service's cap of each (one object per read)."""
    vocabulary: _Vocabulary


class FieldsService:
    """Keeps a tenant's observed fields up to date and answers with them, caching per container."""

    def __init__(
        self,
        store: ObservedFields,
        *,
        refresh_seconds: float = 60.0,
        profile_reads: int = 10,
        cap: int = FIELD_CAP,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.refresh_seconds = refresh_seconds
        self.profile_reads = profile_reads
        self.cap = cap
        self._monotonic = monotonic
        self._known: dict[str, _Known] = {}
        self._lock = threading.Lock()

    def _tenant(self, tenant_id: str) -> _Known:
        now = self._monotonic()
        with self._lock:
            known = self._known.get(tenant_id)
        if known is None or now - known.read_at >= self.refresh_seconds:
            stored = self.store.catalog(tenant_id)
            catalog = FieldCatalog(
                tuple(sorted(stored.attributes, key=lambda a: a.path)[: self.cap]),
                dict(sorted(stored.events.items())[: self.cap]),
            )
            paths = {a.path: a.types for a in catalog.attributes}
            known = _Known(now, paths, set(catalog.events), catalog, _Vocabulary(paths))
            with self._lock:
                self._known[tenant_id] = known
        return known

    def catalog(self, tenant_id: str) -> FieldCatalog:
        """The tenant's catalog as read at most ``refresh_seconds`` ago, at most ``cap`` of each."""
        return self._tenant(tenant_id).catalog

    def record(
        self, tenant_id: str, attributes: Sequence[ObservedAttribute], events: Mapping[str, int]
    ) -> None:
        """Store what is new to this container (paths, or types of a path) within the cap,
        and add every event count."""
        known = self._tenant(tenant_id)
        new: list[ObservedAttribute] = []
        room = self.cap - len(known.paths)
        for attribute in attributes:
            types = known.paths.get(attribute.path)
            if types is None:
                if room <= 0:
                    continue
                room -= 1
            if types is None or not attribute.types <= types:
                new.append(attribute)
        room = self.cap - len(known.events)
        counts: dict[str, int] = {}
        for name, count in events.items():
            if name not in known.events:
                if room <= 0:
                    continue
                room -= 1
            counts[name] = count
        if new:
            self.store.add_attributes(tenant_id, new)
        if counts:
            self.store.count_events(tenant_id, counts)
        if new or not counts.keys() <= known.events:
            with self._lock:  # learnt something: the next question reads the store again
                self._known.pop(tenant_id, None)

    def observe_documents(self, tenant_id: str, docs: Iterable[Mapping[str, Any]]) -> None:
        """Learn from whole contact documents with their events (an import, the demo seed)."""
        attributes, events = observe_documents(docs)
        self.record(tenant_id, attributes, events)

    def observe_changes(
        self, changes: Sequence[ContactChanges], views: ContactViewLoader, now: datetime
    ) -> int:
        """Learn from one stream batch; returns how many profiles were read.

        Event names come from the changes. A contact's profile is read (without
        events) only when its change may hold a path this container does not
        know: a new contact, or a changed path not seen yet; at most
        ``profile_reads`` per batch."""
        docs: dict[str, list[Mapping[str, Any]]] = {}
        events: dict[str, Counter[str]] = {}
        reads = 0
        for group in changes:
            tenant = events.setdefault(group.tenant_id, Counter())
            tenant.update(name for name in group.change.events if name and len(name) <= MAX_PATH)
            if reads >= self.profile_reads:
                continue
            known = self._tenant(group.tenant_id).vocabulary
            if group.change.everything or any(
                p.split(".")[0] in NAMES or not known.knows(p) for p in group.change.paths
            ):
                reads += 1
                doc = views.load_view(group.tenant_id, group.contact_id, now=now, lookback=None)
                if doc is not None:
                    docs.setdefault(group.tenant_id, []).append(doc)
        for tenant_id in events.keys() | docs.keys():
            attributes, _ = observe_documents(docs.get(tenant_id, ()))
            self.record(tenant_id, attributes, events.get(tenant_id, Counter()))
        return reads
