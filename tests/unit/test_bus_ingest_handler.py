"""The ingest function's partial batch responses, its dead-letter adapter, and its declaration in
template.yaml as the local stack reads it."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest
from moto import mock_aws

from growthos_segments.core.ports_bus import RejectedMessage
from growthos_segments.devstack.functions import QueueSource, Resolver, load_app
from growthos_segments.devstack.queues import QueuePoller, sqs_record
from growthos_segments.devstack.runtime import LambdaFunction
from growthos_segments.devstack.template import load_template
from growthos_segments.handlers import ingest as ingest_handler
from growthos_segments.infra.dead_letters import REASON_ATTRIBUTE, SqsDeadLetters
from growthos_segments.services.bus_ingest import RULE_PATTERN, BusIngester
from tests.unit.test_bus_ingest import NOW, ListDeadLetters, Recording, recorded, upserted

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:growthos-IngestQueue"


def as_sqs(*records: dict[str, str]) -> dict[str, object]:
    messages = [{"MessageId": r["messageId"], "ReceiptHandle": f"rh-{r['messageId']}", "Body": r["body"]}
                for r in records]
    return {"Records": [sqs_record(m, QUEUE_ARN, "us-east-1") for m in messages]}


def test_only_the_records_whose_write_throttled_come_back(monkeypatch: pytest.MonkeyPatch) -> None:
    dead = ListDeadLetters()
    ingester = BusIngester(Recording(throttle={"c2"}), dead, clock=lambda: NOW)
    monkeypatch.setattr(ingest_handler, "ingester", lambda: ingester)
    event = as_sqs(upserted("m1", "c1", tenant_id="t0"), upserted("m2", "c2", tenant_id="t2"),
                   {"messageId": "m3", "body": "not json"},
                   recorded("m4", {"event_id": "e1", "contact_id": "c1", "action": "opened",
                                   "at": "2026-11-20T08:00:00Z"}))
    result = LambdaFunction.of(ingest_handler.handler, name="IngestFunction").invoke(event)
    assert result.ok, result.error
    assert result.payload == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert [m.message_id for m in dead.sent] == ["m3"]  # refused for good: dead-lettered, not retried


def test_an_empty_batch_is_answered_without_work() -> None:
    result = LambdaFunction.of(ingest_handler.handler, name="IngestFunction").invoke({"Records": []})
    assert result.payload == {"batchItemFailures": []}


@mock_aws
def test_a_refused_message_reaches_the_dead_letter_queue_as_delivered_with_its_reason() -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="dead")["QueueUrl"]
    refused = [RejectedMessage("m1", '{"detail-type": "Nope"}', "/detail-type: 'Nope' is not one of ..."),
               RejectedMessage("m2", "", "the queue message has no body")]
    assert SqsDeadLetters(sqs, url).send(refused) == []
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    got = sorted((m["Body"], m["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"])
                 for m in received["Messages"])
    assert got == [("(empty)", "the queue message has no body"),
                   ('{"detail-type": "Nope"}', "/detail-type: 'Nope' is not one of ...")]
    gone = url.replace("/dead", "/no-such-queue")
    assert SqsDeadLetters(sqs, gone).send(refused[:1]) == ["m1"]  # left on its queue for a later delivery


def test_the_template_declares_the_rule_queue_and_function_the_code_assumes() -> None:
    template = load_template()
    resources = template["Resources"]
    assert resources["IngestRule"]["Properties"]["EventPattern"] == RULE_PATTERN
    [source] = [q for q in load_app(template).queues if q.function == "IngestFunction"]
    assert (source.queue, source.report_item_failures) == ("IngestQueue", True)
    assert source.batch_size <= 100 and source.batching_window <= 1  # a lone message waits a second at most
    queue = resources["IngestQueue"]["Properties"]
    function = load_app(template).functions["IngestFunction"]
    assert queue["VisibilityTimeout"] >= 6 * function.timeout
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]}
    assert function.environment["INGEST_DEAD_LETTER_QUEUE_URL"] == {"Ref": "IngestDeadLetterQueue"}


@pytest.mark.parametrize(("platform_bus", "expected"), [("", "growthos-segments"), ("platform", "platform")])
def test_the_rule_is_on_the_stack_bus_unless_a_platform_bus_is_named(platform_bus: str,
                                                                      expected: str) -> None:
    template = load_template()
    resolver = Resolver(refs={"PlatformBusName": platform_bus, "SegmentsBus": "growthos-segments"},
                        conditions=template["Conditions"])
    rule = template["Resources"]["IngestRule"]["Properties"]
    assert resolver.resolve(rule["EventBusName"]) == expected


def test_the_rule_pattern_leaves_out_what_the_engine_publishes() -> None:
    kinds = RULE_PATTERN["detail-type"]
    assert not {"Segment Entered", "Segment Exited", "Segment Changed", "Segment Archived"} & set(kinds)
    assert RULE_PATTERN["source"] == [{"anything-but": ["growthos.segments"]}]
    assert json.loads(json.dumps(RULE_PATTERN)) == RULE_PATTERN  # as EventBridge takes it


@mock_aws
def test_the_local_poller_gathers_a_batch_as_lambda_does_ten_messages_a_receive() -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="ingest")["QueueUrl"]
    for n in range(30):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
    batches: list[int] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        batches.append(len(event["Records"]))
        return {"batchItemFailures": []}

    source = QueueSource("IngestFunction", "BusMessages", "IngestQueue", batch_size=25, batching_window=60,
                         report_item_failures=True)
    poller = QueuePoller(source, sqs, url, QUEUE_ARN, LambdaFunction.of(handler).invoke, threading.Event(),
                         "us-east-1")
    assert poller.poll_once() == 25  # full before its window: never waits for it
    assert batches == [25]
