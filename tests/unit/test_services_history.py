"""Segment sizes on the in-memory ports: list counts, backfill progress, size history.

The recorder is driven through the scheduler, as in production: one point per
segment and bucket, written on the first run of an hour (and of a day).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from growthos_segments.core.ports import Resolution
from growthos_segments.infra.memory_audience import MemorySegmentSizes
from growthos_segments.services.audience import Audience, NotFound
from growthos_segments.services.backfill import Backfill
from growthos_segments.services.history import SizeRecorder
from growthos_segments.services.scheduler import Scheduler
from tests.support.memory import MemoryRealtime, memory_realtime
from tests.unit.test_services_audience import build

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PRO = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}
FREE = {"attribute": {"field": "plan", "op": "equals", "value": "free"}}


class CountingSizes(MemorySegmentSizes):
    """Counts how many times the scheduler read counts (one batch per recording)."""

    reads = 0

    def counts(self, tenant_id: str, segment_ids: list[str]) -> dict[str, int]:  # type: ignore[override]
        self.reads += 1
        return super().counts(tenant_id, segment_ids)


@pytest.fixture
def rt() -> MemoryRealtime:
    rt = memory_realtime(NOW)
    for n in range(6):
        rt.contact(f"c{n}", attributes={"plan": "pro" if n < 4 else "free"})
    rt.save("pro", PRO)
    rt.save("free", FREE)
    rt.flush()
    return rt


@pytest.fixture
def audience(rt: MemoryRealtime) -> Audience:
    built = build(rt.memory)
    built.clock = rt.clock
    return built


def scheduler(rt: MemoryRealtime, sizes: MemorySegmentSizes) -> Scheduler:
    return Scheduler(rt.service, sizes=SizeRecorder(rt.memory.segments, sizes))


def points(audience: Audience, segment_id: str, resolution: Resolution, since: datetime | None = None
           ) -> list[tuple[str, int]]:
    return [(p.at, p.count) for p in audience.history("t1", segment_id, resolution, since).points]


# --- list counts and backfill progress ---------------------------------------------------


def test_list_and_get_carry_the_live_counts(rt: MemoryRealtime, audience: Audience) -> None:
    listed = {s.id: s.count for s in audience.list_segments("t1").segments}
    assert listed == {"pro": 4, "free": 2}
    assert listed == {sid: rt.memory.memberships.count("t1", sid) for sid in listed}
    rt.contact("c4", attributes={"plan": "pro"})
    rt.flush()
    assert audience.get_segment("t1", "pro").count == 5
    assert {s.id: s.count for s in audience.list_segments("t1").segments} == {"pro": 5, "free": 1}


def test_get_shows_the_backfill_of_the_current_version_while_it_runs_and_after(
    rt: MemoryRealtime, audience: Audience
) -> None:
    assert audience.get_segment("t1", "pro").backfill_progress is None  # filled by the stream alone
    saved = rt.save("pro", FREE)
    backfill = Backfill(rt.service, page_size=1)
    shards = {j.shard: rt.memory.contacts.contact_ids("t1", shard=j.shard or 0, limit=100).items
              for j in backfill.plan("t1", "pro")}
    shard = max(shards, key=lambda s: len(shards[s]))
    backfill.run_slice(backfill.plan("t1", "pro")[shard or 0], remaining=lambda: 0.0, reserve=1)  # one page
    running = audience.get_segment("t1", "pro")
    assert running.version == saved.version and running.backfill_progress is not None
    first = shards[shard][0]
    moved = {"entered": 0, "exited": 1} if int(first[1:]) < 4 else {"entered": 1, "exited": 0}
    started = running.backfill_progress.started_at
    assert started is not None
    assert running.backfill_progress.model_dump() == {
        "status": "running", "contacts_done": 1, **moved, "slices_finished": int(len(shards[shard]) == 1),
        "slices": 16, "queued_at": None, "started_at": started, "finished_at": None,
    }
    backfill.run("t1", "pro", workers=1)
    done = audience.get_segment("t1", "pro").backfill_progress
    assert done is not None
    assert (done.status, done.contacts_done, done.entered, done.exited, done.slices_finished) == (
        "complete", 6, 2, 4, 16)
    assert done.started_at == started and done.finished_at is not None
    assert datetime.fromisoformat(done.finished_at) >= datetime.fromisoformat(started)
    assert audience.get_segment("t1", "pro").count == 2


# --- recording ---------------------------------------------------------------------------


def test_one_point_per_bucket_written_on_the_first_run_of_an_hour(
    rt: MemoryRealtime, audience: Audience
) -> None:
    sizes = CountingSizes(rt.memory.memberships)
    audience.sizes = sizes
    run = scheduler(rt, sizes)
    rt.clock.now = datetime(2026, 11, 22, 10, 59, tzinfo=UTC)
    assert run.run().sizes_recorded == 4  # hour and day points of both segments
    rt.contact("c4", attributes={"plan": "pro"})
    rt.flush()
    for minute in (59, 59):  # the same hour again: nothing read, nothing written
        rt.clock.now = datetime(2026, 11, 22, 10, minute, 30, tzinfo=UTC)
        assert run.run().sizes_recorded == 0
    assert sizes.reads == 1
    rt.clock.now = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)  # the hour boundary: a new hour point only
    assert run.run().sizes_recorded == 2
    assert sizes.reads == 2
    assert points(audience, "pro", Resolution.HOUR) == [
        ("2026-11-22T10:00:00Z", 4), ("2026-11-22T11:00:00Z", 5)]
    assert points(audience, "pro", Resolution.DAY) == [("2026-11-22T00:00:00Z", 4)]


def test_the_day_boundary_adds_a_day_point_and_a_new_process_never_duplicates(
    rt: MemoryRealtime, audience: Audience
) -> None:
    sizes = MemorySegmentSizes(rt.memory.memberships)
    audience.sizes = sizes
    rt.clock.now = datetime(2026, 11, 22, 23, 59, tzinfo=UTC)
    assert scheduler(rt, sizes).run().sizes_recorded == 4
    rt.contact("c5", attributes={"plan": "pro"})
    rt.flush()
    assert scheduler(rt, sizes).run().sizes_recorded == 0  # a new container in the same hour
    rt.clock.now = datetime(2026, 11, 23, 0, 1, tzinfo=UTC)
    assert scheduler(rt, sizes).run().sizes_recorded == 4
    assert points(audience, "pro", Resolution.DAY) == [
        ("2026-11-22T00:00:00Z", 4), ("2026-11-23T00:00:00Z", 5)]
    assert points(audience, "pro", Resolution.HOUR) == [
        ("2026-11-22T23:00:00Z", 4), ("2026-11-23T00:00:00Z", 5)]


def test_archived_segments_are_not_recorded(rt: MemoryRealtime) -> None:
    sizes = MemorySegmentSizes(rt.memory.memberships)
    head = rt.memory.segments.get("t1", "free")
    assert head is not None
    rt.memory.segments.save(replace(head, status="archived"), now=NOW)
    assert SizeRecorder(rt.memory.segments, sizes).record("t1", NOW) == 2
    assert sizes.history("t1", "free", Resolution.HOUR, since=NOW - timedelta(days=1)) == []


def test_a_failing_store_counts_a_failure_and_the_next_run_retries(rt: MemoryRealtime) -> None:
    class Flaky(MemorySegmentSizes):
        fail = True

        def counts(self, tenant_id: str, segment_ids: list[str]) -> dict[str, int]:  # type: ignore[override]
            if self.fail:
                raise RuntimeError("throttled")
            return super().counts(tenant_id, segment_ids)

    sizes = Flaky(rt.memory.memberships)
    run = scheduler(rt, sizes)
    broken = run.run()
    assert (broken.failures, broken.sizes_recorded, broken.complete) == (1, 0, True)
    sizes.fail = False
    assert run.run().sizes_recorded == 4


# --- reading -----------------------------------------------------------------------------


def test_history_is_oldest_first_from_since_and_within_what_is_kept(
    rt: MemoryRealtime, audience: Audience
) -> None:
    sizes = MemorySegmentSizes(rt.memory.memberships)
    audience.sizes = sizes
    for hours in range(40 * 24, -1, -1):  # 40 days of hours, newest last
        sizes.record("t1", {"pro": hours}, at=NOW - timedelta(hours=hours), resolutions=[Resolution.HOUR])
    default = points(audience, "pro", Resolution.HOUR)
    assert len(default) == 30 * 24 + 1 and default[0] == ("2026-10-23T12:00:00Z", 720)
    assert default[-1] == ("2026-11-22T12:00:00Z", 0)
    assert [c for _, c in default] == sorted((c for _, c in default), reverse=True)
    kept = points(audience, "pro", Resolution.HOUR, since=datetime(2000, 1, 1, tzinfo=UTC))
    assert len(kept) == 32 * 24 + 1 <= 800  # older points are past their TTL
    assert points(audience, "pro", Resolution.HOUR, since=NOW - timedelta(minutes=90)) == [
        ("2026-11-22T11:00:00Z", 1), ("2026-11-22T12:00:00Z", 0)]
    assert points(audience, "pro", Resolution.HOUR, since=datetime(9999, 12, 31, 23, tzinfo=UTC)) == []
    assert points(audience, "pro", Resolution.DAY) == []


def test_history_of_an_unknown_or_other_tenants_segment_is_not_found(
    rt: MemoryRealtime, audience: Audience
) -> None:
    rt.save("mine", PRO, tenant_id="t2")
    for tenant, segment in (("t1", "nope"), ("t1", "mine"), ("t1", "../pro")):
        with pytest.raises(NotFound):
            audience.history(tenant, segment, Resolution.HOUR, None)
    assert audience.history("t2", "mine", Resolution.DAY, None).points == []
