"""Ingestion: other modules' contacts and events, answered per item (HTTP, the bus, CSV imports).

Every path (the HTTP routes, the event-bus consumer, CSV imports) calls this one
service, so an item is accepted or refused the same way whichever way it came.

- A request is a list of items. A whole-request problem (not a list, more items
  than a batch holds) raises :class:`IngestRequestError` with a JSON pointer and
  stores nothing; otherwise each item gets an :class:`ItemResult`, a bad item
  never stops the others, and what was stored stays stored.
- Contacts (:meth:`IngestService.upsert_contacts`, 100 per batch): maps merge key
  by key (``null`` removes a key); ``tags``/``lists`` given as a list replace,
  as ``{"add": [...], "remove": [...]}`` edit (order kept, no value twice). Only
  ``contact_id`` is required. An upsert that changes nothing writes nothing and
  answers ``unchanged``, so re-sending a request is harmless. Two items for one
  contact in a request apply in order.
- Events (:meth:`IngestService.append_events`, 500 per batch): ``event_id`` is the
  idempotency key per contact. A re-send of the same id answers ``duplicate``
  and stores nothing, also when it carries another ``at``: the first one stored
  wins. Late and out-of-order events are accepted; an event older than the
  event retention is refused (it would be expired at once, and its id could
  not be remembered as long as the event), and one more than five minutes in
  the future is refused.
- Forget (:meth:`IngestService.forget_contact`): the contact's profile and events
  (see the port), and its values among the samples of the tenant's observed
  fields. Its memberships then exit through the contacts stream, as for any
  deleted contact: the stream evaluator finds no profile, exits every segment
  (Segment Exited goes out) and clears its re-checks.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from growthos_segments.core.ids import CONTACT_ID_DESCRIPTION, CONTACT_ID_RE
from growthos_segments.core.ports import ContactDocument, ObservedFields
from growthos_segments.core.ports_ingest import (
    MAX_CONTACTS,
    MAX_EVENTS,
    ContactPatch,
    ForgetResult,
    IngestEvent,
    IngestStore,
    SetEdit,
    apply_patch,
    diff_profiles,
    empty_profile,
)
from growthos_segments.core.rules import _number_problem
from growthos_segments.core.timeutil import as_utc
from growthos_segments.services.fields import document_samples

__all__ = [
    "EVENT_NAME_PATTERN",
    "KEPT_CHANGING",
    "MAX_CONTACTS",
    "MAX_EVENTS",
    "IngestRequestError",
    "IngestService",
    "ItemError",
    "ItemResult",
    "Status",
]

MAX_KEYS = 200
"""Keys one item may set in one map."""
MAX_SET_VALUES = 500
"""Values in one tags or lists edit."""
MAX_ITEM_CHARS = 32_000
"""Characters of one item as compact JSON: a batch of 100 stays far from 4 MB."""
MAX_PROFILE_CHARS = 300_000
"""A profile larger than this after a merge is refused: DynamoDB's item limit is 400 KB."""
MAX_FUTURE = timedelta(minutes=5)
"""How far in the future an event may be (clock skew between modules), no more."""
FORGET_PAGE = 5_000
"""Events one forget call deletes at most; the answer says whether to call again."""
EVENT_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,49}(\.[a-z][a-z0-9_]{0,49}){1,3}$"
EVENT_NAME_RE = re.compile(EVENT_NAME_PATTERN)
_WRITE_ATTEMPTS = 5
KEPT_CHANGING = "the contact kept changing while this item was applied; send it again"
"""The one item error that may pass when the item is sent again (the bus path retries it)."""

Status = Literal["created", "updated", "unchanged", "duplicate", "error"]
_CONTACT_FIELDS = frozenset({"contact_id", "attributes", "custom", "tags", "lists", "scores", "suppression"})
_EVENT_FIELDS = frozenset({"event_id", "contact_id", "name", "at", "properties"})


class IngestRequestError(ValueError):
    """The request as a whole cannot be read (nothing of it was stored)."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(f"{pointer}: {message}")
        self.pointer = pointer
        self.message = message


@dataclass(frozen=True, slots=True)
class ItemError:
    pointer: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"pointer": self.pointer, "message": self.message}


@dataclass(slots=True)
class ItemResult:
    index: int
    id: str | None
    status: Status
    errors: list[ItemError] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "status": self.status,
                "errors": [e.to_json() for e in self.errors]}


class _Invalid(Exception):
    def __init__(self, errors: list[ItemError]) -> None:
        self.errors = errors


def _items(items: Any, limit: int, pointer: str) -> Sequence[Any]:
    if not isinstance(items, list | tuple):
        raise IngestRequestError(pointer, "must be a list of items")
    if len(items) > limit:
        raise IngestRequestError(pointer, f"{len(items)} items; at most {limit} per request")
    return items


def _value_problem(value: Any, depth: int = 0) -> str | None:
    """Why a JSON value cannot be stored in a profile or an event, or ``None``."""
    if depth > 16:
        return "nested more than 16 levels"
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    if isinstance(value, int | float):
        return _number_problem(value)
    if isinstance(value, list):
        return next((p for v in value if (p := _value_problem(v, depth + 1))), None)
    if isinstance(value, dict):
        if any(not key for key in value):
            return "object keys must not be empty"
        return next((p for v in value.values() if (p := _value_problem(v, depth + 1))), None)
    return f"not a JSON value: {type(value).__name__}"


class _Checker:
    """Collects an item's errors with pointers relative to the request body."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.errors: list[ItemError] = []

    @classmethod
    def of(cls, item: Any, base: str, known: frozenset[str]) -> _Checker:
        """A checker of ``item``, which must be an object of ``known`` fields (else :class:`_Invalid`)."""
        check = cls(base)
        if not isinstance(item, dict):
            check.fail("", "must be an object")
            check.done()
        for name in sorted(set(item) - known):
            check.fail(f"/{_escape(name)}", f"unknown field; expected one of {', '.join(sorted(known))}")
        return check

    def fail(self, path: str, message: str) -> None:
        self.errors.append(ItemError(self.base + path, message))

    def identifier(self, item: Mapping[str, Any], name: str) -> str:
        value = item.get(name)
        if value is None:
            self.fail(f"/{name}", "required")
        elif not isinstance(value, str) or not CONTACT_ID_RE.fullmatch(value):
            self.fail(f"/{name}", f"must be a string of {CONTACT_ID_DESCRIPTION}")
        else:
            return value
        return ""

    def mapping(
        self, item: Mapping[str, Any], name: str, check: Callable[[Any], str | None]
    ) -> dict[str, Any]:
        value = item.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(f"/{name}", "must be an object")
            return {}
        if len(value) > MAX_KEYS:
            self.fail(f"/{name}", f"{len(value)} keys; at most {MAX_KEYS} per item")
            return {}
        for key, entry in value.items():
            problem = "keys must not be empty" if not key else (None if entry is None else check(entry))
            if problem:
                self.fail(f"/{name}/{_escape(key)}", problem)
        return value

    def set_edit(self, item: Mapping[str, Any], name: str) -> SetEdit | None:
        value = item.get(name)
        if value is None:
            return None
        if isinstance(value, list):
            return SetEdit(replace=self._strings(value, f"/{name}"))
        if isinstance(value, dict) and value and set(value) <= {"add", "remove"}:
            parts = {}
            for part in ("add", "remove"):
                entries = value.get(part, [])
                if not isinstance(entries, list):
                    self.fail(f"/{name}/{part}", "must be a list of strings")
                    entries = []
                parts[part] = self._strings(entries, f"/{name}/{part}")
            return SetEdit(add=parts["add"], remove=parts["remove"])
        self.fail(f"/{name}", 'must be a list of strings (replaces) or {"add": [...], "remove": [...]}')
        return None

    def _strings(self, values: list[Any], path: str) -> tuple[str, ...]:
        if len(values) > MAX_SET_VALUES:
            self.fail(path, f"{len(values)} values; at most {MAX_SET_VALUES}")
            return ()
        for i, value in enumerate(values):
            if not isinstance(value, str) or not 0 < len(value) <= 256:
                self.fail(f"{path}/{i}", "must be a non-empty string of at most 256 characters")
        return tuple(values)

    def done(self) -> None:
        if self.errors:
            raise _Invalid(self.errors)


def _escape(key: str) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _size_problem(item: Any) -> str | None:
    size = len(json.dumps(item, separators=(",", ":"), default=str))
    if size <= MAX_ITEM_CHARS:
        return None
    return f"item is {size:,} characters as JSON; at most {MAX_ITEM_CHARS:,}"


def _score(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "a score must be a number (or null to remove it)"
    return _number_problem(value)


def _flag(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    return "a suppression flag must be true or false (or null to remove it)"


def _attribute(value: Any) -> str | None:
    return _value_problem(value)


class IngestService:
    """Validates and stores ingested items through one :class:`IngestStore`."""

    def __init__(
        self, store: IngestStore, *, retention: timedelta, fields: ObservedFields | None = None
    ) -> None:
        self._store = store
        self._retention = retention
        self._fields = fields
        """Whose samples a forgotten contact's values are removed from (``None``: no catalog kept)."""

    # ------------------------------------------------------------------ contacts

    def upsert_contacts(
        self, tenant_id: str, items: Sequence[Any], *, now: datetime, pointer: str = "/items"
    ) -> list[ItemResult]:
        items = _items(items, MAX_CONTACTS, pointer)
        results: list[ItemResult] = []
        patches: dict[int, ContactPatch] = {}
        for index, item in enumerate(items):
            try:
                patches[index] = self._contact_patch(item, f"{pointer}/{index}")
            except _Invalid as invalid:
                results.append(ItemResult(index, _id_of(item, "contact_id"), "error", invalid.errors))
                continue
            results.append(ItemResult(index, patches[index].contact_id, "unchanged"))
        queues: dict[str, deque[int]] = {}
        for index, patch in patches.items():
            queues.setdefault(patch.contact_id, deque()).append(index)
        current: dict[str, ContactDocument | None] = dict.fromkeys(queues)
        current.update(self._store.profiles(tenant_id, list(queues)) if queues else {})
        refusals: dict[int, int] = {}
        while queues:
            heads: list[tuple[str, int, ContactDocument]] = []
            for cid, queue in queues.items():
                found = self._next_write(tenant_id, queue, patches, current[cid], results, pointer)
                if found is not None:
                    heads.append((cid, *found))
            done = self._store.write_profiles(
                tenant_id, [(current[cid], new) for cid, _, new in heads], now=now) if heads else []
            changed = []
            for (cid, index, new), applied in zip(heads, done, strict=True):
                if applied:
                    results[index].status = "created" if current[cid] is None else "updated"
                    current[cid] = new
                    queues[cid].popleft()
                    continue
                refusals[index] = refusals.get(index, 0) + 1
                if refusals[index] == _WRITE_ATTEMPTS:
                    results[index].status = "error"
                    results[index].errors.append(ItemError(f"{pointer}/{index}", KEPT_CHANGING))
                    queues[cid].popleft()
                if queues[cid]:  # read again for the write that comes next
                    changed.append(cid)
            if changed:
                found = self._store.profiles(tenant_id, changed)
                current.update({cid: found.get(cid) for cid in changed})
            queues = {cid: queue for cid, queue in queues.items() if queue}
        return results

    def _next_write(
        self, tenant_id: str, queue: deque[int], patches: Mapping[int, ContactPatch],
        old: ContactDocument | None, results: list[ItemResult], pointer: str,
    ) -> tuple[int, ContactDocument] | None:
        """The next item of one contact that writes (the index and the new profile); the
        unchanged and oversized ones before it are answered on the way."""
        while queue:
            index = queue[0]
            new = apply_patch(old if old is not None else empty_profile(tenant_id, patches[index].contact_id),
                              patches[index])
            size = len(json.dumps(new, separators=(",", ":"), default=str))
            if old is not None and diff_profiles(old, new).empty:
                results[index].status = "unchanged"
            elif size > MAX_PROFILE_CHARS:
                results[index].status = "error"
                results[index].errors.append(ItemError(
                    f"{pointer}/{index}",
                    f"the profile would be {size:,} characters as JSON; at most {MAX_PROFILE_CHARS:,}"))
            else:
                return index, new
            queue.popleft()
        return None

    def _contact_patch(self, item: Any, base: str) -> ContactPatch:
        check = _Checker.of(item, base, _CONTACT_FIELDS)
        contact_id = check.identifier(item, "contact_id")
        attributes = check.mapping(item, "attributes", _attribute)
        if "custom" in attributes:
            check.fail("/attributes/custom", 'custom fields go in "custom", beside "attributes"')
        maps = {
            "attributes": attributes,
            "custom": check.mapping(item, "custom", _attribute),
            "scores": check.mapping(item, "scores", _score),
            "suppression": check.mapping(item, "suppression", _flag),
        }
        tags, lists = check.set_edit(item, "tags"), check.set_edit(item, "lists")
        if not check.errors and (problem := _size_problem(item)):
            check.fail("", problem)
        check.done()
        return ContactPatch(contact_id, {k: v for k, v in maps.items() if v}, tags, lists)

    # ------------------------------------------------------------------ events

    def append_events(
        self, tenant_id: str, items: Sequence[Any], *, now: datetime, pointer: str = "/items"
    ) -> list[ItemResult]:
        items = _items(items, MAX_EVENTS, pointer)
        results: list[ItemResult] = []
        unique: dict[tuple[str, str], tuple[int, IngestEvent]] = {}
        for index, item in enumerate(items):
            try:
                event = self._event(item, f"{pointer}/{index}", as_utc(now))
            except _Invalid as invalid:
                results.append(ItemResult(index, _id_of(item, "event_id"), "error", invalid.errors))
                continue
            results.append(ItemResult(index, event.event_id, "duplicate"))  # unless stored below
            unique.setdefault((event.contact_id, event.event_id), (index, event))
        stored = self._store.append_events(tenant_id, [e for _, e in unique.values()]) if unique else []
        for (index, _), created in zip(unique.values(), stored, strict=True):
            if created:
                results[index].status = "created"
        return results

    def _event(self, item: Any, base: str, now: datetime) -> IngestEvent:
        check = _Checker.of(item, base, _EVENT_FIELDS)
        event_id = check.identifier(item, "event_id")
        contact_id = check.identifier(item, "contact_id")
        name = item.get("name")
        if not isinstance(name, str) or not EVENT_NAME_RE.fullmatch(name):
            check.fail("/name", "must be a namespaced lowercase name <module>.<action>, e.g. email.opened")
        at = self._instant(item.get("at"), now, check)
        properties = check.mapping(item, "properties", _attribute)
        if not check.errors and (problem := _size_problem(item)):
            check.fail("", problem)
        check.done()
        assert at is not None  # no error was recorded, so the time was read
        return IngestEvent(contact_id, event_id, str(name), at, {k: v for k, v in properties.items()
                                                                 if v is not None})

    def _instant(self, value: Any, now: datetime, check: _Checker) -> datetime | None:
        if not isinstance(value, str):
            check.fail("/at", "required: an ISO 8601 time with a time zone, e.g. 2026-11-20T09:14:00Z")
            return None
        try:
            parsed = datetime.fromisoformat(value)
            at = as_utc(parsed) if parsed.tzinfo is not None and len(value) > 10 else None
        except (ValueError, OverflowError):
            at = None
        if at is None:
            check.fail("/at", "must be an ISO 8601 time with a time zone, e.g. 2026-11-20T09:14:00Z")
            return None
        if at > now + MAX_FUTURE:
            check.fail("/at", f"is {at - now} in the future; at most {MAX_FUTURE} ahead is accepted")
        elif at < now - self._retention:
            check.fail("/at", f"is older than the event retention of {self._retention.days} days")
        return at

    # ------------------------------------------------------------------ forget

    def forget_contact(self, tenant_id: str, contact_id: str, *, now: datetime) -> ForgetResult:
        """Delete what the engine stores of one contact (``now``: when it was asked, kept
        for the signature every path shares). Idempotent: forgetting an unknown contact
        answers ``found: false``; an incomplete answer asks to call again.

        The profile is read first and its values removed from the observed fields'
        samples before anything is deleted, so a call that fails on the way can be
        repeated and still knows the values; once the profile is gone there is nothing
        to remove. A stream batch that read the profile before this scrub may still
        store its values as a path's first samples after it (only a path that had no
        samples yet takes them), and a container's cached catalog shows removed
        samples until it reads the store again."""
        del now
        if not isinstance(contact_id, str) or not CONTACT_ID_RE.fullmatch(contact_id):
            raise IngestRequestError("/contact_id", f"must be a string of {CONTACT_ID_DESCRIPTION}")
        if self._fields is not None:
            profile = self._store.profiles(tenant_id, [contact_id]).get(contact_id)
            samples = document_samples(profile) if profile is not None else {}
            if samples:
                self._fields.forget_samples(tenant_id, samples)
        return self._store.forget(tenant_id, contact_id, max_events=FORGET_PAGE)


def _id_of(item: Any, name: str) -> str | None:
    value = item.get(name) if isinstance(item, dict) else None
    return value if isinstance(value, str) else None
