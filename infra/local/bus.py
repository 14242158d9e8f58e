"""What reaches the EventBridge bus, printed as one readable line per event.

A rule on the template's bus forwards every event to a local SQS queue; a
printer thread long-polls the queue and prints ``ENTER at_risk c123 (tenant
demo, v1)`` for a ``Segment Entered`` event (``EXIT`` for ``Segment Exited``)
and a compact line for anything else. Going through a real rule and queue,
rather than peeking at PutEvents, shows what a consumer of the bus would get.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

__all__ = ["EventPrinter", "format_event", "tap_bus"]

log = logging.getLogger("infra.local")

_KINDS = {"Segment Entered": "ENTER", "Segment Exited": "EXIT"}


def tap_bus(events_client: Any, sqs_client: Any, bus_name: str, prefix: str) -> str:
    """Create ``bus_name`` if needed and route all of its events to a queue; returns the queue URL."""
    try:
        events_client.create_event_bus(Name=bus_name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
            raise
    queue_url = sqs_client.create_queue(QueueName=f"{prefix}-local-bus-tap")["QueueUrl"]
    queue_arn = sqs_client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    rule = f"{prefix}-local-bus-tap"
    # Every event carries a source; an empty prefix matches them all.
    events_client.put_rule(
        Name=rule, EventBusName=bus_name, EventPattern=json.dumps({"source": [{"prefix": ""}]})
    )
    events_client.put_targets(
        Rule=rule, EventBusName=bus_name, Targets=[{"Id": "local-tap", "Arn": queue_arn}]
    )
    return str(queue_url)


def format_event(envelope: Mapping[str, Any]) -> str:
    """One line for one EventBridge event (the envelope an SQS target receives)."""
    detail_type = str(envelope.get("detail-type", "?"))
    detail = envelope.get("detail")
    detail = detail if isinstance(detail, Mapping) else {}
    kind = _KINDS.get(detail_type)
    if kind is None:
        body = json.dumps(detail, separators=(",", ":"), sort_keys=True, default=str)
        return f"{detail_type} {envelope.get('source', '?')} {body[:200]}"
    segment = detail.get("segment_id") or "?"
    contact = detail.get("contact_id") or "?"
    extras = []
    if detail.get("tenant_id"):
        extras.append(f"tenant {detail['tenant_id']}")
    version = detail.get("segment_version", detail.get("version"))
    if version is not None:
        extras.append(f"v{version}")
    return f"{kind} {segment} {contact}" + (f" ({', '.join(extras)})" if extras else "")


class EventPrinter:
    """Long-polls the tap queue and prints each event's line, then deletes it."""

    def __init__(
        self,
        sqs_client: Any,
        queue_url: str,
        stop: threading.Event,
        emit: Callable[[str], None],
        *,
        wait_seconds: int = 1,
    ) -> None:
        self._sqs = sqs_client
        self._queue_url = queue_url
        self._stop = stop
        self._emit = emit
        self._wait = wait_seconds
        self.printed = 0
        self.thread = threading.Thread(target=self._run, name="bus-printer", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                response = self._sqs.receive_message(
                    QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=self._wait
                )
            except (ClientError, BotoCoreError, OSError) as error:
                if self._stop.is_set():
                    return
                log.warning("reading the bus tap failed (%s); retrying", error)
                self._stop.wait(1.0)
                continue
            messages = response.get("Messages", [])
            for message in messages:
                try:
                    line = format_event(json.loads(message["Body"]))
                except (ValueError, TypeError):
                    line = f"(unreadable bus message) {message.get('Body', '')[:200]}"
                self._emit(line)
                self.printed += 1
            if messages:
                entries = [
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
                ]
                try:
                    self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=entries)
                except (ClientError, BotoCoreError, OSError) as error:
                    log.warning("could not delete printed bus messages (%s)", error)
