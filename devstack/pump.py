"""The stream pump: DynamoDB stream records to Lambda handlers, as an event source mapping would.

moto cannot run Lambda event source mappings without Docker (and creating one
empties the stream buffer), so the local stack reads the streams itself and
calls the handlers in-process with exactly the semantics the template asks for:

Reading and batching
    One worker per shard reads in sequence-number order; the next batch is read
    only when the previous one is finished (delivered, or given up on), so a
    shard's records reach the function strictly in order. Filtered-out records
    (``FilterCriteria``) are dropped before batching and do not count toward
    the batch size. A batch is delivered when it holds ``BatchSize`` records,
    when ``MaximumBatchingWindowInSeconds`` has passed since its first record,
    or when the shard closes. A child shard is read only after its parent is
    finished.

Failures (:func:`deliver`)
    * The function raised (or timed out): with ``BisectBatchOnFunctionError``
      and more than one record, the batch is split in two and each half is
      delivered on its own (splitting is not a retry); otherwise the same batch
      is retried.
    * The function returned ``batchItemFailures`` (``ReportBatchItemFailures``):
      the records before the first failed one are done, and the retry starts at
      the first failed record. An empty or missing list is success; a malformed
      one (unknown or empty identifier, not a list) fails the whole batch.
    * After ``MaximumRetryAttempts`` retries (-1: unbounded) the remaining
      records go to the on-failure destination as Lambda describes them (shard,
      sequence range, condition ``RetryAttemptsExhausted``) and the shard moves
      on. Records older than ``MaximumRecordAgeInSeconds`` are sent there
      (``RecordAgeExceeded``) instead of being delivered.
Tumbling windows (``TumblingWindowInSeconds``, :func:`windowed`)
    Each call carries ``shardId``, ``eventSourceARN``, the ``window`` its first
    record falls in (by creation time), the ``state`` the previous call of that
    window returned (``{}`` in a new window), ``isFinalInvokeForWindow`` and
    ``isWindowTerminatedEarly`` (both false); a response without ``state`` is a
    failed call, as Lambda counts it. Not reproduced: batches are not cut at a
    window's end, and no closing call is made when a window ends.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from growthos_segments.core.timeutil import to_iso
from growthos_segments.devstack.functions import StreamSource
from growthos_segments.devstack.patterns import compile_filters
from growthos_segments.devstack.runtime import Invocation, Invoke

__all__ = [
    "DeliveryStats",
    "IteratorExpired",
    "MappingConfig",
    "Shard",
    "ShardReader",
    "ShardWorker",
    "StreamPump",
    "StreamReader",
    "deliver",
    "failure_index",
    "failure_message",
    "lambda_record",
    "windowed",
]

log = logging.getLogger("growthos_segments.devstack.pump")

Record = dict[str, Any]
OnFailure = Callable[[list[Record], str, int, str | None], None]
"""``(records, condition, invoke_count, last_error)``: records given up on."""

BAD_RESPONSE = -1
""":func:`failure_index` result: the response says the whole batch failed."""


@dataclass(frozen=True, slots=True)
class MappingConfig:
    """The event-source-mapping settings of one ``Type: DynamoDB`` event."""

    batch_size: int = 100
    batching_window: float = 0.0
    max_retries: int = -1
    bisect_on_error: bool = False
    report_item_failures: bool = False
    max_record_age: int = -1
    starting_position: str = "TRIM_HORIZON"
    passes: Callable[[Mapping[str, Any]], bool] = field(default=lambda record: True)
    tumbling_window: int = 0

    @classmethod
    def from_source(cls, source: StreamSource) -> MappingConfig:
        return cls(
            batch_size=source.batch_size,
            batching_window=source.batching_window,
            max_retries=source.max_retries,
            bisect_on_error=source.bisect_on_error,
            report_item_failures=source.report_item_failures,
            max_record_age=source.max_record_age,
            starting_position=source.starting_position,
            passes=compile_filters(source.filters),
            tumbling_window=source.tumbling_window,
        )


@dataclass(slots=True)
class DeliveryStats:
    """Counters for the shutdown summary and the tests."""

    invocations: int = 0
    delivered: int = 0
    failed_invocations: int = 0
    given_up: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)


def _sequence(record: Mapping[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def failure_index(payload: Any, batch: Sequence[Record]) -> int | None:
    """Where a partial batch response says the retry starts.

    ``None``: the whole batch succeeded. An index: records before it succeeded.
    :data:`BAD_RESPONSE`: the response is malformed, so the batch failed.
    """
    if payload is None:
        return None
    if not isinstance(payload, Mapping):
        return BAD_RESPONSE
    failures = payload.get("batchItemFailures")
    if failures is None:
        return None
    if not isinstance(failures, list):
        return BAD_RESPONSE
    if not failures:
        return None
    positions = {_sequence(record): index for index, record in enumerate(batch)}
    found: list[int] = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not isinstance(identifier, str) or identifier not in positions:
            return BAD_RESPONSE
        found.append(positions[identifier])
    return min(found)


def windowed(invoke: Invoke, shard_id: str, stream_arn: str, seconds: int) -> Invoke:
    """``invoke`` as a mapping with tumbling windows of ``seconds`` calls it for one shard
    (see the module docstring)."""
    held: dict[str, Any] = {"start": None, "state": {}}

    def call(event: Any) -> Invocation:
        records = event.get("Records") or []
        created = records[0].get("dynamodb", {}).get("ApproximateCreationDateTime") if records else None
        moment = float(created) if isinstance(created, int | float) else time.time()
        start = moment - moment % seconds
        if start != held["start"]:
            held.update(start=start, state={})
        window = {"start": to_iso(datetime.fromtimestamp(start, UTC), "seconds"),
                  "end": to_iso(datetime.fromtimestamp(start + seconds, UTC), "seconds")}
        result = invoke({**event, "shardId": shard_id, "eventSourceARN": stream_arn, "window": window,
                         "state": held["state"], "isFinalInvokeForWindow": False,
                         "isWindowTerminatedEarly": False})
        if not result.ok:
            return result
        if not isinstance(result.payload, Mapping) or not isinstance(result.payload.get("state"), Mapping):
            message = "the response of a call with a tumbling window has no state"
            return Invocation(result.payload, f"InvalidResponse: {message}", "InvalidResponse", message,
                              result.duration)
        held["state"] = dict(result.payload["state"])
        return result

    return call


def _age_seconds(record: Mapping[str, Any], now: float) -> float:
    created = record.get("dynamodb", {}).get("ApproximateCreationDateTime")
    return now - float(created) if isinstance(created, int | float) else 0.0


def deliver(
    records: list[Record],
    *,
    invoke: Invoke,
    config: MappingConfig,
    on_failure: OnFailure,
    stats: DeliveryStats | None = None,
    stop: threading.Event | None = None,
    wall_clock: Callable[[], float] = time.time,
    backoff: Callable[[int], float] = lambda attempt: min(0.05 * 2**attempt, 2.0),
) -> bool:
    """Deliver one batch with retries, bisection and the on-failure destination.

    Returns ``False`` only if ``stop`` was set before the batch was finished
    (the records are then neither done nor given up on, as when a poller stops).
    """
    stats = stats or DeliveryStats()
    stop = stop or threading.Event()
    pending: deque[tuple[list[Record], int]] = deque([(records, 0)])
    while pending:
        batch, retries = pending.popleft()
        while batch:
            if config.max_record_age >= 0:
                now = wall_clock()
                expired = 0
                while expired < len(batch) and _age_seconds(batch[expired], now) > config.max_record_age:
                    expired += 1
                if expired:
                    on_failure(batch[:expired], "RecordAgeExceeded", retries, None)
                    stats.add(given_up=expired)
                    batch = batch[expired:]
                    continue
            result = invoke({"Records": batch})
            stats.add(invocations=1)
            if result.ok:
                index = failure_index(result.payload, batch) if config.report_item_failures else None
                if index is None:
                    stats.add(delivered=len(batch))
                    break
                if index != BAD_RESPONSE:
                    stats.add(delivered=index, failed_invocations=1)
                    batch, error = batch[index:], "partial batch failure"
                else:
                    stats.add(failed_invocations=1)
                    error = f"malformed batchItemFailures response: {result.payload!r}"[:300]
            else:
                stats.add(failed_invocations=1)
                error = result.error
                if config.bisect_on_error and len(batch) > 1:
                    middle = len(batch) // 2
                    pending.appendleft((batch[middle:], retries))
                    pending.appendleft((batch[:middle], retries))
                    log.info("function error on %d records (%s); bisecting", len(batch), error)
                    break
            retries += 1
            if 0 <= config.max_retries < retries:
                log.warning("giving up on %d record(s) after %d retries: %s", len(batch), retries - 1, error)
                on_failure(batch, "RetryAttemptsExhausted", retries, error)
                stats.add(given_up=len(batch))
                break
            log.info("retry %d for %d record(s): %s", retries, len(batch), error)
            if stop.wait(backoff(retries)):
                return False
    return True


# --- reading streams ------------------------------------------------------------


class IteratorExpired(Exception):
    """The shard iterator is no longer valid; reopen from the last sequence read."""


@dataclass(frozen=True, slots=True)
class Shard:
    shard_id: str
    parent_id: str | None = None


class ShardReader(Protocol):
    """What a worker needs from a stream (boto3 in the stack, a list in the tests)."""

    stream_arn: str

    def shards(self) -> list[Shard]: ...

    def iterator(self, shard_id: str, position: str, sequence: str | None = None) -> str: ...

    def read(self, iterator: str, limit: int) -> tuple[list[Record], str | None]:
        """Records in Lambda's event shape and the next iterator (``None``: shard closed)."""
        ...


def _wire(value: Any) -> Any:
    """boto3 decodes binary attribute values to bytes; Lambda events carry base64 text."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def lambda_record(raw: Mapping[str, Any], stream_arn: str, region: str) -> Record:
    """A GetRecords record as Lambda delivers it (``eventSourceARN``, epoch-second times)."""
    dynamodb = dict(raw.get("dynamodb", {}))
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = created.timestamp()
    for image in ("Keys", "NewImage", "OldImage"):
        if image in dynamodb:
            dynamodb[image] = _wire(dynamodb[image])
    record: Record = {
        "eventID": raw.get("eventID"),
        "eventName": raw.get("eventName"),
        "eventVersion": raw.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": region,  # moto writes us-east-1 whatever the table's region
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in raw:
        record["userIdentity"] = dict(raw["userIdentity"])
    return record


class StreamReader:
    """:class:`ShardReader` over boto3's ``dynamodbstreams`` client (the moto server)."""

    def __init__(self, client: Any, stream_arn: str, region: str) -> None:
        self._client = client
        self.stream_arn = stream_arn
        self._region = region

    def shards(self) -> list[Shard]:
        found: list[Shard] = []
        start: str | None = None
        while True:
            kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
            if start:
                kwargs["ExclusiveStartShardId"] = start
            description = self._client.describe_stream(**kwargs)["StreamDescription"]
            found.extend(Shard(s["ShardId"], s.get("ParentShardId")) for s in description.get("Shards", []))
            start = description.get("LastEvaluatedShardId")
            if not start:
                return found

    def iterator(self, shard_id: str, position: str, sequence: str | None = None) -> str:
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard_id}
        if sequence is not None:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=sequence)
        else:
            kwargs["ShardIteratorType"] = position
        return str(self._client.get_shard_iterator(**kwargs)["ShardIterator"])

    def read(self, iterator: str, limit: int) -> tuple[list[Record], str | None]:
        try:
            response = self._client.get_records(ShardIterator=iterator, Limit=max(1, min(limit, 1000)))
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            # moto answers an iterator it no longer holds with a bare 500.
            if code in ("ExpiredIteratorException", "500", "InternalFailure", "InternalServerError"):
                raise IteratorExpired(code) from error
            raise
        records = [lambda_record(r, self.stream_arn, self._region) for r in response.get("Records", [])]
        return records, response.get("NextShardIterator")


# --- workers ----------------------------------------------------------------------


class ShardWorker:
    """Reads one shard in order and delivers its batches one at a time."""

    def __init__(
        self,
        shard: Shard,
        reader: ShardReader,
        config: MappingConfig,
        handle: Callable[[list[Record]], bool],
        stop: threading.Event,
        *,
        position: str,
        poll_interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.shard = shard
        self._reader = reader
        self._config = config
        self._handle = handle
        self._stop = stop
        self._position = position
        self._poll = poll_interval
        self._clock = clock
        self.last_read: str | None = None
        """Sequence number of the last record read (delivered or buffered)."""
        self.finished = threading.Event()
        """Set when the shard is closed and all its records were handled."""

    def _open(self) -> str:
        return self._reader.iterator(self.shard.shard_id, self._position, self.last_read)

    def run(self) -> None:
        config = self._config
        batch: list[Record] = []
        first_at = 0.0
        iterator: str | None = None
        opened = False
        while not self._stop.is_set():
            try:
                if not opened:
                    iterator, opened = self._open(), True
                if iterator is None:  # closed shard, everything read
                    if batch and not self._handle(batch):
                        return
                    self.finished.set()
                    return
                records, iterator = self._reader.read(iterator, config.batch_size - len(batch))
            except IteratorExpired:
                opened = False
                continue
            except (ClientError, BotoCoreError, OSError) as error:
                if self._stop.is_set():
                    return
                log.warning(
                    "%s: reading shard %s failed (%s); retrying",
                    self._reader.stream_arn,
                    self.shard.shard_id,
                    error,
                )
                opened = False
                self._stop.wait(1.0)
                continue
            if records:
                self.last_read = _sequence(records[-1])
            kept = [record for record in records if config.passes(record)]
            if kept and not batch:
                first_at = self._clock()
            batch.extend(kept)
            if batch and (
                len(batch) >= config.batch_size
                or self._clock() - first_at >= config.batching_window
                or iterator is None
            ):
                delivered, batch = batch, []
                if not self._handle(delivered):
                    return
                continue
            if not records:
                wait = self._poll
                if batch:
                    wait = max(0.0, min(wait, first_at + config.batching_window - self._clock()))
                self._stop.wait(wait)


class StreamPump:
    """One event source mapping: discovers shards and runs a worker per shard."""

    def __init__(
        self,
        name: str,
        reader: ShardReader,
        config: MappingConfig,
        invoke: Invoke,
        on_failure: Callable[[str, list[Record], str, int, str | None], None],
        stop: threading.Event,
        *,
        poll_interval: float = 0.25,
        rescan_interval: float = 30.0,
        stats: DeliveryStats | None = None,
    ) -> None:
        self.name = name
        self.reader = reader
        self.config = config
        self._invoke = invoke
        self._on_failure = on_failure
        self._stop = stop
        self._poll = poll_interval
        self._rescan = rescan_interval
        self.stats = stats or DeliveryStats()
        self.workers: dict[str, ShardWorker] = {}
        self._threads: list[threading.Thread] = []
        self._coordinator: threading.Thread | None = None

    def start(self) -> None:
        self._coordinator = threading.Thread(target=self._coordinate, name=f"pump:{self.name}", daemon=True)
        self._coordinator.start()

    def join(self, timeout: float) -> list[str]:
        """Wait for every thread; returns the names of those still running."""
        deadline = time.monotonic() + timeout
        threads = [t for t in (self._coordinator, *self._threads) if t is not None]
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in threads if t.is_alive()]

    def _coordinate(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                shards = self.reader.shards()
            except (ClientError, BotoCoreError, OSError) as error:
                if self._stop.is_set():
                    return
                log.warning("%s: cannot describe the stream (%s); retrying", self.name, error)
                self._stop.wait(1.0)
                continue
            known = {shard.shard_id for shard in shards}
            for shard in shards:
                if shard.shard_id in self.workers:
                    continue
                parent = shard.parent_id
                parent_worker = self.workers.get(parent) if parent else None
                if parent in known and (parent_worker is None or not parent_worker.finished.is_set()):
                    continue  # a child waits until its parent is fully read
                position = self.config.starting_position if first else "TRIM_HORIZON"
                self._start_worker(shard, position)
            first = False
            self._stop.wait(self._rescan)

    def _start_worker(self, shard: Shard, position: str) -> None:
        invoke = self._invoke
        if self.config.tumbling_window:
            invoke = windowed(invoke, shard.shard_id, self.reader.stream_arn, self.config.tumbling_window)

        def handle(batch: list[Record]) -> bool:
            return deliver(
                batch,
                invoke=invoke,
                config=self.config,
                on_failure=lambda records, condition, count, error: self._on_failure(
                    shard.shard_id, records, condition, count, error
                ),
                stats=self.stats,
                stop=self._stop,
            )

        worker = ShardWorker(
            shard, self.reader, self.config, handle, self._stop, position=position, poll_interval=self._poll
        )
        self.workers[shard.shard_id] = worker
        name = f"pump:{self.name}:{shard.shard_id[-8:]}"
        thread = threading.Thread(target=worker.run, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()


def failure_message(
    *,
    function_arn: str,
    stream_arn: str,
    shard_id: str,
    records: Sequence[Record],
    condition: str,
    invoke_count: int,
    error: str | None,
) -> dict[str, Any]:
    """The invocation record Lambda sends to a stream mapping's on-failure destination.

    Like Lambda's, it names the shard and sequence range rather than carrying
    the records: a consumer reads them from the stream while they are retained.
    """

    def arrival(record: Record) -> str:
        created = record.get("dynamodb", {}).get("ApproximateCreationDateTime")
        moment = datetime.fromtimestamp(float(created), UTC) if isinstance(created, int | float) else None
        return to_iso(moment, "seconds") if moment else ""

    message: dict[str, Any] = {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "version": "1.0",
        "timestamp": to_iso(datetime.now(UTC), "milliseconds"),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": _sequence(records[0]),
            "endSequenceNumber": _sequence(records[-1]),
            "approximateArrivalOfFirstRecord": arrival(records[0]),
            "approximateArrivalOfLastRecord": arrival(records[-1]),
            "batchSize": len(records),
            "streamArn": stream_arn,
        },
    }
    if error is not None:
        message["responseContext"] = {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        }
    return message
