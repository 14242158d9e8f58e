"""Stream evaluation on the in-memory ports: each contact once per batch, failures alone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from growthos_segments.core.dependencies import Change
from tests.support.memory import MemoryRealtime, memory_realtime

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PRO = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}
BOUGHT = {"event": {"name": "order.completed", "within": "30d"}}


@pytest.fixture
def rt() -> MemoryRealtime:
    return memory_realtime(NOW)


def test_a_profile_change_enters_and_exits_with_exact_counts(rt: MemoryRealtime) -> None:
    rt.save("pro", PRO)
    rt.contact("c1", attributes={"plan": "pro"})
    rt.contact("c2", attributes={"plan": "free"})
    assert rt.flush() == [("ENTER", "t1", "pro", "c1")]
    rt.contact("c1", attributes={"plan": "free"})
    rt.contact("c2", attributes={"plan": "pro"})
    assert sorted(rt.flush()) == [("ENTER", "t1", "pro", "c2"), ("EXIT", "t1", "pro", "c1")]
    assert rt.members("pro") == ["c2"] and rt.memory.memberships.count("t1", "pro") == 1


def test_records_of_one_contact_are_evaluated_once(rt: MemoryRealtime) -> None:
    rt.save("pro", PRO)
    rt.contact("c1", attributes={"plan": "free"})
    rt.contact("c1", attributes={"plan": "pro"})
    rt.event("c1", "page.viewed")
    result = rt.evaluate()
    assert [(o.contact_id, o.transitions) for o in result.outcomes] == [("c1", 1)]


def test_an_event_enters_a_behavioural_segment(rt: MemoryRealtime) -> None:
    rt.save("buyers", BOUGHT)
    rt.contact("c1", attributes={})
    assert rt.flush() == []
    rt.event("c1", "order.completed", amount=10)
    assert rt.flush() == [("ENTER", "t1", "buyers", "c1")]


def test_an_unreadable_record_and_a_failing_contact_fail_alone(
    rt: MemoryRealtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt.save("pro", PRO)
    for cid in ("c1", "c2", "c3"):
        rt.contact(cid, attributes={"plan": "pro"})
    records = rt.memory.contact_records()
    poison: dict[str, Any] = {"id": "999", "table": "contacts", "tenant_id": "t1", "contact_id": "c9"}
    evaluate = rt.service.engine.evaluate

    def failing(tenant_id: str, contact_id: str, change: Change | None = None, **kwargs: Any) -> Any:
        if contact_id == "c2":
            raise RuntimeError("storage down")
        return evaluate(tenant_id, contact_id, change, **kwargs)

    monkeypatch.setattr(rt.service.engine, "evaluate", failing)
    result = rt.evaluator.evaluate_batch([*records[:1], poison, *records[1:]])
    c2 = next(r["id"] for r in records if r["contact_id"] == "c2")
    assert sorted(result.failed) == sorted(["999", c2])
    assert rt.members("pro") == ["c1", "c3"]
