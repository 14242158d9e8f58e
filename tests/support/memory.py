"""The real-time services on the in-memory ports: a harness for their unit tests (no moto).

Mirrors :class:`tests.support.realtime.Realtime` step by step (save a segment,
write a contact or an event, evaluate what changed, notify what transitioned)
over :class:`growthos_segments.infra.memory.MemoryBackend`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from growthos_segments.core.ports import SegmentRecord
from growthos_segments.infra.memory import MemoryBackend
from growthos_segments.plugins import default_host
from growthos_segments.services.notifier import Notifier, NotifyResult
from growthos_segments.services.realtime import EvaluationService, evaluation_service
from growthos_segments.services.stream import BatchResult, StreamEvaluator
from tests.support.realtime import Clock

__all__ = ["MemoryRealtime", "memory_realtime"]


@dataclass
class MemoryRealtime:
    memory: MemoryBackend
    service: EvaluationService
    clock: Clock
    evaluator: StreamEvaluator = field(init=False)
    notifier: Notifier = field(init=False)

    def __post_init__(self) -> None:
        self.evaluator = StreamEvaluator(self.service)
        self.notifier = Notifier(self.service.publisher, self.service.ports.records)

    def save(self, segment_id: str, rule: Any, *, tenant_id: str = "t1", **fields: Any) -> SegmentRecord:
        head = self.memory.segments.get(tenant_id, segment_id)
        record = SegmentRecord(tenant_id=tenant_id, segment_id=segment_id, name=segment_id, rule=rule,
                               version=head.version if head else 0, **fields)
        return self.memory.segments.save(record, now=self.clock())

    def contact(self, contact_id: str, *, tenant_id: str = "t1", **profile: Any) -> None:
        self.memory.contacts.put({"tenant_id": tenant_id, "contact_id": contact_id, **profile})

    def event(self, contact_id: str, name: str, *, tenant_id: str = "t1", ago: timedelta = timedelta(0),
              **properties: Any) -> None:
        self.memory.contacts.event(tenant_id, contact_id, name, at=self.clock() - ago, properties=properties)

    def evaluate(self) -> BatchResult:
        return self.evaluator.evaluate_batch(self.memory.contact_records())

    def notify(self) -> NotifyResult:
        return self.notifier.notify(self.memory.membership_records())

    def flush(self) -> list[tuple[str, str, str, str]]:
        """Evaluate pending changes and notify them; what the bus received since the last flush."""
        before = len(self.memory.publisher.events)
        assert not self.evaluate().failed
        assert not self.notify().failed
        kinds = {"Segment Entered": "ENTER", "Segment Exited": "EXIT"}
        return [(kinds[e.detail_type], e.detail["tenant_id"], e.detail["segment_id"], e.detail["contact_id"])
                for e in self.memory.publisher.events[before:]]

    def members(self, segment_id: str, *, tenant_id: str = "t1") -> list[str]:
        return self.memory.memberships.members(tenant_id, segment_id, limit=1000).items


def memory_realtime(now: datetime) -> MemoryRealtime:
    memory = MemoryBackend()
    clock = Clock(now)
    service = evaluation_service(memory.ports(), default_host(), clock=clock)
    return MemoryRealtime(memory, service, clock)
