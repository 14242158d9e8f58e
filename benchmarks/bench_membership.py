"""Real-time membership: requests per change, evaluator throughput, write-to-event latency.

A tenant of :data:`CONTACTS` contacts with 100 segments, in moto in-process
(tuned as the local stack runs it); every measured change is to a different
contact, as real traffic is (a contact evaluated twice in a row is faster than
real traffic: its timestamps are already parsed). Contacts are evaluated once
before they are changed, so each stream record meets the stored state a
running deployment would have.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.support import moto_in_process
from benchmarks.timing import percentiles_ms, row

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CONTACTS = 3000
CASES = (0, 10)
"""First contact of each run of requests-per-change cases (each case changes its own contact)."""
STREAMS = (range(100, 300), range(300, 500))
"""The contacts of each throughput figure: one stream record each, none shared."""
READS = ("GetItem", "Query", "BatchGetItem", "Scan")
WRITES = ("TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem")
ROOT = Path(__file__).resolve().parents[1]


def segments_100() -> list[tuple[str, dict[str, Any]]]:
    """A hundred typical segments: attribute rules, email engagement, events, scores, RFM."""
    out: list[tuple[str, dict[str, Any]]] = []
    for i in range(100):
        kind = i % 5
        if kind == 0:
            rule: dict[str, Any] = {"and": [
                {"attribute": {"field": "plan", "op": "equals", "value": "pro" if i % 2 else "free"}},
                {"attribute": {"field": "country", "op": "in", "values": ["GB", "IE", f"X{i}"]}},
                {"attribute": {"field": "signup_date", "op": "within_last", "amount": 30 + i,
                               "unit": "days"}},
                {"!": {"suppression": {"flag": "unsubscribed"}}},
            ]}
        elif kind == 1:
            rule = {"and": [{"email": {"action": "opened", "min_count": 1 + i % 4, "within": f"{20 + i}d"}},
                            {"email": {"action": "clicked", "min_count": 1, "within": "30d"}}]}
        elif kind == 2:
            rule = {"event": {"name": "order.completed", "min_count": 1 + i % 3, "within": f"{60 + i}d"}}
        elif kind == 3:
            rule = {"score": {"name": "lead", "gte": i}}  # thresholds 3, 8, 13 ... 98
        else:
            rule = {"and": [{"score": {"name": "nps", "gte": i % 11}},
                            {"rfm_recency": {"older_than": f"{i}d"}}]}
        out.append((f"s{i:03d}", rule))
    return out


def contact_doc(n: int) -> dict[str, Any]:
    return {
        "tenant_id": "t1", "contact_id": f"c{n:04d}",
        "attributes": {"plan": "free" if n % 3 else "pro", "country": "GB" if n % 2 else "US",
                       "signup_date": (NOW - timedelta(days=n % 90)).date().isoformat()},
        "scores": {"lead": (n * 7) % 100, "nps": n % 11},
        "suppression": {"unsubscribed": False},
    }


def seed_events(n: int) -> list[dict[str, Any]]:
    cid = f"c{n:04d}"
    events = []
    for k in range(n % 4):
        events.append({"tenant_id": "t1", "contact_id": cid, "name": "email.opened",
                       "at": NOW - timedelta(days=3 * k + 1), "properties": {"campaign_id": "cmp"}})
    if n % 5 == 0:
        events.append({"tenant_id": "t1", "contact_id": cid, "name": "order.completed",
                       "at": NOW - timedelta(days=40), "properties": {"amount": 30}})
    return events


@contextmanager
def deployment(contacts: int = CONTACTS) -> Iterator[Any]:
    """The tenant, its segments, contacts and events in moto in-process; yields the
    repositories and a function that builds an evaluation service over them."""
    from growthos_segments.core.ports import SegmentRecord
    from growthos_segments.devstack.template import create_tables
    from growthos_segments.handlers.wiring import build_service
    from growthos_segments.infra.repos import build_repositories
    from growthos_segments.infra.settings import Settings

    with moto_in_process():
        settings = Settings.local("benchrt", segment_cache_seconds=3600)
        repos = build_repositories(settings)
        create_tables(settings, repos.client)
        for sid, rule in segments_100():
            repos.segments.save(SegmentRecord("t1", sid, sid, rule), now=NOW)
        repos.contacts.put_many([contact_doc(n) for n in range(contacts)], now=NOW)
        repos.events.append_many(e for n in range(contacts) for e in seed_events(n))

        def service(confirm_unchanged: bool = False) -> Any:
            return build_service(settings, repos=repos, clock=lambda: NOW,
                                 confirm_unchanged=confirm_unchanged)

        yield repos, service


def settle(service: Any, numbers: range) -> None:
    """Evaluate these contacts for every segment: the state a running deployment is in."""
    segments = service.segments.for_tenant("t1")
    ids = [f"c{n:04d}" for n in numbers]
    for start in range(0, len(ids), 100):
        service.engine.evaluate_many("t1", ids[start:start + 100], only=list(segments.index.order),
                                     segments=segments)


def record(
    table: str, name: str, keys: dict[str, Any], old: Any = None, new: Any = None, seq: int = 0
) -> Any:
    """A stream record in Lambda's shape (what the pump hands the handler)."""
    body: dict[str, Any] = {"Keys": keys, "SequenceNumber": str(seq)}
    if old is not None:
        body["OldImage"] = old
    if new is not None:
        body["NewImage"] = new
    return {"eventName": name, "eventSourceARN": f"arn:aws:dynamodb:us-east-1:1:table/{table}/stream/x",
            "dynamodb": body}


def image(doc: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {k: serializer.serialize(v) for k, v in json.loads(json.dumps(doc), parse_float=str).items()
            if k in ("attributes", "scores", "tags", "suppression")}


def change_cost(repos: Any, evaluator: Any, records: list[Any]) -> tuple[int, int, int]:
    with repos.requests.measure() as tally:
        result = evaluator.evaluate_batch(records)
    assert not result.failed, result.failed
    reads = sum(tally.by_operation[op] for op in READS)
    writes = sum(tally.by_operation[op] for op in WRITES)
    return reads, writes, sum(o.transitions for o in result.outcomes)


def _change_cases(repos: Any, first: int) -> list[tuple[str, Callable[[], Any]]]:
    """Each case writes one change to its own contact (between ``first`` and ``first + 9``) and
    returns its stream record."""
    tables = repos.settings.tables

    def profile(n: int, **changes: Any) -> Any:
        doc = contact_doc(n)
        new = json.loads(json.dumps(doc))
        for field, values in changes.items():
            new[field].update(values)
            repos.contacts.patch("t1", doc["contact_id"], **{field: values})
        return record(tables.contacts, "MODIFY", {"pk": {"S": f"t1#{doc['contact_id']}"}},
                      image(doc), image(new), n)

    def event(n: int, name: str) -> Any:
        cid = f"c{n:04d}"
        repos.events.append("t1", cid, name, at=NOW - timedelta(minutes=5))
        return record(tables.events, "INSERT", {"pk": {"S": f"t1#{cid}"}, "sk": {"S": "x"}},
                      new={"name": {"S": name}}, seq=n)

    def new_contact() -> Any:
        doc = {**contact_doc(1), "contact_id": f"new{first}"}
        repos.contacts.put(doc)
        return record(tables.contacts, "INSERT", {"pk": {"S": f"t1#new{first}"}}, new=image(doc))

    return [
        ("country change (20 segments read it), no transition",
         lambda: profile(first + 1, attributes={"country": "IE"})),
        ("email.opened event (20 segments), no transition", lambda: event(first + 3, "email.opened")),
        ("city change (no segment reads it)", lambda: profile(first + 5, attributes={"city": "Leeds"})),
        ("page.viewed event (no segment reads it)", lambda: event(first + 6, "page.viewed")),
        ("lead score change with transitions", lambda: profile(first + 4, scores={"lead": 95})),
        ("new contact (every segment)", new_contact),
    ]


def requests_per_change(repos: Any, service: Any) -> None:
    from growthos_segments.services.stream import StreamEvaluator

    settle(service(), range(CASES[0], CASES[-1] + 10))
    for confirm, first in zip((False, True), CASES, strict=True):
        evaluator = StreamEvaluator(service(confirm_unchanged=confirm))
        cases = _change_cases(repos, first)
        if confirm:
            print("  the same, confirming every unchanged pair (MembershipStore.confirm):")
            cases = cases[:2]
        for text, make in cases:
            reads, writes, transitions = change_cost(repos, evaluator, [make()])
            row(f"    {text}", f"{reads} r / {writes} w", f"{transitions} transition(s)")


def _stream_records(repos: Any, numbers: range, mixed: bool) -> list[Any]:
    """One change per contact: half profile changes, half email opens. ``mixed``: lead
    scores move up 7 points (crossing one or two of the 20 lead thresholds); otherwise the
    profile change is a country change inside every rule's list (no transition)."""
    tables = repos.settings.tables
    records = []
    for n in numbers:
        doc = contact_doc(n)
        cid = doc["contact_id"]
        if n % 2:
            new = json.loads(json.dumps(doc))
            if mixed:
                new["scores"]["lead"] = min(100, doc["scores"]["lead"] + 7)
                repos.contacts.patch("t1", cid, scores={"lead": new["scores"]["lead"]})
            else:
                new["attributes"]["country"] = "IE" if doc["attributes"]["country"] == "GB" else "DE"
                repos.contacts.patch("t1", cid, attributes={"country": new["attributes"]["country"]})
            key = {"pk": {"S": f"t1#{cid}"}}
            records.append(record(tables.contacts, "MODIFY", key, image(doc), image(new), n))
        else:
            repos.events.append("t1", cid, "email.opened", at=NOW - timedelta(minutes=1))
            records.append(record(tables.events, "INSERT", {"pk": {"S": f"t1#{cid}"}, "sk": {"S": "x"}},
                                  new={"name": {"S": "email.opened"}}, seq=n))
    return records


def throughput(repos: Any, service: Any) -> None:
    from growthos_segments.services.stream import StreamEvaluator

    evaluator = StreamEvaluator(service())
    for numbers, mixed in zip(STREAMS, (False, True), strict=True):
        settle(service(), numbers)
        records = _stream_records(repos, numbers, mixed)
        started = time.perf_counter()
        transitions = 0
        for start in range(0, len(records), 100):
            result = evaluator.evaluate_batch(records[start:start + 100])
            transitions += sum(o.transitions for o in result.outcomes)
        elapsed = time.perf_counter() - started
        what = "opens + lead changes" if mixed else "opens + country changes"
        row(f"stream evaluator, moto in-process, 100 segments ({what})",
            f"{len(records) / elapsed:.0f} contacts/s", f"{transitions} transitions")


def evaluation_alone(repos: Any, service: Any, contacts: int = CONTACTS) -> None:
    """Selection through the dependency index, then the compiled set, in memory: each of
    the tenant's contacts once per figure, the timestamp parse cache emptied before each."""
    from growthos_segments.core import timeutil
    from growthos_segments.core.dependencies import Change

    tenant = service().segments.for_tenant("t1")
    ids = [f"c{n:04d}" for n in range(contacts)]
    docs = [doc for start in range(0, contacts, 100) for doc in repos.views.load_views(
        "t1", ids[start:start + 100], now=NOW, lookback=timedelta(days=400)).values() if doc is not None]
    changes = [Change(paths=frozenset({"scores.lead"})), Change.of_event("email.opened")]
    everything = list(tenant.index.order)
    for label, pick in (("affected segments only", lambda n: tenant.index.affected(changes[n % 2])),
                        ("all 100 segments", lambda n: everything)):
        timeutil._parse_text.cache_clear()
        started = time.perf_counter()
        for n, doc in enumerate(docs):
            view = tenant.segments.view(doc, context=tenant.context)
            tenant.segments.evaluate(view, NOW, only=pick(n))
        elapsed = time.perf_counter() - started
        row(f"evaluation alone (no I/O, {len(docs):,} contacts), {label}",
            f"{len(docs) / elapsed:,.0f} contacts/s")


# --------------------------------------------------------------------------- local stack latency


def local_latency(samples: int = 60) -> None:
    from growthos_segments.devstack.stack import READY_MARKER

    prefix = f"benchlat{os.getpid()}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for variable in ("LOCAL_API_PORT", "MOTO_PORT", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(variable, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "growthos_segments.devstack",
         "--port", "0", "--moto-port", "0", "--contacts", str(CONTACTS),
         "--prefix", prefix],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        start_new_session=True,
    )
    try:
        moto = None
        deadline = time.monotonic() + 300
        assert process.stdout is not None
        ready = False
        while time.monotonic() < deadline and not ready:
            line = process.stdout.readline()
            if not line:
                break
            found = re.search(r"moto .*(http://127\.0\.0\.1:\d+)", line)
            moto = found.group(1) if found else moto
            ready = READY_MARKER in line
        if moto is None or not ready:
            row("contact write -> Segment Entered, local stack", "stack did not start")
            return
        threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # type: ignore[union-attr]
        _measure_latency(prefix, moto, samples)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def _measure_latency(prefix: str, moto: str, samples: int) -> None:
    from growthos_segments.infra import aws
    from growthos_segments.infra.repos import build_repositories
    from growthos_segments.infra.settings import Settings

    settings = Settings.local(prefix, endpoint_url=moto)
    repos = build_repositories(settings)
    events, sqs = aws.client("events", settings), aws.client("sqs", settings)
    url = sqs.create_queue(QueueName=f"{prefix}-latency")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["growthos.segments"], "detail-type": ["Segment Entered"],
               "detail": {"tenant_id": ["demo"], "segment_id": ["promoters"]}}  # the template: NPS 9 or 10
    bus = settings.event_bus_name
    events.put_rule(Name="latency", EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="latency", EventBusName=bus, Targets=[{"Id": "latency", "Arn": arn}])
    arrived: dict[str, float] = {}
    stop = threading.Event()

    def receive() -> None:
        while not stop.is_set():
            for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []
            ):
                arrived.setdefault(json.loads(message["Body"])["detail"]["contact_id"], time.perf_counter())
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    receiver = threading.Thread(target=receive, daemon=True)
    receiver.start()
    time.sleep(2.0)  # let the stack finish its first scheduler run
    latencies: list[float] = []
    lost = 0
    for i in range(samples):
        cid = f"lat-{i:03d}"
        written = time.perf_counter()
        repos.contacts.put({"tenant_id": "demo", "contact_id": cid, "scores": {"nps": 10}})
        deadline = written + 10
        while cid not in arrived and time.perf_counter() < deadline:
            time.sleep(0.005)
        if cid in arrived:
            latencies.append(arrived[cid] - written)
        else:
            lost += 1
        time.sleep(0.1)
    stop.set()
    receiver.join(3)
    if not latencies:
        row("contact write -> Segment Entered, local stack", "no event arrived")
        return
    p50, p99 = percentiles_ms(latencies)
    row(f"contact write -> Segment Entered on the bus, local stack ({len(latencies)} writes)",
        f"p50 {p50:.0f} ms", "target p50 ≤ 1000 ms")
    row("  p99", f"{p99:.0f} ms", f"{lost} lost" if lost else "")


def main() -> None:
    with deployment() as (repos, service):
        print(f"  DynamoDB requests per contact change, {CONTACTS:,} contacts, 100 active segments "
              "(moto in-process; reads / writes):")
        requests_per_change(repos, service)
        throughput(repos, service)
        evaluation_alone(repos, service)
    if os.environ.get("BENCH_SKIP_STACK"):
        row("contact write -> Segment Entered, local stack", "skipped (BENCH_SKIP_STACK)")
    else:
        local_latency()


if __name__ == "__main__":
    main()
