"""In-memory implementations of the audience side's ports (pure Python, no AWS).

They serve the unit tests of the audience and estimate services, next to the
in-memory stores of :mod:`growthos_segments.infra.memory`. The lookups and the
sample read through the other ports (segments, memberships, contact views)
instead of keeping copies, so a test writes each fact once.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from growthos_segments.core.dependencies import event_matches
from growthos_segments.core.ports import (
    HISTORY_PAGE,
    SNAPSHOT_CATEGORIES,
    ContactDocument,
    ContactPager,
    ContactViewLoader,
    CursorError,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    MembershipCheck,
    MembershipStore,
    Page,
    Resolution,
    SegmentStore,
    SizePoint,
    SnapshotMember,
    SnapshotRecord,
    StoredState,
    bucket_start,
    snapshot_counts,
)
from growthos_segments.core.timeutil import parse_instant, to_iso
from growthos_segments.infra import keys
from growthos_segments.infra.repos.snapshots import new_snapshot_id

__all__ = [
    "MemoryAudienceLookups",
    "MemoryContactSamples",
    "MemoryIdempotency",
    "MemorySegmentSizes",
    "MemorySnapshots",
]


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str, owner: str) -> int:
    """The position a cursor of ``owner`` (a query's identity) points at."""
    try:
        text = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode()
        found, _, number = text.rpartition("|")
        position = int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise CursorError("malformed cursor") from None
    if found != owner or position < 0:
        raise CursorError("cursor belongs to another query")
    return position


class MemoryAudienceLookups:
    """:class:`growthos_segments.core.ports.AudienceLookups` over the other ports."""

    def __init__(
        self, segments: SegmentStore, memberships: MembershipStore, views: ContactViewLoader
    ) -> None:
        self._segments = segments
        self._memberships = memberships
        self._views = views

    def _profile(self, tenant_id: str, contact_id: str) -> ContactDocument | None:
        return self._views.load_view(tenant_id, contact_id, now=datetime.now(UTC), lookback=None)

    def membership_check(self, tenant_id: str, segment_id: str, contact_id: str) -> MembershipCheck:
        head = self._segments.get(tenant_id, segment_id)
        row = self._memberships.get(tenant_id, segment_id, contact_id)
        stored = None if row is None else StoredState(
            row.member, row.entered_at, row.exited_at, row.segment_version)
        exists = self.contact_exists(tenant_id, contact_id)
        return MembershipCheck(head.status if head else None, stored, exists)

    def contact_exists(self, tenant_id: str, contact_id: str) -> bool:
        return self._profile(tenant_id, contact_id) is not None

    def suppression_profiles(self, tenant_id: str, contact_ids: Sequence[str]) -> dict[str, ContactDocument]:
        out: dict[str, ContactDocument] = {}
        for contact_id in contact_ids:
            doc = self._profile(tenant_id, contact_id)
            if doc is not None:
                email = (doc.get("attributes") or {}).get("email")
                out[contact_id] = {"contact_id": contact_id, "suppression": doc.get("suppression") or {},
                                   "attributes": {} if email is None else {"email": email}}
        return out


class MemorySnapshots:
    """:class:`growthos_segments.core.ports.SnapshotStore` in a dict, ``page_ids`` ids per page."""

    def __init__(self, *, page_ids: int = 500) -> None:
        self.page_ids = page_ids
        self._headers: dict[tuple[str, str], dict[str, SnapshotRecord]] = {}
        self._members: dict[str, list[SnapshotMember]] = {}

    def create(
        self,
        tenant_id: str,
        segment_id: str,
        members: Sequence[SnapshotMember],
        *,
        segment_version: int | None,
        label: str = "",
        now: datetime,
    ) -> SnapshotRecord:
        snapshot_id = new_snapshot_id(now)
        record = SnapshotRecord(tenant_id, segment_id, snapshot_id, to_iso(now) or "", segment_version, label,
                                -(-len(members) // self.page_ids), snapshot_counts(members))
        self._headers.setdefault((tenant_id, segment_id), {})[snapshot_id] = record
        self._members[snapshot_id] = list(members)
        return record

    def get(self, tenant_id: str, segment_id: str, snapshot_id: str) -> SnapshotRecord | None:
        return self._headers.get((tenant_id, segment_id), {}).get(snapshot_id)

    def list(
        self, tenant_id: str, segment_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[SnapshotRecord]:
        owner = f"{tenant_id}#{segment_id}"
        start = 0 if cursor is None else _decode(cursor, owner)
        records = sorted(self._headers.get((tenant_id, segment_id), {}).values(),
                         key=lambda r: r.snapshot_id, reverse=True)
        stop = start + limit
        return Page(records[start:stop], _encode(f"{owner}|{stop}") if stop < len(records) else None)

    def contacts(self, snapshot: SnapshotRecord, category: str, *, cursor: str | None = None) -> Page[str]:
        if category not in SNAPSHOT_CATEGORIES:
            raise ValueError(f"category must be one of {', '.join(SNAPSHOT_CATEGORIES)}")
        number = 0 if cursor is None else _decode(cursor, snapshot.snapshot_id)
        if cursor is not None and number >= snapshot.chunks:
            raise CursorError("cursor belongs to another snapshot")
        first = number * self.page_ids
        page = self._members.get(snapshot.snapshot_id, [])[first:first + self.page_ids]
        ids = [m.contact_id for m in page if category == "all" or getattr(m, category)]
        following = number + 1
        more = following < snapshot.chunks
        return Page(ids, _encode(f"{snapshot.snapshot_id}|{following}") if more else None)


class MemoryContactSamples:
    """:class:`growthos_segments.core.ports.ContactSamples` over the contact ports.

    Positions are the storage adapter's (:func:`keys.sample_position`), so both
    pick the same sample; the count is exact (a counter that never drifts).
    """

    positions = keys.SAMPLE_POSITIONS

    def __init__(self, views: ContactViewLoader, pager: ContactPager) -> None:
        self._views = views
        self._pager = pager

    def _ids(self, tenant_id: str) -> list[str]:
        ids: list[str] = []
        for shard in range(self._pager.shards):
            cursor = None
            while True:
                page = self._pager.contact_ids(tenant_id, shard=shard, cursor=cursor)
                ids += page.items
                if (cursor := page.cursor) is None:
                    break
        return ids

    def count(self, tenant_id: str) -> int | None:
        return len(self._ids(tenant_id)) or None

    def _at(self, tenant_id: str, start: int, stop: int) -> list[ContactDocument]:
        now = datetime.now(UTC)
        picked = [cid for cid in self._ids(tenant_id) if start <= keys.sample_position(cid) < stop]
        docs = (self._views.load_view(tenant_id, cid, now=now, lookback=timedelta.max) for cid in picked)
        return [doc for doc in docs if doc is not None]

    def contacts(
        self, tenant_id: str, start: int, stop: int, paths: frozenset[str] | None
    ) -> list[ContactDocument]:
        return [{k: v for k, v in doc.items() if k != "events"} for doc in self._at(tenant_id, start, stop)]

    def events(
        self, tenant_id: str, start: int, stop: int, *, since: datetime | None, prefixes: frozenset[str]
    ) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for doc in self._at(tenant_id, start, stop):
            for index, event in enumerate(doc.get("events") or ()):
                at = parse_instant(event.get("at"))
                name = str(event.get("name"))
                if at is None or (since is not None and at < since):
                    continue
                if any(event_matches(prefix, name) for prefix in prefixes):
                    key = f"{keys.sortable_time(at)}#{index:08d}"
                    found.setdefault(doc["contact_id"], []).append((key, dict(event)))
        return {cid: sorted(pairs, key=lambda p: p[0]) for cid, pairs in found.items()}

    @staticmethod
    def event_key_floor(since: datetime) -> str:
        return keys.sortable_time(since) if since.year >= 1000 else ""


_RUNNING = object()


class MemoryIdempotency:
    """:class:`growthos_segments.core.ports.IdempotentCalls` in a dict (results never expire)."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, Any, Any], tuple[Any, Any]] = {}

    def wrap(
        self, name: str, function: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> Callable[[dict[str, Any]], dict[str, Any]]:
        def call(request: dict[str, Any]) -> dict[str, Any]:
            key = (name, request["tenant_id"], request["key"])
            stored = self._records.get(key)
            if stored is not None:
                body, result = stored
                if body != request.get("body"):
                    raise IdempotencyKeyReused(name)
                if result is _RUNNING:
                    raise IdempotencyInProgress(name)
                return dict(result)
            self._records[key] = (request.get("body"), _RUNNING)
            try:
                result = function(request)
            except BaseException:
                del self._records[key]
                raise
            self._records[key] = (request.get("body"), result)
            return dict(result)

        return call


# --- segment sizes ------------------------------------------------------------------------


class MemorySegmentSizes:
    """:class:`growthos_segments.core.ports.SegmentSizes`: counts read from the memberships
    port, points kept in a dict (nothing expires: a process lives shorter than a point)."""

    def __init__(self, memberships: MembershipStore) -> None:
        self._memberships = memberships
        self._points: dict[tuple[str, str, Resolution], dict[datetime, int]] = {}

    def counts(self, tenant_id: str, segment_ids: Sequence[str]) -> dict[str, int]:
        return {sid: self._memberships.count(tenant_id, sid) for sid in segment_ids}

    def record(
        self, tenant_id: str, counts: Mapping[str, int], *, at: datetime, resolutions: Sequence[Resolution]
    ) -> int:
        written = 0
        for resolution in resolutions:
            start = bucket_start(at, resolution)
            for segment_id, count in counts.items():
                points = self._points.setdefault((tenant_id, segment_id, resolution), {})
                if start not in points:
                    points[start] = count
                    written += 1
        return written

    def history(
        self, tenant_id: str, segment_id: str, resolution: Resolution, *, since: datetime,
        limit: int = HISTORY_PAGE,
    ) -> list[SizePoint]:
        points = self._points.get((tenant_id, segment_id, resolution), {})
        return [SizePoint(at, points[at]) for at in sorted(points) if at >= since][:limit]
