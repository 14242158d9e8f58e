"""Ingestion's records and port: what another module's contacts and events become before storage.

The ingestion service (:mod:`growthos_segments.services.ingest`) validates request
items into these records; an :class:`IngestStore` stores them. A contact upsert is
a read-modify-write: the service reads the stored profiles, applies each patch
(:func:`apply_patch`, the one definition of the merge rules) and asks the store to
write the new profiles *over the ones it read* (:meth:`IngestStore.write_profiles`).
The store writes only the keys that differ and refuses the write when the contact
was created or deleted meanwhile, or when a tag or list edit would overwrite
another writer's edit of the same whole value; the service then reads again and
re-applies. So two writers never lose each other's changes, and an upsert that
changes nothing writes nothing (no stream record, no evaluation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from growthos_segments.core.ports import ContactDocument

__all__ = [
    "MAP_FIELDS",
    "MAX_CONTACTS",
    "MAX_EVENTS",
    "ContactPatch",
    "ForgetResult",
    "IngestEvent",
    "IngestStore",
    "ProfileDiff",
    "ProfileWrite",
    "SetEdit",
    "apply_patch",
    "diff_profiles",
    "empty_profile",
    "same",
]

MAX_CONTACTS = 100
"""Contacts one ingestion request upserts at most."""
MAX_EVENTS = 500
"""Events one ingestion request appends at most."""

MAP_FIELDS = ("attributes", "custom", "scores", "suppression")
"""The maps a patch merges key by key (``custom`` is ``attributes.custom`` in the profile)."""


@dataclass(frozen=True, slots=True)
class SetEdit:
    """A tags or lists edit: ``replace`` (a JSON list) or ``add``/``remove`` (a JSON object)."""

    replace: tuple[str, ...] | None = None
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()

    def apply(self, current: Sequence[str]) -> list[str]:
        """Order kept: existing values first, added ones after; no value twice."""
        base = self.replace if self.replace is not None else tuple(current)
        removed = set(self.remove)
        return [v for v in dict.fromkeys((*base, *self.add)) if v not in removed]


@dataclass(frozen=True, slots=True)
class ContactPatch:
    contact_id: str
    maps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per field of :data:`MAP_FIELDS`: key -> value, ``None`` removing the key."""
    tags: SetEdit | None = None
    lists: SetEdit | None = None


@dataclass(frozen=True, slots=True)
class IngestEvent:
    contact_id: str
    event_id: str
    name: str
    at: datetime
    properties: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ForgetResult:
    contact_id: str
    found: bool
    """Whether a profile was deleted (``False``: none was stored, e.g. a repeated forget)."""
    events_deleted: int
    complete: bool
    """``False`` when the contact has more events than one call deletes: call again."""

    def to_json(self) -> dict[str, Any]:
        return {
            "contact_id": self.contact_id, "found": self.found,
            "events_deleted": self.events_deleted, "complete": self.complete,
        }


def empty_profile(tenant_id: str, contact_id: str) -> ContactDocument:
    return {
        "tenant_id": tenant_id, "contact_id": contact_id, "attributes": {"custom": {}},
        "tags": [], "lists": [], "suppression": {}, "scores": {},
    }


def apply_patch(profile: Mapping[str, Any], patch: ContactPatch) -> ContactDocument:
    """The profile after ``patch`` (a new document; ``profile`` is not changed)."""
    attributes = dict(profile.get("attributes") or {})
    attributes["custom"] = dict(attributes.get("custom") or {})
    out: dict[str, Any] = {
        **profile,
        "attributes": attributes,
        "scores": dict(profile.get("scores") or {}),
        "suppression": dict(profile.get("suppression") or {}),
    }
    targets = {"attributes": attributes, "custom": attributes["custom"],
               "scores": out["scores"], "suppression": out["suppression"]}
    for name, changes in patch.maps.items():
        target = targets[name]
        for key, value in changes.items():
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
    for name, edit in (("tags", patch.tags), ("lists", patch.lists)):
        current = list(profile.get(name) or [])
        out[name] = edit.apply(current) if edit else current
    return out  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class ProfileDiff:
    """What a write changes: per map of :data:`MAP_FIELDS`, the keys to set and those to
    remove; ``tags``/``lists`` the new whole value, or ``None`` when unchanged."""

    sets: Mapping[str, Mapping[str, Any]]
    removes: Mapping[str, Sequence[str]]
    tags: list[str] | None
    lists: list[str] | None

    @property
    def empty(self) -> bool:
        return not (self.sets or self.removes) and self.tags is None and self.lists is None

    def apply(self, profile: Mapping[str, Any]) -> ContactDocument:
        """``profile`` with these changes (the keys other writers changed meanwhile stay)."""
        patch = ContactPatch(
            str(profile.get("contact_id")),
            {name: {**dict.fromkeys(self.removes.get(name, ())), **self.sets.get(name, {})}
             for name in MAP_FIELDS},
            SetEdit(replace=tuple(self.tags)) if self.tags is not None else None,
            SetEdit(replace=tuple(self.lists)) if self.lists is not None else None,
        )
        return apply_patch(profile, patch)


def same(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value (a stored ``1.0`` reads back as ``1``), but ``true`` is
    not ``1`` (Python's ``==`` says it is)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return False
    return bool(a == b)


def _maps(profile: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    attributes = dict(profile.get("attributes") or {})
    custom = attributes.pop("custom", None) or {}
    return {"attributes": attributes, "custom": custom,
            "scores": profile.get("scores") or {}, "suppression": profile.get("suppression") or {}}


def diff_profiles(old: Mapping[str, Any], new: Mapping[str, Any]) -> ProfileDiff:
    """The key-level changes from ``old`` to ``new``."""
    before, after = _maps(old), _maps(new)
    sets = {name: {k: v for k, v in after[name].items()
                   if k not in before[name] or not same(before[name][k], v)}
            for name in MAP_FIELDS}
    removes = {name: [k for k in before[name] if k not in after[name]] for name in MAP_FIELDS}
    return ProfileDiff(
        {k: v for k, v in sets.items() if v},
        {k: v for k, v in removes.items() if v},
        _changed(old, new, "tags"),
        _changed(old, new, "lists"),
    )


def _changed(old: Mapping[str, Any], new: Mapping[str, Any], name: str) -> list[str] | None:
    value = list(new.get(name) or [])
    return value if value != list(old.get(name) or []) else None


ProfileWrite = tuple[ContactDocument | None, ContactDocument]
"""A profile write: the profile it was computed from (``None``: a create) and the new one."""


class IngestStore(Protocol):
    """Where ingested contacts and events are stored (DynamoDB, or memory for tests)."""

    def profiles(self, tenant_id: str, contact_ids: Sequence[str]) -> dict[str, ContactDocument]:
        """The stored profiles (without events) of those ids that exist, read consistently."""
        ...

    def write_profiles(self, tenant_id: str, writes: Sequence[ProfileWrite], *, now: datetime) -> list[bool]:
        """Write each ``new`` over its ``old`` (``None``: create), for distinct contacts; per
        write ``False`` if the stored profile is no longer ``old`` in a way the write would
        overwrite (see the module docstring)."""
        ...

    def append_events(self, tenant_id: str, events: Sequence[IngestEvent]) -> list[bool]:
        """Store events (no two of one contact with one id); per event ``False`` if an event of
        that id was stored for the contact before, whatever its time."""
        ...

    def forget(self, tenant_id: str, contact_id: str, *, max_events: int) -> ForgetResult:
        """Delete the profile and up to ``max_events`` of the contact's events."""
        ...
