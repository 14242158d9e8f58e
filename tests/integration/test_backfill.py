"""Backfill: a new or changed segment computed for every contact, in slices,
in-process or fanned out through SQS; progress visible, re-runs safe."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import growthos_segments.handlers.backfill as backfill_handler
from growthos_segments.core.ports import BackfillJob
from growthos_segments.devstack.queues import sqs_record
from growthos_segments.devstack.runtime import LambdaFunction
from growthos_segments.handlers.wiring import build_service
from growthos_segments.infra import aws, keys
from growthos_segments.infra.queue import SqsBackfillQueue, job_from_json, job_to_json
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.settings import Settings
from growthos_segments.services.backfill import Backfill
from tests.integration.conftest import NOW
from tests.support.realtime import (
    Bus,
    Clock,
    Realtime,
    Streams,
    atomic_dynamodb,
    lambda_environment,
    summary,
)

PRO = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}
FREE = {"attribute": {"field": "plan", "op": "equals", "value": "free"}}
CONTACTS = [f"c{n:02d}" for n in range(20)]
PRO_IDS = [c for n, c in enumerate(CONTACTS) if n % 2 == 0]
FREE_IDS = [c for n, c in enumerate(CONTACTS) if n % 2 == 1]


@pytest.fixture
def settings() -> Settings:
    return Settings.local("it", segment_cache_seconds=3600)


@pytest.fixture
def rt(repos: Repositories) -> Iterator[Realtime]:
    clock = Clock(NOW)
    service = build_service(repos.settings, repos=repos, clock=clock)
    realtime = Realtime(repos, service, clock, Streams(repos.settings), Bus(repos.settings))
    for n, cid in enumerate(CONTACTS):
        realtime.contact(cid, attributes={"plan": "pro" if n % 2 == 0 else "free"})
    assert realtime.flush() == []  # no segment yet: the stream has nothing to do
    yield realtime


def test_a_new_segment_is_computed_for_every_contact_with_visible_progress(rt: Realtime) -> None:
    saved = rt.save("pro", PRO)
    backfill = Backfill(rt.service, page_size=3)
    progress = backfill.run("t1", "pro", workers=1)
    assert progress.complete and progress.version == saved.version
    assert (progress.done, progress.entered, progress.exited) == (20, 10, 0)
    assert progress.slices_finished == keys.CONTACT_SHARDS
    assert rt.members("pro") == PRO_IDS and rt.count("pro") == 10
    assert sorted(rt.flush()) == [("ENTER", "t1", "pro", c) for c in PRO_IDS]
    assert backfill.progress("t1", "pro", saved.version).to_json()["contacts_done"] == 20


def test_a_rule_change_exits_those_who_no_longer_match(rt: Realtime) -> None:
    rt.save("pro", PRO)
    Backfill(rt.service).run("t1", "pro", workers=1)
    rt.flush()
    changed = rt.save("pro", FREE)  # same segment, new rule
    with atomic_dynamodb():  # four slices at once; moto is not thread-safe, DynamoDB is
        progress = Backfill(rt.service, page_size=4).run("t1", "pro", workers=4)
    assert progress.version == changed.version
    assert (progress.done, progress.entered, progress.exited) == (20, 10, 10)
    assert rt.members("pro") == FREE_IDS and rt.count("pro") == 10
    events = rt.flush()
    assert sorted(e for e in events if e[0] == "EXIT") == [("EXIT", "t1", "pro", c) for c in PRO_IDS]
    assert sorted(e for e in events if e[0] == "ENTER") == [("ENTER", "t1", "pro", c) for c in FREE_IDS]
    versions = {e["detail"]["segment_version"] for e in rt.bus.received()}
    assert versions <= {changed.version}


def test_a_rerun_resumes_or_recounts_and_never_transitions_twice(rt: Realtime) -> None:
    rt.save("pro", PRO)
    backfill = Backfill(rt.service, page_size=5)
    first = backfill.run("t1", "pro", workers=1)
    rt.flush()
    with rt.repos.requests.measure() as cost:
        again = backfill.run("t1", "pro", workers=1)
    assert again == first
    assert dict(cost.by_operation) == {"Query": 3}  # the segments, the progress twice: no contact
    with rt.repos.requests.measure() as cost:
        restarted = backfill.run("t1", "pro", workers=1, restart=True)
    assert (restarted.done, restarted.entered, restarted.exited) == (20, 0, 0)
    assert "TransactWriteItems" not in cost.by_operation  # evaluations are idempotent
    assert rt.flush() == [] and rt.count("pro") == 10


def test_a_redelivered_or_duplicated_slice_counts_each_contact_once(rt: Realtime) -> None:
    rt.save("pro", PRO)
    backfill = Backfill(rt.service, page_size=1)
    jobs = backfill.plan("t1", "pro")
    busiest = max(jobs, key=lambda j: len(rt.repos.contacts.contact_ids("t1", shard=j.shard or 0).items))
    size = len(rt.repos.contacts.contact_ids("t1", shard=busiest.shard or 0).items)
    assert size >= 2
    continuation = backfill.run_slice(busiest, remaining=lambda: 0.0)  # one page, then out of time
    assert continuation is not None and continuation.cursor is not None
    assert backfill.run_slice(busiest) is None  # the original message again: resumes, finishes
    assert backfill.run_slice(continuation) is None  # the continuation, late: finished already
    slice_state = backfill.progress_store.slice(busiest)
    assert slice_state is not None and slice_state.finished and slice_state.done == size


def test_a_superseded_version_stops_without_evaluating(rt: Realtime) -> None:
    rt.save("pro", PRO)
    backfill = Backfill(rt.service)
    old_jobs = backfill.plan("t1", "pro")
    rt.save("pro", FREE)
    with rt.repos.requests.measure() as cost:
        assert all(backfill.run_slice(job) is None for job in old_jobs)
    assert "TransactWriteItems" not in cost.by_operation and rt.count("pro") == 0
    assert backfill.progress("t1", "pro", old_jobs[0].version).done == 0


def test_a_backfill_stays_in_its_tenant(rt: Realtime) -> None:
    for cid in CONTACTS[:4]:
        rt.contact(cid, tenant_id="t2", attributes={"plan": "pro"})
    assert rt.flush() == []  # written before t2 had segments: nothing to evaluate
    rt.save("pro", PRO, tenant_id="t2")
    rt.save("pro", PRO)
    progress = Backfill(rt.service).run("t1", "pro", workers=1)
    assert progress.done == 20
    assert rt.members("pro", tenant_id="t2") == [] and rt.count("pro", tenant_id="t2") == 0
    assert Backfill(rt.service).run("t2", "pro", workers=1).done == 4
    assert rt.members("pro", tenant_id="t2") == CONTACTS[:4]


def test_a_cancelled_run_stops_after_the_page_in_hand_and_the_next_run_resumes(rt: Realtime) -> None:
    rt.save("pro", PRO)
    backfill = Backfill(rt.service, page_size=2)
    pages: list[int] = []
    advance = backfill.progress_store.advance

    def counted(*args: Any, **kwargs: Any) -> bool:
        pages.append(kwargs["done"])
        return advance(*args, **kwargs)

    backfill.progress_store.advance = counted  # type: ignore[method-assign]
    stopped = backfill.run("t1", "pro", workers=1, cancelled=lambda: len(pages) >= 1)
    assert len(pages) == 1 and not stopped.complete and stopped.done == pages[0]
    resumed = backfill.run("t1", "pro", workers=1)
    assert resumed.complete and (resumed.done, resumed.entered) == (20, 10)
    assert rt.count("pro") == 10


def test_ctrl_c_during_a_parallel_run_does_not_wait_for_whole_slices(rt: Realtime) -> None:
    rt.save("pro", PRO)
    backfill = Backfill(rt.service, page_size=1)
    pages: list[int] = []
    advance = backfill.progress_store.advance
    delivered = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        delivered.set()
        raise KeyboardInterrupt

    def ctrl_c_after_the_first_page(*args: Any, **kwargs: Any) -> bool:
        pages.append(kwargs["done"])
        if len(pages) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # reaches the main thread, waiting for the slices
        # No page is counted before the main thread has the interrupt in hand, however
        # slowly a loaded machine schedules it: the bound below counts pages, not time.
        delivered.wait(30)
        return advance(*args, **kwargs)

    backfill.progress_store.advance = ctrl_c_after_the_first_page  # type: ignore[method-assign]
    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        with atomic_dynamodb(), pytest.raises(KeyboardInterrupt):
            backfill.run("t1", "pro", workers=4)
    finally:
        signal.signal(signal.SIGINT, previous)
    # Each of the four workers finished at most the page it had when Ctrl-C came (and
    # perhaps one more in the instant before): not the 20 pages of their slices.
    assert len(pages) <= 8
    backfill.progress_store.advance = advance  # type: ignore[method-assign]
    resumed = backfill.run("t1", "pro", workers=1)
    assert resumed.complete and (resumed.done, resumed.entered) == (20, 10) and rt.count("pro") == 10


# --------------------------------------------------------------------------- through SQS


@pytest.fixture
def queue(rt: Realtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str, Settings]]:
    sqs = aws.client("sqs", rt.settings)
    url = sqs.create_queue(QueueName="backfill")["QueueUrl"]
    settings = Settings.local("it", segment_cache_seconds=3600, backfill_queue_url=url)
    with lambda_environment(monkeypatch, settings, backfill_handler.worker, BACKFILL_PAGE_SIZE="1"):
        yield sqs, url, settings


def drain(sqs: Any, url: str, function: LambdaFunction) -> tuple[int, list[dict[str, Any]]]:
    """Deliver the queue to the function until it is empty, as Lambda's poller would."""
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    delivered, failures = 0, []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"]).get(
            "Messages", []
        )
        if not messages:
            return delivered, failures
        result = function.invoke({"Records": [sqs_record(m, arn, "us-east-1") for m in messages]})
        assert result.ok, result.error
        failures += result.payload["batchItemFailures"]
        delivered += 1
        sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])


def test_on_aws_one_message_fans_out_to_slices_that_continue_themselves(
    rt: Realtime, queue: tuple[Any, str, Settings]
) -> None:
    sqs, url, _ = queue
    saved = rt.save("pro", PRO)
    job = BackfillJob("t1", "pro", saved.version)
    SqsBackfillQueue(sqs, url).send([job])
    assert job_from_json(job_to_json(job)) == job
    # 15 s left against a 20 s reserve: every slice hands over after each page (of one contact).
    function = LambdaFunction.of(backfill_handler.handler, name="BackfillFunction", timeout=15)
    delivered, failures = drain(sqs, url, function)
    assert failures == []
    assert delivered > 1 + keys.CONTACT_SHARDS  # the plan, the slices, and their continuations
    progress = Backfill(rt.service).progress("t1", "pro", saved.version)
    assert progress.complete and (progress.done, progress.entered) == (20, 10)
    assert rt.members("pro") == PRO_IDS
    assert sorted(summary(rt.bus.received()) + rt.flush()) == [("ENTER", "t1", "pro", c) for c in PRO_IDS]


def test_a_malformed_message_is_reported_alone(rt: Realtime, queue: tuple[Any, str, Settings]) -> None:
    sqs, url, _ = queue
    saved = rt.save("pro", PRO)
    good = job_to_json(BackfillJob("t1", "pro", saved.version, shard=0))
    for body in (json.dumps({"tenant_id": "t1", "segment_id": "pro", "version": 0}), good, "not json"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 3
    function = LambdaFunction.of(backfill_handler.handler, name="BackfillFunction", timeout=300)
    result = function.invoke({"Records": [sqs_record(m, arn, "us-east-1") for m in messages]})
    assert result.ok, result.error
    bad = {m["MessageId"] for m in messages if m["Body"] != good}
    assert {f["itemIdentifier"] for f in result.payload["batchItemFailures"]} == bad
    assert Backfill(rt.service).progress_store.slice(BackfillJob("t1", "pro", saved.version, 0)) is not None


def test_a_page_of_contacts_is_read_in_bulk_not_one_by_one(rt: Realtime) -> None:
    rt.save("enterprise", {"attribute": {"field": "plan", "op": "equals", "value": "enterprise"}})
    with rt.repos.requests.measure() as cost:
        progress = Backfill(rt.service, page_size=100).run("t1", "enterprise", workers=1)
    assert progress.done == 20 and progress.entered == 0
    ops = cost.by_operation
    shards = keys.CONTACT_SHARDS
    # Per slice: its progress (GetItem), its contact ids (Query), the profiles and the
    # pair states of the page (BatchGetItem each), the progress update. No GetItem
    # per contact, and no events Query at all (the rule reads no events).
    assert ops["GetItem"] == shards and ops["UpdateItem"] == shards
    assert ops["BatchGetItem"] <= 2 * shards
    assert ops["Query"] == shards + 3  # + the fresh segment list and the progress, read twice
