"""Bus ingestion: contacts and events other modules publish on the platform bus, from SQS.

``IngestRule`` routes them to ``IngestQueue``; each batch goes to
:class:`~growthos_segments.services.bus_ingest.BusIngester` (the contract is in
its module). The partial batch response names only the messages whose
ingestion failed for a reason that may pass (a throttled write): SQS delivers
them again, and dead-letters them after ``maxReceiveCount``. A message that can
never be ingested was already sent to the dead-letter queue with its reason, so
it succeeds here and leaves the queue.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from growthos_segments.handlers.ingest_wiring import build_ingestion
from growthos_segments.infra import aws
from growthos_segments.infra.dead_letters import SqsDeadLetters
from growthos_segments.infra.settings import current_settings
from growthos_segments.services.bus_ingest import BusIngester

__all__ = ["IngestFailed", "handler"]

logger = Logger(service="growthos-segments-ingest")
processor = BatchProcessor(event_type=EventType.SQS)


class IngestFailed(Exception):
    """A message to deliver again (its ingestion failed for a reason that may pass)."""


@cache
def ingester() -> BusIngester:
    """Built on a container's first batch and kept."""
    settings = current_settings()
    dead_letters = SqsDeadLetters(aws.client("sqs", settings), settings.require_ingest_dead_letter_queue())
    return BusIngester(build_ingestion(settings), dead_letters)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event.get("Records") or []
    if not records:  # BatchProcessor raises on an empty batch
        return {"batchItemFailures": []}
    outcome = ingester().ingest(records)
    logger.info("bus messages ingested", extra={"messages": len(records), "statuses": outcome.statuses,
                                                 "refused": len(outcome.rejected),
                                                 "to_retry": len(outcome.failed)})

    def record_handler(record: SQSRecord) -> None:
        if record.message_id in outcome.failed:
            raise IngestFailed(outcome.failed[record.message_id])

    return process_partial_response(event, record_handler, processor, context)
