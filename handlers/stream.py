"""Stream evaluator: contacts and events stream batches in, membership transitions out.

Both tables' streams invoke this function (``template.yaml``). Records are
grouped by contact and each contact is evaluated once per batch against what
is stored *now* (a consistent read), so duplicates, retries and records that
arrive out of order across shards cannot reorder transitions. A record that
cannot be read, or whose contact's evaluation fails, is reported as a batch
item failure; Lambda retries from it while the rest of the batch is kept.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from growthos_segments.handlers.invocation import stream_failures
from growthos_segments.handlers.wiring import build_service
from growthos_segments.infra.settings import current_settings
from growthos_segments.services.stream import StreamEvaluator

__all__ = ["handler"]

logger = Logger(service="growthos-segments-stream")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@cache
def evaluator() -> StreamEvaluator:
    """Built on the first invocation of a container and kept (compiled segments live here)."""
    settings = current_settings()
    return StreamEvaluator(build_service(settings), workers=settings.evaluator_workers)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event.get("Records") or []
    if not records:  # BatchProcessor raises on an empty batch
        return {"batchItemFailures": []}
    result = evaluator().evaluate_batch(records)
    evaluator().learn_fields(result)
    logger.info(
        "batch evaluated",
        extra={
            "records": len(records),
            "contacts": len(result.outcomes),
            "transitions": sum(o.transitions for o in result.outcomes),
            "failed_records": len(result.failed),
        },
    )
    return stream_failures(event, context, processor, result.failed)
