"""Segment size history: who records a point (the history route's answer is
:meth:`growthos_segments.services.audience.Audience.history`).

**Recorded by the minute scheduler, not by the counters.** Every enter and exit
already writes a counter shard in its transaction; writing a history point there
too would add a write to every transition (thousands a minute in a backfill) to
keep a number that changes meaning once an hour. Instead the scheduler, which
runs every minute anyway, records each active segment's count the first time it
runs in a new hour (and in a new day): one batch read of the counts and one
conditional write per segment per hour, whatever the traffic. A point is the
count as first seen in its bucket, so the hour point of 14:00 is the size at
about 14:00. The recorder remembers the last hour it recorded per tenant; a new
container does not know it and tries again, and the store's conditional writes
keep the first point of each bucket, so there is never more than one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from growthos_segments.core.ports import Resolution, SegmentSizes, SegmentStore, bucket_start

__all__ = ["HISTORY_DEFAULT", "SizeRecorder"]

HISTORY_DEFAULT = {Resolution.HOUR: timedelta(days=30), Resolution.DAY: timedelta(days=400)}
"""How far back a history read goes when the caller names no ``since``."""


class SizeRecorder:
    """Records every active segment's count once per hour bucket and once per day bucket."""

    def __init__(self, segments: SegmentStore, sizes: SegmentSizes) -> None:
        self._segments = segments
        self._sizes = sizes
        self._recorded: dict[str, datetime] = {}
        """Per tenant, the start of the last hour recorded by this process."""

    def record(self, tenant_id: str, now: datetime) -> int:
        """Record the tenant's counts if this process has not in the hour holding ``now``;
        returns how many points were written."""
        hour = bucket_start(now, Resolution.HOUR)
        last = self._recorded.get(tenant_id)
        if last == hour:
            return 0
        resolutions = [Resolution.HOUR]
        if last is None or bucket_start(last, Resolution.DAY) != bucket_start(hour, Resolution.DAY):
            resolutions.append(Resolution.DAY)
        ids = [record.segment_id for record in self._segments.active_segments(tenant_id)]
        written = self._sizes.record(tenant_id, self._sizes.counts(tenant_id, ids), at=now,
                                     resolutions=resolutions)
        self._recorded[tenant_id] = hour
        return written
