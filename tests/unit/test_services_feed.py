"""The notifier records what it publishes in the segments' feeds; the feed service reads them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from growthos_segments.core.ports import SegmentRecord, Transition
from growthos_segments.infra.memory import MemorySegments, MemoryTransitionFeed
from growthos_segments.services.audience import ApiError
from growthos_segments.services.feed import SegmentFeed
from growthos_segments.services.notifier import Notifier
from tests.support.memory import MemoryRealtime, memory_realtime

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PRO = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}


@pytest.fixture
def rt() -> MemoryRealtime:
    return memory_realtime(NOW)


def listed(feed: MemoryTransitionFeed, segment: str = "pro") -> list[tuple[str, str]]:
    return [(t.contact_id, t.kind) for t in feed.recent("t1", segment, now=NOW, limit=100).items]


def test_each_published_transition_is_in_the_feed_once_even_when_retried(rt: MemoryRealtime) -> None:
    feed = MemoryTransitionFeed()
    notifier = Notifier(rt.memory.publisher, rt.service.ports.records, feed)
    rt.save("pro", PRO)
    for cid in ("c1", "c2", "c3"):
        rt.contact(cid, attributes={"plan": "pro"})
    rt.evaluate()
    records = rt.memory.membership_records()
    rt.memory.publisher.refuse = lambda e: e.detail["contact_id"] == "c2"
    assert notifier.notify(records).failed  # c2 refused, c3 held back: Lambda redelivers both
    rt.memory.publisher.refuse = None
    assert not notifier.notify(records).failed  # a whole batch retried
    assert sorted(listed(feed)) == [("c1", "enter"), ("c2", "enter"), ("c3", "enter")]
    rt.clock.advance(minutes=1)
    rt.contact("c1", attributes={"plan": "free"})
    rt.evaluate()
    assert not notifier.notify(rt.memory.membership_records()).failed
    newest = feed.recent("t1", "pro", now=rt.clock(), limit=100).items
    assert [(t.contact_id, t.kind, t.at) for t in newest[:2]] == [
        ("c1", "exit", rt.clock()), ("c3", "enter", NOW)]
    assert {t.segment_version for t in newest} == {1}


class BrokenFeed(MemoryTransitionFeed):
    def record(self, transitions: Sequence[Transition]) -> None:
        raise RuntimeError("the counters table is unavailable")


def test_a_feed_that_cannot_record_stops_the_batch_before_publishing(rt: MemoryRealtime) -> None:
    rt.save("pro", PRO)
    rt.contact("c1", attributes={"plan": "pro"})
    rt.evaluate()
    with pytest.raises(RuntimeError):
        Notifier(rt.memory.publisher, rt.service.ports.records, BrokenFeed()).notify(
            rt.memory.membership_records())
    assert rt.memory.publisher.events == []


def test_the_feed_service_reads_one_tenants_segment_and_locates_bad_tokens() -> None:
    segments, feed = MemorySegments(), MemoryTransitionFeed()
    segments.save(SegmentRecord(tenant_id="t1", segment_id="pro", name="Pro", rule=PRO, version=0), now=NOW)
    feed.record([Transition("t1", "pro", f"c{i}", "enter", NOW - timedelta(minutes=i), 1, f"id{i}")
                 for i in range(3)])
    service = SegmentFeed(segments, feed, lambda: NOW)
    first = service.transitions("t1", "pro", limit=2, cursor=None, after=None)
    assert [(t.contact_id, t.kind, t.at) for t in first.transitions] == [
        ("c0", "enter", "2026-11-22T12:00:00Z"), ("c1", "enter", "2026-11-22T11:59:00Z")]
    assert first.cursor and first.newest
    polled = service.transitions("t1", "pro", limit=2, cursor=None, after=first.newest)
    assert polled.transitions == [] and polled.newest == first.newest  # keep polling with the same mark
    for tenant, segment in (("t2", "pro"), ("t1", "missing"), ("t1", "bad id")):
        with pytest.raises(ApiError) as refused:
            service.transitions(tenant, segment, limit=2, cursor=None, after=None)
        assert refused.value.status == 404 and refused.value.errors[0]["path"] == "/segment_id"
    for cursor, after, path in (("!!", None, "/cursor"), (None, "!!", "/after"), ("!!", first.newest, "")):
        with pytest.raises(ApiError) as bad:
            service.transitions("t1", "pro", limit=2, cursor=cursor, after=after)
        assert bad.value.status == 400 and bad.value.errors[0]["location"] == "query"
        assert bad.value.errors[0]["path"] == path
