"""Ingestion on the local stack: over HTTP (batches of 100 contacts, of 500 events) and over the event bus.

The stack runs in this process (as ``bench_api`` runs it: the minute scheduler
paused, so the figures are the ingest path's), with the demo tenant's 16 segments
saved, so the stream evaluator evaluates every write while the batches arrive, on
the same two cores. Each path has its own functions.

Over HTTP, every call goes through the local API Gateway front and the real
authorizer. A figure is items stored per second of wall time over the whole run,
and the DynamoDB requests one batch cost (counted on the API function's client).

Over the bus, another module's path end to end: PutEvents (10 entries a request)
on the stack's bus -> IngestRule -> IngestQueue -> IngestFunction, polled as Lambda
polls (10 messages a receive locally) -> tables. Its figures come first, on an idle
pipeline. Latency: for one new contact at a time, from the PutEvents of its profile
and its event to its ``Segment Entered`` received on a subscription of the bus (a
rule and a queue, as any consumer has). Throughput: messages per second of wall
time from the first PutEvents until the ingest queue is empty (ingested), and until
the evaluator and the notifier have been idle for three seconds (evaluated: every
transition those writes cause is on the bus).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.support import api_call
from benchmarks.timing import percentiles_ms, row

CONTACT_BATCHES = 20
EVENT_BATCHES = 10
NAMES = ("email.opened", "email.clicked", "order.completed", "app.login", "nudge.dismissed")
MESSAGES = 300
LATENCY_MESSAGES = 50
TENANT = "demo"
"""The tenant the bus figures write (its demo segments include ``completed_onboarding``)."""


def _ingest(base: str, route: str, batches: list[list[dict[str, Any]]], again: str) -> None:
    """The batches once (every item ``created``), then again (every item ``again``): items per
    second and the DynamoDB requests of one batch (the last; counted on the API's client)."""
    from growthos_segments.handlers.api_wiring import service

    counter, items = service().repos.requests, sum(map(len, batches))
    for label, expected in (("new", "created"), ("re-sent", again)):
        statuses: dict[str, int] = {}
        started = time.perf_counter()
        for batch in batches:
            with counter.measure() as tally:
                status, body = api_call(base, "POST", route, {"items": batch})
            assert status == 200, body
            for result in body["results"]:
                statuses[result["status"]] = statuses.get(result["status"], 0) + 1
        rate = items / (time.perf_counter() - started)
        assert statuses == {expected: items}, statuses
        row(f"POST {route}, batches of {len(batches[0])}, {label} ({items:,})", f"{rate:,.0f} /s",
            f"{tally.total} DynamoDB requests per batch")


def contacts_over_http(base: str) -> None:
    """New contacts, then the same batches again (``unchanged``: one read, no write)."""
    batches = [[{"contact_id": f"bench-{b}-{i}", "attributes": {"plan": ("pro", "free")[i % 2],
                                                                   "email": f"b{b}i{i}@bench.io"},
                 "custom": {"lead_score": i}, "tags": {"add": ["bench"]}, "scores": {"nps": i % 11}}
                for i in range(100)] for b in range(CONTACT_BATCHES)]
    _ingest(base, "/contacts", batches, "unchanged")


def events_over_http(base: str) -> None:
    """New events of the contacts above, then the same batches again (``duplicate``)."""
    now = datetime.now(UTC)
    batches = [[{"event_id": f"bench-{b}-{i}", "contact_id": f"bench-{b % CONTACT_BATCHES}-{i % 100}",
                 "name": NAMES[i % len(NAMES)], "at": (now - timedelta(minutes=i)).isoformat()}
                for i in range(500)] for b in range(EVENT_BATCHES)]
    _ingest(base, "/events", batches, "duplicate")


def _put(events: Any, bus: str, entries: list[tuple[str, str, dict[str, Any]]]) -> None:
    for start in range(0, len(entries), 10):
        answer = events.put_events(Entries=[
            {"Source": source, "DetailType": kind, "Detail": json.dumps({"tenant_id": TENANT, **detail}),
             "EventBusName": bus} for source, kind, detail in entries[start:start + 10]])
        assert answer["FailedEntryCount"] == 0, answer


def _drained(sqs: Any, queue_url: str, timeout: float = 600.0) -> None:
    """Returns when the queue holds no message, visible or in flight."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
        if all(attributes[name] == "0" for name in names):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{queue_url} still holds messages after {timeout:.0f} s")


def _settled(functions: list[Any], quiet: float = 3.0, timeout: float = 900.0) -> None:
    """Returns once none of ``functions`` has run for ``quiet`` seconds (the stream pumps poll
    four times a second, so a backlog keeps the evaluator or the notifier busy)."""
    deadline, idle_since = time.monotonic() + timeout, time.monotonic()
    while time.monotonic() < deadline:
        if any(function.busy for function in functions):
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= quiet:
            return
        time.sleep(0.02)
    raise TimeoutError(f"still evaluating after {timeout:.0f} s")


def messages_over_the_bus(stack: Any, clients: dict[str, Any]) -> None:
    """New contacts, then one event each (all contacts stored: checked)."""
    from growthos_segments.infra.repos import build_repositories

    settings, queue_url = stack.settings, stack.resolver.ref("IngestQueue", "bench")
    pipeline = [stack.functions[name] for name in ("StreamEvaluatorFunction", "NotifierFunction")]
    bus, now = settings.event_bus_name, datetime.now(UTC)
    ids = [f"bus-bench-{i}" for i in range(MESSAGES)]
    contacts = [("growthos.crm", "Contact Upserted",
                 {"contact": {"contact_id": cid, "attributes": {"plan": ("pro", "free")[i % 2]},
                              "tags": {"add": ["bus"]}}}) for i, cid in enumerate(ids)]
    events = [("growthos.email", "Event Recorded",
               {"event": {"event_id": f"bus-bench-open-{i}", "contact_id": cid, "action": "opened",
                          "at": now.isoformat()}}) for i, cid in enumerate(ids)]
    for label, entries in (("Contact Upserted", contacts), ("Event Recorded", events)):
        started = time.perf_counter()
        _put(clients["events"], bus, entries)
        _drained(clients["sqs"], queue_url)
        ingested = time.perf_counter() - started
        _settled(pipeline)
        evaluated = time.perf_counter() - started - 3.0  # the quiet time that told it is not work
        row(f"bus -> IngestFunction, {label} ({len(entries):,} messages)",
            f"{len(entries) / ingested:,.1f} /s", "PutEvents to an empty ingest queue")
        row("  ... and evaluated (evaluator and notifier idle again)",
            f"{len(entries) / evaluated:,.1f} /s", "the same messages, to the last transition")
    stored = build_repositories(settings).contacts.profiles(TENANT, ids)
    assert len(stored) == MESSAGES, f"{len(stored)} of {MESSAGES} contacts stored"


def _entered(sqs: Any, queue_url: str, timeout: float = 120.0) -> Iterator[str]:
    """Contact ids of Segment Entered events as they arrive on the subscription."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=1).get("Messages", [])
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            yield json.loads(message["Body"])["detail"]["contact_id"]
    raise TimeoutError(f"no Segment Entered within {timeout:.0f} s")


def bus_to_segment_entered(settings: Any, clients: dict[str, Any]) -> None:
    """A new contact and its ``onboarding.completed`` in one PutEvents, one contact at a time,
    until its Segment Entered (``completed_onboarding``) arrives."""
    from growthos_segments.devstack.bus import SEGMENT_EVENTS, subscribe

    events, sqs, bus = clients["events"], clients["sqs"], settings.event_bus_name
    pattern = {**SEGMENT_EVENTS, "detail": {"tenant_id": [TENANT], "segment_id": ["completed_onboarding"]}}
    subscription = subscribe(events, sqs, bus, "bench-bus-onboarded", pattern)
    samples = []
    try:
        for n in range(LATENCY_MESSAGES):
            contact_id = f"bus-bench-onboarded-{n}"
            event = {"event_id": contact_id, "contact_id": contact_id, "action": "completed",
                     "at": datetime.now(UTC).isoformat()}
            started = time.perf_counter()
            _put(events, bus, [("growthos.crm", "Contact Upserted", {"contact": {"contact_id": contact_id}}),
                               ("growthos.onboarding", "Event Recorded", {"event": event})])
            for entered in _entered(sqs, subscription.queue_url):
                if entered == contact_id:
                    break
            samples.append(time.perf_counter() - started)
    finally:
        subscription.close(events, sqs)
    p50, p99 = percentiles_ms(samples)
    row(f"bus message -> Segment Entered on the bus ({len(samples)} contacts, one at a time)",
        f"{p50:,.0f} / {p99:,.0f} ms", "p50 / p99")


def main() -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        os.environ.setdefault(name, value)
    logging.getLogger("infra").setLevel(logging.WARNING)
    from growthos_segments.devstack.stack import LocalStack, Options
    from growthos_segments.infra import aws

    environment = dict(os.environ)  # the stack points this process's AWS clients at its moto server
    options = Options(port=0, moto_port=0, prefix="benchingest", handler_log_level="ERROR",
                      tenants=(("demo", 200),))
    stack = LocalStack(options, emit=lambda _: None)
    stack.app = replace(stack.app, schedules=())
    stack.start()
    try:
        assert stack.front is not None and stack.settings is not None
        clients = {name: aws.client(name, stack.settings) for name in ("events", "sqs")}
        bus_to_segment_entered(stack.settings, clients)  # first: an idle pipeline
        messages_over_the_bus(stack, clients)
        contacts_over_http(stack.front.url)
        events_over_http(stack.front.url)
        dead = stack.resolver.ref("IngestDeadLetterQueue", "bench")
        held = clients["sqs"].get_queue_attributes(QueueUrl=dead,
                                                   AttributeNames=["ApproximateNumberOfMessages"])
        row("bus messages dead-lettered", held["Attributes"]["ApproximateNumberOfMessages"], "0")
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(environment)


if __name__ == "__main__":
    main()
