"""Backfill on the in-memory ports: every contact once, resumable, split into slices."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from growthos_segments.core.ports import BackfillJob
from growthos_segments.infra import keys
from growthos_segments.infra.memory import MemoryBackfillQueue
from growthos_segments.services.backfill import Backfill, BackfillWorker
from tests.support.memory import MemoryRealtime, memory_realtime

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PRO = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}
FREE = {"attribute": {"field": "plan", "op": "equals", "value": "free"}}
PRO_IDS = [f"c{n:02d}" for n in range(0, 20, 2)]


@pytest.fixture
def rt() -> MemoryRealtime:
    rt = memory_realtime(NOW)
    for n in range(20):
        rt.contact(f"c{n:02d}", attributes={"plan": "pro" if n % 2 == 0 else "free"})
    rt.memory.contact_records()  # loaded before the segment exists: nothing to stream
    return rt


def test_a_new_segment_is_filled_and_a_new_version_exits_who_no_longer_matches(rt: MemoryRealtime) -> None:
    saved = rt.save("pro", PRO)
    progress = Backfill(rt.service, page_size=3).run("t1", "pro", workers=1)
    assert (progress.done, progress.entered, progress.exited, progress.complete) == (20, 10, 0, True)
    assert rt.members("pro") == PRO_IDS and progress.version == saved.version
    changed = rt.save("pro", FREE)
    again = Backfill(rt.service, page_size=3).run("t1", "pro", workers=4)
    assert (again.version, again.entered, again.exited) == (changed.version, 10, 10)
    assert rt.members("pro") == [f"c{n:02d}" for n in range(1, 20, 2)]


def test_a_rerun_resumes_and_counts_nothing_twice(rt: MemoryRealtime) -> None:
    saved = rt.save("pro", PRO)
    backfill = Backfill(rt.service, page_size=1)
    sizes = [
        sum(keys.contact_shard(f"c{n:02d}") == shard for n in range(20))
        for shard in range(keys.CONTACT_SHARDS)
    ]
    job = backfill.plan("t1", "pro")[sizes.index(max(sizes))]  # a slice of more than one page
    assert max(sizes) > 1
    first = backfill.run_slice(job, remaining=lambda: 0.0, reserve=1)  # one page, then out of time
    assert first is not None and first.cursor is not None
    assert backfill.run_slice(job) is None  # a redelivered first message resumes at the stored cursor
    assert backfill.run_slice(first) is None  # the continuation finds the slice finished
    done = backfill.run("t1", "pro", workers=1)
    assert (done.done, done.entered, done.complete) == (20, 10, True)
    assert rt.memory.progress.progress("t1", "pro", saved.version).done == 20


def test_the_worker_splits_a_job_and_queues_continuations(rt: MemoryRealtime) -> None:
    saved = rt.save("pro", PRO)
    queue = MemoryBackfillQueue()
    worker = BackfillWorker(Backfill(rt.service, page_size=1), queue)
    assert worker.handle(BackfillJob("t1", "pro", saved.version)) is None
    assert sorted(j.shard for j in queue.jobs if j.shard is not None) == list(range(keys.CONTACT_SHARDS))
    while queue.jobs:
        worker.handle(queue.jobs.pop(0), remaining=lambda: 0.0, reserve=1)
    assert rt.members("pro") == PRO_IDS


def test_a_superseded_version_does_nothing(rt: MemoryRealtime) -> None:
    old = rt.save("pro", PRO)
    rt.save("pro", FREE)
    backfill = Backfill(rt.service)
    assert backfill.run_slice(BackfillJob("t1", "pro", old.version, shard=0)) is None
    assert rt.members("pro") == [] and backfill.progress("t1", "pro", old.version).done == 0
