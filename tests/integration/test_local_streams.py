"""The pump on real moto streams, demo data through the DynamoDB layer, queues and the bus tap.

moto runs in-process here (``mock_aws``), tuned as the stack's moto server is
(``growthos_segments.devstack.moto_tuning``); the stack uses the same code against moto's server.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from growthos_segments.devstack.bus import EventPrinter, format_event, tap_bus
from growthos_segments.devstack.demo_data import api_key_for, demo_segments, generate, write
from growthos_segments.devstack.functions import QueueSource, ScheduleSource, load_app
from growthos_segments.devstack.motoserver import prune_shard_iterators
from growthos_segments.devstack.pump import MappingConfig, StreamPump, StreamReader
from growthos_segments.devstack.queues import QueuePoller, ScheduleRunner
from growthos_segments.devstack.runtime import LambdaFunction
from growthos_segments.devstack.template import load_template
from growthos_segments.infra import aws
from growthos_segments.infra.repos import Repositories
from growthos_segments.plugins import default_host

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def stream_reader(repos: Repositories) -> StreamReader:
    settings = repos.settings
    arn = repos.client.describe_table(TableName=settings.tables.contacts)["Table"]["LatestStreamArn"]
    return StreamReader(aws.client("dynamodbstreams", settings), arn, settings.region)


def read_all(reader: StreamReader) -> list[dict[str, Any]]:
    (shard,) = reader.shards()
    records, _ = reader.read(reader.iterator(shard.shard_id, "TRIM_HORIZON"), 1000)
    return records


def contact(contact_id: str, **scores: int) -> dict[str, Any]:
    return {"tenant_id": "t1", "contact_id": contact_id, "attributes": {"plan": "free"}, "scores": scores}


def test_stream_records_reach_handlers_in_lambdas_shape(repos: Repositories) -> None:
    repos.contacts.put(contact("c1", nps=3), now=NOW)
    repos.contacts.patch("t1", "c1", scores={"nps": 9}, now=NOW)
    repos.contacts.delete("t1", "c1")
    records = read_all(stream_reader(repos))
    # moto emits two INSERTs for an UpdateItem that creates an item (a key-only image,
    # then the full one); DynamoDB emits one. The pump passes on what the stream holds.
    names = [r["eventName"] for r in records]
    assert names[-2:] == ["MODIFY", "REMOVE"] and set(names[:-2]) == {"INSERT"}
    modify = records[-2]
    assert modify["eventSource"] == "aws:dynamodb" and modify["eventSourceARN"].endswith(
        records[0]["eventSourceARN"].split("/stream/")[1]
    )
    assert modify["dynamodb"]["Keys"] == {"pk": {"S": "t1#c1"}}
    assert modify["dynamodb"]["OldImage"]["scores"] == {"M": {"nps": {"N": "3"}}}
    assert modify["dynamodb"]["NewImage"]["scores"] == {"M": {"nps": {"N": "9"}}}
    assert isinstance(modify["dynamodb"]["ApproximateCreationDateTime"], float)
    sequences = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert sequences == sorted(sequences)


def test_the_pump_applies_the_templates_mapping_to_a_real_stream(repos: Repositories) -> None:
    app = load_app(load_template())
    (source,) = [s for s in app.streams if s.name == "MembershipChanges"]  # filters out REMOVE
    config = MappingConfig.from_source(source)
    for n in range(5):
        repos.contacts.put(contact(f"c{n}", lead=n), now=NOW)
    repos.contacts.delete("t1", "c0")
    batches: list[list[str]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        batches.append([r["eventName"] + ":" + r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]])
        return {"batchItemFailures": []}

    stop = threading.Event()
    pump = StreamPump(
        "test",
        stream_reader(repos),
        config,
        LambdaFunction.of(handler).invoke,
        lambda *args: None,
        stop,
        poll_interval=0.05,
    )
    pump.start()
    deadline = time.monotonic() + 20
    while len({item for batch in batches for item in batch}) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(config.batching_window + 0.3)  # give a wrongly delivered REMOVE the chance to show up
    stop.set()
    assert pump.join(10) == []
    delivered = [item for batch in batches for item in batch]
    distinct = [
        item for i, item in enumerate(delivered) if i == 0 or delivered[i - 1] != item
    ]  # moto's double INSERT
    assert distinct == [f"INSERT:t1#c{n}" for n in range(5)]  # in order, and the REMOVE filtered out


def test_demo_data_is_deterministic_realistic_and_relative_to_now() -> None:
    first = generate("demo", 300, now=NOW, seed=3)
    assert first == generate("demo", 300, now=NOW, seed=3)
    assert first != generate("demo", 300, now=NOW, seed=4)
    names = {e["name"] for e in first.events}
    assert {
        "email.sent",
        "email.opened",
        "email.clicked",
        "order.completed",
        "nudge.shown",
        "referral.invited",
        "session.started",
        "onboarding.completed",
    } <= names
    assert all(NOW - timedelta(days=90) <= e["at"] <= NOW for e in first.events)
    assert len({e["event_id"] for e in first.events}) == len(first.events)
    # A few buyers cross "no order in 60 days" minutes after start-up (time-driven transitions).
    edges = [e for e in first.events if e["event_id"].endswith("-edge")]
    assert edges and all(timedelta(days=59, hours=23) < NOW - e["at"] < timedelta(days=60) for e in edges)
    assert api_key_for("demo") == "local-demo-key"


def test_demo_data_is_written_through_the_dynamodb_layer(repos: Repositories) -> None:
    data = generate("demo", 25, now=NOW)
    segments = demo_segments("demo", default_host())
    report = write(repos, data, segments, now=NOW)
    assert (report.contacts, report.events) == (25, len(data.events))
    assert sorted(report.segments) == sorted(default_host().templates)
    for doc in data.contacts[:5]:
        stored = repos.contacts.get("demo", doc["contact_id"])
        assert stored is not None
        expected = {**doc, "attributes": {**doc["attributes"]}}
        assert stored == expected  # exactly what ContactRepository.put would have stored
    busiest = max(data.contacts, key=lambda c: sum(e["contact_id"] == c["contact_id"] for e in data.events))
    view = repos.views.load_view("demo", busiest["contact_id"], now=NOW, lookback=timedelta(days=400))
    assert view is not None
    assert len(view["events"]) == sum(e["contact_id"] == busiest["contact_id"] for e in data.events)
    assert {s.segment_id for s in repos.segments.list_segments("demo")} == set(report.segments)
    requests = repos.requests.by_operation
    assert requests["BatchWriteItem"] <= (25 + len(data.events)) // 25 + 4  # batches, not one call per item


def test_the_bus_tap_prints_each_event_on_one_line(mock_aws_session: None, settings: Any) -> None:
    events, sqs = aws.client("events", settings), aws.client("sqs", settings)
    url = tap_bus(events, sqs, "it-segments", "it")
    detail = {"tenant_id": "demo", "segment_id": "at_risk", "contact_id": "c7", "segment_version": 3}
    events.put_events(
        Entries=[
            {
                "Source": "growthos.segments",
                "DetailType": "Segment Exited",
                "Detail": json.dumps(detail),
                "EventBusName": "it-segments",
            },
            {
                "Source": "other.module",
                "DetailType": "Invoice Paid",
                "Detail": '{"amount": 3}',
                "EventBusName": "it-segments",
            },
        ]
    )
    lines: list[str] = []
    stop = threading.Event()
    printer = EventPrinter(sqs, url, stop, lines.append, wait_seconds=0)
    printer.start()
    deadline = time.monotonic() + 10
    while len(lines) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    printer.thread.join(5)
    assert sorted(lines) == sorted(
        ["EXIT at_risk c7 (tenant demo, v3)", 'Invoice Paid other.module {"amount":3}']
    )
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None  # printed means deleted


def test_format_event_tolerates_missing_fields() -> None:
    assert format_event(
        {"detail-type": "Segment Entered", "detail": {"segment_id": "s", "contact_id": "c"}}
    ) == ("ENTER s c")
    assert format_event({"detail-type": "Segment Entered", "detail": None}) == "ENTER ? ?"


def test_the_sqs_poller_deletes_successes_and_keeps_reported_failures(
    mock_aws_session: None, settings: Any
) -> None:
    sqs = aws.client("sqs", settings)
    url = sqs.create_queue(QueueName="it-jobs", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for body in ("ok-1", "bad", "ok-2"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    seen: list[list[str]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append([r["body"] for r in event["Records"]])
        assert all(r["eventSource"] == "aws:sqs" and r["eventSourceARN"] == arn for r in event["Records"])
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "bad"
            ]
        }

    source = QueueSource("Fn", "Jobs", "Q", batch_size=10, report_item_failures=True)
    poller = QueuePoller(
        source, sqs, url, arn, LambdaFunction.of(handler).invoke, threading.Event(), "us-east-1"
    )
    received = 0
    while received < 3:
        received += poller.poll_once()
    assert sorted(body for batch in seen for body in batch) == ["bad", "ok-1", "ok-2"]
    left = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in left] == ["bad"]


def test_schedules_run_on_their_rate_with_a_scheduled_event() -> None:
    events: list[dict[str, Any]] = []
    stop = threading.Event()
    source = ScheduleSource("SchedulerFunction", "EveryMinute", "rate(1 minute)")
    assert source.rate_seconds() == 60
    assert ScheduleSource("F", "E", "cron(0 12 * * ? *)").rate_seconds() is None
    runner = ScheduleRunner(
        source, LambdaFunction.of(lambda e, c: events.append(e)).invoke, stop, "us-east-1", period=0.05
    )
    runner.start()
    deadline = time.monotonic() + 10
    while len(events) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    runner.thread.join(5)
    assert events[0]["detail-type"] == "Scheduled Event" and events[0]["source"] == "aws.events"


def test_the_janitor_forgets_shard_iterators_after_fifteen_minutes(repos: Repositories) -> None:
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    repos.contacts.put(contact("c1"), now=NOW)
    reader = stream_reader(repos)
    (shard,) = reader.shards()
    old = reader.iterator(shard.shard_id, "TRIM_HORIZON")
    ages = prune_shard_iterators({}, max_age=900, now=0.0)
    assert old in ages
    new = reader.iterator(shard.shard_id, "TRIM_HORIZON")
    ages = prune_shard_iterators(ages, max_age=900, now=901.0)
    held = {
        key
        for regions in dynamodbstreams_backends.values()
        for b in regions.values()
        for key in b.shard_iterators
    }
    assert old not in held and new in held


@pytest.mark.parametrize("tenant", ["demo", "acme"])
def test_api_keys_follow_the_documented_scheme(tenant: str) -> None:
    assert api_key_for(tenant) == f"local-{tenant}-key"
