"""Tenant contexts: tenant-wide data that conditions read (RFM quintile thresholds).

A plugin computes its context in the ``tenant_context`` hook from the whole
tenant; conditions read the stored result from ``view.context``. The
:class:`ContextRefresher` recomputes stale contexts on the scheduler's clock:
over the tenant's analytical copy when it has a fresh one (one SQL query per
namespace a plugin gives in SQL: :class:`growthos_segments.core.ports_contexts.TenantContexts`),
else by a pass over the tenant through the :class:`TenantScanner` port, reading
only what :func:`context_reads` collects; the result is stored through the
:class:`TenantContextStore` port.

What the hook is given, and why: the conditions that read a context declare,
in their :class:`growthos_segments.core.contract.Reads`, the events and profile paths it is
computed from (RFM's score and tier conditions declare ``order.completed`` over
365 days), so a pass reads those and nothing else, whatever the tenant's size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from growthos_segments.core.contract import Reads
from growthos_segments.core.membership import TenantSegments
from growthos_segments.core.ports import BackfillJob, BackfillQueue, OutOfTime, PassStats
from growthos_segments.core.ports_contexts import TenantContexts
from growthos_segments.core.rules import Condition, iter_nodes
from growthos_segments.services.realtime import EvaluationService

__all__ = ["COPY_MAX_LAG", "ContextRefresher", "context_reads"]

log = logging.getLogger("growthos_segments.services.context")

COPY_MAX_LAG = timedelta(minutes=15)
"""The analytical copy computes a context when it is at most this far behind the tables:
a context is a day's thresholds, and minutes of changes do not move quintiles of a tenant."""


def context_reads(tenant: TenantSegments) -> Reads | None:
    """What the tenant's contexts are computed from: the declared reads of every
    condition that reads a context (``None`` when no active segment reads one).

    Only those conditions count, not whole segments: a segment "RFM champions
    who opened an email" needs emails per contact, but its thresholds do not.
    """
    if not tenant.index.context_readers:
        return None
    total = Reads()
    for segment_id in tenant.index.context_readers:
        node = tenant.segments.segments[segment_id].effective
        if node is None:
            continue
        for _, item in iter_nodes(node):
            if isinstance(item, Condition) and item.reads.context:
                total = total.union(item.reads)
    return total


def _without_stamps(context: Mapping[str, Any]) -> dict[str, Any]:
    """A context minus each namespace's ``computed_at``: what decides memberships."""
    return {
        name: {k: v for k, v in data.items() if k != "computed_at"} if isinstance(data, Mapping) else data
        for name, data in context.items()
    }


class ContextRefresher:
    """Recomputes a tenant's context (``tenant_context`` hook) when it is older than ``max_age``.

    Only tenants with a segment that reads a context pay for it, and a pass
    reads only what those conditions declare (:func:`context_reads`).
    A changed context then queues a backfill of every segment that reads it, at
    its current version, on ``backfills``, because a new threshold can move a
    contact with no change of its own (without a queue it is logged, and those
    segments catch up as their contacts change).
    """

    def __init__(
        self,
        service: EvaluationService,
        *,
        max_age: timedelta = timedelta(hours=24),
        backfills: BackfillQueue | None = None,
        copy: TenantContexts | None = None,
        copy_max_lag: timedelta = COPY_MAX_LAG,
    ) -> None:
        self._service = service
        self._max_age = max_age
        self._backfills = backfills
        self._copy = copy
        self._copy_max_lag = copy_max_lag
        self.last_pass = PassStats()
        self.last_source = ""
        """Where the last recomputed context came from: ``copy`` or ``scan``."""

    def __call__(self, tenant_id: str, now: datetime, out_of_time: Callable[[], bool] | None = None) -> bool:
        """Recompute if stale; ``False`` when fresh, not needed, or out of time (then the
        stale context stays in use, as RFM conditions allow by default, and the next
        run tries again)."""
        service = self._service
        tenant = service.segments.for_tenant(tenant_id)
        reads = context_reads(tenant)
        if reads is None:
            return False
        stored = service.contexts.get(tenant_id)
        if stored is not None and now - stored.computed_at < self._max_age:
            return False
        context = self._from_copy(tenant_id, now)
        if context is not None:
            self.last_pass, self.last_source = PassStats(), "copy"
        else:
            stream = service.ports.scanner.scan(tenant_id, reads, now, out_of_time=out_of_time)
            try:
                context = service.host.tenant_context(tenant_id, stream, now)
            except OutOfTime:
                log.warning("tenant %s: out of time after %d contacts; context not recomputed this run",
                            tenant_id, stream.stats.contacts)
                return False
            finally:
                self.last_pass = stream.stats
            self.last_source = "scan"
            log.info("tenant %s: context recomputed from %d contacts (%d events, %d requests)",
                     tenant_id, stream.stats.contacts, stream.stats.events, stream.stats.requests)
        service.contexts.put(tenant_id, context, now)
        service.segments.invalidate(tenant_id)
        changed = stored is None or _without_stamps(stored.context) != _without_stamps(context)
        if changed:
            self._backfill(tenant_id, list(tenant.index.context_readers))
        return True

    def _from_copy(self, tenant_id: str, now: datetime) -> Mapping[str, Any] | None:
        """The context computed over the tenant's analytical copy, when it has one no older
        than ``copy_max_lag``; ``None`` sends the caller to the scan of the tables."""
        if self._copy is None:
            return None
        found = self._copy.compute(tenant_id, now)
        if found is None or found.as_of is None or now - found.as_of > self._copy_max_lag:
            log.info("tenant %s: no analytical copy as fresh as %s; context computed by a scan",
                     tenant_id, self._copy_max_lag)
            return None
        log.info("tenant %s: context recomputed over the analytical copy as of %s",
                 tenant_id, found.as_of.isoformat())
        return found.context

    def _backfill(self, tenant_id: str, segment_ids: list[str]) -> None:
        if self._backfills is None:
            log.warning("tenant %s: context changed but no backfill queue is configured", tenant_id)
            return
        versions = self._service.segments.for_tenant(tenant_id).versions
        jobs = [BackfillJob(tenant_id, sid, versions[sid]) for sid in segment_ids if sid in versions]
        self._backfills.send(jobs)
