"""Notification on the in-memory ports: one event per transition, in order, never past a refusal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from growthos_segments.core.ports import OutboundEvent
from growthos_segments.services.notifier import HeldBack, PublishError
from tests.support.memory import MemoryRealtime, memory_realtime

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PRO = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}


@pytest.fixture
def rt() -> MemoryRealtime:
    return memory_realtime(NOW)


def test_only_transitions_become_events(rt: MemoryRealtime) -> None:
    rt.save("pro", PRO)
    rt.contact("c1", attributes={"plan": "pro"})
    rt.contact("c2", attributes={"plan": "free"})  # a tombstone for a never-member: no event
    rt.evaluate()
    result = rt.notify()
    assert (result.sent, result.failed) == (1, {})
    assert [(e.detail_type, e.detail["contact_id"]) for e in rt.memory.publisher.events] == [
        ("Segment Entered", "c1")
    ]
    assert rt.memory.publisher.events[0].idempotency_id.endswith("#enter")


def test_a_refused_event_fails_its_record_holds_back_the_rest_and_goes_out_on_redelivery(
    rt: MemoryRealtime,
) -> None:
    rt.save("pro", PRO)
    for cid in ("c1", "c2", "c3"):
        rt.contact(cid, attributes={"plan": "pro"})
    rt.evaluate()
    records = rt.memory.membership_records()
    rt.memory.publisher.refuse = lambda e: e.detail["contact_id"] == "c2"
    result = rt.notifier.notify(records)
    ids = [r["id"] for r in records]
    c2 = next(i for i, r in enumerate(records) if r["new"]["contact_id"] == "c2" and r["new"]["member"])
    assert isinstance(result.failed[ids[c2]], PublishError)
    assert all(isinstance(result.failed[i], HeldBack) for i in ids[c2 + 1:])
    assert set(result.failed) == set(ids[c2:])
    rt.memory.publisher.refuse = None
    retry = rt.notifier.notify(records[c2:])
    assert retry.failed == {}
    # c3 shared c2's request and was accepted there; held back, it is sent again (at least once)
    assert [e.detail["contact_id"] for e in rt.memory.publisher.events] == ["c1", "c3", "c2", "c3"]


def test_two_events_of_one_pair_never_share_a_request(rt: MemoryRealtime) -> None:
    rt.save("pro", PRO)
    rt.contact("c1", attributes={"plan": "pro"})
    rt.evaluate()
    rt.contact("c1", attributes={"plan": "free"})
    rt.evaluate()
    requests: list[list[OutboundEvent]] = []
    publish = rt.memory.publisher.publish

    def recording(events: list[OutboundEvent]) -> object:
        requests.append(list(events))
        return publish(events)

    rt.memory.publisher.publish = recording  # type: ignore[method-assign]
    assert rt.notify().failed == {}
    assert [[e.detail_type for e in r] for r in requests] == [["Segment Entered"], ["Segment Exited"]]
