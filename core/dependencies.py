"""The dependency index: which segments a change to one contact can affect.

A contact write or a new event must not re-evaluate a tenant's hundred
segments when it can only move three of them: the evaluator would pay for
events it does not need and, worse, could not tell a real change from noise.
Every compiled segment declares what it reads (:class:`growthos_segments.core.contract.Reads`:
document paths, event-name prefixes, lookback, referenced segments), so the
index answers "who reads this?" by lookup:

- a profile change is the set of dotted paths whose value differs between the
  old and new contact document (:func:`changed_paths`); a segment reading
  ``attributes.custom`` is affected by a change of ``attributes.custom.plan``
  and the reverse (a whole map replaced), never by ``scores.nps``;
- a new event is its name; a segment reading the prefix ``email.`` is affected
  by ``email.opened``, one reading ``order.completed`` by that name (and its
  sub-names), with the same matching rules as :meth:`growthos_segments.core.view.ContactView.events_named`;
- a new or deleted contact (or a change nobody can describe) affects everything;
- segments that reference an affected segment (rules, pinned segments,
  exclusions) are affected too, and the answer is in dependency order, so a
  referenced segment's new membership is computed before its dependents'.

A plain JsonLogic expression whose reads cannot be determined statically reads
``"*"`` and the event prefix ``""``: it is affected by everything, which is
the only safe answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from growthos_segments.core.contract import Reads
from growthos_segments.core.graph import ReferenceGraph
from growthos_segments.core.segments import SegmentSet
from growthos_segments.core.view import VIEW_FIELDS

__all__ = [
    "EVERYTHING",
    "Change",
    "DependencyIndex",
    "changed_paths",
    "event_matches",
]

WILDCARD_PATH = "*"
"""Declared by expressions whose reads are not statically known: matches every path."""


@dataclass(frozen=True, slots=True)
class Change:
    """What changed about one contact, as far as segments can tell.

    Changes of one contact within a stream batch are merged with ``|`` and
    evaluated once, against the contact as it is now.
    """

    paths: frozenset[str] = frozenset()
    """Dotted document paths whose value changed (``attributes.plan``, ``tags``)."""
    events: frozenset[str] = frozenset()
    """Names of events written for the contact."""
    any_event: bool = False
    """Events changed but their names are unknown (a removed event, a key-only record)."""
    everything: bool = False
    """A new or deleted contact, or a change that cannot be described: every segment."""

    def __or__(self, other: Change) -> Change:
        return Change(
            paths=self.paths | other.paths,
            events=self.events | other.events,
            any_event=self.any_event or other.any_event,
            everything=self.everything or other.everything,
        )

    @property
    def empty(self) -> bool:
        return not (self.paths or self.events or self.any_event or self.everything)

    @classmethod
    def of_event(cls, name: str | None) -> Change:
        if not isinstance(name, str) or not name:
            return cls(any_event=True)
        return cls(events=frozenset({name}))


EVERYTHING = Change(everything=True)


# --------------------------------------------------------------------------- diffing


def _same(a: Any, b: Any) -> bool:
    """Equality that keeps JSON types apart: ``True`` is not ``1`` and ``1`` is not ``"1"``.

    Python's ``True == 1`` would hide a change from a boolean to a number that a
    condition sees (DESIGN.md section 8). Numbers of different Python types
    (``int``, ``float``, ``Decimal`` from a DynamoDB image) compare by value.
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    numbers = (int, float, Decimal)
    if isinstance(a, numbers) and isinstance(b, numbers):
        return bool(a == b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, set | frozenset) and isinstance(b, set | frozenset):
        return a == b
    if type(a) is not type(b):
        # A list and a set holding the same strings (tags written either way) are the same tags.
        if isinstance(a, list | tuple | set | frozenset) and isinstance(b, list | tuple | set | frozenset):
            return sorted(map(str, a)) == sorted(map(str, b)) and len(a) == len(b)
        return False
    return bool(a == b)


def _diff(old: Any, new: Any, path: str, out: set[str]) -> None:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in old.keys() | new.keys():
            child = f"{path}.{key}" if path else str(key)
            if key not in old or key not in new:
                out.add(child)
            else:
                _diff(old[key], new[key], child, out)
        return
    if not _same(old, new):
        out.add(path)


def changed_paths(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, fields: Sequence[str] = VIEW_FIELDS
) -> frozenset[str]:
    """Dotted paths under ``fields`` whose value differs between two contact documents.

    Maps are compared key by key down to the leaves; lists, sets and scalars
    are compared whole (a changed tag list is the path ``tags``). A missing
    document counts as empty, so a brand-new contact yields every path it has.
    """
    out: set[str] = set()
    old = old or {}
    new = new or {}
    for name in fields:
        # The view reads a missing field as empty ({} or []), so "absent" and
        # "empty" are the same document and not a change.
        a, b = old.get(name), new.get(name)
        if (a is None or isinstance(a, Mapping)) and (b is None or isinstance(b, Mapping)):
            _diff(a or {}, b or {}, name, out)
        elif a is None or b is None:
            if a or b:
                out.add(name)
        elif not _same(a, b):
            out.add(name)
    return frozenset(out)


def event_matches(prefix: str, name: str) -> bool:
    """Whether a segment reading event prefix ``prefix`` sees an event called ``name``.

    Mirrors :meth:`growthos_segments.core.view.ContactView.events_named`: ``""`` is every event,
    ``email.`` and ``email`` are ``email.*`` (and ``email`` itself).
    """
    if not prefix:
        return True
    if prefix.endswith("."):
        return name.startswith(prefix)
    return name == prefix or name.startswith(prefix + ".")


def _ancestors_and_self(path: str) -> Iterable[str]:
    parts = path.split(".")
    for end in range(1, len(parts) + 1):
        yield ".".join(parts[:end])


# --------------------------------------------------------------------------- the index


class DependencyIndex:
    """Declared reads of a tenant's compiled segments, indexed for "who is affected?".

    Built once per compiled :class:`growthos_segments.core.segments.SegmentSet` (per tenant
    revision), so per change the work is a few dict lookups.
    """

    def __init__(self, reads: Mapping[str, Reads], order: Sequence[str]) -> None:
        unknown = set(reads) - set(order)
        if unknown:
            raise ValueError(f"segments without a position in the order: {sorted(unknown)}")
        self.order: tuple[str, ...] = tuple(order)
        self.reads: dict[str, Reads] = {sid: reads.get(sid, Reads()) for sid in self.order}
        self._position = {sid: i for i, sid in enumerate(self.order)}
        self._exact: dict[str, set[str]] = {}
        """path -> segments reading exactly that path"""
        self._below: dict[str, set[str]] = {}
        """path -> segments reading a path strictly below it"""
        self._any_path: set[str] = set()
        self._prefixes: dict[str, set[str]] = {}
        self._graph = ReferenceGraph({sid: sorted(declared.segments) for sid, declared in self.reads.items()})
        for sid, declared in self.reads.items():
            for path in declared.attributes:
                if path == WILDCARD_PATH:
                    self._any_path.add(sid)
                    continue
                self._exact.setdefault(path, set()).add(sid)
                parts = path.split(".")
                for end in range(1, len(parts)):
                    self._below.setdefault(".".join(parts[:end]), set()).add(sid)
            for prefix in declared.events:
                self._prefixes.setdefault(prefix, set()).add(sid)
        self._by_event_name: dict[str, frozenset[str]] = {}
        self.context_readers: tuple[str, ...] = tuple(sid for sid in self.order if self.reads[sid].context)
        """Segments whose result depends on the tenant context (RFM thresholds...)."""

    @classmethod
    def of(cls, segments: SegmentSet) -> DependencyIndex:
        return cls({sid: seg.reads for sid, seg in segments.segments.items()}, segments.order)

    # --- questions -----------------------------------------------------------------

    def readers_of_path(self, path: str) -> set[str]:
        """Segments reading ``path``, one of its ancestors, or something below it."""
        found = set(self._any_path)
        for ancestor in _ancestors_and_self(path):
            found |= self._exact.get(ancestor, set())
        found |= self._below.get(path, set())
        return found

    def readers_of_event(self, name: str) -> frozenset[str]:
        cached = self._by_event_name.get(name)
        if cached is None:
            found: set[str] = set()
            for prefix, readers in self._prefixes.items():
                if event_matches(prefix, name):
                    found |= readers
            cached = frozenset(found)
            if len(self._by_event_name) < 4096:  # event names are a small vocabulary; bound it anyway
                self._by_event_name[name] = cached
        return cached

    def directly_affected(self, change: Change) -> set[str]:
        if change.everything:
            return set(self.order)
        found: set[str] = set()
        for path in change.paths:
            found |= self.readers_of_path(path)
        for name in change.events:
            found |= self.readers_of_event(name)
        if change.any_event:
            for readers in self._prefixes.values():
                found |= readers
        return found

    def affected(self, change: Change) -> list[str]:
        """Segments ``change`` can affect, with their dependents, in dependency order."""
        return self.closure(self.directly_affected(change))

    def closure(self, segment_ids: Iterable[str]) -> list[str]:
        """``segment_ids`` (those this index knows) plus every segment that depends on
        them, transitively, in dependency order."""
        return sorted(self._graph.dependents(segment_ids), key=self._position.__getitem__)

    def requirements(self, segment_ids: Iterable[str]) -> list[str]:
        """``segment_ids`` plus every segment they reference, transitively: what an
        evaluation of them actually computes."""
        return sorted(self._graph.requirements(segment_ids), key=self._position.__getitem__)

    def lookback(self, segment_ids: Iterable[str]) -> timedelta | None:
        """How far back events must be loaded to evaluate ``segment_ids`` (and what they
        reference): ``None`` when none of them reads events, ``timedelta.max`` for all history."""
        longest: timedelta | None = None
        for sid in self.requirements(segment_ids):
            declared = self.reads[sid]
            if declared.lookback is None:
                if declared.events:  # reads events but declared no window: all of them
                    return timedelta.max
                continue
            if longest is None or declared.lookback > longest:
                longest = declared.lookback
        return longest

    def reads_of(self, segment_ids: Iterable[str]) -> Reads:
        """Everything evaluating ``segment_ids`` reads, through what they reference, with
        the lookback of :meth:`lookback` (what an explanation or an estimate must load)."""
        total = Reads()
        for sid in self.requirements(segment_ids):
            total = total.union(self.reads[sid])
        return replace(total, lookback=self.lookback(segment_ids))
