"""Route of a segment's transition feed: its recent enters and exits, for a live view.

The feed's service is built here from the API's storage (``api_wiring.service()``)
and the counters table the notifier records into.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from growthos_segments.core.api_models import TransitionsOut
from growthos_segments.core.ports import FEED_PAGE
from growthos_segments.handlers import api_wiring
from growthos_segments.handlers.api_http import app, current_tenant
from growthos_segments.handlers.api_openapi import responses
from growthos_segments.infra.repos.feed import DynamoTransitionFeed
from growthos_segments.services.feed import SegmentFeed


def feed() -> SegmentFeed:
    built = api_wiring.service()
    repos = built.repos
    return SegmentFeed(repos.segments, DynamoTransitionFeed(repos.client, repos.settings.tables.counters),
                       built.audience.clock)


@app.get("/segments/<segment_id>/transitions",
         summary="The segment's enters and exits of the last 30 days, newest first; poll with ?after=",
         responses=responses())
def list_transitions(
    segment_id: str,
    limit: Annotated[int, Query(ge=1, le=FEED_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
    after: Annotated[str | None, Query(max_length=4096, description="a response's 'newest': only "
                                       "transitions after it")] = None,
) -> TransitionsOut:
    return feed().transitions(current_tenant(), segment_id, limit=limit, cursor=cursor, after=after)
