"""Backfill worker: one SQS message is one backfill job (see :mod:`growthos_segments.services.backfill`).

A job for a whole tenant is split into one message per contact shard; a job
for a slice evaluates pages of contacts until the function nears its
time-out, then queues the rest of the slice. A failed message is reported
alone and comes back after the visibility timeout (the slice resumes from its
stored progress); after ``maxReceiveCount`` it goes to the dead-letter queue.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from growthos_segments.infra import aws
from growthos_segments.infra.settings import current_settings
from growthos_segments.services.backfill import Backfill, BackfillJob, BackfillQueue, BackfillWorker
from growthos_segments.services.evaluation import build_service

__all__ = ["handler"]

logger = Logger(service="growthos-segments-backfill")
processor = BatchProcessor(event_type=EventType.SQS)


@cache
def worker() -> BackfillWorker:
    """Built on a container's first message and kept (compiled segments live here)."""
    config = current_settings()
    queue_url = config.require_backfill_queue("backfill worker")
    backfill = Backfill(build_service(config), page_size=config.backfill_page_size)
    return BackfillWorker(backfill, BackfillQueue(aws.client("sqs", config), queue_url))


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event.get("Records") or []
    if not records:  # BatchProcessor raises on an empty batch
        return {"batchItemFailures": []}
    getter = getattr(context, "get_remaining_time_in_millis", None)
    reserve = current_settings().backfill_reserve_seconds

    def record_handler(record: SQSRecord) -> None:
        job = BackfillJob.from_json(record.body)
        continuation = worker().handle(job, remaining=(lambda: getter() / 1000) if getter else None,
                                       reserve=reserve)
        logger.info("backfill job handled", extra={"job": job.to_json(),
                                                   "continued": continuation is not None})

    return process_partial_response(event, record_handler, processor, context)
