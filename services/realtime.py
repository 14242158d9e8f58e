"""The real-time services' shared state: the engine wired to the ports, once per container.

:class:`growthos_segments.core.membership.MembershipEngine` decides; an
:class:`EvaluationService` gives it the segment catalog and the storage ports
and is what the stream evaluator, the scheduler, the context refresher and the
backfill share. It is built from a :class:`~growthos_segments.core.ports.RealtimePorts`
(DynamoDB in ``growthos_segments.handlers.wiring``, memory in
``growthos_segments.infra.memory``) and a plugin host, never from AWS directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from growthos_segments.core.host import PluginHost
from growthos_segments.core.membership import MembershipEngine, SeqClock
from growthos_segments.core.ports import EventPublisher, RealtimePorts, TenantContextStore
from growthos_segments.services.catalog import SegmentCatalog

__all__ = ["EvaluationService", "evaluation_service"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class EvaluationService:
    """Everything the real-time services share in one container."""

    ports: RealtimePorts
    host: PluginHost
    segments: SegmentCatalog
    engine: MembershipEngine
    clock: Callable[[], datetime]

    @property
    def contexts(self) -> TenantContextStore:
        return self.ports.contexts

    @property
    def publisher(self) -> EventPublisher:
        return self.ports.publisher


def evaluation_service(
    ports: RealtimePorts,
    host: PluginHost,
    *,
    clock: Callable[[], datetime] = _utcnow,
    verify: bool = True,
    confirm_unchanged: bool = False,
    context_seconds: float = 300.0,
    seqs: SeqClock | None = None,
) -> EvaluationService:
    """Wire the engine to ``ports`` (``context_seconds``: how long a tenant context is
    used before it is read again)."""
    catalog = SegmentCatalog(ports.segments, host, ports.contexts, context_seconds=context_seconds)
    engine = MembershipEngine(
        catalog,
        ports.views,
        ports.pair_states,
        ports.memberships,
        ports.rechecks,
        clock=clock,
        seqs=seqs,
        verify=verify,
        confirm_unchanged=confirm_unchanged,
    )
    return EvaluationService(ports, host, catalog, engine, clock)
