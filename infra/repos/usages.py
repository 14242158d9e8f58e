"""Registrations of the modules that target a segment, in the tenant's segment partition.

``USE#<segment_id>#<user>`` (:func:`growthos_segments.infra.keys.segment_usage_sk`) sits
beside the segment's head (``SEG#``) and versions (``VER#``), so reading a segment's
users is one Query of one partition and no other tenant's item can ever be read.
"""

from __future__ import annotations

from datetime import datetime

from growthos_segments.core.ports_usage import UsageRecord
from growthos_segments.infra import keys
from growthos_segments.infra.models import Models, SegmentUsageModel
from growthos_segments.infra.repos._common import iso

__all__ = ["SegmentUsageRepository"]


def _record(item: SegmentUsageModel) -> UsageRecord:
    return UsageRecord(segment_id=item.segment_id, user=item.user, registered_by=item.registered_by,
                       registered_at=item.registered_at)


class SegmentUsageRepository:
    """:class:`growthos_segments.core.ports_usage.SegmentUsages` on DynamoDB."""

    def __init__(self, models: Models) -> None:
        self._model = models.segment_usages

    def register(self, tenant_id: str, segment_id: str, user: str, *, by: str | None,
                 now: datetime) -> UsageRecord:
        item = self._model(keys.segment_pk(tenant_id), keys.segment_usage_sk(segment_id, user),
                           segment_id=segment_id, user=user, registered_by=by, registered_at=iso(now))
        item.save()
        return _record(item)

    def remove(self, tenant_id: str, segment_id: str, user: str) -> None:
        self._model(keys.segment_pk(tenant_id), keys.segment_usage_sk(segment_id, user)).delete()

    def users(self, tenant_id: str, segment_id: str) -> list[UsageRecord]:
        prefix = keys.segment_usage_prefix(segment_id)
        found = self._model.query(keys.segment_pk(tenant_id), self._model.sk.startswith(prefix),
                                  consistent_read=True)
        return [_record(item) for item in found]

    def users_by_segment(self, tenant_id: str) -> dict[str, list[UsageRecord]]:
        prefix = keys.SEGMENT_USAGE_PREFIX
        found = self._model.query(keys.segment_pk(tenant_id), self._model.sk.startswith(prefix))
        by_segment: dict[str, list[UsageRecord]] = {}
        for item in found:
            by_segment.setdefault(item.segment_id, []).append(_record(item))
        return by_segment
