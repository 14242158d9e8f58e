"""Notifier: memberships stream in, ``Segment Entered`` / ``Segment Exited`` events out.

The memberships table is the outbox. A record becomes an event only when the
row's ``member`` flag changed (confirmations, tombstones and moto's key-only
INSERTs are not transitions), and a record is acknowledged only when
EventBridge accepted its event. The first failure of a batch stops it: that
record and every later one are reported as batch item failures, which is
where Lambda restarts anyway, so a pair's events are never published out of
order (:class:`growthos_segments.services.notifier.Notifier`). A batch whose every record failed
(EventBridge down) is a partial response too, not a function error: the retry
restarts at its first record instead of bisecting it. Every event carries the
transition's stable idempotency id, so the at-least-once redelivery is safe
to consume. Each transition is also recorded in its segment's feed
(:mod:`growthos_segments.infra.repos.feed`) for ``GET /segments/{id}/transitions``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from growthos_segments.handlers.invocation import stream_failures
from growthos_segments.infra import aws
from growthos_segments.infra.publisher import EventBridgePublisher
from growthos_segments.infra.repos.feed import DynamoTransitionFeed
from growthos_segments.infra.settings import current_settings
from growthos_segments.infra.streams import DynamoStreamRecords
from growthos_segments.services.notifier import Notifier

__all__ = ["handler"]

logger = Logger(service="growthos-segments-notifier")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


@cache
def notifier() -> Notifier:
    settings = current_settings()
    client = aws.client("events", settings)
    publisher = EventBridgePublisher(client, settings.event_bus_name, source=settings.event_source)
    feed = DynamoTransitionFeed(aws.client("dynamodb", settings), settings.tables.counters)
    return Notifier(publisher, DynamoStreamRecords(settings.tables), feed)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event.get("Records") or []
    if not records:  # BatchProcessor raises on an empty batch
        return {"batchItemFailures": []}
    result = notifier().notify(records)
    logger.info(
        "transitions published",
        extra={"records": len(records), "sent": result.sent, "skipped": result.skipped,
               "failed_records": len(result.failed)},
    )
    return stream_failures(event, context, processor, result.failed)
