"""A harness for the real-time integration tests: moto tables with their streams,
the engine on a controllable clock, and an EventBridge rule that forwards what
the notifier publishes to a queue the test reads.

Stream records are read from moto's streams and handed over in Lambda's shape
(:func:`growthos_segments.devstack.pump.lambda_record`), so the tests feed the evaluator and
the notifier exactly what the event source mappings would: including moto's
two INSERT records for an UpdateItem that creates an item.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from growthos_segments.core.membership import SeqClock
from growthos_segments.core.ports import SegmentRecord
from growthos_segments.devstack.pump import StreamReader
from growthos_segments.handlers.wiring import build_service
from growthos_segments.infra import aws
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.settings import Settings, current_settings
from growthos_segments.services.notifier import Notifier, NotifyResult
from growthos_segments.services.realtime import EvaluationService
from growthos_segments.services.stream import BatchResult, StreamEvaluator


@contextmanager
def atomic_dynamodb() -> Iterator[None]:
    """Make each moto DynamoDB request atomic, as each DynamoDB request is.

    moto applies a conditional write or a transaction without a lock, so two
    threads can both pass a condition that only one of them would pass on
    DynamoDB. Tests of concurrent evaluations need DynamoDB's semantics, not
    moto's race: this serialises moto's request handling.
    """
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    original = DynamoHandler.call_action

    def call_action(self: DynamoHandler) -> object:
        with lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoHandler.call_action = original  # type: ignore[method-assign]


@contextmanager
def lambda_environment(
    monkeypatch: Any, settings: Settings, *builders: Any, **variables: str
) -> Iterator[None]:
    """A handler process's environment for ``settings`` (plus ``variables``), with the
    process settings and the handler's cached ``builders`` read afresh inside and after."""
    for name, value in {**settings.table_env(), **variables}.items():
        monkeypatch.setenv(name, value)
    for cached in (current_settings, *builders):
        cached.cache_clear()
    try:
        yield
    finally:
        for cached in (current_settings, *builders):
            cached.cache_clear()


ROUTE_PATTERN = {"source": ["growthos.segments"], "detail-type": ["Segment Entered", "Segment Exited"]}


class Clock:
    """The engine's ``now``, moved by the test (``seq`` still comes from the real clock)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class Hosts:
    """Evaluation hosts whose wall clocks disagree: host ``i`` reads a frozen instant
    plus its own offset. The instant never moves, so (until it steps past a seq it
    saw in a refusal) the host that is behind takes smaller seqs than the host that
    is ahead, as two evaluations within the skew would on real clocks,
    deterministically."""

    def __init__(self, *offsets_ms: float) -> None:
        base = time.time_ns()
        self.seqs = [SeqClock(lambda offset=offset: base + int(offset * 1_000_000)) for offset in offsets_ms]


class Streams:
    """New records of each table's stream since the last read, in Lambda's shape."""

    def __init__(self, settings: Settings, client: Any = None) -> None:
        self._settings = settings
        # Its own client: reading streams is the test's business, not a cost of the code under test.
        self._client = aws.client("dynamodb", settings)
        self._streams = aws.client("dynamodbstreams", settings)
        self._last: dict[tuple[str, str], str] = {}

    def reader(self, table: str) -> StreamReader:
        arn = self._client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        return StreamReader(self._streams, arn, self._settings.region)

    def read(self, table: str) -> list[dict[str, Any]]:
        reader = self.reader(table)
        records: list[dict[str, Any]] = []
        for shard in reader.shards():
            last = self._last.get((table, shard.shard_id))
            iterator = reader.iterator(shard.shard_id, "TRIM_HORIZON", last)
            found, _ = reader.read(iterator, 1000)
            if found:
                self._last[(table, shard.shard_id)] = found[-1]["dynamodb"]["SequenceNumber"]
            records += found
        return records


class Tap:
    """A rule on the bus that forwards matching events to a queue the test reads."""

    def __init__(self, bus: Bus, name: str, pattern: Mapping[str, Any]) -> None:
        self.sqs = bus.sqs
        self.queue_url = self.sqs.create_queue(QueueName=f"{bus.name}-{name}")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        bus.events.put_rule(Name=name, EventBusName=bus.name, EventPattern=json.dumps(pattern))
        bus.events.put_targets(Rule=name, EventBusName=bus.name, Targets=[{"Id": name, "Arn": arn}])

    def received(self) -> list[dict[str, Any]]:
        """Every envelope routed since the last call, in arrival order."""
        found: list[dict[str, Any]] = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


class Bus:
    """The settings' bus, with a tap on every segment event."""

    def __init__(self, settings: Settings) -> None:
        self.events = aws.client("events", settings)
        self.sqs = aws.client("sqs", settings)
        self.name = settings.event_bus_name
        self.events.create_event_bus(Name=self.name)
        self.all = self.tap("segment-events", ROUTE_PATTERN)

    def tap(self, name: str, pattern: Mapping[str, Any]) -> Tap:
        return Tap(self, name, pattern)

    def received(self) -> list[dict[str, Any]]:
        return self.all.received()


def summary(envelopes: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str, str]]:
    """``(ENTER|EXIT, tenant, segment, contact)`` per event, for compact assertions."""
    kinds = {"Segment Entered": "ENTER", "Segment Exited": "EXIT"}
    return [
        (kinds[e["detail-type"]], d["tenant_id"], d["segment_id"], d["contact_id"])
        for e in envelopes
        for d in [e["detail"]]
    ]


@dataclass
class Realtime:
    """One moto deployment with the real-time path wired, driven step by step."""

    repos: Repositories
    service: EvaluationService
    clock: Clock
    streams: Streams
    bus: Bus
    evaluator: StreamEvaluator = field(init=False)
    notifier: Notifier = field(init=False)

    def __post_init__(self) -> None:
        self.evaluator = StreamEvaluator(self.service)
        self.notifier = Notifier(self.service.publisher, self.service.ports.records)

    @property
    def settings(self) -> Settings:
        return self.repos.settings

    def host(self, seqs: SeqClock) -> EvaluationService:
        """Another host of the same deployment (same tables and clock, its own seq clock)."""
        return build_service(self.settings, repos=self.repos, clock=self.clock, seqs=seqs)

    def save(self, segment_id: str, rule: Any, *, tenant_id: str = "t1", **fields: Any) -> SegmentRecord:
        """Create the segment, or store a new version of it."""
        head = self.repos.segments.get(tenant_id, segment_id)
        record = SegmentRecord(
            tenant_id=tenant_id,
            segment_id=segment_id,
            name=fields.pop("name", segment_id),
            rule=rule,
            version=head.version if head else 0,
            **fields,
        )
        return self.repos.segments.save(record, now=self.clock())

    def contact(self, contact_id: str, *, tenant_id: str = "t1", **profile: Any) -> None:
        doc = {"tenant_id": tenant_id, "contact_id": contact_id, **profile}
        self.repos.contacts.put(doc, now=self.clock())

    def event(self, contact_id: str, name: str, *, tenant_id: str = "t1", ago: timedelta = timedelta(0),
              **properties: Any) -> None:
        self.repos.events.append(tenant_id, contact_id, name, at=self.clock() - ago, properties=properties)

    def change_records(self) -> list[dict[str, Any]]:
        """New contacts records, then new events records."""
        tables = self.settings.tables
        return self.streams.read(tables.contacts) + self.streams.read(tables.events)

    def evaluate(self, records: Sequence[Mapping[str, Any]] | None = None) -> BatchResult:
        return self.evaluator.evaluate_batch(self.change_records() if records is None else records)

    def membership_records(self) -> list[dict[str, Any]]:
        return self.streams.read(self.settings.tables.memberships)

    def notify(self) -> NotifyResult:
        return self.notifier.notify(self.membership_records())

    def notify_records(self, records: Sequence[Mapping[str, Any]]) -> NotifyResult:
        return self.notifier.notify(records)

    def flush(self) -> list[tuple[str, str, str, str]]:
        """Evaluate pending changes, notify pending transitions, return what reached the bus."""
        result = self.evaluate()
        assert not result.failed, result.failed
        notified = self.notify()
        assert not notified.failed, notified.failed
        return summary(self.bus.received())

    def members(self, segment_id: str, *, tenant_id: str = "t1") -> list[str]:
        return self.repos.memberships.members(tenant_id, segment_id, limit=1000).items

    def count(self, segment_id: str, *, tenant_id: str = "t1") -> int:
        return self.repos.memberships.count(tenant_id, segment_id)
