"""A segment's transition feed: its recent enters and exits, newest first, for polling.

The notifier records every transition it publishes (:class:`TransitionFeed`
port), so the feed shows what consumers of the bus were sent, for
:data:`growthos_segments.core.ports.FEED_KEEP`. A client follows it without a
websocket: it reads the first page, keeps the response's ``newest`` mark, and
polls with ``after=<newest>``, which returns only what was recorded for a later
instant (paged with ``cursor`` like the first read). A transition recorded late
with an instant older than the mark (a notifier retry minutes later) is not
returned by that poll; a fresh first page shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from growthos_segments.core.api_models import TransitionOut, TransitionsOut
from growthos_segments.core.ids import SEGMENT_ID_RE
from growthos_segments.core.ports import CursorError, SegmentStore, TransitionFeed
from growthos_segments.core.timeutil import to_iso
from growthos_segments.services.audience import BadRequest, NotFound, located

__all__ = ["SegmentFeed"]


class SegmentFeed:
    """Reads of the feed, tenant first; a segment the tenant does not have is a 404
    (so is another tenant's: its id is looked up in the caller's tenant only)."""

    def __init__(self, segments: SegmentStore, feed: TransitionFeed, clock: Callable[[], datetime]) -> None:
        self._segments = segments
        self._feed = feed
        self._clock = clock

    def transitions(
        self, tenant_id: str, segment_id: str, *, limit: int, cursor: str | None, after: str | None
    ) -> TransitionsOut:
        if not SEGMENT_ID_RE.match(segment_id) or self._segments.get(tenant_id, segment_id) is None:
            raise NotFound("segment not found",
                           [located("path", "/segment_id", "no such segment in this tenant")])
        try:
            page = self._feed.recent(tenant_id, segment_id, now=self._clock(), limit=limit, cursor=cursor,
                                     after=after)
        except CursorError as exc:
            # One bad token is named; with both given, the whole query is (either could be).
            named = [f"/{name}" for name, token in (("cursor", cursor), ("after", after)) if token]
            path = named[0] if len(named) == 1 else ""
            raise BadRequest(str(exc), [located("query", path, str(exc))]) from None
        return TransitionsOut(
            segment_id=segment_id,
            transitions=[
                TransitionOut(contact_id=t.contact_id, kind=t.kind, at=to_iso(t.at),
                              segment_version=t.segment_version)
                for t in page.items
            ],
            cursor=page.cursor,
            newest=page.newest or after,
        )
