"""Time-driven transitions: the scheduler evaluates what is due, at most one period
late and never early, without scanning contacts. The clock is the test's."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

import growthos_segments.handlers.scheduler as scheduler_handler
from growthos_segments.core.ports import BackfillJob, SegmentRecord
from growthos_segments.devstack.runtime import LambdaFunction
from growthos_segments.handlers.wiring import build_service
from growthos_segments.infra.memory import MemoryBackfillQueue
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.settings import Settings
from growthos_segments.services.context import ContextRefresher
from growthos_segments.services.scheduler import Scheduler
from tests.integration.conftest import NOW
from tests.support.realtime import Bus, Clock, Realtime, Streams, lambda_environment

AT_RISK = {"rfm_recency": {"older_than": "60d"}}
NEW_SIGNUP = {"attribute": {"field": "signup_date", "op": "within_last", "amount": 7, "unit": "days"}}
OPENED = {"email": {"action": "opened", "within": "30d"}}
PRO = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}


@pytest.fixture
def settings() -> Settings:
    return Settings.local("it", segment_cache_seconds=3600)


@pytest.fixture
def rt(repos: Repositories) -> Iterator[Realtime]:
    clock = Clock(NOW)
    service = build_service(repos.settings, repos=repos, clock=clock)
    yield Realtime(repos, service, clock, Streams(repos.settings, repos.client), Bus(repos.settings))


def run(rt: Realtime, at: datetime, **options: Any) -> Any:
    rt.clock.now = at
    report = Scheduler(rt.service, **options).run()
    notified = rt.notify()
    assert not notified.failed
    return report


def test_time_alone_makes_a_contact_enter_within_one_period(rt: Realtime) -> None:
    rt.save("at_risk", AT_RISK)
    last_order = NOW - timedelta(days=59, hours=23, minutes=58, seconds=30)
    rt.contact("c1")
    rt.repos.events.append("t1", "c1", "order.completed", at=last_order, properties={"amount": 20})
    assert rt.flush() == []
    [recheck] = rt.repos.rechecks.for_contact("t1", "c1")
    due = last_order + timedelta(days=60)
    assert recheck.recheck_at == due  # 12:01:30 today: the instant, exactly
    assert run(rt, due - timedelta(seconds=1)).due == 0  # not due, not early
    assert run(rt, due).due == 0  # due 12:01:30 sits in the 12:02 bucket
    report = run(rt, due.replace(second=0) + timedelta(minutes=1))
    assert (report.due, report.entered) == (1, 1)
    assert rt.flush() == [("ENTER", "t1", "at_risk", "c1")]  # the scheduler's transition, notified
    assert rt.members("at_risk") == ["c1"] and rt.count("at_risk") == 1
    assert rt.repos.rechecks.for_contact("t1", "c1") == []  # nothing else can happen without an order
    assert run(rt, due + timedelta(days=5)).due == 0


def test_time_alone_makes_a_contact_exit_at_the_right_minute(rt: Realtime) -> None:
    rt.save("new_signups", NEW_SIGNUP)
    rt.contact("c1", attributes={"signup_date": "2026-11-20"})
    assert rt.flush() == [("ENTER", "t1", "new_signups", "c1")]
    leaves = datetime.fromisoformat("2026-11-27T00:00:00+00:00")
    assert rt.repos.rechecks.for_contact("t1", "c1")[0].recheck_at == leaves
    assert run(rt, leaves - timedelta(minutes=1)).exited == 0
    assert run(rt, leaves).exited == 1
    assert [e["detail-type"] for e in rt.bus.received()] == ["Segment Exited"]
    assert rt.count("new_signups") == 0 and rt.repos.rechecks.for_contact("t1", "c1") == []


def test_a_run_reads_only_due_buckets_never_contacts(rt: Realtime) -> None:
    rt.save("new_signups", NEW_SIGNUP)
    for n in range(6):
        rt.contact(f"c{n}", attributes={"signup_date": "2026-11-20"})
    rt.flush()
    rt.repos.requests.reset()
    report = run(rt, NOW + timedelta(hours=1))
    assert report.due == 0 and report.complete
    # One scan of the sparse tenants index, one Query per due-index shard: no contact read.
    assert dict(rt.repos.requests.by_operation) == {"Scan": 1, "Query": rt.repos.rechecks.shards}


def test_a_sliding_window_is_moved_once_by_the_scheduler_not_by_every_event(rt: Realtime) -> None:
    rt.save("opened", OPENED)
    rt.contact("c1")
    rt.event("c1", "email.opened", ago=timedelta(days=10))
    assert rt.flush() == [("ENTER", "t1", "opened", "c1")]
    first_expiry = NOW + timedelta(days=20)
    assert rt.repos.rechecks.for_contact("t1", "c1")[0].recheck_at == first_expiry
    for days in (5, 3, 1):  # newer opens push the real end later; the stored one stays
        rt.event("c1", "email.opened", ago=timedelta(days=days))
    with rt.repos.requests.measure() as cost:
        assert rt.flush() == []
    assert not {"PutItem", "DeleteItem", "TransactWriteItems"} & set(cost.by_operation)
    assert rt.repos.rechecks.for_contact("t1", "c1")[0].recheck_at == first_expiry
    report = run(rt, first_expiry)  # early for the newest open: evaluated, nothing changes
    assert (report.due, report.exited) == (1, 0)
    last_expiry = NOW + timedelta(days=29)
    assert rt.repos.rechecks.for_contact("t1", "c1")[0].recheck_at == last_expiry
    assert run(rt, last_expiry).exited == 1
    assert [e["detail-type"] for e in rt.bus.received()] == ["Segment Exited"]


def test_each_tenant_is_rechecked_with_its_own_segments(rt: Realtime) -> None:
    rt.save("new_signups", NEW_SIGNUP, tenant_id="t1")
    rt.save("new_signups", {"attribute": {"field": "signup_date", "op": "within_last", "amount": 3,
                                          "unit": "days"}}, tenant_id="t2")
    for tenant in ("t1", "t2"):
        rt.contact("c1", tenant_id=tenant, attributes={"signup_date": "2026-11-20"})
    assert sorted(rt.flush()) == [("ENTER", "t1", "new_signups", "c1"), ("ENTER", "t2", "new_signups", "c1")]
    report = run(rt, datetime.fromisoformat("2026-11-23T00:00:00+00:00"))
    assert (report.tenants, report.exited) == (2, 1)
    assert rt.members("new_signups", tenant_id="t1") == ["c1"]
    assert rt.members("new_signups", tenant_id="t2") == []


def test_a_pair_of_an_archived_segment_is_dropped(rt: Realtime) -> None:
    saved = rt.save("new_signups", NEW_SIGNUP)
    rt.contact("c1", attributes={"signup_date": "2026-11-20"})
    rt.flush()
    archived = SegmentRecord("t1", "new_signups", "new_signups", NEW_SIGNUP, status="archived",
                             version=saved.version)
    rt.repos.segments.save(archived)
    report = run(rt, NOW + timedelta(days=30))
    assert report.due == 1 and report.failures == 0
    assert rt.repos.rechecks.for_contact("t1", "c1") == []
    assert run(rt, NOW + timedelta(days=31)).due == 0


def test_a_failing_contact_stays_due_and_the_others_go_on(
    rt: Realtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt.save("new_signups", NEW_SIGNUP)
    for cid in ("c1", "c2"):
        rt.contact(cid, attributes={"signup_date": "2026-11-20"})
    rt.flush()
    engine = rt.service.engine
    evaluate = engine.evaluate

    def failing(tenant_id: str, contact_id: str, *args: Any, **kwargs: Any) -> Any:
        if contact_id == "c1":
            raise RuntimeError("throttled")
        return evaluate(tenant_id, contact_id, *args, **kwargs)

    monkeypatch.setattr(engine, "evaluate", failing)
    leaves = datetime.fromisoformat("2026-11-27T00:00:00+00:00")
    report = run(rt, leaves)
    assert (report.failures, report.exited) == (1, 1)
    monkeypatch.undo()
    assert run(rt, leaves + timedelta(minutes=1)).exited == 1  # retried the next period


def test_a_run_out_of_time_stops_cleanly_and_the_rest_stays_due(rt: Realtime) -> None:
    rt.save("new_signups", NEW_SIGNUP)
    for n in range(3):
        rt.contact(f"c{n}", attributes={"signup_date": "2026-11-20"})
    rt.flush()
    leaves = datetime.fromisoformat("2026-11-27T00:00:00+00:00")
    budget = iter([100.0, 100.0, 0.0])
    rt.clock.now = leaves
    report = Scheduler(rt.service).run(remaining=lambda: next(budget, 0.0), reserve=5)
    assert not report.complete and report.exited < 3
    assert run(rt, leaves + timedelta(minutes=1)).exited == 3 - report.exited
    assert rt.count("new_signups") == 0


def test_tenant_contexts_are_computed_stored_and_trigger_a_backfill(rt: Realtime) -> None:
    rt.save("champions", {"rfm_tier": {"tier": "champions"}})
    rt.save("pro", PRO)
    for n in range(6):  # c5 ordered most recently, most often and for the most
        rt.contact(f"c{n}")
        for k in range(n + 1):
            rt.event(f"c{n}", "order.completed", ago=timedelta(days=10 - n + 5 * k), amount=10 * (n + 1))
    queue = MemoryBackfillQueue()
    refresher = ContextRefresher(rt.service, backfills=queue)
    report = run(rt, NOW, context_refresher=refresher)
    champions = rt.service.segments.for_tenant("t1").versions["champions"]
    assert report.contexts_refreshed == ["t1"] and queue.jobs == [BackfillJob("t1", "champions", champions)]
    stored = rt.service.contexts.get("t1")
    assert stored is not None and stored.context["rfm"]["customers"] == 6
    assert rt.service.segments.for_tenant("t1").context["rfm"]["customers"] == 6
    # Fresh enough: not recomputed the next minute, and no second backfill.
    assert run(rt, NOW + timedelta(minutes=1), context_refresher=refresher).contexts_refreshed == []
    assert len(queue.jobs) == 1
    # A run without time for it leaves the stored context alone.
    assert not refresher("t1", NOW + timedelta(days=2), lambda: True)
    assert rt.service.contexts.get("t1").computed_at == NOW  # type: ignore[union-attr]
    # With the thresholds in place, evaluation uses them: the biggest spender is a champion.
    rt.service.segments.invalidate("t1")
    rt.service.engine.evaluate("t1", "c5")
    assert rt.members("champions") == ["c5"]


SCHEDULED = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}


@pytest.fixture
def handler_environment(rt: Realtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The scheduler handler built from this test's tables (its caches cleared around it)."""
    with lambda_environment(monkeypatch, rt.settings, scheduler_handler.scheduler):
        yield


def test_the_handler_runs_a_period(rt: Realtime, handler_environment: None) -> None:
    rt.save("pro", PRO)
    result = LambdaFunction.of(scheduler_handler.handler, name="SchedulerFunction").invoke(SCHEDULED)
    assert result.ok, result.error
    assert result.payload["tenants"] == 1 and result.payload["complete"] is True


def test_a_stopping_local_stack_cuts_a_scheduler_run_short(rt: Realtime, handler_environment: None) -> None:
    """Ctrl-C leaves the running function no time: it stops and the rest stays due."""
    rt.save("new_signups", NEW_SIGNUP)
    for n in range(3):
        rt.contact(f"c{n}", attributes={"signup_date": "2026-11-20"})
    rt.flush()
    stop = threading.Event()
    stop.set()
    function = LambdaFunction.of(scheduler_handler.handler, name="SchedulerFunction", timeout=60, stop=stop)
    result = function.invoke(SCHEDULED)
    assert result.ok, result.error
    assert result.payload["complete"] is False and result.payload["contacts"] == 0
    assert len(rt.repos.rechecks.for_contact("t1", "c0")) == 1  # still due, for the next run
