"""Scheduling: every period, re-evaluate the (segment, contact) pairs whose time has come.

``recheck_at`` is stored for members and non-members alike and read back per
tenant shard by due time (:meth:`RecheckStore.due`), so a run reads only what
is due and never scans contacts. After the due pairs it records each tenant's
segment sizes when a new hour has begun (:class:`~growthos_segments.services.history.SizeRecorder`),
then lets the context refresher recompute stale tenant contexts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from growthos_segments.services.history import SizeRecorder
from growthos_segments.services.realtime import EvaluationService

__all__ = ["Scheduler", "SchedulerReport"]

log = logging.getLogger("growthos_segments.services.scheduler")


@dataclass
class SchedulerReport:
    now: datetime
    tenants: int = 0
    due: int = 0
    contacts: int = 0
    entered: int = 0
    exited: int = 0
    failures: int = 0
    complete: bool = True
    """False when the run stopped for time; the rest is still due and runs next period."""
    contexts_refreshed: list[str] = field(default_factory=list)
    sizes_recorded: int = 0
    """Size-history points written (non-zero on the first run of an hour)."""


class Scheduler:
    """Re-evaluates the (segment, contact) pairs whose ``recheck_at`` is due.

    The due index is ``tenant#NN / due minute`` (rounded up), so each tenant
    costs one key-range Query per shard and page — never a scan of contacts.
    A pair due at 12:00:30 sits in the 12:01 bucket and is evaluated by the
    run that starts at 12:01: at most one period late, never early.
    """

    def __init__(
        self,
        service: EvaluationService,
        *,
        page_size: int = 200,
        context_refresher: Callable[[str, datetime, Callable[[], bool]], bool] | None = None,
        sizes: SizeRecorder | None = None,
    ) -> None:
        self._service = service
        self._page_size = page_size
        self._refresh = context_refresher
        self._sizes = sizes

    def tenants(self) -> Iterator[str]:
        return self._service.ports.segments.tenants()

    def run(self, *, remaining: Callable[[], float] | None = None, reserve: float = 5.0) -> SchedulerReport:
        """One period's work; ``remaining`` (seconds left) stops it early, cleanly."""
        service = self._service
        now = service.clock()
        report = SchedulerReport(now=now)

        def out_of_time() -> bool:
            return remaining is not None and remaining() < reserve

        tenants = list(self.tenants())
        for tenant_id in tenants:
            report.tenants += 1
            for shard in range(service.ports.rechecks.shards):
                if out_of_time() or not self._run_shard(tenant_id, shard, now, report, out_of_time):
                    report.complete = False
                    return report
        # Sizes and contexts after every due re-check: a slow recomputation must not
        # delay a time-driven transition, and a size counts what those transitions did.
        for tenant_id in tenants:
            if out_of_time():
                report.complete = False
                break
            self._record_sizes(tenant_id, now, report)
            self._maybe_refresh_context(tenant_id, now, report, out_of_time)
        return report

    def _record_sizes(self, tenant_id: str, now: datetime, report: SchedulerReport) -> None:
        if self._sizes is None:
            return
        try:
            report.sizes_recorded += self._sizes.record(tenant_id, now)
        except Exception:  # a missed point must not stop time-driven transitions; next run retries
            log.exception("tenant %s: recording segment sizes failed", tenant_id)
            report.failures += 1

    def _maybe_refresh_context(
        self, tenant_id: str, now: datetime, report: SchedulerReport, out_of_time: Callable[[], bool]
    ) -> None:
        if self._refresh is None:
            return
        try:
            if self._refresh(tenant_id, now, out_of_time):
                report.contexts_refreshed.append(tenant_id)
        except Exception:  # a context failure must not stop time-driven transitions
            log.exception("tenant %s: refreshing the tenant context failed", tenant_id)
            report.failures += 1

    def _run_shard(
        self,
        tenant_id: str,
        shard: int,
        now: datetime,
        report: SchedulerReport,
        out_of_time: Callable[[], bool],
    ) -> bool:
        service = self._service
        cursor: str | None = None
        seen: set[tuple[str, str]] = set()
        while True:
            page = service.ports.rechecks.due(
                tenant_id, now=now, shard=shard, limit=self._page_size, cursor=cursor
            )
            by_contact: dict[str, list[str]] = {}
            for record in page.items:
                if (record.segment_id, record.contact_id) in seen:
                    continue  # rewritten earlier in this run and read again from the index
                seen.add((record.segment_id, record.contact_id))
                by_contact.setdefault(record.contact_id, []).append(record.segment_id)
            for contact_id, segment_ids in by_contact.items():
                report.due += len(segment_ids)
                report.contacts += 1
                try:
                    outcome = service.engine.evaluate(tenant_id, contact_id, only=segment_ids)
                except Exception:  # the pairs stay due and are retried next period
                    log.exception("scheduled re-check of %s/%s failed", tenant_id, contact_id)
                    report.failures += 1
                    self._keep_due(tenant_id, contact_id, segment_ids, now)
                    continue
                report.entered += outcome.entries
                report.exited += outcome.exits
                if out_of_time():
                    return False
            cursor = page.cursor
            if cursor is None:
                return True

    def _keep_due(self, tenant_id: str, contact_id: str, segment_ids: list[str], now: datetime) -> None:
        """Put the pairs of a failed evaluation back in the due index (an earlier
        re-check is always accepted). The evaluation may have moved a re-check
        later before it failed, and such a move counts on its verification pass."""
        service = self._service
        for segment_id in segment_ids:
            try:
                service.ports.rechecks.schedule(
                    tenant_id, segment_id, contact_id, recheck_at=now, seq=service.engine.seqs.next()
                )
            except Exception:  # then the pair waits for a change of the contact that affects it
                log.exception("re-check of %s/%s/%s not put back", tenant_id, segment_id, contact_id)
