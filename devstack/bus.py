"""What reaches the EventBridge bus, printed as one readable line per event.

Every reader subscribes the way another GrowthOS module would: a rule on the
stack's bus (``<prefix>-segments``) with an SQS queue as its target, then
long-polling the queue. The stack's own printer (:func:`tap_bus`) takes every
event and prints ``ENTER at_risk c123 (tenant demo, v1)`` for a ``Segment
Entered`` event (``EXIT`` for ``Segment Exited``) and a compact line for
anything else. ``segments tail`` (:func:`tail`) makes a subscription of its
own, optionally narrowed to a tenant or segment, prints until Ctrl-C and then
removes its rule and queue. Going through a real rule and queue, rather than
peeking at PutEvents, shows what a consumer of the bus would get.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

__all__ = [
    "SEGMENT_EVENTS",
    "EventPrinter",
    "Subscription",
    "TailError",
    "as_json",
    "format_event",
    "subscribe",
    "tail",
    "tap_bus",
]

log = logging.getLogger("growthos_segments.devstack")

_KINDS = {"Segment Entered": "ENTER", "Segment Exited": "EXIT"}
SEGMENT_EVENTS: Mapping[str, Any] = {"source": ["growthos.segments"], "detail-type": list(_KINDS)}
"""The rule pattern of every enter/exit event (add ``detail`` filters to narrow it)."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """A rule on a bus and the queue it delivers to."""

    bus_name: str
    rule: str
    queue_url: str

    def close(self, events_client: Any, sqs_client: Any) -> None:
        """Remove the rule and its queue (what a consumer does when it goes away)."""
        events_client.remove_targets(Rule=self.rule, EventBusName=self.bus_name, Ids=["local-tap"])
        events_client.delete_rule(Name=self.rule, EventBusName=self.bus_name)
        sqs_client.delete_queue(QueueUrl=self.queue_url)


def subscribe(
    events_client: Any, sqs_client: Any, bus_name: str, name: str, pattern: Mapping[str, Any]
) -> Subscription:
    """Route the events of ``bus_name`` that match ``pattern`` to a new queue ``name``."""
    queue_url = sqs_client.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs_client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events_client.put_rule(Name=name, EventBusName=bus_name, EventPattern=json.dumps(pattern))
    events_client.put_targets(
        Rule=name, EventBusName=bus_name, Targets=[{"Id": "local-tap", "Arn": queue_arn}]
    )
    return Subscription(bus_name, name, str(queue_url))


def tap_bus(events_client: Any, sqs_client: Any, bus_name: str, prefix: str) -> str:
    """Create ``bus_name`` if needed and route all of its events to a queue; returns the queue URL."""
    try:
        events_client.create_event_bus(Name=bus_name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
            raise
    # Every event carries a source; an empty prefix matches them all.
    everything = {"source": [{"prefix": ""}]}
    return subscribe(events_client, sqs_client, bus_name, f"{prefix}-local-bus-tap", everything).queue_url


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


def as_json(envelope: Mapping[str, Any]) -> str:
    """The whole envelope on one line, as a consumer's code receives it."""
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True, default=str)


class EventPrinter:
    """Long-polls a subscription's queue and prints each event's line, then deletes it."""

    def __init__(
        self,
        sqs_client: Any,
        queue_url: str,
        stop: threading.Event,
        emit: Callable[[str], None],
        *,
        wait_seconds: int = 1,
        formatter: Callable[[Mapping[str, Any]], str] = format_event,
    ) -> None:
        self._sqs = sqs_client
        self._queue_url = queue_url
        self._stop = stop
        self._emit = emit
        self._wait = wait_seconds
        self._format = formatter
        self.printed = 0
        self.thread = threading.Thread(target=self.run, name="bus-printer", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def run(self) -> None:
        """Print until ``stop`` is set (in the caller's thread when not started)."""
        while not self._stop.is_set():
            try:
                self.poll_once()
            except (ClientError, BotoCoreError, OSError) as error:
                if self._stop.is_set():
                    return
                log.warning("reading the bus failed (%s); retrying", error)
                self._stop.wait(1.0)

    def poll_once(self) -> int:
        """One long poll: print and delete what arrived; returns how many events."""
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=self._wait
        )
        messages = response.get("Messages", [])
        for message in messages:
            try:
                line = self._format(json.loads(message["Body"]))
            except (ValueError, TypeError):
                line = f"(unreadable bus message) {message.get('Body', '')[:200]}"
            self._emit(line)
            self.printed += 1
        if messages:
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
            try:
                self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=entries)
            except (ClientError, BotoCoreError, OSError) as error:
                log.warning("could not delete printed bus messages (%s)", error)
        return len(messages)


class TailError(RuntimeError):
    """The local stack's bus cannot be reached or does not exist (one readable line)."""


def tail(
    events_client: Any,
    sqs_client: Any,
    bus_name: str,
    *,
    stop: threading.Event,
    emit: Callable[[str], None],
    tenant_id: str | None = None,
    segment_id: str | None = None,
    raw: bool = False,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Print the bus's enter/exit events until ``stop`` is set; returns how many.

    The subscription is this call's own (a fresh rule and queue), so several
    tails and the stack's printer each see every event; it is removed on the
    way out, Ctrl-C included.
    """
    try:
        events_client.describe_event_bus(Name=bus_name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise TailError(f"no event bus {bus_name!r}") from None
        raise
    pattern: dict[str, Any] = dict(SEGMENT_EVENTS)
    detail = {k: [v] for k, v in (("tenant_id", tenant_id), ("segment_id", segment_id)) if v}
    if detail:
        pattern["detail"] = detail
    name = f"{bus_name}-tail-{uuid.uuid4().hex[:8]}"
    subscription = subscribe(events_client, sqs_client, bus_name, name, pattern)
    printer = EventPrinter(sqs_client, subscription.queue_url, stop, emit,
                           formatter=as_json if raw else format_event)
    try:
        if on_ready is not None:
            on_ready()
        printer.run()
    finally:
        try:
            subscription.close(events_client, sqs_client)
        except (ClientError, BotoCoreError, OSError) as error:  # the stack stopped first
            log.debug("could not remove the tail's subscription: %s", error)
    return printer.printed
