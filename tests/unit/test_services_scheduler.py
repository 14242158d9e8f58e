"""Scheduling on the in-memory ports: due pairs only, at most one period late, stops for time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from growthos_segments.services.scheduler import Scheduler
from tests.support.memory import MemoryRealtime, memory_realtime

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
NEW_SIGNUP = {"attribute": {"field": "signup_date", "op": "within_last", "amount": 7, "unit": "days"}}


@pytest.fixture
def rt() -> MemoryRealtime:
    return memory_realtime(NOW)


def test_time_alone_makes_a_contact_exit_within_one_period(rt: MemoryRealtime) -> None:
    rt.save("new_signups", NEW_SIGNUP)
    rt.contact("c1", attributes={"signup_date": "2026-11-20"})
    assert rt.flush() == [("ENTER", "t1", "new_signups", "c1")]
    [recheck] = rt.memory.rechecks.for_contact("t1", "c1")
    rt.clock.now = recheck.recheck_at - timedelta(minutes=1)
    early = Scheduler(rt.service).run()
    assert (early.due, rt.members("new_signups")) == (0, ["c1"])
    rt.clock.now = recheck.recheck_at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    report = Scheduler(rt.service).run()
    assert (report.tenants, report.due, report.exited, report.complete) == (1, 1, 1, True)
    assert rt.members("new_signups") == []
    assert rt.flush() == [("EXIT", "t1", "new_signups", "c1")]


def test_a_run_out_of_time_leaves_the_rest_due(rt: MemoryRealtime) -> None:
    rt.save("new_signups", NEW_SIGNUP)
    for n in range(3):
        rt.contact(f"c{n}", attributes={"signup_date": "2026-11-20"})
    rt.flush()
    rt.clock.now = NOW + timedelta(days=7)
    report = Scheduler(rt.service).run(remaining=lambda: 0.0, reserve=5)
    assert (report.complete, report.contacts) == (False, 0)
    assert len(rt.memory.rechecks.for_contact("t1", "c0")) == 1
    assert Scheduler(rt.service).run().exited == 3
