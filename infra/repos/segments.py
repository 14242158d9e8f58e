"""Versioned segment definitions with a per-tenant cache of the active ones.

Layout (one partition per tenant): ``SEG#id`` is the head (current version),
``VER#id#0000000007`` the immutable history, ``CATALOG`` a revision counter.
A save writes the new version, moves the head and bumps the revision in one
transaction, so the cache check ("has the revision moved?") can never miss a
change and history can never skip or repeat a version number.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from growthos_segments.core.ports import (
    SegmentRecord,
    SegmentVersionConflict,
)
from growthos_segments.infra import keys
from growthos_segments.infra.models import Models, SegmentModel
from growthos_segments.infra.repos._common import iso, plain, utcnow

__all__ = ["MAX_DEFINITION_BYTES", "SegmentRepository"]

MAX_DEFINITION_BYTES = 350_000
"""Below DynamoDB's 400 KB item limit with room for attribute names; large static
audiences belong in the memberships table, not in ``include_contacts``."""


def _record(item: SegmentModel) -> SegmentRecord:
    return SegmentRecord(
        tenant_id=item.tenant_id,
        segment_id=item.segment_id,
        version=int(item.version),
        name=item.name,
        description=item.description or "",
        type=item.type,
        status=item.status,
        rule=plain(item.rule) or {},
        exclude_segments=tuple(plain(item.exclude_segments) or ()),
        include_contacts=tuple(plain(item.include_contacts) or ()),
        exclude_contacts=tuple(plain(item.exclude_contacts) or ()),
        created_at=item.created_at,
        updated_at=item.updated_at,
        created_by=item.created_by,
        updated_by=item.updated_by,
        teams=tuple(plain(item.teams) or ()),
    )


@dataclass(slots=True)
class _CacheEntry:
    revision: int
    checked_at: float
    segments: tuple[SegmentRecord, ...]


class SegmentRepository:
    """:class:`growthos_segments.core.ports.SegmentStore` on DynamoDB."""

    def __init__(
        self,
        models: Models,
        *,
        cache_seconds: float = 5.0,
        max_cached_tenants: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._model = models.segments
        self._catalog = models.segment_catalog
        self._connection = models.connection
        self._cache_seconds = cache_seconds
        self._max_cached = max_cached_tenants
        self._clock = clock
        self._cache: OrderedDict[str, _CacheEntry] = OrderedDict()

    # --- reads ----------------------------------------------------------------

    def get(self, tenant_id: str, segment_id: str, *, version: int | None = None) -> SegmentRecord | None:
        sk = (
            keys.segment_head_sk(segment_id)
            if version is None
            else keys.segment_version_sk(segment_id, version)
        )
        try:
            return _record(self._model.get(keys.segment_pk(tenant_id), sk, consistent_read=True))
        except DoesNotExist:
            return None

    def versions(self, tenant_id: str, segment_id: str) -> list[SegmentRecord]:
        results = self._model.query(
            keys.segment_pk(tenant_id),
            self._model.sk.startswith(keys.segment_version_prefix(segment_id)),
            scan_index_forward=False,
            consistent_read=True,
        )
        return [_record(item) for item in results]

    def list_segments(self, tenant_id: str, *, include_archived: bool = False) -> list[SegmentRecord]:
        results = self._model.query(
            keys.segment_pk(tenant_id),
            self._model.sk.startswith(keys.SEGMENT_HEAD_PREFIX),
            filter_condition=None if include_archived else self._model.status == "active",
            consistent_read=True,
        )
        return [_record(item) for item in results]

    def revision(self, tenant_id: str) -> int:
        try:
            item = self._catalog.get(
                keys.segment_pk(tenant_id),
                keys.CATALOG_SK,
                consistent_read=True,
                attributes_to_get=["revision"],
            )
        except DoesNotExist:
            return 0
        return int(item.revision or 0)

    def active_segments(self, tenant_id: str) -> Sequence[SegmentRecord]:
        """Cached active heads: no request within ``cache_seconds`` of the last check,
        else one GetItem of the revision, plus one Query only if it moved."""
        now = self._clock()
        entry = self._cache.get(tenant_id)
        if entry is not None and now - entry.checked_at < self._cache_seconds:
            return entry.segments
        # Revision first, then the heads: if a save lands in between, the cache
        # holds newer heads under an older revision and simply refreshes again.
        # The other order could pin stale heads under a new revision.
        revision = self.revision(tenant_id)
        if entry is not None and entry.revision == revision:
            entry.checked_at = now
            self._cache.move_to_end(tenant_id)
            return entry.segments
        segments = tuple(self.list_segments(tenant_id))
        self._cache[tenant_id] = _CacheEntry(revision, now, segments)
        self._cache.move_to_end(tenant_id)
        while len(self._cache) > self._max_cached:
            self._cache.popitem(last=False)
        return segments

    def tenants(self) -> Iterator[str]:
        """Scan of the sparse ``tenants`` index: one key-only item per tenant."""
        for item in self._catalog.tenants.scan():
            if item.catalog_tenant:
                yield item.catalog_tenant

    # --- writes ---------------------------------------------------------------

    def save(self, segment: SegmentRecord, *, now: datetime | None = None) -> SegmentRecord:
        keys.check_segment_record(segment)
        expected = segment.version
        head = self.get(segment.tenant_id, segment.segment_id) if expected else None
        if expected and (head is None or head.version != expected):
            raise SegmentVersionConflict(
                segment.tenant_id, segment.segment_id, expected, head.version if head else None
            )
        stamp = iso(now or utcnow())
        saved = SegmentRecord(
            tenant_id=segment.tenant_id,
            segment_id=segment.segment_id,
            version=expected + 1,
            name=segment.name,
            description=segment.description,
            type=segment.type,
            status=segment.status,
            rule=plain(segment.rule),
            exclude_segments=tuple(segment.exclude_segments),
            include_contacts=tuple(segment.include_contacts),
            exclude_contacts=tuple(segment.exclude_contacts),
            created_at=head.created_at if head is not None else stamp,
            updated_at=stamp,
            created_by=head.created_by if head is not None else segment.updated_by,
            updated_by=segment.updated_by,
            teams=tuple(segment.teams),
        )
        if len(json.dumps(saved.to_json(), separators=(",", ":"))) > MAX_DEFINITION_BYTES:
            raise ValueError(
                f"segment {segment.segment_id!r} is larger than {MAX_DEFINITION_BYTES} bytes; "
                "keep long contact lists out of include_contacts/exclude_contacts"
            )
        pk = keys.segment_pk(segment.tenant_id)
        head_item = self._item(pk, keys.segment_head_sk(segment.segment_id), saved)
        version_item = self._item(pk, keys.segment_version_sk(segment.segment_id, saved.version), saved)
        model = self._model
        head_condition = model.pk.does_not_exist() if expected == 0 else model.version == expected
        catalog = self._catalog(pk, keys.CATALOG_SK)
        try:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.save(version_item, condition=model.pk.does_not_exist())
                transaction.save(head_item, condition=head_condition, return_values="ALL_OLD")
                transaction.update(
                    catalog,
                    actions=[
                        self._catalog.revision.add(1),
                        self._catalog.catalog_tenant.set(segment.tenant_id),
                        self._catalog.updated_at.set(stamp),
                    ],
                )
        except TransactWriteError as error:
            reasons = error.cancellation_reasons
            if any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons):
                current = self.get(segment.tenant_id, segment.segment_id)
                raise SegmentVersionConflict(
                    segment.tenant_id, segment.segment_id, expected, current.version if current else None
                ) from error
            raise
        self._cache.pop(segment.tenant_id, None)
        return saved

    def _item(self, pk: str, sk: str, record: SegmentRecord) -> SegmentModel:
        return self._model(
            pk,
            sk,
            tenant_id=record.tenant_id,
            segment_id=record.segment_id,
            version=record.version,
            name=record.name,
            description=record.description,
            type=record.type,
            status=record.status,
            rule=dict(record.rule),
            exclude_segments=list(record.exclude_segments),
            include_contacts=list(record.include_contacts),
            exclude_contacts=list(record.exclude_contacts),
            created_at=record.created_at,
            updated_at=record.updated_at,
            created_by=record.created_by,
            updated_by=record.updated_by,
            teams=list(record.teams),
        )
