"""What the real-time handlers read from an invocation and hand back to Lambda.

The time an invocation has left (the scheduler and a backfill slice stop
before their time-out and hand the rest over), and the partial batch response
of a stream trigger, which names the records Lambda must deliver again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from growthos_segments.infra.streams import record_id

__all__ = ["stream_failures", "time_left"]


def time_left(context: Any) -> Callable[[], float] | None:
    """Seconds the invocation has left, from its Lambda context (``None``: no budget known)."""
    getter = getattr(context, "get_remaining_time_in_millis", None)
    return None if getter is None else lambda: getter() / 1000


def stream_failures(
    event: dict[str, Any], context: Any, processor: BatchProcessor, failed: Mapping[str, Exception]
) -> dict[str, Any]:
    """The partial batch response that names the stream records in ``failed`` (by record id)."""

    def record_handler(record: DynamoDBRecord) -> None:
        error = failed.get(record_id(record.raw_event))
        if error is not None:
            raise error

    return process_partial_response(event, record_handler, processor, context)
