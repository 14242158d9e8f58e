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

from growthos_segments.handlers.backfill_wiring import build_backfill
from growthos_segments.handlers.invocation import time_left
from growthos_segments.infra import aws
from growthos_segments.infra.queue import SqsBackfillQueue, job_from_json, job_to_json
from growthos_segments.infra.settings import current_settings
from growthos_segments.services.backfill import BackfillWorker

__all__ = ["handler"]

logger = Logger(service="growthos-segments-backfill")
processor = BatchProcessor(event_type=EventType.SQS)


@cache
def worker() -> BackfillWorker:
    """Built on a container's first message and kept (compiled segments live here)."""
    settings = current_settings()
    queue = SqsBackfillQueue(aws.client("sqs", settings), settings.require_backfill_queue("backfill worker"))
    return BackfillWorker(build_backfill(settings), queue)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event.get("Records") or []
    if not records:  # BatchProcessor raises on an empty batch
        return {"batchItemFailures": []}
    remaining, reserve = time_left(context), current_settings().backfill_reserve_seconds

    def record_handler(record: SQSRecord) -> None:
        job = job_from_json(record.body)
        continuation = worker().handle(job, remaining=remaining, reserve=reserve)
        continued = continuation is not None
        logger.info("backfill job handled", extra={"job": job_to_json(job), "continued": continued})

    return process_partial_response(event, record_handler, processor, context)
