"""Stream evaluator: contacts and events stream batches in, membership transitions out.

Both tables' streams invoke this function (``template.yaml``). Records are
grouped by contact and each contact is evaluated once per batch against what
is stored *now* (a consistent read), so duplicates, retries and records that
arrive out of order across shards cannot reorder transitions. A record that
cannot be read, or whose contact's evaluation fails, is reported as a batch
item failure; Lambda retries from it while the rest of the batch is kept.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from growthos_segments.infra.settings import Settings, SettingsError
from growthos_segments.services.evaluation import StreamEvaluator, build_service, record_id

__all__ = ["StreamSettings", "handler"]

logger = Logger(service="growthos-segments-stream")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """The deployment plus how many contacts of a batch are evaluated concurrently."""

    base: Settings
    workers: int = 4
    """Contacts evaluated in parallel (I/O bound: each is a few DynamoDB round trips).
    One by default against an endpoint override (the local stack's moto applies
    concurrent conditional writes without DynamoDB's isolation)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StreamSettings:
        env = os.environ if env is None else env
        raw = env.get("EVALUATOR_WORKERS") or ("1" if env.get("AWS_ENDPOINT_URL") else "4")
        try:
            workers = int(raw)
        except ValueError:
            raise SettingsError(f"EVALUATOR_WORKERS must be an integer, got {raw!r}") from None
        if workers < 1:
            raise SettingsError("EVALUATOR_WORKERS must be at least 1")
        return cls(Settings.from_env(env), workers)


@cache
def evaluator() -> StreamEvaluator:
    """Built on the first invocation of a container and kept (compiled segments live here)."""
    settings = StreamSettings.from_env()
    return StreamEvaluator(build_service(settings.base), workers=settings.workers)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event.get("Records") or []
    if not records:  # BatchProcessor raises on an empty batch
        return {"batchItemFailures": []}
    result = evaluator().evaluate_batch(records)
    logger.info(
        "batch evaluated",
        extra={
            "records": len(records),
            "contacts": len(result.outcomes),
            "transitions": sum(o.transitions for o in result.outcomes),
            "failed_records": len(result.failed),
        },
    )

    def record_handler(record: DynamoDBRecord) -> None:
        error = result.failed.get(record_id(record.raw_event))
        if error is not None:
            raise error

    return process_partial_response(event, record_handler, processor, context)
