"""The stream pump's event-source-mapping semantics, with test handlers and an in-memory stream.

Each test names the Lambda behaviour it pins down: batching by size and window,
filters, strict per-shard order (parents before children), partial batch
failures retried from the first failed record, bounded retries ending in the
on-failure destination, bisection, record age, and lazy handler loading.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from growthos_segments.devstack.functions import FunctionSpec, load_app
from growthos_segments.devstack.patterns import compile_filters
from growthos_segments.devstack.pump import (
    BAD_RESPONSE,
    DeliveryStats,
    MappingConfig,
    Shard,
    ShardWorker,
    StreamPump,
    deliver,
    failure_index,
    failure_message,
    lambda_record,
    windowed,
)
from growthos_segments.devstack.runtime import Invocation, LambdaFunction
from growthos_segments.devstack.template import load_template

STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-11-22T00:00:00.000"
BASE_SEQ = 1_000


def record(
    n: int, event: str = "INSERT", created: float | None = None, key: str | None = None
) -> dict[str, Any]:
    return {
        "eventID": f"e{n}",
        "eventName": event,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": created if created is not None else time.time(),
            "Keys": {"pk": {"S": key or f"k{n}"}},
            "SequenceNumber": str(BASE_SEQ + n),
            "SizeBytes": 10,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": STREAM,
    }


def seqs(records: list[dict[str, Any]]) -> list[int]:
    return [int(r["dynamodb"]["SequenceNumber"]) - BASE_SEQ for r in records]


class FakeReader:
    """An in-memory stream: iterators are ``shard|index``; reads return at most ``chunk``."""

    stream_arn = STREAM

    def __init__(
        self,
        shards: dict[str, list[dict[str, Any]]],
        *,
        parents: dict[str, str] | None = None,
        closed: set[str] | None = None,
        chunk: int | None = None,
    ) -> None:
        self.data = shards
        self.parents = parents or {}
        self.closed = closed or set()
        self.chunk = chunk
        self.reads = 0

    def shards(self) -> list[Shard]:
        return [Shard(shard_id, self.parents.get(shard_id)) for shard_id in self.data]

    def iterator(self, shard_id: str, position: str, sequence: str | None = None) -> str:
        records = self.data[shard_id]
        if sequence is not None:
            index = next(i + 1 for i, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] == sequence)
        else:
            index = len(records) if position == "LATEST" else 0
        return f"{shard_id}|{index}"

    def read(self, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        self.reads += 1
        shard_id, raw = iterator.split("|")
        index = int(raw)
        records = self.data[shard_id]
        taken = records[index : index + min(limit, self.chunk or limit)]
        following = index + len(taken)
        if shard_id in self.closed and following >= len(records):
            return taken, None
        return taken, f"{shard_id}|{following}"


class Recorder:
    """A test handler: remembers each batch; ``respond`` decides the outcome per call."""

    def __init__(
        self, respond: Callable[[list[dict[str, Any]], int], Any] = lambda batch, call: None
    ) -> None:
        self.batches: list[list[int]] = []
        self.respond = respond
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with self.lock:
            self.batches.append(seqs(event["Records"]))
            call = len(self.batches)
        return self.respond(event["Records"], call)

    @property
    def delivered(self) -> list[int]:
        return [n for batch in self.batches for n in batch]


class Destination:
    def __init__(self) -> None:
        self.sent: list[tuple[list[int], str, int, str | None]] = []

    def __call__(self, records: list[dict[str, Any]], condition: str, count: int, error: str | None) -> None:
        self.sent.append((seqs(records), condition, count, error))


def run_deliver(
    records: list[dict[str, Any]], handler: Recorder, config: MappingConfig, **kwargs: Any
) -> Destination:
    destination = Destination()
    finished = deliver(
        records,
        invoke=LambdaFunction.of(handler).invoke,
        config=config,
        on_failure=destination,
        backoff=lambda attempt: 0.0,
        **kwargs,
    )
    assert finished
    return destination


def fail_on(*poison: int) -> Callable[[list[dict[str, Any]], int], Any]:
    def respond(batch: list[dict[str, Any]], call: int) -> Any:
        bad = set(seqs(batch)) & set(poison)
        if bad:
            raise ValueError(f"poison record(s) {sorted(bad)}")
        return None

    return respond


# --- partial batch responses ---------------------------------------------------------------


def test_failure_index_follows_lambdas_partial_batch_rules() -> None:
    batch = [record(n) for n in range(5)]
    assert failure_index(None, batch) is None
    assert failure_index({}, batch) is None
    assert failure_index({"batchItemFailures": []}, batch) is None
    assert (
        failure_index({"batchItemFailures": [{"itemIdentifier": "1003"}, {"itemIdentifier": "1001"}]}, batch)
        == 1
    )
    assert failure_index({"batchItemFailures": [{"itemIdentifier": "9999"}]}, batch) == BAD_RESPONSE
    assert failure_index({"batchItemFailures": [{"itemIdentifier": ""}]}, batch) == BAD_RESPONSE
    assert failure_index({"batchItemFailures": [{"itemIdentifier": None}]}, batch) == BAD_RESPONSE
    assert failure_index({"batchItemFailures": [{"id": "1001"}]}, batch) == BAD_RESPONSE
    assert failure_index({"batchItemFailures": "1001"}, batch) == BAD_RESPONSE
    assert failure_index("ok", batch) == BAD_RESPONSE


def test_partial_failure_retries_from_the_first_failed_record_only() -> None:
    def respond(batch: list[dict[str, Any]], call: int) -> Any:
        if call == 1:  # records 3 and 6 failed; 0-2 are done
            return {
                "batchItemFailures": [
                    {"itemIdentifier": str(BASE_SEQ + 6)},
                    {"itemIdentifier": str(BASE_SEQ + 3)},
                ]
            }
        return {"batchItemFailures": []}

    handler = Recorder(respond)
    destination = run_deliver(
        [record(n) for n in range(8)], handler, MappingConfig(report_item_failures=True, max_retries=5)
    )
    assert handler.batches == [list(range(8)), [3, 4, 5, 6, 7]]
    assert destination.sent == []


def test_item_failures_are_ignored_unless_the_mapping_reports_them() -> None:
    handler = Recorder(lambda batch, call: {"batchItemFailures": [{"itemIdentifier": str(BASE_SEQ)}]})
    run_deliver([record(n) for n in range(3)], handler, MappingConfig(report_item_failures=False))
    assert handler.batches == [[0, 1, 2]]


def test_a_malformed_partial_response_fails_and_retries_the_whole_batch() -> None:
    handler = Recorder(
        lambda batch, call: {"batchItemFailures": [{"itemIdentifier": "nope"}]} if call == 1 else None
    )
    run_deliver(
        [record(n) for n in range(3)], handler, MappingConfig(report_item_failures=True, max_retries=3)
    )
    assert handler.batches == [[0, 1, 2], [0, 1, 2]]


# --- retries, destination, bisection -------------------------------------------------------


def test_retries_are_bounded_then_the_batch_goes_to_the_on_failure_destination() -> None:
    handler = Recorder(fail_on(2))
    destination = run_deliver([record(n) for n in range(4)], handler, MappingConfig(max_retries=2))
    assert handler.batches == [[0, 1, 2, 3]] * 3  # the first try and two retries
    [(sent, condition, count, error)] = destination.sent
    assert (sent, condition, count) == ([0, 1, 2, 3], "RetryAttemptsExhausted", 3)
    assert error is not None and "ValueError: poison" in error


def test_zero_retries_means_one_invocation() -> None:
    handler = Recorder(fail_on(0))
    destination = run_deliver([record(0)], handler, MappingConfig(max_retries=0))
    assert handler.batches == [[0]]
    assert destination.sent[0][0] == [0]


def test_partial_failures_count_as_retries_and_end_in_the_destination() -> None:
    handler = Recorder(lambda batch, call: {"batchItemFailures": [{"itemIdentifier": str(BASE_SEQ + 2)}]})
    destination = run_deliver(
        [record(n) for n in range(4)], handler, MappingConfig(report_item_failures=True, max_retries=1)
    )
    assert handler.batches == [[0, 1, 2, 3], [2, 3]]
    assert destination.sent[0][:2] == ([2, 3], "RetryAttemptsExhausted")


def test_bisection_isolates_the_poison_record_and_delivers_the_rest_once() -> None:
    handler = Recorder(fail_on(5))
    destination = run_deliver(
        [record(n) for n in range(8)], handler, MappingConfig(bisect_on_error=True, max_retries=1)
    )
    succeeded = [batch for batch in handler.batches if 5 not in batch]
    assert sorted(n for batch in succeeded for n in batch) == [0, 1, 2, 3, 4, 6, 7]
    assert handler.batches == [
        [0, 1, 2, 3, 4, 5, 6, 7],
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [4, 5],
        [4],
        [5],
        [5],
        [6, 7],
    ]  # halves in order; splitting is not a retry, the lone record gets one retry
    assert destination.sent == [([5], "RetryAttemptsExhausted", 2, destination.sent[0][3])]


def test_without_bisection_a_function_error_retries_the_same_batch() -> None:
    def respond(batch: list[dict[str, Any]], call: int) -> Any:
        if call < 3:
            raise RuntimeError("transient")
        return None

    handler = Recorder(respond)
    destination = run_deliver([record(n) for n in range(3)], handler, MappingConfig(max_retries=5))
    assert handler.batches == [[0, 1, 2]] * 3
    assert destination.sent == []


def test_unbounded_retries_stop_when_the_pump_stops() -> None:
    stop = threading.Event()

    def respond(batch: list[dict[str, Any]], call: int) -> Any:
        if call == 4:
            stop.set()
        raise RuntimeError("always")

    handler = Recorder(respond)
    destination = Destination()
    finished = deliver(
        [record(0)],
        invoke=LambdaFunction.of(handler).invoke,
        config=MappingConfig(),
        on_failure=destination,
        stop=stop,
        backoff=lambda attempt: 0.0,
    )
    assert finished is False and len(handler.batches) == 4 and destination.sent == []


def test_records_past_the_maximum_age_go_to_the_destination_undelivered() -> None:
    now = 1_000_000.0
    records = [record(0, created=now - 120), record(1, created=now - 90), record(2, created=now - 5)]
    handler = Recorder()
    destination = run_deliver(records, handler, MappingConfig(max_record_age=60), wall_clock=lambda: now)
    assert handler.batches == [[2]]
    assert destination.sent == [([0, 1], "RecordAgeExceeded", 0, None)]


def test_a_handler_running_past_its_timeout_is_a_function_error() -> None:
    ticks = itertools.count(step=100)
    function = LambdaFunction.of(lambda event, context: None, timeout=30, clock=lambda: float(next(ticks)))
    result = function.invoke({"Records": []})
    assert not result.ok and result.error_type == "TimeoutError"


# --- reading: batching, filters, order ----------------------------------------------------


class SteppingClock:
    """Advances by ``step`` every time it is read: deterministic batching windows."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def run_worker(
    reader: FakeReader,
    config: MappingConfig,
    *,
    shard: str = "s1",
    clock: Callable[[], float] = time.monotonic,
    position: str = "TRIM_HORIZON",
    until: int,
) -> list[list[int]]:
    batches: list[list[int]] = []
    stop = threading.Event()

    def handle(batch: list[dict[str, Any]]) -> bool:
        batches.append(seqs(batch))
        if sum(len(b) for b in batches) >= until:
            stop.set()
        return True

    worker = ShardWorker(
        Shard(shard), reader, config, handle, stop, position=position, poll_interval=0.0, clock=clock
    )
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    thread.join(10)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    return batches


def test_batches_hold_at_most_batch_size_records_in_order() -> None:
    reader = FakeReader({"s1": [record(n) for n in range(250)]})
    batches = run_worker(reader, MappingConfig(batch_size=100), until=250)
    assert [len(b) for b in batches] == [100, 100, 50]
    assert [n for b in batches for n in b] == list(range(250))


def test_the_batching_window_gathers_records_until_it_expires() -> None:
    # Each read returns 3 records and the clock moves 0.3 s per look: with a 1 s
    # window a batch gathers reads until the window has passed, not one read.
    reader = FakeReader({"s1": [record(n) for n in range(30)]}, chunk=3)
    batches = run_worker(
        reader, MappingConfig(batch_size=100, batching_window=1.0), clock=SteppingClock(0.3), until=30
    )
    assert all(len(b) > 3 for b in batches[:-1]), batches
    assert [n for b in batches for n in b] == list(range(30))


def test_without_a_window_each_read_is_delivered_at_once() -> None:
    reader = FakeReader({"s1": [record(n) for n in range(9)]}, chunk=3)
    batches = run_worker(reader, MappingConfig(batch_size=100, batching_window=0.0), until=9)
    assert batches == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]


def test_filtered_records_are_dropped_and_do_not_count_toward_the_batch_size() -> None:
    records = [record(n, "REMOVE" if n % 2 else "INSERT") for n in range(10)]
    reader = FakeReader({"s1": records})
    config = MappingConfig(
        batch_size=3, batching_window=1.0, passes=compile_filters(['{"eventName": ["INSERT", "MODIFY"]}'])
    )
    batches = run_worker(reader, config, clock=SteppingClock(0.01), until=5)
    # The first read (limit 3) keeps two records; the batch is filled by reading on.
    assert batches == [[0, 2, 4], [6, 8]]


def test_latest_skips_what_was_in_the_stream_before_the_mapping_started() -> None:
    reader = FakeReader({"s1": [record(n) for n in range(3)]})
    stop = threading.Event()
    seen: list[list[int]] = []
    worker = ShardWorker(
        Shard("s1"),
        reader,
        MappingConfig(),
        lambda b: seen.append(seqs(b)) or True,
        stop,
        position="LATEST",
        poll_interval=0.01,
    )
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    time.sleep(0.1)
    reader.data["s1"].append(record(3))
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(5)
    assert seen == [[3]]


def test_each_shard_is_delivered_in_order_one_batch_at_a_time_and_children_after_parents() -> None:
    shards = {
        "parent": [record(n) for n in range(0, 40)],
        "child": [record(n) for n in range(100, 130)],
        "other": [record(n) for n in range(200, 260)],
    }
    reader = FakeReader(shards, parents={"child": "parent"}, closed={"parent"}, chunk=7)
    in_flight: dict[str, int] = {}
    overlap: list[str] = []
    order: list[int] = []
    lock = threading.Lock()

    def respond(batch: list[dict[str, Any]], call: int) -> Any:
        shard = {0: "parent", 1: "child", 2: "other"}[seqs(batch)[0] // 100]
        with lock:
            in_flight[shard] = in_flight.get(shard, 0) + 1
            if in_flight[shard] > 1:
                overlap.append(shard)
            order.extend(seqs(batch))
        time.sleep(0.005)
        with lock:
            in_flight[shard] -= 1
        return None

    handler = Recorder(respond)
    stop = threading.Event()
    pump = StreamPump(
        "Test",
        reader,
        MappingConfig(batch_size=10),
        LambdaFunction.of(handler).invoke,
        lambda *args: None,
        stop,
        poll_interval=0.01,
        rescan_interval=0.05,
    )
    pump.start()
    deadline = time.monotonic() + 20
    while len(order) < 130 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    assert pump.join(5) == []
    assert overlap == []
    for low in (0, 100, 200):
        mine = [n for n in order if low <= n < low + 100]
        assert mine == sorted(mine) and len(mine) == len(
            shards[{0: "parent", 100: "child", 200: "other"}[low]]
        )
    assert max(order.index(n) for n in range(40)) < min(order.index(n) for n in range(100, 130))
    assert all(len(batch) <= 10 for batch in handler.batches)
    assert pump.stats.delivered == 130 and pump.stats.given_up == 0


def test_pump_sends_given_up_records_with_their_shard() -> None:
    reader = FakeReader({"s1": [record(n) for n in range(3)]})
    sent: list[tuple[str, list[int], str]] = []
    stop = threading.Event()
    pump = StreamPump(
        "Test",
        reader,
        MappingConfig(max_retries=0, batch_size=10),
        LambdaFunction.of(Recorder(fail_on(1))).invoke,
        lambda shard, records, condition, count, error: sent.append((shard, seqs(records), condition)),
        stop,
        poll_interval=0.01,
    )
    pump.start()
    deadline = time.monotonic() + 10
    while not sent and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    assert pump.join(5) == []
    assert sent == [("s1", [0, 1, 2], "RetryAttemptsExhausted")]


# --- shapes ----------------------------------------------------------------------------------


def test_lambda_record_matches_the_event_lambda_delivers() -> None:
    raw = {
        "eventID": "abc",
        "eventName": "MODIFY",
        "eventVersion": "1.0",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime(2026, 11, 22, 10, 0, tzinfo=UTC),
            "Keys": {"pk": {"S": "t#c1"}},
            "NewImage": {
                "pk": {"S": "t#c1"},
                "blob": {"B": b"\x00\x01"},
                "bs": {"BS": [b"a"]},
                "m": {"M": {"n": {"N": "1"}, "b": {"B": b"z"}}},
            },
            "SequenceNumber": "42",
            "SizeBytes": 9,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    shaped = lambda_record(raw, STREAM, "eu-west-1")
    assert shaped["eventSourceARN"] == STREAM
    assert (
        shaped["dynamodb"]["ApproximateCreationDateTime"]
        == datetime(2026, 11, 22, 10, 0, tzinfo=UTC).timestamp()
    )
    image = shaped["dynamodb"]["NewImage"]
    assert image["blob"] == {"B": "AAE="} and image["bs"] == {"BS": ["YQ=="]}
    assert image["m"]["M"]["b"] == {"B": "eg=="} and image["m"]["M"]["n"] == {"N": "1"}


def test_failure_message_has_lambdas_stream_batch_info() -> None:
    records = [record(3, created=1_700_000_000.0), record(4, created=1_700_000_001.0)]
    message = failure_message(
        function_arn="arn:fn",
        stream_arn=STREAM,
        shard_id="s1",
        records=records,
        condition="RetryAttemptsExhausted",
        invoke_count=6,
        error="ValueError: x",
    )
    info = message["DDBStreamBatchInfo"]
    assert info == {
        "shardId": "s1",
        "startSequenceNumber": "1003",
        "endSequenceNumber": "1004",
        "approximateArrivalOfFirstRecord": "2023-11-14T22:13:20Z",
        "approximateArrivalOfLastRecord": "2023-11-14T22:13:21Z",
        "batchSize": 2,
        "streamArn": STREAM,
    }
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 6
    assert message["responseContext"]["functionError"] == "Unhandled"


def test_mapping_settings_come_from_template_yaml() -> None:
    app = load_app(load_template())
    by_name = {(s.function, s.name): s for s in app.streams}
    contacts = by_name[("StreamEvaluatorFunction", "ContactChanges")]
    declared = load_template()["Resources"]["StreamEvaluatorFunction"]["Properties"]["Events"][
        "ContactChanges"
    ]
    props = declared["Properties"]
    config = MappingConfig.from_source(contacts)
    assert config.batch_size == props["BatchSize"]
    assert config.batching_window == props["MaximumBatchingWindowInSeconds"]
    assert config.max_retries == props["MaximumRetryAttempts"]
    assert config.bisect_on_error is props["BisectBatchOnFunctionError"]
    assert config.report_item_failures is ("ReportBatchItemFailures" in props["FunctionResponseTypes"])
    assert contacts.table == "ContactsTable"
    assert contacts.on_failure == {"Fn::GetAtt": ["StreamFailureQueue", "Arn"]}
    for source in app.streams:
        filtered = MappingConfig.from_source(source).passes
        if source.filters:
            assert not filtered(record(0, "REMOVE")) and filtered(record(0, "MODIFY"))


def test_unknown_mapping_properties_are_refused_not_ignored() -> None:
    template = load_template()
    events = template["Resources"]["StreamEvaluatorFunction"]["Properties"]["Events"]
    events["ContactChanges"]["Properties"]["StartingPositionTimestamp"] = 30
    with pytest.raises(ValueError, match="StartingPositionTimestamp"):
        load_app(template)


def test_the_copy_functions_mappings_have_tumbling_windows_and_bad_ones_are_refused() -> None:
    template = load_template()
    copies = [source for source in load_app(template).streams if source.function == "CopyFunction"]
    assert [source.tumbling_window for source in copies] == [300, 300]
    events = template["Resources"]["CopyFunction"]["Properties"]["Events"]
    events["ContactCopies"]["Properties"]["TumblingWindowInSeconds"] = 901
    with pytest.raises(ValueError, match="TumblingWindowInSeconds: expected 0 to 900"):
        load_app(template)


def test_a_tumbling_window_call_carries_its_shard_window_and_state() -> None:
    seen: list[dict[str, Any]] = []

    def counting(event: dict[str, Any], context: Any) -> Any:
        seen.append(event)
        return {"state": {"calls": event["state"].get("calls", 0) + 1}, "batchItemFailures": []}

    call = windowed(LambdaFunction.of(counting).invoke, "shard-1", STREAM, 60)
    for created in (1_800_000_000.5, 1_800_000_030.0, 1_800_000_061.0):  # two in one window, then the next
        assert call({"Records": [record(1, created=created)]}).ok
    assert [event["state"] for event in seen] == [{}, {"calls": 1}, {}]
    assert {(event["shardId"], event["eventSourceARN"]) for event in seen} == {("shard-1", STREAM)}
    assert seen[0]["window"] == {"start": "2027-01-15T08:00:00Z", "end": "2027-01-15T08:01:00Z"}
    assert not any(event["isFinalInvokeForWindow"] or event["isWindowTerminatedEarly"] for event in seen)


def test_a_tumbling_window_response_without_state_is_a_failed_call() -> None:
    stateless = LambdaFunction.of(lambda event, context: {"batchItemFailures": []})
    call = windowed(stateless.invoke, "s", STREAM, 60)
    result = call({"Records": [record(1)]})
    assert not result.ok and "no state" in (result.error or "")


# --- lazy handlers ---------------------------------------------------------------------------


def test_a_handler_module_that_does_not_exist_is_reported_once_and_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    function = LambdaFunction(
        FunctionSpec("Later", "growthos_segments.handlers.not_written_yet.handler", 30, 128, {}), "us-east-1"
    )
    with caplog.at_level(logging.WARNING, logger="growthos_segments.devstack"):
        assert function.available() is False
        assert function.available() is False
        result = function.invoke({"Records": [record(0)]})
    assert [r.getMessage() for r in caplog.records].count(
        "Later: handler module growthos_segments.handlers.not_written_yet is not written yet;"
        " its triggers are skipped"
    ) == 1
    assert not result.ok and result.error_type == "Unavailable"


def test_handlers_are_loaded_by_their_template_path() -> None:
    spec = FunctionSpec("Api", "growthos_segments.handlers.api.handler", 29, 512, {})
    function = LambdaFunction(spec, "us-east-1")
    assert function.available() is True


def test_stats_count_what_happened() -> None:
    stats = DeliveryStats()
    handler = Recorder(fail_on(1))
    deliver(
        [record(n) for n in range(4)],
        invoke=LambdaFunction.of(handler).invoke,
        config=MappingConfig(bisect_on_error=True, max_retries=0),
        on_failure=Destination(),
        stats=stats,
        backoff=lambda attempt: 0.0,
    )
    assert (stats.delivered, stats.given_up) == (3, 1)
    assert stats.invocations == len(handler.batches)


def test_invocation_errors_carry_the_exception() -> None:
    def boom(event: Any, context: Any) -> Any:
        raise KeyError("pk")

    result: Invocation = LambdaFunction.of(boom).invoke({})
    assert result.error_type == "KeyError" and "pk" in (result.error or "")


def test_a_stopping_stack_leaves_a_running_invocation_no_time() -> None:
    """Handlers that watch their budget wind down on Ctrl-C as before a time-out."""
    stop = threading.Event()
    seen: list[int] = []

    def watches_its_budget(event: Any, context: Any) -> int:
        seen.append(context.get_remaining_time_in_millis())
        stop.set()  # the stack is told to stop while the function runs
        seen.append(context.get_remaining_time_in_millis())
        return len(seen)

    assert LambdaFunction.of(watches_its_budget, timeout=60, stop=stop).invoke({}).ok
    assert seen[0] > 50_000 and seen[1] == 0


def test_an_expired_iterator_is_reopened_after_the_last_record_read() -> None:
    from growthos_segments.devstack.pump import IteratorExpired

    class Expiring(FakeReader):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.opened: list[str | None] = []

        def iterator(self, shard_id: str, position: str, sequence: str | None = None) -> str:
            self.opened.append(sequence)
            return super().iterator(shard_id, position, sequence)

        def read(self, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
            if self.reads == 2:  # the third read finds its iterator forgotten
                self.reads += 1
                raise IteratorExpired("500")
            return super().read(iterator, limit)

    reader = Expiring({"s1": [record(n) for n in range(9)]}, chunk=3)
    batches = run_worker(reader, MappingConfig(batch_size=100), until=9)
    assert [n for b in batches for n in b] == list(range(9))  # nothing lost, nothing twice
    assert reader.opened == [None, str(BASE_SEQ + 5)]


def test_filter_patterns_cover_the_operators_lambda_supports() -> None:
    def passes(pattern: dict[str, Any], value: dict[str, Any]) -> bool:
        return compile_filters([json.dumps(pattern)])(value)

    assert passes({"eventName": ["INSERT"]}, {"eventName": "INSERT"})
    assert not passes({"eventName": ["INSERT"]}, {"eventName": "REMOVE"})
    assert passes(
        {"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "t1#"}]}}}},
        {"dynamodb": {"Keys": {"pk": {"S": "t1#c"}}}},
    )
    assert not passes({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "t1#"}]}}}}, {"dynamodb": {}})
    assert passes({"eventName": [{"anything-but": ["REMOVE"]}]}, {"eventName": "MODIFY"})
    assert passes({"x": [{"exists": False}]}, {"y": 1}) and not passes({"x": [{"exists": False}]}, {"x": 1})
    assert passes({"x": [{"exists": True}]}, {"x": 0})
    assert passes({"n": [{"numeric": [">", 1, "<=", 5]}]}, {"n": 5}) and not passes(
        {"n": [{"numeric": [">", 1]}]}, {"n": True}
    )
    assert not passes({"flag": [1]}, {"flag": True})  # JSON booleans are not numbers
    assert passes({"tags": ["vip"]}, {"tags": ["new", "vip"]})
    with pytest.raises(ValueError, match="not supported"):
        compile_filters(['{"x": [{"wildcard": "a*"}]}'])
