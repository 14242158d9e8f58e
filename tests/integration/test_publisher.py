"""EventBridge publisher: batches of 10 (and 256 KB), failed entries reported per event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from growthos_segments.core.ports import EventPublisher, OutboundEvent
from growthos_segments.infra import aws
from growthos_segments.infra.aws import RequestCounter
from growthos_segments.infra.publisher import MAX_BATCH_BYTES, EventBridgePublisher, entry_size
from growthos_segments.infra.settings import Settings


def _event(n: int, *, detail_bytes: int = 0) -> OutboundEvent:
    return OutboundEvent(
        detail_type="Segment Entered",
        detail={"tenant_id": "t1", "segment_id": "seg1", "contact_id": f"c{n}", "pad": "x" * detail_bytes},
        idempotency_id=f"t1#seg1#c{n}#7#enter",
        time=datetime(2026, 11, 22, 12, 0, tzinfo=UTC),
        resources=("arn:aws:growthos:::segment/t1/seg1",),
    )


def test_events_reach_the_bus_in_batches_of_ten(mock_aws_session: None, settings: Settings) -> None:
    events_client = aws.client("events", settings)
    sqs = aws.client("sqs", settings)
    events_client.create_event_bus(Name=settings.event_bus_name)
    queue_url = sqs.create_queue(QueueName="entered")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events_client.put_rule(
        Name="entered",
        EventBusName=settings.event_bus_name,
        EventPattern=json.dumps({"source": ["growthos.segments"], "detail-type": ["Segment Entered"]}),
    )
    events_client.put_targets(
        Rule="entered", EventBusName=settings.event_bus_name, Targets=[{"Id": "q", "Arn": queue_arn}]
    )
    counter = RequestCounter()
    counter.attach(events_client)
    publisher = EventBridgePublisher(events_client, settings.event_bus_name)
    assert isinstance(publisher, EventPublisher)

    result = publisher.publish([_event(n) for n in range(23)])

    assert result.ok and result.sent == 23
    assert dict(counter.by_operation) == {"PutEvents": 3}
    received: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            break
        received += [json.loads(m["Body"]) for m in messages]
        for m in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    assert len(received) == 23
    assert {r["detail"]["idempotency_id"] for r in received} == {f"t1#seg1#c{n}#7#enter" for n in range(23)}
    assert {r["detail-type"] for r in received} == {"Segment Entered"}


class StubEvents:
    """A PutEvents stand-in that fails chosen entries or whole calls."""

    def __init__(self, *, fail_ids: frozenset[str] = frozenset(), raise_on_call: int | None = None) -> None:
        self.fail_ids = fail_ids
        self.raise_on_call = raise_on_call
        self.calls: list[list[dict[str, Any]]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # boto3's keyword
        self.calls.append(Entries)
        if self.raise_on_call == len(self.calls):
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutEvents")
        results = []
        for entry in Entries:
            idem = json.loads(entry["Detail"])["idempotency_id"]
            if idem in self.fail_ids:
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "try again"})
            else:
                results.append({"EventId": idem})
        failed = sum("ErrorCode" in r for r in results)
        return {"FailedEntryCount": failed, "Entries": results}


def test_failed_entries_are_reported_with_their_events() -> None:
    events = [_event(n) for n in range(12)]
    stub = StubEvents(fail_ids=frozenset({events[3].idempotency_id, events[11].idempotency_id}))
    result = EventBridgePublisher(stub, "bus").publish(events)
    assert result.sent == 10 and not result.ok
    assert [f.event for f in result.failed] == [events[3], events[11]]
    assert {f.code for f in result.failed} == {"InternalFailure"}
    assert [len(call) for call in stub.calls] == [10, 2]


def test_a_failed_request_reports_each_of_its_events_and_later_batches_still_go() -> None:
    events = [_event(n) for n in range(15)]
    stub = StubEvents(raise_on_call=1)
    result = EventBridgePublisher(stub, "bus").publish(events)
    assert result.sent == 5
    assert [f.event for f in result.failed] == events[:10]
    assert {f.code for f in result.failed} == {"ClientError"}


def test_batches_also_respect_the_request_size_limit() -> None:
    events = [_event(n, detail_bytes=60_000) for n in range(9)]
    stub = StubEvents()
    publisher = EventBridgePublisher(stub, "bus")
    result = publisher.publish(events)
    assert result.sent == 9
    assert all(len(call) < 10 for call in stub.calls) and len(stub.calls) > 1
    for call in stub.calls:
        assert sum(entry_size(entry) for entry in call) <= MAX_BATCH_BYTES


def test_nothing_to_publish_makes_no_request() -> None:
    stub = StubEvents()
    assert EventBridgePublisher(stub, "bus").publish([]).sent == 0
    assert stub.calls == []
