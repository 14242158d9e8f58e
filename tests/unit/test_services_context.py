"""Tenant-context refresh on the in-memory ports: computed when stale, readers backfilled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from growthos_segments.core.ports import BackfillJob
from growthos_segments.infra.memory import MemoryBackfillQueue
from growthos_segments.services.context import ContextRefresher, context_reads
from tests.support.memory import memory_realtime

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PRO = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}


def test_a_stale_context_is_recomputed_stored_and_its_readers_backfilled() -> None:
    rt = memory_realtime(NOW)
    rt.save("pro", PRO)
    assert not ContextRefresher(rt.service)("t1", NOW)  # no segment reads a context
    champions = rt.save("champions", {"rfm_tier": {"tier": "champions"}})
    for n in range(6):
        rt.contact(f"c{n}")
        for k in range(n + 1):
            rt.event(f"c{n}", "order.completed", ago=timedelta(days=10 - n + 5 * k), amount=10 * (n + 1))
        rt.event(f"c{n}", "page.viewed")  # not declared by any context reader: not read
    reads = context_reads(rt.service.segments.for_tenant("t1"))
    assert reads is not None and reads.events == frozenset({"order.completed"})
    queue = MemoryBackfillQueue()
    refresher = ContextRefresher(rt.service, max_age=timedelta(hours=24), backfills=queue)
    assert refresher("t1", NOW)
    assert (refresher.last_pass.contacts, refresher.last_pass.events) == (6, 21)
    stored = rt.memory.contexts.get("t1")
    assert stored is not None and stored.context["rfm"]["customers"] == 6 and stored.computed_at == NOW
    assert queue.jobs == [BackfillJob("t1", "champions", champions.version)]
    assert not refresher("t1", NOW + timedelta(hours=1))  # fresh enough
    assert not refresher("t1", NOW + timedelta(days=2), lambda: True)  # no time: the old one stays
    assert rt.memory.contexts.get("t1").computed_at == NOW  # type: ignore[union-attr]
    assert refresher("t1", NOW + timedelta(days=2))
    assert rt.memory.contexts.get("t1").computed_at == NOW + timedelta(days=2)  # type: ignore[union-attr]
