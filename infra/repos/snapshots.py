"""Immutable audience snapshots: who a send went to, frozen at send time.

A sender asks for a snapshot right before it sends, then reads the ids from
the snapshot rather than from the live segment, so the audience it reports on
later is exactly the one it used. Layout (partition ``T#S``, next to nothing
else of the segment):

- ``C#<snapshot_id>#000000`` ... chunks of up to :data:`CHUNK_IDS` member ids,
  each with the ids that were bounced, unsubscribed, marked as spam, or had no
  email address at that moment (addressable = none of those);
- ``H#<snapshot_id>``: the header with the breakdown counts, written *last*
  with a does-not-exist condition: a snapshot is listed only once all its ids
  are stored, and nothing ever overwrites one.

Snapshot ids start with the UTC time (``snap_20261122T120000Z_1a2b3c4d``), so
listing the headers newest first is one Query in key order.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from pynamodb.exceptions import DoesNotExist

from growthos_segments.core.ports import (
    SNAPSHOT_CATEGORIES,
    SNAPSHOT_FLAGS,
    CursorError,
    Page,
    SnapshotMember,
    SnapshotRecord,
    snapshot_counts,
)
from growthos_segments.infra import keys
from growthos_segments.infra.models import Models, SnapshotChunkModel, SnapshotModel
from growthos_segments.infra.repos._common import decode_cursor, encode_cursor, iso, plain

__all__ = ["CHUNK_IDS", "SnapshotRepository"]

CHUNK_IDS = 500
"""Ids per chunk item: 500 ids of the longest allowed length (256 characters) with
every flag list full stay under DynamoDB's 400 KB item limit."""

def _record(item: SnapshotModel) -> SnapshotRecord:
    counts = plain(item.counts) or {}
    return SnapshotRecord(
        tenant_id=item.tenant_id,
        segment_id=item.segment_id,
        snapshot_id=item.snapshot_id,
        taken_at=item.taken_at,
        segment_version=int(item.segment_version) if item.segment_version is not None else None,
        label=item.label or "",
        chunks=int(item.chunks),
        counts={k: int(v) for k, v in counts.items()},
    )


def new_snapshot_id(now: datetime) -> str:
    return f"snap_{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}_{secrets.token_hex(4)}"


class SnapshotRepository:
    """:class:`growthos_segments.core.ports.SnapshotStore` on DynamoDB: never updates or
    deletes a snapshot."""

    def __init__(self, models: Models) -> None:
        self._header: type[SnapshotModel] = models.snapshots
        self._chunk: type[SnapshotChunkModel] = models.snapshot_chunks

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
        """Write the chunks (BatchWriteItem), then the header (conditional PutItem)."""
        snapshot_id = new_snapshot_id(now)
        pk = keys.snapshot_pk(tenant_id, segment_id)
        chunks = [members[i:i + CHUNK_IDS] for i in range(0, len(members), CHUNK_IDS)]
        with self._chunk.batch_write() as batch:
            for number, chunk in enumerate(chunks):
                item = self._chunk(pk, keys.snapshot_chunk_sk(snapshot_id, number))
                item.ids = [keys.check_contact_id(m.contact_id) for m in chunk]
                for flag in SNAPSHOT_FLAGS:
                    setattr(item, flag, [m.contact_id for m in chunk if getattr(m, flag)])
                batch.save(item)
        header = self._header(
            pk,
            keys.snapshot_header_sk(snapshot_id),
            tenant_id=tenant_id,
            segment_id=segment_id,
            snapshot_id=snapshot_id,
            segment_version=segment_version,
            label=label,
            taken_at=iso(now),
            chunks=len(chunks),
            counts=snapshot_counts(members),
        )
        header.save(condition=self._header.pk.does_not_exist())
        return _record(header)

    def get(self, tenant_id: str, segment_id: str, snapshot_id: str) -> SnapshotRecord | None:
        try:
            keys.check_snapshot_id(snapshot_id)
        except keys.InvalidKeyError:
            return None
        try:
            item = self._header.get(
                keys.snapshot_pk(tenant_id, segment_id), keys.snapshot_header_sk(snapshot_id),
                consistent_read=True,
            )
        except DoesNotExist:
            return None
        return _record(item)

    def list(
        self, tenant_id: str, segment_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[SnapshotRecord]:
        """Headers, newest first."""
        pk = keys.snapshot_pk(tenant_id, segment_id)
        start = decode_cursor(cursor, equal={"pk": pk}, allowed=frozenset({"sk"}))
        if start is not None and not start["sk"]["S"].startswith("H#"):
            raise CursorError("malformed cursor")
        results = self._header.query(
            pk,
            self._header.sk.startswith("H#"),
            scan_index_forward=False,
            limit=limit,
            last_evaluated_key=start,
            consistent_read=True,
        )
        items = [_record(item) for item in results]
        return Page(items, encode_cursor(results.last_evaluated_key))

    def contacts(
        self, snapshot: SnapshotRecord, category: str, *, cursor: str | None = None
    ) -> Page[str]:
        """One chunk's ids in ``category`` per page (one GetItem); the cursor is the
        next chunk number, checked against the snapshot, so it cannot point elsewhere."""
        if category not in SNAPSHOT_CATEGORIES:
            raise ValueError(f"category must be one of {', '.join(SNAPSHOT_CATEGORIES)}")
        number = _decode_chunk_cursor(cursor, snapshot)
        if number >= snapshot.chunks:
            return Page([], None)
        item = self._chunk.get(
            keys.snapshot_pk(snapshot.tenant_id, snapshot.segment_id),
            keys.snapshot_chunk_sk(snapshot.snapshot_id, number),
            consistent_read=True,
        )
        ids: list[str] = list(plain(item.ids) or [])
        if category != "all":
            flagged = {flag: set(plain(getattr(item, flag)) or []) for flag in SNAPSHOT_FLAGS}
            if category == "addressable":
                skip = set().union(*flagged.values())
                ids = [cid for cid in ids if cid not in skip]
            else:
                ids = [cid for cid in ids if cid in flagged[category]]
        following = number + 1
        return Page(ids, _encode_chunk_cursor(snapshot, following) if following < snapshot.chunks else None)


def _encode_chunk_cursor(snapshot: SnapshotRecord, number: int) -> str:
    raw = f"{snapshot.snapshot_id}:{number}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_chunk_cursor(cursor: str | None, snapshot: SnapshotRecord) -> int:
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode()
        snapshot_id, _, number = text.rpartition(":")
        value = int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise CursorError("malformed cursor") from None
    if snapshot_id != snapshot.snapshot_id or not 0 <= value < max(1, snapshot.chunks):
        raise CursorError("cursor belongs to another snapshot")
    return value
