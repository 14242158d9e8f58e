"""EventBridge publisher: ``PutEvents`` in batches, failures reported per event.

PutEvents is not all-or-nothing: a 200 response can carry failed entries. The
publisher therefore never raises for entry failures; it returns which events
failed so the notifier can report exactly those stream records as batch-item
failures and Lambda retries only them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from growthos_segments.core.ports import PUBLISH_BATCH, OutboundEvent, PublishFailure, PublishResult
from growthos_segments.infra import aws
from growthos_segments.infra.settings import Settings

__all__ = ["MAX_BATCH_BYTES", "MAX_BATCH_ENTRIES", "EventBridgePublisher", "bus_publisher", "entry_size"]

MAX_BATCH_ENTRIES = PUBLISH_BATCH
"""PutEvents accepts at most 10 entries per request."""
MAX_BATCH_BYTES = 256 * 1024
"""... and at most 256 KB per request, counted as EventBridge counts entry size."""

_Pending = tuple[OutboundEvent, dict[str, Any]]


def entry_size(entry: dict[str, Any]) -> int:
    """Entry size as EventBridge computes it (Time: 14 bytes; strings as UTF-8)."""
    size = 14 if "Time" in entry else 0
    for key in ("Source", "DetailType", "Detail", "EventBusName"):
        if key in entry:
            size += len(str(entry[key]).encode("utf-8"))
    for resource in entry.get("Resources", []):
        size += len(resource.encode("utf-8"))
    return size


class EventBridgePublisher:
    """:class:`growthos_segments.core.ports.EventPublisher` on an EventBridge bus."""

    def __init__(self, events_client: Any, bus_name: str, *, source: str = "growthos.segments") -> None:
        self._client = events_client
        self._bus = bus_name
        self._source = source

    def entry(self, event: OutboundEvent) -> dict[str, Any]:
        detail = {**event.detail, "idempotency_id": event.idempotency_id}
        entry: dict[str, Any] = {
            "Source": self._source,
            "DetailType": event.detail_type,
            "Detail": json.dumps(detail, separators=(",", ":"), sort_keys=True, default=str),
            "EventBusName": self._bus,
        }
        if event.time is not None:
            entry["Time"] = event.time
        if event.resources:
            entry["Resources"] = list(event.resources)
        return entry

    def publish(self, events: Sequence[OutboundEvent]) -> PublishResult:
        sent = 0
        failed: list[PublishFailure] = []
        for batch in self._batches(events):
            try:
                response = self._client.put_events(Entries=[entry for _, entry in batch])
            except (ClientError, BotoCoreError) as error:  # the whole request failed
                code = type(error).__name__
                failed.extend(PublishFailure(event, code, str(error)) for event, _ in batch)
                continue
            for (event, _), result in zip(batch, response.get("Entries", []), strict=False):
                if result.get("ErrorCode"):
                    failed.append(PublishFailure(event, result["ErrorCode"], result.get("ErrorMessage", "")))
                else:
                    sent += 1
            # A response shorter than the request would hide failures; count them.
            for event, _ in batch[len(response.get("Entries", [])):]:
                failed.append(PublishFailure(event, "MissingResult", "no result entry returned"))
        return PublishResult(sent=sent, failed=failed)

    def _batches(self, events: Sequence[OutboundEvent]) -> Iterator[list[_Pending]]:
        batch: list[_Pending] = []
        size = 0
        for event in events:
            entry = self.entry(event)
            entry_bytes = entry_size(entry)
            if batch and (len(batch) == MAX_BATCH_ENTRIES or size + entry_bytes > MAX_BATCH_BYTES):
                yield batch
                batch, size = [], 0
            batch.append((event, entry))
            size += entry_bytes
        if batch:
            yield batch


def bus_publisher(settings: Settings) -> EventBridgePublisher:
    """A publisher on the deployment's bus, under the engine's event source."""
    return EventBridgePublisher(aws.client("events", settings), settings.event_bus_name,
                                source=settings.event_source)
