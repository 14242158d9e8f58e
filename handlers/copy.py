"""Copy function: contacts and events stream batches in, deltas of the analytical copy out.

Both tables' streams invoke it (``template.yaml``), beside the stream evaluator.
Each batch becomes one delta per tenant it touches, under ``ANALYTICS_COPY`` (a
folder locally, ``s3://bucket/prefix`` on AWS); ``handlers/copy_fold.py`` folds
them into base files. A record that cannot be read, or whose tenant's delta could
not be written, is a batch item failure: Lambda retries from it, and the retried
delta replaces the one written before.

The event source mappings use tumbling windows only for what comes with them:
the shard a batch came from (``shardId``), so the function records how far it has
applied each shard (the copy's watermark rests on it: ``services/copy.py``). The
window's ``state`` is not used, and is answered empty as Lambda requires.
"""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from growthos_segments.analytics.deltas import ParquetCopy
from growthos_segments.handlers.copy_wiring import stream_watermark
from growthos_segments.handlers.invocation import stream_failures
from growthos_segments.infra import aws
from growthos_segments.infra.analytics_copy import DynamoCopyRecords, DynamoCopySource, copy_storage
from growthos_segments.infra.settings import Settings, current_settings
from growthos_segments.infra.stream_progress import StorageProgress
from growthos_segments.services.copy import CopyService

__all__ = ["build_copy_service", "handler"]

logger = Logger(service="growthos-segments-copy")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def build_copy_service(settings: Settings, *, watermark: bool = False) -> CopyService:
    """The copy service on the deployment's storage and tables (also the CLI's rebuild). With
    ``watermark`` it can also compute the streams' watermark, which only the fold function
    does: that takes two more clients (DynamoDB and DynamoDB Streams), which every other
    container would build at its cold start and never call."""
    work = Path(tempfile.gettempdir()) / "analytics-copy-work"
    storage = copy_storage(settings)
    progress = StorageProgress(storage)
    source = DynamoCopySource(aws.client("dynamodb", settings), settings.tables)
    marks = stream_watermark(settings, progress) if watermark else None
    return CopyService(DynamoCopyRecords(settings.tables), ParquetCopy(storage, workdir=work), source,
                       progress=progress, watermark=marks)


@cache
def service() -> CopyService:
    """Built on the first invocation of a container and kept."""
    return build_copy_service(current_settings())


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event.get("Records") or []
    if not records:  # BatchProcessor raises on an empty batch; a window's final call may have none
        return {"state": {}, "batchItemFailures": []}
    stream = event.get("eventSourceARN") or records[0].get("eventSourceARN")
    result = service().apply_batch(records, stream=stream, shard_id=event.get("shardId"))
    logger.info(
        "batch copied",
        extra={
            "records": len(records),
            "tenants": len(result.written),
            "contacts": sum(w.contacts for w in result.written),
            "events": sum(w.events for w in result.written),
            "failed_records": len(result.failed),
        },
    )
    return {"state": {}, **stream_failures(event, context, processor, result.failed)}
