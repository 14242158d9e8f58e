"""The stream evaluator on moto: one evaluation per contact per batch, only the
affected segments, writes only for real transitions, and an order that
duplicates, retries and reordering across streams cannot break.

Records are read from moto's streams (Lambda's shape, moto's double INSERT
included); costs are asserted in DynamoDB requests, never in time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import growthos_segments.handlers.stream as stream_handler
from growthos_segments.core.membership import PairState
from growthos_segments.devstack.runtime import LambdaFunction
from growthos_segments.handlers.wiring import build_service
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.repos.pairs import DynamoPairStates
from growthos_segments.infra.settings import Settings
from growthos_segments.services.realtime import EvaluationService
from growthos_segments.services.scheduler import Scheduler, SchedulerReport
from growthos_segments.services.stream import StreamEvaluator
from tests.integration.conftest import NOW
from tests.support.realtime import Bus, Clock, Hosts, Realtime, Streams, atomic_dynamodb, lambda_environment

PRO = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}
OPENED = {"email": {"action": "opened", "within": "30d"}}
VIP = {"tag": {"match": "any", "tags": ["vip"]}}


@pytest.fixture
def settings() -> Settings:
    # The segment cache is revalidated every N seconds; a slow machine must not turn
    # that into an extra request in a cost assertion.
    return Settings.local("it", segment_cache_seconds=3600)


@pytest.fixture
def rt(repos: Repositories) -> Iterator[Realtime]:
    clock = Clock(NOW)
    service = build_service(repos.settings, repos=repos, clock=clock)
    yield Realtime(repos, service, clock, Streams(repos.settings, repos.client), Bus(repos.settings))


def test_a_profile_change_enters_and_exits_with_exact_counts(rt: Realtime) -> None:
    rt.save("pro", PRO)
    rt.contact("c1", attributes={"plan": "pro"})
    assert rt.flush() == [("ENTER", "t1", "pro", "c1")]
    assert rt.members("pro") == ["c1"] and rt.count("pro") == 1
    rt.repos.contacts.patch("t1", "c1", attributes={"plan": "free"})
    assert rt.flush() == [("EXIT", "t1", "pro", "c1")]
    assert rt.members("pro") == [] and rt.count("pro") == 0


def test_a_change_reevaluates_only_what_reads_it_and_costs_at_most_three_reads(rt: Realtime) -> None:
    rt.save("pro", PRO)
    rt.save("opened", OPENED)
    rt.contact("c1", attributes={"plan": "free"})
    rt.flush()
    requests = rt.repos.requests

    rt.event("c1", "email.opened", ago=timedelta(days=1))
    records = rt.change_records()
    with requests.measure() as cost:
        result = rt.evaluate(records)
    [outcome] = result.outcomes
    assert outcome.evaluated == ("opened",)  # the attribute segment is not touched
    assert outcome.entered == ["opened"]
    # view (GetItem + Query) + pair states (one BatchGetItem), the transition, its
    # re-check; then the verification pass re-reads the three.
    assert cost.by_operation["TransactWriteItems"] == 1 and cost.by_operation["PutItem"] == 1
    assert cost.by_operation["GetItem"] + cost.by_operation["Query"] + cost.by_operation["BatchGetItem"] == 6

    rt.event("c1", "email.opened", ago=timedelta(hours=1))  # still a member: the window just slides
    records = rt.change_records()
    with requests.measure() as cost:
        rt.evaluate(records)
    assert dict(cost.by_operation) == {"GetItem": 1, "Query": 1, "BatchGetItem": 1}

    rt.repos.contacts.patch("t1", "c1", attributes={"city": "Leeds"}, scores={"nps": 9})
    records = rt.change_records()
    with requests.measure() as cost:
        result = rt.evaluate(records)
    assert cost.total == 0  # nothing reads city or nps: not even the contact is read
    assert [o.evaluated for o in result.outcomes] == [()]

    rt.repos.contacts.patch("t1", "c1", attributes={"plan": "team"})  # read by 'pro', still no match
    records = rt.change_records()
    with requests.measure() as cost:
        rt.evaluate(records)
    assert dict(cost.by_operation) == {"GetItem": 1, "BatchGetItem": 1}  # no events needed, no writes


def test_duplicate_and_out_of_order_records_across_streams_make_one_enter(rt: Realtime) -> None:
    rt.save("engaged_pro", {"and": [PRO, OPENED]})
    rt.contact("c1", attributes={"plan": "free"})
    rt.event("c1", "email.opened", ago=timedelta(days=2))
    rt.repos.contacts.patch("t1", "c1", attributes={"plan": "pro"})
    tables = rt.settings.tables
    contacts, events = rt.streams.read(tables.contacts), rt.streams.read(tables.events)
    assert [r["eventName"] for r in contacts] == ["INSERT", "INSERT", "MODIFY"]  # moto's double INSERT
    # Newest first, the two streams interleaved, everything delivered twice.
    batches = [[contacts[2], events[0]], [contacts[0]], [events[0], contacts[1], contacts[2]], contacts[::-1]]
    for batch in batches:
        assert not rt.evaluate(batch).failed
    assert rt.notify().sent == 1
    assert rt.members("engaged_pro") == ["c1"] and rt.count("engaged_pro") == 1
    # Later the contact leaves; the old "became pro" record is redelivered: no flip back.
    rt.repos.contacts.patch("t1", "c1", attributes={"plan": "free"})
    assert rt.flush() == [("ENTER", "t1", "engaged_pro", "c1"), ("EXIT", "t1", "engaged_pro", "c1")]
    for batch in batches:
        assert not rt.evaluate(batch).failed
    assert rt.notify().sent == 0 and rt.bus.received() == []
    assert rt.members("engaged_pro") == [] and rt.count("engaged_pro") == 0


def test_a_contact_that_matches_and_unmatches_within_one_batch_never_transitions(rt: Realtime) -> None:
    rt.save("pro", PRO)
    rt.contact("c1", attributes={"plan": "free"})
    assert rt.flush() == []
    rt.repos.contacts.patch("t1", "c1", attributes={"plan": "pro"})
    rt.repos.contacts.patch("t1", "c1", attributes={"plan": "free"})
    records = rt.change_records()
    assert [r["eventName"] for r in records] == ["MODIFY", "MODIFY"]
    with rt.repos.requests.measure() as cost:
        result = rt.evaluate(records)
    assert len(result.outcomes) == 1  # one evaluation for the two records
    assert "TransactWriteItems" not in cost.by_operation
    assert rt.notify().sent == 0 and rt.count("pro") == 0


def test_a_deleted_contact_leaves_all_its_segments(rt: Realtime) -> None:
    rt.save("pro", PRO)
    rt.save("opened", OPENED)
    rt.save("vip", VIP)
    rt.contact("c1", attributes={"plan": "pro"}, tags=["vip"])
    rt.event("c1", "email.opened", ago=timedelta(days=1))
    assert sorted(rt.flush()) == [("ENTER", "t1", s, "c1") for s in ("opened", "pro", "vip")]
    assert [r.segment_id for r in rt.repos.rechecks.for_contact("t1", "c1")] == ["opened"]
    rt.repos.contacts.delete("t1", "c1")
    assert sorted(rt.flush()) == [("EXIT", "t1", s, "c1") for s in ("opened", "pro", "vip")]
    assert [rt.count(s) for s in ("opened", "pro", "vip")] == [0, 0, 0]
    assert rt.repos.rechecks.for_contact("t1", "c1") == []  # the scheduler has nothing left to do
    assert rt.repos.memberships.segments_of("t1", "c1") == []


def test_referencing_segments_follow_in_dependency_order(rt: Realtime) -> None:
    rt.save("a_pro_vip", {"and": [{"segment": {"id": "z_pro"}}, VIP]})
    rt.save("z_pro", PRO)
    rt.contact("c1", attributes={"plan": "free"}, tags=["vip"])
    assert rt.flush() == []
    rt.repos.contacts.patch("t1", "c1", attributes={"plan": "pro"})
    # The referenced segment moves first, then the one that depends on it.
    assert rt.flush() == [("ENTER", "t1", "z_pro", "c1"), ("ENTER", "t1", "a_pro_vip", "c1")]
    rt.repos.contacts.patch("t1", "c1", tags=[])
    assert rt.flush() == [("EXIT", "t1", "a_pro_vip", "c1")]


def test_tenants_are_isolated_in_one_batch(rt: Realtime) -> None:
    rt.save("pro", PRO, tenant_id="t1")
    rt.save("pro", {"attribute": {"field": "plan", "op": "equals", "value": "free"}}, tenant_id="t2")
    rt.save("vip", VIP, tenant_id="t2")
    rt.contact("c1", tenant_id="t1", attributes={"plan": "pro"}, tags=["vip"])
    rt.contact("c1", tenant_id="t2", attributes={"plan": "pro"}, tags=["vip"])
    assert sorted(rt.flush()) == [("ENTER", "t1", "pro", "c1"), ("ENTER", "t2", "vip", "c1")]
    assert rt.members("pro", tenant_id="t1") == ["c1"] and rt.members("pro", tenant_id="t2") == []
    rt.repos.contacts.patch("t2", "c1", attributes={"plan": "free"})
    assert rt.flush() == [("ENTER", "t2", "pro", "c1")]
    assert rt.count("pro", tenant_id="t1") == 1 and rt.count("pro", tenant_id="t2") == 1


class Gate:
    """Holds the first state read until released: that evaluation has read the
    contact (and with ``after``, its stored state too) but not yet written, while
    another one runs start to end."""

    def __init__(self, inner: DynamoPairStates, *, after: bool = False) -> None:
        self.inner = inner
        self.after = after
        self.waiting = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def read(self, tenant_id: str, contact_id: str, segment_ids: Sequence[str]) -> Mapping[str, PairState]:
        self.calls += 1
        states = self.inner.read(tenant_id, contact_id, segment_ids) if self.after else None
        if self.calls == 1:
            self.waiting.set()
            assert self.release.wait(10)
        return states if states is not None else self.inner.read(tenant_id, contact_id, segment_ids)


def test_concurrent_evaluations_of_one_contact_end_in_the_newest_state(rt: Realtime) -> None:
    rt.save("pro", PRO)
    rt.contact("c1", attributes={"plan": "pro"})
    assert rt.flush() == [("ENTER", "t1", "pro", "c1")]
    engine = rt.service.engine
    gate = Gate(engine.states)  # type: ignore[arg-type]
    engine.states = gate
    rt.repos.contacts.patch("t1", "c1", attributes={"plan": "free"})
    older_records = rt.change_records()
    older = threading.Thread(target=rt.evaluate, args=(older_records,))
    older.start()
    assert gate.waiting.wait(10)  # it has read plan=free
    rt.repos.contacts.patch("t1", "c1", attributes={"plan": "pro"})
    newer = rt.evaluate()
    assert [o.transitions for o in newer.outcomes] == [0]  # read plan=pro: nothing to change
    gate.release.set()
    older.join(10)
    # The older evaluation exits (what it saw did happen), its verification sees
    # plan=pro and enters again: the end state is the newest, counts are exact,
    # and the notifications alternate.
    assert rt.members("pro") == ["c1"] and rt.count("pro") == 1
    assert rt.flush() == [("EXIT", "t1", "pro", "c1"), ("ENTER", "t1", "pro", "c1")]


def test_many_evaluations_of_one_contact_at_once_make_one_enter(rt: Realtime) -> None:
    rt.save("pro", PRO)
    rt.contact("c1", attributes={"plan": "pro"})
    records = rt.change_records()
    threads = [threading.Thread(target=rt.evaluate, args=(records,)) for _ in range(4)]
    with atomic_dynamodb():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert rt.count("pro") == 1
    assert rt.flush() == [("ENTER", "t1", "pro", "c1")]


# --------------------------------------------------------------------------- the Lambda handler


@pytest.fixture
def handler_env(rt: Realtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[Realtime]:
    with lambda_environment(monkeypatch, rt.settings, stream_handler.evaluator, EVALUATOR_WORKERS="1"):
        yield rt


def invoke(event: dict[str, Any]) -> Any:
    result = LambdaFunction.of(stream_handler.handler, name="StreamEvaluatorFunction").invoke(event)
    assert result.ok, result.error
    return result.payload


def test_the_handler_answers_an_empty_batch(handler_env: Realtime) -> None:
    assert invoke({"Records": []}) == {"batchItemFailures": []}
    assert invoke({}) == {"batchItemFailures": []}


def test_a_poison_record_fails_alone_while_the_rest_of_the_batch_succeeds(
    handler_env: Realtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = handler_env
    rt.save("pro", PRO)
    for cid in ("c1", "c2", "c3"):
        rt.contact(cid, attributes={"plan": "pro"})
    records = rt.change_records()
    assert len(records) == 6  # two INSERTs per contact on moto
    poison = {**records[2], "dynamodb": {**records[2]["dynamodb"], "Keys": {"pk": {"S": "no-separator"}}}}
    poison["dynamodb"]["SequenceNumber"] = "999"
    evaluate = stream_handler.evaluator()._service.engine.evaluate

    def failing(tenant_id: str, contact_id: str, *args: Any, **kwargs: Any) -> Any:
        if contact_id == "c3":
            raise RuntimeError("DynamoDB is having a bad day")
        return evaluate(tenant_id, contact_id, *args, **kwargs)

    monkeypatch.setattr(stream_handler.evaluator()._service.engine, "evaluate", failing)
    response = invoke({"Records": [records[0], records[1], poison, *records[2:]]})
    c3 = [r["dynamodb"]["SequenceNumber"] for r in records if r["dynamodb"]["Keys"]["pk"]["S"] == "t1#c3"]
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == sorted(["999", *c3])
    assert rt.members("pro") == ["c1", "c2"]


def test_the_handler_settings_read_their_environment(settings: Settings) -> None:
    env = settings.table_env()
    env.pop("AWS_ENDPOINT_URL", None)
    assert Settings.from_env(env).evaluator_workers == 4
    local = {**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:1"}
    assert Settings.from_env(local).evaluator_workers == 1
    assert Settings.from_env({**env, "EVALUATOR_WORKERS": "8"}).evaluator_workers == 8
    for bad in ("0", "many"):
        with pytest.raises(ValueError, match="EVALUATOR_WORKERS"):
            Settings.from_env({**env, "EVALUATOR_WORKERS": bad})


# --------------------------------------------------------------------------- re-checks under clock skew

NEW_SIGNUP = {"attribute": {"field": "signup_date", "op": "within_last", "amount": 7, "unit": "days"}}
SKEW_MS = 50


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def due_run(service: EvaluationService, rt: Realtime, when: str) -> SchedulerReport:
    rt.clock.now = at(when)
    report = Scheduler(service).run()
    assert report.failures == 0
    return report


def signup_corrected_under_a_scheduler_run(rt: Realtime, scheduler: EvaluationService,
                                           stream: EvaluationService) -> None:
    """c1 signed up on 11-15 (in new_signups until 11-22); its signup date is then
    corrected to 11-20 and, while the scheduler's 11-22 re-check runs, to 11-19."""
    rt.save("new_signups", NEW_SIGNUP)
    rt.clock.now = at("2026-11-21T12:00:00")
    rt.contact("c1", attributes={"signup_date": "2026-11-15"})
    StreamEvaluator(stream).evaluate_batch(rt.change_records())
    rt.repos.contacts.patch("t1", "c1", attributes={"signup_date": "2026-11-20"})
    assert due_run(scheduler, rt, "2026-11-22T00:00:00").due == 1
    assert [r.recheck_at for r in rt.repos.rechecks.for_contact("t1", "c1")] == [at("2026-11-27T00:00:00")]
    rt.repos.contacts.patch("t1", "c1", attributes={"signup_date": "2026-11-19"})
    assert not StreamEvaluator(stream).evaluate_batch(rt.change_records()).failed


def test_an_earlier_recheck_from_a_host_whose_clock_lags_is_never_dropped(rt: Realtime) -> None:
    ahead, behind = Hosts(SKEW_MS, 0).seqs
    scheduler, stream = rt.host(ahead), rt.host(behind)
    signup_corrected_under_a_scheduler_run(rt, scheduler, stream)
    # The stream evaluation needs 11-26; its seq is older than the scheduler's row.
    assert [r.recheck_at for r in rt.repos.rechecks.for_contact("t1", "c1")] == [at("2026-11-26T00:00:00")]
    assert due_run(scheduler, rt, "2026-11-26T00:00:00").exited == 1
    assert rt.members("new_signups") == []


def test_a_host_whose_clock_ran_ahead_does_not_pin_a_due_recheck(rt: Realtime) -> None:
    behind, ahead = Hosts(0, SKEW_MS).seqs
    scheduler, stream = rt.host(behind), rt.host(ahead)
    signup_corrected_under_a_scheduler_run(rt, scheduler, stream)  # the scheduler moved it to 11-27
    assert [r.recheck_at for r in rt.repos.rechecks.for_contact("t1", "c1")] == [at("2026-11-26T00:00:00")]
    assert due_run(scheduler, rt, "2026-11-22T00:01:00").due == 0  # not due again every minute
    assert due_run(scheduler, rt, "2026-11-26T00:00:00").exited == 1


def test_a_stale_evaluation_on_a_faster_clock_cannot_move_a_recheck_later(rt: Realtime) -> None:
    behind, ahead = Hosts(0, SKEW_MS).seqs
    scheduler, stream = rt.host(behind), rt.host(ahead)
    rt.save("new_signups", NEW_SIGNUP)
    rt.clock.now = at("2026-11-21T12:00:00")
    rt.contact("c1", attributes={"signup_date": "2026-11-15"})
    StreamEvaluator(scheduler).evaluate_batch(rt.change_records())
    rt.repos.contacts.patch("t1", "c1", attributes={"signup_date": "2026-11-20"})
    records = rt.change_records()
    rt.clock.now = at("2026-11-22T00:00:00")
    # The stream host reads signup 11-20 and the due 11-22 re-check, then stalls...
    gate = Gate(stream.engine.states, after=True)  # type: ignore[arg-type]
    stream.engine.states = gate
    stale = threading.Thread(target=StreamEvaluator(stream).evaluate_batch, args=(records,))
    stale.start()
    assert gate.waiting.wait(10)
    # ... the signup is corrected to 11-19 and the scheduler moves the re-check to 11-26 ...
    rt.repos.contacts.patch("t1", "c1", attributes={"signup_date": "2026-11-19"})
    assert due_run(scheduler, rt, "2026-11-22T00:00:00").due == 1
    # ... then the stalled evaluation, with its larger seq, writes what signup 11-20 needs.
    gate.release.set()
    stale.join(10)
    assert [r.recheck_at for r in rt.repos.rechecks.for_contact("t1", "c1")] == [at("2026-11-26T00:00:00")]
    assert due_run(scheduler, rt, "2026-11-26T00:00:00").exited == 1


class FailingSecondView:
    """The second contact read fails: the verification pass of the first evaluation."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    def load_view(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == 2:
            raise TimeoutError("read timed out")
        return self.inner.load_view(*args, **kwargs)


def test_a_scheduled_evaluation_that_fails_after_moving_a_recheck_leaves_the_pair_due(rt: Realtime) -> None:
    rt.save("new_signups", NEW_SIGNUP)
    rt.contact("c1", attributes={"signup_date": "2026-11-20"})
    rt.flush()
    engine = rt.service.engine
    engine.views = FailingSecondView(engine.views)  # type: ignore[assignment]
    rt.clock.now = at("2026-11-27T00:00:00")
    report = Scheduler(rt.service).run()
    assert (report.failures, report.exited) == (1, 0)  # it exited and cleared, then its verification failed
    assert rt.members("new_signups") == []
    # The move was not verified, so the pair is due again: the next run comes back to it.
    assert [r.recheck_at for r in rt.repos.rechecks.for_contact("t1", "c1")] == [at("2026-11-27T00:00:00")]
    again = due_run(rt.service, rt, "2026-11-27T00:01:00")
    assert again.due == 1 and rt.repos.rechecks.for_contact("t1", "c1") == []
