"""Contacts and events: the writers other modules use, and the view loader.

The loader is on the stream evaluator's hot path, so its cost is fixed by
construction: one GetItem for the profile, one Query for the events since the
tenant's longest lookback (more only if that range exceeds a 1 MB page), and
``last_requests`` reports what it actually took.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pynamodb.constants import ALL_OLD
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from growthos_segments.core.ports import ContactDocument, Page, history_since
from growthos_segments.core.ports_ingest import MAP_FIELDS, IngestEvent, ProfileWrite, diff_profiles
from growthos_segments.infra import keys
from growthos_segments.infra.aws import RequestCounter
from growthos_segments.infra.models import ContactModel, EventModel, Models
from growthos_segments.infra.repos._common import decode_cursor, encode_cursor, iso, plain, utcnow
from growthos_segments.infra.settings import Settings

__all__ = ["ContactRepository", "ContactViews", "EventRepository"]


def _conditional_failed(error: Exception) -> bool:
    cause = getattr(error, "cause_response_code", None)
    return cause == "ConditionalCheckFailedException"


def _profile_to_doc(item: ContactModel) -> ContactDocument:
    attributes = plain(item.attributes) or {}
    attributes.setdefault("custom", {})
    return {
        "tenant_id": item.tenant_id,
        "contact_id": item.contact_id,
        "attributes": attributes,
        "tags": plain(item.tags) or [],
        "lists": plain(item.lists) or [],
        "suppression": plain(item.suppression) or {},
        "scores": plain(item.scores) or {},
    }


def _event_to_doc(item: EventModel) -> dict[str, Any]:
    return {"name": item.name, "at": item.at, "properties": plain(item.properties) or {}}


class ContactRepository:
    """Writes contact profiles (the contacts stream then triggers evaluation).

    It also keeps the tenant's contact count (sharded items in the counters
    table): a size estimate scales its sample to it, and counting contacts any
    other way means reading all of them. A create or delete is the profile
    write plus one counter update; a crash between the two leaves the count off
    by one, which an estimate tolerates (it falls back to the sample's own
    scale when the counter is implausible). It is also the
    :class:`growthos_segments.core.ports.ContactPager` backfills read contacts with.
    """

    shards = keys.CONTACT_SHARDS

    def __init__(self, models: Models) -> None:
        self._model = models.contacts
        self._counter = models.counters
        self._connection = models.connection

    def put(self, doc: Mapping[str, Any], *, now: datetime | None = None) -> None:
        """Create or replace a contact's profile from a view-shaped document.

        ``events`` in ``doc`` are ignored (use :class:`EventRepository`);
        ``created_at`` survives a replace.
        """
        model = self._model
        tenant_id, contact_id = doc["tenant_id"], doc["contact_id"]
        stamp = iso(now or utcnow())
        attributes = dict(doc.get("attributes") or {})
        attributes["custom"] = dict(attributes.get("custom") or {})
        actions = [
            model.tenant_id.set(tenant_id),
            model.contact_id.set(contact_id),
            model.tenant_shard.set(keys.tenant_shard_key(tenant_id, keys.contact_shard(contact_id))),
            model.attributes.set(attributes),
            model.tags.set(list(doc.get("tags") or [])),
            model.lists.set(list(doc.get("lists") or [])),
            model.suppression.set(dict(doc.get("suppression") or {})),
            model.scores.set(dict(doc.get("scores") or {})),
            model.created_at.set(model.created_at | stamp),
            model.updated_at.set(stamp),
            *self._sample_actions(tenant_id, contact_id),
        ]
        pk = keys.contact_pk(tenant_id, contact_id)
        old = model._get_connection().update_item(pk, actions=actions, return_values=ALL_OLD)
        if not old.get("Attributes"):  # there was no item: a new contact
            self.count_new(tenant_id, {contact_id: 1})

    def put_many(self, docs: Iterable[Mapping[str, Any]], *, now: datetime | None = None) -> int:
        """Bulk load (demo data, imports): BatchWriteItem, 25 per request, unconditional.

        Unlike :meth:`put` it sets ``created_at`` to ``now`` (a batch write cannot
        keep an existing value), so use it for new contacts: each one is added to
        its tenant's contact count.
        """
        stamp = iso(now or utcnow())
        written = 0
        new: dict[str, dict[str, int]] = {}
        with self._model.batch_write() as batch:
            for doc in docs:
                batch.save(self._item(doc, stamp))
                new.setdefault(doc["tenant_id"], {})[doc["contact_id"]] = 1
                written += 1
        for tenant_id, changes in new.items():
            self.count_new(tenant_id, changes)
        return written

    def _item(self, doc: Mapping[str, Any], stamp: str) -> Any:
        tenant_id, contact_id = doc["tenant_id"], doc["contact_id"]
        attributes = dict(doc.get("attributes") or {})
        attributes["custom"] = dict(attributes.get("custom") or {})
        return self._model(
            keys.contact_pk(tenant_id, contact_id),
            tenant_id=tenant_id,
            contact_id=contact_id,
            tenant_shard=keys.tenant_shard_key(tenant_id, keys.contact_shard(contact_id)),
            attributes=attributes,
            tags=list(doc.get("tags") or []),
            lists=list(doc.get("lists") or []),
            suppression=dict(doc.get("suppression") or {}),
            scores=dict(doc.get("scores") or {}),
            created_at=stamp,
            updated_at=stamp,
            sample_pk=keys.sample_pk(tenant_id, contact_id),
            sample_sk=keys.contact_sample_sk(contact_id),
        )

    def patch(
        self,
        tenant_id: str,
        contact_id: str,
        *,
        attributes: Mapping[str, Any] | None = None,
        custom: Mapping[str, Any] | None = None,
        scores: Mapping[str, Any] | None = None,
        suppression: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        lists: Sequence[str] | None = None,
        now: datetime | None = None,
    ) -> None:
        """Merge keys into the maps (a ``None`` value removes the key), replace lists.

        One UpdateItem that touches only the named keys, so two modules updating
        different scores of one contact do not overwrite each other. A contact
        that does not exist yet is created.
        """
        model = self._model
        actions: list[Any] = []
        for field, changes in (("attributes", attributes), ("scores", scores), ("suppression", suppression)):
            for key, value in (changes or {}).items():
                if field == "attributes" and key == "custom":
                    raise ValueError("pass custom attributes with custom=..., not attributes['custom']")
                path = getattr(model, field)[key]
                actions.append(path.remove() if value is None else path.set(value))
        for key, value in (custom or {}).items():
            path = model.attributes["custom"][key]
            actions.append(path.remove() if value is None else path.set(value))
        if tags is not None:
            actions.append(model.tags.set(list(tags)))
        if lists is not None:
            actions.append(model.lists.set(list(lists)))
        actions.append(model.updated_at.set(iso(now or utcnow())))
        actions.extend(self._sample_actions(tenant_id, contact_id))
        item = model(keys.contact_pk(tenant_id, contact_id))
        try:
            item.update(actions=actions, condition=model.pk.exists())
            return
        except UpdateError as error:
            if not _conditional_failed(error):
                raise
        base_attrs = {k: v for k, v in (attributes or {}).items() if v is not None}
        base_attrs["custom"] = {k: v for k, v in (custom or {}).items() if v is not None}
        self.put(
            {
                "tenant_id": tenant_id,
                "contact_id": contact_id,
                "attributes": base_attrs,
                "scores": {k: v for k, v in (scores or {}).items() if v is not None},
                "suppression": {k: v for k, v in (suppression or {}).items() if v is not None},
                "tags": list(tags or []),
                "lists": list(lists or []),
            },
            now=now,
        )

    def profiles(self, tenant_id: str, contact_ids: Sequence[str]) -> dict[str, ContactDocument]:
        """The stored profiles of those ids that exist: one consistent BatchGetItem per 100."""
        pks = [keys.contact_pk(tenant_id, cid) for cid in dict.fromkeys(contact_ids)]
        found = self._model.batch_get(pks, consistent_read=True)
        return {item.contact_id: _profile_to_doc(item) for item in found}

    def write_many(self, tenant_id: str, writes: Sequence[ProfileWrite], *, now: datetime) -> list[bool]:
        """:meth:`growthos_segments.core.ports_ingest.IngestStore.write_profiles`: TransactWriteItems
        of up to 100 writes (and 3 MB), so a batch of 100 contacts is one request.

        A new contact is a Put conditioned on its absence. A change is an Update that sets
        and removes only the keys that differ, so writers of other keys (another
        module's score, a concurrent upsert) keep theirs. Tags and lists are lists
        (the rules read them in order), not string sets that DynamoDB's ADD/DELETE
        could edit, so a write of a changed one is conditioned on the value it was
        computed from: a concurrent edit makes it fail and the caller re-applies.
        A change of more than :data:`_MAX_PATHS` keys sets whole maps instead
        (an update expression is at most 4 KB), each conditioned the same way
        (``attributes`` holds ``custom``: they are one map then).
        """
        stamp = iso(now)

        def add(transaction: TransactWrite, index: int) -> Sequence[str]:
            old, new = writes[index]
            if old is None:
                transaction.save(self._item(new, stamp), condition=self._model.pk.does_not_exist())
                return ["put"]
            self._update(transaction, tenant_id, old, new, stamp)
            return ["update"]

        done = _transact(self._connection, len(writes), add, 1,
                         lambda index: len(json.dumps(writes[index][1], default=str)))
        created = {new["contact_id"]: 1
                   for (old, new), ok in zip(writes, done, strict=True) if ok and old is None}
        if created:
            self.count_new(tenant_id, created)
        return done

    def _update(
        self, transaction: TransactWrite, tenant_id: str, old: ContactDocument, new: ContactDocument,
        stamp: str,
    ) -> None:
        model, diff = self._model, diff_profiles(old, new)
        condition = model.pk.exists()
        actions: list[Any] = [model.updated_at.set(stamp)]
        for name in ("tags", "lists"):
            if getattr(diff, name) is not None:
                actions.append(getattr(model, name).set(getattr(diff, name)))
                condition &= getattr(model, name) == list(old.get(name) or [])
        changed = [n for n in MAP_FIELDS if n in diff.sets or n in diff.removes]
        if sum(len(diff.sets.get(n, {})) + len(diff.removes.get(n, ())) for n in changed) > _MAX_PATHS:
            for name in dict.fromkeys("attributes" if n == "custom" else n for n in changed):
                path = getattr(model, name)
                actions.append(path.set(dict(new.get(name) or {})))
                condition &= path == dict(old.get(name) or {})
            changed = []
        for name in changed:
            path = model.attributes["custom"] if name == "custom" else getattr(model, name)
            actions.extend(path[key].set(value) for key, value in diff.sets.get(name, {}).items())
            actions.extend(path[key].remove() for key in diff.removes.get(name, ()))
        transaction.update(model(keys.contact_pk(tenant_id, new["contact_id"])), actions=actions,
                           condition=condition)

    def get(self, tenant_id: str, contact_id: str, *, consistent: bool = True) -> ContactDocument | None:
        """The profile without events (``None`` if unknown)."""
        try:
            item = self._model.get(keys.contact_pk(tenant_id, contact_id), consistent_read=consistent)
        except DoesNotExist:
            return None
        return _profile_to_doc(item)

    def delete(self, tenant_id: str, contact_id: str) -> bool:
        try:
            self._model(keys.contact_pk(tenant_id, contact_id)).delete(condition=self._model.pk.exists())
        except DeleteError as error:
            if _conditional_failed(error):
                return False
            raise
        self.count_new(tenant_id, {contact_id: -1})
        return True

    def _sample_actions(self, tenant_id: str, contact_id: str) -> list[Any]:
        """The sample-index keys (deterministic, so re-setting them on every write is
        harmless and migrates contacts written before the index existed)."""
        model = self._model
        return [
            model.sample_pk.set(keys.sample_pk(tenant_id, contact_id)),
            model.sample_sk.set(keys.contact_sample_sk(contact_id)),
        ]

    def count_new(self, tenant_id: str, changes: Mapping[str, int]) -> None:
        """Add ``changes`` (contact id -> +1 created / -1 deleted) to the tenant's
        contact count, one UpdateItem per counter shard touched (bulk loads call
        this once per batch)."""
        per_shard: dict[tuple[str, str], int] = {}
        for contact_id, delta in changes.items():
            key = keys.contact_count_key(tenant_id, contact_id)
            per_shard[key] = per_shard.get(key, 0) + delta
        for (pk, sk), delta in sorted(per_shard.items()):
            if delta:
                self._counter(pk, sk).update(actions=[self._counter.count.add(delta)])

    def count(self, tenant_id: str) -> int | None:
        """The tenant's contact count (one Query), ``None`` if it was never counted."""
        results = list(
            self._counter.query(
                keys.contact_count_pk(tenant_id),
                self._counter.sk.startswith(keys.counter_prefix(keys.CONTACTS_COUNTER)),
                consistent_read=True,
            )
        )
        if not results:
            return None
        return sum(int(item.count or 0) for item in results)

    def contact_ids(
        self, tenant_id: str, *, shard: int, limit: int = 1000, cursor: str | None = None
    ) -> Page[str]:
        """One page of one shard of the tenant's contact ids (backfill slices)."""
        shard_key = keys.tenant_shard_key(tenant_id, shard)
        start = decode_cursor(
            cursor,
            equal={"tenant_shard": shard_key},
            prefixed={"pk": keys.tenant_prefix(tenant_id)},
            allowed=frozenset({"contact_id"}),
        )
        results = self._model.by_tenant_shard.query(shard_key, limit=limit, last_evaluated_key=start)
        ids = [item.contact_id for item in results]
        return Page(ids, encode_cursor(results.last_evaluated_key))

    def shard_of(self, contact_id: str) -> int:
        return keys.contact_shard(contact_id)


_MAX_PATHS = 60
"""Keys one profile UpdateItem sets or removes one by one (about 15 expression characters each)."""
_TRANSACTION_OPERATIONS = 100
_TRANSACTION_CHARS = 3_000_000
"""Of the items' JSON in one TransactWriteItems (its limit is 4 MB)."""
_TRANSACTION_ROUNDS = 10


def _transact(
    connection: Any, count: int, add: Callable[[TransactWrite, int], Sequence[str]], operations: int,
    size: Callable[[int], int],
) -> list[bool]:
    """Write ``count`` writes (each ``operations`` conditional operations, added by ``add``, which
    names their kinds) in as few TransactWriteItems as fit, and say which were applied. A
    write whose condition failed (or that met a concurrent transaction) is ``False``; when
    a transaction is cancelled the others in it were not applied, so they go again in the
    next round. pynamodb sends a transaction's operations grouped by kind (condition checks,
    deletes, puts, updates), and the cancellation reasons come in that order."""
    done: list[bool | None] = [None] * count
    for _round in range(_TRANSACTION_ROUNDS):
        pending = [i for i in range(count) if done[i] is None]
        if not pending:
            break
        for chunk in _chunks(pending, operations, size):
            kinds: list[tuple[int, Sequence[str]]] = []
            try:
                with TransactWrite(connection=connection) as transaction:
                    kinds.extend((index, add(transaction, index)) for index in chunk)
            except TransactWriteError as error:
                order = [index for kind in ("condition_check", "delete", "put", "update")
                         for index, added in kinds for each in added if each == kind]
                reasons = error.cancellation_reasons or []
                if len(reasons) != len(order):
                    raise
                codes: dict[int, set[str]] = {}
                for index, reason in zip(order, reasons, strict=True):
                    codes.setdefault(index, set()).add(reason.code if reason is not None else "None")
                for index, found in codes.items():
                    if found & {"ConditionalCheckFailed", "TransactionConflict"}:
                        done[index] = False
                    elif found != {"None"}:
                        raise
                continue
            for index in chunk:
                done[index] = True
    if None in done:
        raise RuntimeError(f"writes still cancelled after {_TRANSACTION_ROUNDS} rounds")
    return [bool(d) for d in done]


def _chunks(pending: list[int], operations: int, size: Callable[[int], int]) -> list[list[int]]:
    chunks: list[list[int]] = [[]]
    chars = 0
    for index in pending:
        chars += size(index)
        full = (len(chunks[-1]) + 1) * operations > _TRANSACTION_OPERATIONS or chars > _TRANSACTION_CHARS
        if chunks[-1] and full:
            chunks.append([])
            chars = size(index)
        chunks[-1].append(index)
    return chunks


class EventRepository:
    """Appends behavioural events (TTL'd; the events stream triggers evaluation)."""

    def __init__(self, models: Models, settings: Settings) -> None:
        self._model = models.events
        self._guards = models.idempotency
        self._connection = models.connection
        self._keep_for = settings.event_retention

    def _item(
        self,
        tenant_id: str,
        contact_id: str,
        name: str,
        at: datetime,
        properties: Mapping[str, Any] | None,
        event_id: str | None,
    ) -> EventModel:
        if not isinstance(name, str) or not name:
            raise ValueError(f"event name must be a non-empty string, got {name!r}")
        if at.tzinfo is None:
            raise ValueError("event time must be timezone-aware")
        event_id = event_id or uuid.uuid4().hex
        return self._model(
            keys.event_pk(tenant_id, contact_id),
            keys.event_sk(at, event_id),
            tenant_id=tenant_id,
            contact_id=contact_id,
            event_id=event_id,
            name=name,
            at=iso(at),
            properties=dict(properties or {}),
            expires_at=at + self._keep_for,
            sample_pk=keys.sample_pk(tenant_id, contact_id),
            sample_sk=keys.event_sample_sk(contact_id, at, event_id),
        )

    def append(
        self,
        tenant_id: str,
        contact_id: str,
        name: str,
        *,
        at: datetime,
        properties: Mapping[str, Any] | None = None,
        event_id: str | None = None,
    ) -> str | None:
        """Store one event; returns its id, or ``None`` if that id was already stored.

        Passing the source system's event id makes re-sends no-ops (no second
        stream record, no second evaluation).
        """
        item = self._item(tenant_id, contact_id, name, at, properties, event_id)
        try:
            item.save(condition=self._model.pk.does_not_exist())
        except PutError as error:
            if _conditional_failed(error):
                return None
            raise
        return item.event_id

    def append_once(self, tenant_id: str, events: Sequence[IngestEvent]) -> list[bool]:
        """Store ingested events unless their id was stored for the contact before, at any
        time: each event is written with an item remembering its id in the idempotency
        table (it expires with the event), both conditioned on their absence, in
        TransactWriteItems of up to 50 events. ``False``: a duplicate."""

        def add(transaction: TransactWrite, index: int) -> Sequence[str]:
            event = events[index]
            guard = self._guards(keys.event_guard_key(tenant_id, event.contact_id, event.event_id),
                                 expiration=event.at + self._keep_for)
            item = self._item(
                tenant_id, event.contact_id, event.name, event.at, event.properties, event.event_id)
            transaction.save(guard, condition=self._guards.id.does_not_exist())
            transaction.save(item, condition=self._model.pk.does_not_exist())
            return ["put", "put"]

        return _transact(self._connection, len(events), add, 2,
                         lambda index: len(json.dumps(events[index].properties, default=str)))

    def delete_events(self, tenant_id: str, contact_id: str, *, max_events: int) -> tuple[int, bool]:
        """Delete the contact's oldest ``max_events`` events and the ids remembered for them
        (BatchWriteItem, 25 per request): (deleted, whether none is left)."""
        found = list(self._model.query(
            keys.event_pk(tenant_id, contact_id), limit=max_events + 1,
            attributes_to_get=["pk", "sk", "event_id"], consistent_read=True,
        ))
        chosen = found[:max_events]
        with self._model.batch_write() as batch:
            for item in chosen:
                batch.delete(item)
        with self._guards.batch_write() as batch:
            for item in chosen:
                batch.delete(self._guards(keys.event_guard_key(tenant_id, contact_id, item.event_id)))
        return len(chosen), len(found) <= max_events

    def append_many(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Bulk load (demo data, imports): BatchWriteItem, 25 per request, unconditional.

        Each mapping has ``tenant_id, contact_id, name, at`` (datetime) and
        optionally ``properties`` and ``event_id``.
        """
        written = 0
        with self._model.batch_write() as batch:
            for event in events:
                batch.save(
                    self._item(
                        event["tenant_id"],
                        event["contact_id"],
                        event["name"],
                        event["at"],
                        event.get("properties"),
                        event.get("event_id"),
                    )
                )
                written += 1
        return written

    def events(
        self,
        tenant_id: str,
        contact_id: str,
        *,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Events at or after ``since``, oldest first (the newest ``limit`` if given)."""
        condition = self._model.sk >= keys.event_sk_floor(since) if since is not None else None
        results = self._model.query(
            keys.event_pk(tenant_id, contact_id),
            range_key_condition=condition,
            scan_index_forward=False,
            limit=limit,
        )
        found = [_event_to_doc(item) for item in results]
        found.reverse()
        return found


class ContactViews:
    """:class:`growthos_segments.core.ports.ContactViewLoader` on DynamoDB: GetItem + one Query."""

    def __init__(
        self, models: Models, requests: RequestCounter | None = None, *, consistent: bool = True
    ) -> None:
        self._contacts = models.contacts
        self._events = models.events
        self._requests = requests
        self._consistent = consistent
        self.last_requests: int | None = None
        """DynamoDB requests the last ``load_view`` made (benchmarks print it)."""

    def load_view(
        self,
        tenant_id: str,
        contact_id: str,
        *,
        now: datetime,
        lookback: timedelta | None,
        max_events: int | None = None,
    ) -> ContactDocument | None:
        """See :meth:`growthos_segments.core.ports.ContactViewLoader.load_view`.

        Reads are strongly consistent by default: the evaluator runs right after
        the write that triggered it and must see it. ``max_events`` keeps only
        the newest N events (a guard for pathological contacts).
        """
        if self._requests is None:
            return self._load(tenant_id, contact_id, now, lookback, max_events)
        with self._requests.measure() as tally:
            try:
                return self._load(tenant_id, contact_id, now, lookback, max_events)
            finally:
                self.last_requests = tally.total

    def _load(
        self,
        tenant_id: str,
        contact_id: str,
        now: datetime,
        lookback: timedelta | None,
        max_events: int | None,
    ) -> ContactDocument | None:
        pk = keys.contact_pk(tenant_id, contact_id)
        try:
            item = self._contacts.get(pk, consistent_read=self._consistent)
        except DoesNotExist:
            return None
        doc = _profile_to_doc(item)
        doc["events"] = self._events_since(tenant_id, contact_id, now, lookback, max_events)
        return doc

    def load_views(
        self,
        tenant_id: str,
        contact_ids: Sequence[str],
        *,
        now: datetime,
        lookback: timedelta | None,
    ) -> dict[str, ContactDocument | None]:
        """Many views at once (backfill pages): one BatchGetItem per 100 profiles, then
        one events Query per found contact, and none when ``lookback`` is ``None``."""
        ids = list(dict.fromkeys(contact_ids))
        pks = [keys.contact_pk(tenant_id, contact_id) for contact_id in ids]
        found = {
            item.contact_id: _profile_to_doc(item)
            for item in self._contacts.batch_get(pks, consistent_read=self._consistent)
        }
        out: dict[str, ContactDocument | None] = {}
        for contact_id in ids:
            doc = found.get(contact_id)
            if doc is not None:
                doc["events"] = self._events_since(tenant_id, contact_id, now, lookback, None)
            out[contact_id] = doc
        return out

    def _events_since(
        self,
        tenant_id: str,
        contact_id: str,
        now: datetime,
        lookback: timedelta | None,
        max_events: int | None,
    ) -> list[dict[str, Any]]:
        if lookback is None:
            return []
        since = history_since(now, lookback)
        condition = self._events.sk >= keys.event_sk_floor(since) if since is not None else None
        results = self._events.query(
            keys.event_pk(tenant_id, contact_id),
            range_key_condition=condition,
            consistent_read=self._consistent,
            scan_index_forward=False,
            limit=max_events,
        )
        events = [_event_to_doc(event) for event in results]
        events.reverse()
        return events

