"""Every real-time port in memory: the unit tests' storage, and the local stack's initial fill.

One :class:`MemoryBackend` holds a deployment's state in dictionaries and
hands out :class:`~growthos_segments.core.ports.RealtimePorts` over it, so a
service runs on it unchanged and a unit test needs neither moto nor a network.
The stores keep the semantics the services rely on, as the DynamoDB adapters
implement them (``tests/integration/test_realtime_ports.py`` runs the same
checks against both):

- memberships: an enter or exit applies only over an older evaluation (smaller
  ``seq``) in the other state, and moves the segment's count with it; a refused
  transition over an older evaluation records the newer ``seq`` (a tombstone
  for a never-member), so an older evaluation arriving later is refused;
- re-checks: an earlier re-check is always written, a later one or a clear only
  in place of the row the caller read (``replacing``); due rows are read per
  shard and due minute, as the ``by_due`` index has them;
- backfill progress: a page is counted only from the cursor the slice is at.

Every applied membership write and every contact or event write is also kept
as a change record, in order, for the stream evaluator and the notifier
(:class:`MemoryStreamRecords` reads them), as the tables' streams would carry.
Keys and ids go through :mod:`growthos_segments.infra.keys`, so the memory
store accepts and refuses what DynamoDB's does.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from bisect import insort
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from growthos_segments.core.contract import Reads
from growthos_segments.core.dependencies import EVERYTHING, Change, changed_paths
from growthos_segments.core.membership import PairState
from growthos_segments.core.ports import (
    FEED_KEEP,
    FIELD_CAP,
    BackfillJob,
    BackfillProgress,
    ContactChanges,
    ContactDocument,
    CursorError,
    FeedPage,
    FieldCatalog,
    MembershipRecord,
    MembershipStore,
    ObservedAttribute,
    OutboundEvent,
    OutOfTime,
    Page,
    PassStats,
    PublishFailure,
    PublishResult,
    RealtimePorts,
    RecheckRecord,
    Sample,
    SegmentRecord,
    SegmentVersionConflict,
    SliceState,
    StoredContext,
    Transition,
    TransitionOutcome,
    TransitionResult,
    history_since,
    keeps_event,
    sample_key,
)
from growthos_segments.core.ports_ingest import ForgetResult, IngestEvent, ProfileWrite, diff_profiles
from growthos_segments.core.ports_usage import UsageRecord
from growthos_segments.core.timeutil import as_utc, parse_iso
from growthos_segments.core.timeutil import to_iso as iso
from growthos_segments.core.values import plain
from growthos_segments.core.view import ContactView
from growthos_segments.infra import keys

__all__ = [
    "DocumentPass",
    "MemoryBackend",
    "MemoryBackfillQueue",
    "MemoryContacts",
    "MemoryContexts",
    "MemoryIngest",
    "MemoryMemberships",
    "MemoryObservedFields",
    "MemoryPairStates",
    "MemoryProgress",
    "MemoryPublisher",
    "MemoryRechecks",
    "MemorySegments",
    "MemoryStreamRecords",
    "MemoryTransitionFeed",
    "MemoryUsages",
]


def _encode(position: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, sort_keys=True).encode()).decode()


def _decode(cursor: str | None, scope: Mapping[str, Any]) -> Any:
    """The position a cursor holds, if it was issued for ``scope`` (else :class:`CursorError`)."""
    if cursor is None:
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise CursorError("malformed cursor") from error
    if not isinstance(body, dict) or "after" not in body:
        raise CursorError("malformed cursor")
    if any(body.get(name) != value for name, value in scope.items()):
        raise CursorError("cursor belongs to another query")
    return body["after"]


def _page(
    items: list[Any], position: Callable[[Any], Any], after: Any, limit: int, scope: Mapping[str, Any]
) -> Page[Any]:
    """The ``limit`` items after ``after`` (items sorted by ``position``)."""
    if limit < 1:
        raise ValueError("limit must be positive")
    rest = [item for item in items if after is None or position(item) > after]
    chosen = rest[:limit]
    cursor = _encode({**scope, "after": position(chosen[-1])}) if len(rest) > limit else None
    return Page(chosen, cursor)


# --------------------------------------------------------------------------- change records


class _Changes:
    """The change records of every table of one backend, in write order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._read = 0

    def add(self, **record: Any) -> None:
        with self._lock:
            self._records.append({"id": str(len(self._records) + 1), **record})

    def take(self, table: str) -> list[dict[str, Any]]:
        """Records of ``table`` not taken before."""
        with self._lock:
            taken = [r for r in self._records if r["table"] == table and not r.get("taken")]
            for record in taken:
                record["taken"] = True
            return taken


class MemoryStreamRecords:
    """:class:`growthos_segments.core.ports.StreamRecordReader` over this module's change records."""

    def record_id(self, record: Mapping[str, Any]) -> str:
        return str(record["id"])

    def contact_changes(
        self, records: Sequence[Mapping[str, Any]]
    ) -> tuple[list[ContactChanges], dict[str, Exception]]:
        groups: dict[tuple[str, str], ContactChanges] = {}
        poison: dict[str, Exception] = {}
        for record in records:
            change = record.get("change")
            if not isinstance(change, Change):
                poison[self.record_id(record)] = ValueError("record carries no change")
                continue
            pair = (record["tenant_id"], record["contact_id"])
            group = groups.setdefault(pair, ContactChanges(*pair, Change()))
            group.change = group.change | change
            group.records.append(self.record_id(record))
        return list(groups.values()), poison

    def images(
        self, record: Mapping[str, Any]
    ) -> tuple[str | None, dict[str, Any] | None, dict[str, Any] | None]:
        return record.get("eventName"), record.get("old"), record.get("new")


# --------------------------------------------------------------------------- contacts


class DocumentPass:
    """:class:`growthos_segments.core.ports.TenantPass` over contact documents already in
    memory (an import, the demo seed): each view keeps only the events ``reads`` declares."""

    def __init__(
        self,
        docs: Iterable[Mapping[str, Any]],
        reads: Reads,
        now: datetime,
        *,
        out_of_time: Callable[[], bool] | None = None,
    ) -> None:
        self._docs = docs
        self._keep = keeps_event(reads, history_since(now, reads.lookback))
        self._events = bool(reads.events)
        self._out_of_time = out_of_time
        self.stats = PassStats()

    def __iter__(self) -> Iterator[ContactView]:
        self.stats = PassStats()
        for doc in self._docs:
            if self._out_of_time is not None and self._out_of_time():
                raise OutOfTime(f"out of time after {self.stats.contacts} contacts")
            self.stats.requests += 1
            events = [e for e in doc.get("events") or () if self._keep(e)] if self._events else []
            self.stats.contacts += 1
            self.stats.events += len(events)
            yield ContactView({**doc, "events": events})


class MemoryContacts:
    """Contact profiles and their events per tenant: the view loader, the backfill's
    contact pager and the tenant scanner at once."""

    shards = keys.CONTACT_SHARDS

    def __init__(self, changes: _Changes | None = None) -> None:
        self._profiles: dict[tuple[str, str], ContactDocument] = {}
        self._events: dict[tuple[str, str], list[tuple[datetime, dict[str, Any]]]] = {}
        """Each contact's events with their instants, oldest first."""
        self._changes = changes or _Changes()
        self._lock = threading.Lock()

    def put(self, doc: Mapping[str, Any]) -> None:
        """Store (or replace) a contact's profile; its change record names what changed."""
        key = (keys.check_tenant_id(doc.get("tenant_id")), keys.check_contact_id(doc.get("contact_id")))
        profile = plain({k: v for k, v in doc.items() if k != "events"})
        with self._lock:
            old = self._profiles.get(key)
            self._profiles[key] = profile
        change = EVERYTHING if old is None else Change(paths=changed_paths(old, profile))
        self._changes.add(table="contacts", tenant_id=key[0], contact_id=key[1], change=change)
        for event in doc.get("events") or ():
            self.event(*key, event["name"], at=parse_iso(event["at"]), properties=event.get("properties"))

    def event(
        self,
        tenant_id: str,
        contact_id: str,
        name: str,
        *,
        at: datetime,
        properties: Mapping[str, Any] | None = None,
    ) -> None:
        key = (keys.check_tenant_id(tenant_id), keys.check_contact_id(contact_id))
        event = {"name": name, "at": iso(at), "properties": plain(properties or {})}
        with self._lock:
            insort(self._events.setdefault(key, []), (as_utc(at), event), key=lambda pair: pair[0])
        self._changes.add(
            table="events", tenant_id=tenant_id, contact_id=contact_id, change=Change.of_event(name)
        )

    def delete(self, tenant_id: str, contact_id: str, *, max_events: int) -> tuple[bool, int, bool]:
        """Remove a profile and up to ``max_events`` of its events, oldest first: (whether a
        profile was there, events removed, whether none is left). The change record is a
        removal, as the contacts stream carries a REMOVE."""
        key = (keys.check_tenant_id(tenant_id), keys.check_contact_id(contact_id))
        with self._lock:
            found = self._profiles.pop(key, None) is not None
            events = self._events.pop(key, [])
            if events[max_events:]:
                self._events[key] = events[max_events:]
        if found:
            self._changes.add(table="contacts", tenant_id=key[0], contact_id=key[1], change=EVERYTHING)
        return found, len(events[:max_events]), not events[max_events:]

    def profile(self, tenant_id: str, contact_id: str) -> ContactDocument | None:
        """A copy of the stored profile (without events)."""
        stored = self._profiles.get((tenant_id, contact_id))
        return plain(stored) if stored is not None else None

    def _document(
        self, key: tuple[str, str], since: datetime | None, *, events: bool = True
    ) -> ContactDocument:
        kept = [e for at, e in self._events.get(key, ()) if since is None or at >= since] if events else []
        return {**self._profiles[key], "events": kept}

    def load_view(
        self, tenant_id: str, contact_id: str, *, now: datetime, lookback: timedelta | None
    ) -> ContactDocument | None:
        if (tenant_id, contact_id) not in self._profiles:
            return None
        since = history_since(now, lookback)
        return self._document((tenant_id, contact_id), since, events=lookback is not None)

    def load_views(
        self, tenant_id: str, contact_ids: Sequence[str], *, now: datetime, lookback: timedelta | None
    ) -> dict[str, ContactDocument | None]:
        return {cid: self.load_view(tenant_id, cid, now=now, lookback=lookback) for cid in contact_ids}

    def contact_ids(
        self, tenant_id: str, *, shard: int, limit: int = 1000, cursor: str | None = None
    ) -> Page[str]:
        scope = {"tenant": tenant_id, "shard": shard}
        ids = sorted(c for (t, c) in self._profiles if t == tenant_id and keys.contact_shard(c) == shard)
        return _page(ids, lambda cid: cid, _decode(cursor, scope), limit, scope)

    def shard_of(self, contact_id: str) -> int:
        return keys.contact_shard(contact_id)

    def scan(
        self, tenant_id: str, reads: Reads, now: datetime, *, out_of_time: Callable[[], bool] | None = None
    ) -> DocumentPass:
        docs = [self._document(key, None) for key in sorted(self._profiles) if key[0] == tenant_id]
        return DocumentPass(docs, reads, now, out_of_time=out_of_time)


# --------------------------------------------------------------------------- segments


class MemorySegments:
    """:class:`growthos_segments.core.ports.SegmentStore`: every version kept, heads by id."""

    def __init__(self) -> None:
        self._versions: dict[tuple[str, str], list[SegmentRecord]] = {}
        self._revisions: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, tenant_id: str, segment_id: str, *, version: int | None = None) -> SegmentRecord | None:
        history = self._versions.get((tenant_id, segment_id)) or []
        if version is None:
            return history[-1] if history else None
        return next((r for r in history if r.version == version), None)

    def save(self, segment: SegmentRecord, *, now: datetime | None = None) -> SegmentRecord:
        keys.check_segment_record(segment)
        stamp = iso(now or datetime.now(UTC))
        with self._lock:
            history = self._versions.setdefault(
                (keys.check_tenant_id(segment.tenant_id), segment.segment_id), []
            )
            head = history[-1] if history else None
            if (head.version if head else 0) != segment.version:
                raise SegmentVersionConflict(
                    segment.tenant_id, segment.segment_id, segment.version, head.version if head else None
                )
            saved = replace(
                segment,
                version=segment.version + 1,
                rule=json.loads(json.dumps(segment.rule)),
                created_at=head.created_at if head else stamp,
                updated_at=stamp,
                created_by=head.created_by if head else segment.updated_by,
            )
            history.append(saved)
            self._revisions[segment.tenant_id] = self._revisions.get(segment.tenant_id, 0) + 1
        return saved

    def versions(self, tenant_id: str, segment_id: str) -> list[SegmentRecord]:
        return list(reversed(self._versions.get((tenant_id, segment_id)) or []))

    def list_segments(self, tenant_id: str, *, include_archived: bool = False) -> list[SegmentRecord]:
        heads = [h[-1] for (tid, _), h in sorted(self._versions.items()) if tid == tenant_id]
        return [h for h in heads if include_archived or h.status == "active"]

    def active_segments(self, tenant_id: str) -> Sequence[SegmentRecord]:
        return tuple(self.list_segments(tenant_id))

    def revision(self, tenant_id: str) -> int:
        return self._revisions.get(tenant_id, 0)

    def tenants(self) -> Iterator[str]:
        return iter(sorted(self._revisions))


class MemoryUsages:
    """:class:`growthos_segments.core.ports_usage.SegmentUsages`: registrations by (tenant, segment, user)."""

    def __init__(self) -> None:
        self._usages: dict[tuple[str, str, str], UsageRecord] = {}

    def register(self, tenant_id: str, segment_id: str, user: str, *, by: str | None,
                 now: datetime) -> UsageRecord:
        keys.segment_usage_sk(segment_id, user)  # the ids DynamoDB's key would refuse
        record = UsageRecord(segment_id=segment_id, user=user, registered_by=by, registered_at=iso(now))
        self._usages[(keys.check_tenant_id(tenant_id), segment_id, user)] = record
        return record

    def remove(self, tenant_id: str, segment_id: str, user: str) -> None:
        self._usages.pop((tenant_id, segment_id, user), None)

    def users(self, tenant_id: str, segment_id: str) -> list[UsageRecord]:
        wanted = (tenant_id, segment_id)
        return [r for (tid, sid, _), r in sorted(self._usages.items()) if (tid, sid) == wanted]

    def users_by_segment(self, tenant_id: str) -> dict[str, list[UsageRecord]]:
        by_segment: dict[str, list[UsageRecord]] = {}
        for (tid, sid, _), record in sorted(self._usages.items()):
            if tid == tenant_id:
                by_segment.setdefault(sid, []).append(record)
        return by_segment


# --------------------------------------------------------------------------- memberships


class MemoryMemberships(MembershipStore):
    """:class:`growthos_segments.core.ports.MembershipStore`: conditional transitions by
    ``seq`` with exact counts (exited rows stay as tombstones, as on DynamoDB)."""

    def __init__(self, changes: _Changes | None = None) -> None:
        self._rows: dict[tuple[str, str, str], MembershipRecord] = {}
        self._counts: dict[tuple[str, str], int] = {}
        self._changes = changes or _Changes()
        self._lock = threading.RLock()

    def get(self, tenant_id: str, segment_id: str, contact_id: str) -> MembershipRecord | None:
        return self._rows.get((tenant_id, segment_id, contact_id))

    def records(self) -> list[MembershipRecord]:
        """Every stored row, tombstones included (what a bulk load writes)."""
        return list(self._rows.values())

    def _write(self, record: MembershipRecord) -> None:
        key = (record.tenant_id, record.segment_id, record.contact_id)
        old = self._rows.get(key)
        self._rows[key] = record
        self._changes.add(
            table="memberships",
            eventName="MODIFY" if old else "INSERT",
            old=asdict(old) if old else None,
            new=asdict(record),
        )

    def transition(
        self,
        tenant_id: str,
        segment_id: str,
        contact_id: str,
        *,
        enter: bool,
        seq: int,
        at: datetime,
        segment_version: int | None = None,
    ) -> TransitionResult:
        stamp = iso(at)
        transition = keys.transition_id(tenant_id, segment_id, contact_id, seq, enter)
        with self._lock:
            current = self.get(tenant_id, segment_id, contact_id)
            if (current is None and enter) or (
                current is not None and current.member != enter and current.seq < seq
            ):
                version = (
                    segment_version
                    if segment_version is not None
                    else (current.segment_version if current else None)
                )
                self._write(
                    MembershipRecord(
                        tenant_id,
                        segment_id,
                        contact_id,
                        enter,
                        seq,
                        stamp,
                        transition,
                        entered_at=stamp if enter else (current.entered_at if current else None),
                        exited_at=None if enter else stamp,
                        segment_version=version,
                    )
                )
                self._counts[(tenant_id, segment_id)] = self.count(tenant_id, segment_id) + (
                    1 if enter else -1
                )
                applied = MembershipRecord(
                    tenant_id,
                    segment_id,
                    contact_id,
                    enter,
                    seq,
                    stamp,
                    transition,
                    entered_at=stamp if enter else None,
                    exited_at=None if enter else stamp,
                    segment_version=segment_version,
                )
                return TransitionResult(TransitionOutcome.APPLIED, applied)
            if current is not None and current.seq >= seq:
                return TransitionResult(TransitionOutcome.STALE, current)
            if not self.confirm(tenant_id, segment_id, contact_id, member=enter, seq=seq, at=at):
                return TransitionResult(TransitionOutcome.STALE, self.get(tenant_id, segment_id, contact_id))
            return TransitionResult(TransitionOutcome.UNCHANGED, self.get(tenant_id, segment_id, contact_id))

    def confirm(
        self, tenant_id: str, segment_id: str, contact_id: str, *, member: bool, seq: int, at: datetime
    ) -> bool:
        with self._lock:
            current = self.get(tenant_id, segment_id, contact_id)
            if current is None:
                if member:
                    return False
                self._write(
                    MembershipRecord(
                        tenant_id,
                        segment_id,
                        contact_id,
                        False,
                        seq,
                        iso(at),
                        keys.transition_id(tenant_id, segment_id, contact_id, seq, False),
                    )
                )
                return True
            if current.member != member or current.seq >= seq:
                return False
            self._write(replace(current, seq=seq))
            return True

    def members(
        self, tenant_id: str, segment_id: str, *, limit: int = 100, cursor: str | None = None
    ) -> Page[str]:
        scope = {"tenant": tenant_id, "segment": segment_id}
        ids = sorted(
            c for (t, s, c), r in self._rows.items() if (t, s) == (tenant_id, segment_id) and r.member
        )
        return _page(ids, lambda cid: cid, _decode(cursor, scope), limit, scope)

    def segments_of(self, tenant_id: str, contact_id: str) -> list[MembershipRecord]:
        return [
            r for (t, _, c), r in sorted(self._rows.items()) if (t, c) == (tenant_id, contact_id) and r.member
        ]

    def count(self, tenant_id: str, segment_id: str) -> int:
        return self._counts.get((tenant_id, segment_id), 0)


# --------------------------------------------------------------------------- re-checks


class MemoryRechecks:
    """:class:`growthos_segments.core.ports.RecheckStore` with the due index's shards and minutes."""

    shards = keys.RECHECK_SHARDS

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], dict[str, RecheckRecord]] = {}
        """Rows by (tenant, contact), then segment: one contact's rows share a partition."""
        self._lock = threading.Lock()

    def records(self) -> list[RecheckRecord]:
        return [r for rows in self._rows.values() for r in rows.values()]

    def schedule(
        self,
        tenant_id: str,
        segment_id: str,
        contact_id: str,
        *,
        recheck_at: datetime | None,
        seq: int,
        replacing: tuple[datetime, int] | None = None,
    ) -> bool:
        key = (keys.check_tenant_id(tenant_id), keys.check_contact_id(contact_id))
        keys.check_segment_id(segment_id)
        with self._lock:
            rows = self._rows.setdefault(key, {})
            row = rows.get(segment_id)
            unchanged = (
                row is None
                if replacing is None
                else (row is not None and (row.recheck_at, row.seq) == replacing)
            )
            if recheck_at is None:
                if unchanged:
                    rows.pop(segment_id, None)
                return unchanged
            if row is None or row.recheck_at > recheck_at or unchanged:
                rows[segment_id] = RecheckRecord(tenant_id, segment_id, contact_id, recheck_at, seq)
                return True
            return False

    def for_contact(self, tenant_id: str, contact_id: str) -> list[RecheckRecord]:
        rows = self._rows.get((tenant_id, contact_id)) or {}
        return [rows[segment_id] for segment_id in sorted(rows)]

    def due(
        self, tenant_id: str, *, now: datetime, shard: int, limit: int = 500, cursor: str | None = None
    ) -> Page[RecheckRecord]:
        scope = {"tenant": tenant_id, "shard": shard}
        shard_key, floor = keys.tenant_shard_key(tenant_id, shard), keys.due_bucket_floor(now)

        def position(record: RecheckRecord) -> list[str]:
            return [keys.due_bucket(record.recheck_at), record.contact_id, record.segment_id]

        rows = sorted(
            (
                r
                for (t, c), rows in self._rows.items()
                if t == tenant_id and keys.recheck_due_pk(t, c) == shard_key
                for r in rows.values()
                if keys.due_bucket(r.recheck_at) <= floor
            ),
            key=position,
        )
        return _page(rows, position, _decode(cursor, scope), limit, scope)


class MemoryPairStates:
    """:class:`growthos_segments.core.membership.PairStateReader` over the memory stores."""

    def __init__(self, memberships: MemoryMemberships, rechecks: MemoryRechecks) -> None:
        self._memberships = memberships
        self._rechecks = rechecks

    def read(self, tenant_id: str, contact_id: str, segment_ids: Sequence[str]) -> dict[str, PairState]:
        rechecks = {r.segment_id: r for r in self._rechecks.for_contact(tenant_id, contact_id)}
        states: dict[str, PairState] = {}
        for segment_id in segment_ids:
            row, recheck = self._memberships.get(tenant_id, segment_id, contact_id), rechecks.get(segment_id)
            if row is not None or recheck is not None:
                states[segment_id] = PairState(
                    row.member if row else False,
                    row.seq if row else None,
                    recheck.recheck_at if recheck else None,
                    recheck.seq if recheck else None,
                )
        return states

    def read_many(
        self, tenant_id: str, contact_ids: Sequence[str], segment_ids: Sequence[str]
    ) -> dict[str, dict[str, PairState]]:
        return {cid: self.read(tenant_id, cid, segment_ids) for cid in dict.fromkeys(contact_ids)}


# --------------------------------------------------------------------------- contexts, backfills, events


class MemoryContexts:
    """:class:`growthos_segments.core.ports.TenantContextStore` (stored as JSON, as on DynamoDB)."""

    def __init__(self) -> None:
        self._stored: dict[str, StoredContext] = {}

    def get(self, tenant_id: str) -> StoredContext | None:
        return self._stored.get(tenant_id)

    def put(self, tenant_id: str, context: Mapping[str, Any], computed_at: datetime) -> None:
        stored = json.loads(json.dumps(context, sort_keys=True, default=str))
        self._stored[tenant_id] = StoredContext(stored, computed_at)


class MemoryProgress:
    """:class:`growthos_segments.core.ports.BackfillProgressStore`: a page counts only from
    the cursor its slice is at."""

    def __init__(self, slices: int = keys.CONTACT_SHARDS) -> None:
        self._slices = slices
        self._stored: dict[tuple[str, str, int, int], SliceState] = {}
        self._queued: dict[tuple[str, str, int], datetime] = {}
        self._lock = threading.Lock()

    def slice(self, job: BackfillJob) -> SliceState | None:
        assert job.shard is not None
        return self._stored.get((job.tenant_id, job.segment_id, job.version, job.shard))

    def advance(
        self, job: BackfillJob, *, next_cursor: str | None, done: int, entered: int, exited: int
    ) -> bool:
        assert job.shard is not None
        key = (job.tenant_id, job.segment_id, job.version, job.shard)
        with self._lock:
            stored = self._stored.get(key)
            if (
                (stored is not None)
                if job.cursor is None
                else (stored is None or stored.cursor != job.cursor or stored.finished)
            ):
                return False
            base = stored or SliceState(0, 0, 0, None, False)
            now = datetime.now(UTC)  # stamped as the DynamoDB store stamps it: when the page is counted
            self._stored[key] = SliceState(
                base.done + done,
                base.entered + entered,
                base.exited + exited,
                next_cursor,
                next_cursor is None,
                started_at=base.started_at or now,
                updated_at=now,
            )
            return True

    def _of(self, tenant_id: str, segment_id: str, version: int) -> dict[int, SliceState]:
        return {k[3]: s for k, s in self._stored.items() if k[:3] == (tenant_id, segment_id, version)}

    def queued(self, tenant_id: str, segment_id: str, version: int, *, at: datetime) -> None:
        self._queued[(tenant_id, segment_id, version)] = at

    def progress(self, tenant_id: str, segment_id: str, version: int) -> BackfillProgress:
        states = self._of(tenant_id, segment_id, version).values()
        return BackfillProgress.of(tenant_id, segment_id, version, states, slices=self._slices,
                                   queued_at=self._queued.get((tenant_id, segment_id, version)))

    def progress_many(self, tenant_id: str, versions: Mapping[str, int]) -> dict[str, BackfillProgress]:
        return {sid: self.progress(tenant_id, sid, version) for sid, version in versions.items()}

    def finished_slices(self, tenant_id: str, segment_id: str, version: int) -> set[int]:
        return {shard for shard, s in self._of(tenant_id, segment_id, version).items() if s.finished}

    def reset(self, tenant_id: str, segment_id: str, version: int) -> None:
        with self._lock:
            for shard in self._of(tenant_id, segment_id, version):
                self._stored.pop((tenant_id, segment_id, version, shard), None)


@dataclass
class MemoryBackfillQueue:
    """:class:`growthos_segments.core.ports.BackfillQueue` that keeps what was sent."""

    jobs: list[BackfillJob] = field(default_factory=list)
    delays: list[int] = field(default_factory=list)

    def send(self, jobs: Sequence[BackfillJob], *, delay_seconds: int = 0) -> None:
        self.jobs += jobs
        self.delays += [delay_seconds] * len(jobs)


@dataclass
class MemoryPublisher:
    """:class:`growthos_segments.core.ports.EventPublisher` that keeps the events it accepts
    and refuses those ``refuse`` names (a bus that is down for some events)."""

    events: list[OutboundEvent] = field(default_factory=list)
    refuse: Callable[[OutboundEvent], bool] | None = None
    requests: int = 0

    def publish(self, events: Sequence[OutboundEvent]) -> PublishResult:
        self.requests += 1
        failed = [PublishFailure(e, "Refused", "refused") for e in events if self.refuse and self.refuse(e)]
        refused = {f.event.idempotency_id for f in failed}
        accepted = [e for e in events if e.idempotency_id not in refused]
        self.events += accepted
        return PublishResult(sent=len(accepted), failed=failed)


# --------------------------------------------------------------------------- the backend


class MemoryBackend:
    """One deployment in memory: every store, and the ports over them."""

    def __init__(self) -> None:
        self.changes = _Changes()
        self.contacts = MemoryContacts(self.changes)
        self.segments = MemorySegments()
        self.usages = MemoryUsages()
        self.memberships = MemoryMemberships(self.changes)
        self.rechecks = MemoryRechecks()
        self.contexts = MemoryContexts()
        self.progress = MemoryProgress()
        self.publisher = MemoryPublisher()
        self.backfills = MemoryBackfillQueue()
        self.fields = MemoryObservedFields()

    def ports(self) -> RealtimePorts:
        return RealtimePorts(
            segments=self.segments,
            views=self.contacts,
            pair_states=MemoryPairStates(self.memberships, self.rechecks),
            memberships=self.memberships,
            rechecks=self.rechecks,
            contexts=self.contexts,
            scanner=self.contacts,
            contacts=self.contacts,
            progress=self.progress,
            publisher=self.publisher,
            records=MemoryStreamRecords(),
            backfills=self.backfills,
            fields=self.fields,
        )

    def contact_records(self) -> list[dict[str, Any]]:
        """Contacts and events change records not read before, in write order."""
        return sorted(self.changes.take("contacts") + self.changes.take("events"), key=lambda r: int(r["id"]))

    def membership_records(self) -> list[dict[str, Any]]:
        """Memberships change records not read before, in write order."""
        return self.changes.take("memberships")


# =========================================================================== observed fields


class MemoryObservedFields:
    """:class:`growthos_segments.core.ports.ObservedFields` in memory, merging as DynamoDB's does."""

    def __init__(self, *, cap: int = FIELD_CAP) -> None:
        self._cap = cap
        self._paths: dict[tuple[str, str], ObservedAttribute] = {}
        self._events: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self.writes = 0
        """Writes made (one per path and per event name), as DynamoDB requests would be."""

    def catalog(self, tenant_id: str) -> FieldCatalog:
        paths = sorted((p, a) for (t, p), a in self._paths.items() if t == tenant_id)[: self._cap]
        events = sorted((n, c) for (t, n), c in self._events.items() if t == tenant_id)[: self._cap]
        return FieldCatalog(tuple(a for _, a in paths), dict(events))

    def add_attributes(self, tenant_id: str, attributes: Sequence[ObservedAttribute]) -> None:
        keys.check_tenant_id(tenant_id)
        with self._lock:
            for attribute in attributes:
                stored = self._paths.get((tenant_id, attribute.path))
                self._paths[(tenant_id, attribute.path)] = ObservedAttribute(
                    attribute.path,
                    attribute.types | (stored.types if stored else frozenset()),
                    stored.samples if stored and stored.samples else attribute.samples,
                )
                self.writes += 1

    def count_events(self, tenant_id: str, counts: Mapping[str, int]) -> None:
        keys.check_tenant_id(tenant_id)
        with self._lock:
            for name, count in counts.items():
                self._events[(tenant_id, name)] = self._events.get((tenant_id, name), 0) + count
                self.writes += 1

    def forget_samples(self, tenant_id: str, values: Mapping[str, Collection[Sample]]) -> int:
        keys.check_tenant_id(tenant_id)
        removed = 0
        with self._lock:
            for path, forgotten in values.items():
                stored = self._paths.get((tenant_id, path))
                if stored is None:
                    continue
                gone = {sample_key(v) for v in forgotten}
                kept = tuple(s for s in stored.samples if sample_key(s) not in gone)
                if len(kept) < len(stored.samples):
                    removed += len(stored.samples) - len(kept)
                    self._paths[(tenant_id, path)] = ObservedAttribute(path, stored.types, kept)
                    self.writes += 1
        return removed


# =========================================================================== ingestion


class MemoryIngest:
    """:class:`growthos_segments.core.ports_ingest.IngestStore` over a :class:`MemoryContacts`,
    refusing a write over a profile that changed as the DynamoDB adapter does."""

    def __init__(self, contacts: MemoryContacts) -> None:
        self._contacts = contacts
        self._event_ids: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    def profiles(self, tenant_id: str, contact_ids: Sequence[str]) -> dict[str, ContactDocument]:
        found = {cid: self._contacts.profile(tenant_id, cid) for cid in contact_ids}
        return {cid: doc for cid, doc in found.items() if doc is not None}

    def write_profiles(self, tenant_id: str, writes: Sequence[ProfileWrite], *, now: datetime) -> list[bool]:
        return [self.write_profile(tenant_id, old, new, now=now) for old, new in writes]

    def write_profile(
        self, tenant_id: str, old: ContactDocument | None, new: ContactDocument, *, now: datetime
    ) -> bool:
        """One write of :meth:`write_profiles` (tests wrap it to count or fail writes)."""
        with self._lock:
            current = self._contacts.profile(tenant_id, new["contact_id"])
            if old is None or current is None:
                if (old is None) != (current is None):
                    return False
                self._contacts.put(new)
                return True
            diff = diff_profiles(old, new)
            for name in ("tags", "lists"):
                if getattr(diff, name) is not None and current.get(name) != old.get(name):
                    return False
            self._contacts.put(diff.apply(current))
            return True

    def append_events(self, tenant_id: str, events: Sequence[IngestEvent]) -> list[bool]:
        return [self.append_event(tenant_id, event) for event in events]

    def append_event(self, tenant_id: str, event: IngestEvent) -> bool:
        """One event of :meth:`append_events` (tests wrap it to count or fail writes)."""
        key = (keys.check_tenant_id(tenant_id), keys.check_contact_id(event.contact_id),
               keys.check_event_id(event.event_id))
        with self._lock:
            if key in self._event_ids:
                return False
            self._event_ids.add(key)
        self._contacts.event(
            tenant_id, event.contact_id, event.name, at=event.at, properties=event.properties
        )
        return True

    def forget(self, tenant_id: str, contact_id: str, *, max_events: int) -> ForgetResult:
        found, deleted, complete = self._contacts.delete(tenant_id, contact_id, max_events=max_events)
        if complete:
            with self._lock:
                self._event_ids = {k for k in self._event_ids if k[:2] != (tenant_id, contact_id)}
        return ForgetResult(contact_id, found, deleted, complete)


# =========================================================================== transition feed


class MemoryTransitionFeed:
    """:class:`growthos_segments.core.ports.TransitionFeed` in memory: one entry per
    transition id, read newest first within :data:`FEED_KEEP` as the DynamoDB feed is."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], dict[str, Transition]] = {}
        self._lock = threading.Lock()

    def record(self, transitions: Sequence[Transition]) -> None:
        with self._lock:
            for transition in transitions:
                keys.check_tenant_id(transition.tenant_id)
                feed = self._items.setdefault((transition.tenant_id, transition.segment_id), {})
                feed[transition.transition_id] = transition

    def recent(
        self,
        tenant_id: str,
        segment_id: str,
        *,
        now: datetime,
        limit: int,
        cursor: str | None = None,
        after: str | None = None,
    ) -> FeedPage:
        scope = {"tenant": tenant_id, "feed": segment_id}
        low = max(_decode(after, scope) or [], [iso(now - FEED_KEEP, "microseconds"), ""])
        start = _decode(cursor, scope)
        with self._lock:
            stored = list(self._items.get((tenant_id, segment_id), {}).values())
        rows = sorted(
            ((p, t) for t in stored if (p := _feed_position(t)) > low and (start is None or p < start)),
            key=lambda row: row[0], reverse=True,
        )
        chosen = rows[:limit]
        older = _encode({**scope, "after": chosen[-1][0]}) if len(rows) > limit else None
        newest = _encode({**scope, "after": chosen[0][0]}) if chosen else None
        return FeedPage([t for _, t in chosen], older, newest)


def _feed_position(transition: Transition) -> list[str]:
    return [iso(transition.at, "microseconds"), transition.transition_id]
