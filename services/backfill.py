"""Backfill: membership of every contact of a tenant for a new or changed segment.

A segment saved at version N is evaluated for each of the tenant's contacts
through the same engine as the stream (so a backfill and a concurrent stream
evaluation are ordered by ``seq`` like any two evaluations). Contacts are read
in slices — the :class:`ContactPager` port splits every tenant into
``shards`` key-ordered slices — and a slice advances a page at a time:

- **locally**, :meth:`Backfill.run` runs the slices on a thread pool in-process;
- **on AWS**, one SQS message ``{tenant, segment, version}`` (sent by whoever
  saved the segment) is split by a worker into one message per shard, and a
  worker that nears its time limit sends the rest of its slice back to the
  queue (:class:`BackfillWorker`, behind ``growthos_segments.handlers.backfill``).

Progress is kept per slice (the :class:`BackfillProgressStore` port):
contacts done, enters, exits, the cursor of the next page and whether the
slice finished. A page is counted only if the slice's stored cursor is still
the one the page started from, so a redelivered message or a second worker on
the same slice never counts twice, and a re-run resumes where the last one
stopped instead of starting over. Evaluations are idempotent (unchanged pairs write nothing,
transitions are conditional on ``seq``), which is what makes a re-run safe.

A backfill of version N stops as soon as the segment is at a later version
(that version's backfill covers it), and covers exits: a contact that was a
member under the old rule and does not match the new one leaves.

Start a backfill after the segment caches have seen the new version
(``Settings.segment_cache_seconds``): a contact written before that is still
evaluated by the stream against the old rule, and the backfill must read it
afterwards (the audience service's save delays its job by that much).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from growthos_segments.core.membership import TenantSegments
from growthos_segments.core.ports import BackfillJob, BackfillProgress, BackfillQueue
from growthos_segments.services.realtime import EvaluationService

__all__ = ["Backfill", "BackfillWorker"]

log = logging.getLogger("growthos_segments.services.backfill")


class Backfill:
    """Runs backfill slices against the engine."""

    def __init__(self, service: EvaluationService, *, page_size: int = 100) -> None:
        self.service = service
        self.page_size = page_size
        self.progress_store = service.ports.progress
        self._shards = service.ports.contacts.shards

    def current(self, tenant_id: str, segment_id: str) -> tuple[TenantSegments, int | None]:
        tenant = self.service.segments.for_tenant(tenant_id, fresh=True)
        return tenant, tenant.versions.get(segment_id)

    def plan(self, tenant_id: str, segment_id: str, version: int | None = None) -> list[BackfillJob]:
        """One job per contact shard (``version`` defaults to the segment's current one)."""
        if version is None:
            _, version = self.current(tenant_id, segment_id)
            if version is None:
                raise LookupError(f"segment {segment_id!r} of tenant {tenant_id!r} is not active")
        return [BackfillJob(tenant_id, segment_id, version, shard) for shard in range(self._shards)]

    def progress(self, tenant_id: str, segment_id: str, version: int) -> BackfillProgress:
        return self.progress_store.progress(tenant_id, segment_id, version)

    def run_slice(
        self,
        job: BackfillJob,
        *,
        remaining: Callable[[], float] | None = None,
        reserve: float = 10.0,
        segments: TenantSegments | None = None,
    ) -> BackfillJob | None:
        """Advance one slice page by page; returns the continuation when time runs out.

        ``segments`` is the tenant's compiled set when the caller just read it
        (an in-process run); a message on its own reads it fresh.
        """
        if job.shard is None:
            raise ValueError("run_slice needs a job for one shard (see plan)")
        if segments is None:
            tenant, current = self.current(job.tenant_id, job.segment_id)
        else:
            tenant, current = segments, segments.versions.get(job.segment_id)
        if current is None:
            log.info("backfill %s: segment is not active any more; nothing to do", job)
            return None
        if current > job.version:
            log.info("backfill %s: superseded by version %d", job, current)
            return None
        if current < job.version:
            raise RuntimeError(f"segment {job.segment_id!r} is at version {current}, not yet {job.version}")
        stored = self.progress_store.slice(job)
        if stored is not None:
            if stored.finished:
                return None
            job = replace(job, cursor=stored.cursor)  # resume where the slice really is
        elif job.cursor is not None:
            job = replace(job, cursor=None)  # no page counted yet: start at the beginning
        engine = self.service.engine
        contacts = self.service.ports.contacts
        while True:
            assert job.shard is not None
            page = contacts.contact_ids(
                job.tenant_id, shard=job.shard, limit=self.page_size, cursor=job.cursor
            )
            outcomes = engine.evaluate_many(job.tenant_id, page.items, only=[job.segment_id], segments=tenant)
            entered = sum(len(o.entered) for o in outcomes)
            exited = sum(len(o.exited) for o in outcomes)
            counted = self.progress_store.advance(
                job, next_cursor=page.cursor, done=len(page.items), entered=entered, exited=exited
            )
            if not counted:
                log.info("backfill %s: another worker advanced this slice; leaving it", job)
                return None
            if page.cursor is None:
                return None
            job = replace(job, cursor=page.cursor)
            if remaining is not None and remaining() < reserve:
                return job

    def run(
        self,
        tenant_id: str,
        segment_id: str,
        version: int | None = None,
        *,
        workers: int = 4,
        restart: bool = False,
        cancelled: Callable[[], bool] | None = None,
    ) -> BackfillProgress:
        """The whole backfill in this process, ``workers`` slices at a time; slices a
        previous run finished are skipped (``restart`` forgets them first).

        Every slice stops after the page in hand once ``cancelled`` says so, or when
        the caller is interrupted (Ctrl-C): its stored cursor lets the next run
        resume there, so stopping never waits for whole slices.
        """
        tenant, current = self.current(tenant_id, segment_id)
        if current is None:
            raise LookupError(f"segment {segment_id!r} of tenant {tenant_id!r} is not active")
        version = current if version is None else version
        if restart:
            self.progress_store.reset(tenant_id, segment_id, version)
        finished = self.progress_store.finished_slices(tenant_id, segment_id, version)
        jobs = [BackfillJob(tenant_id, segment_id, version, shard) for shard in range(self._shards)
                if shard not in finished]
        interrupted = threading.Event()

        def stopping() -> bool:
            return interrupted.is_set() or (cancelled is not None and cancelled())

        def remaining() -> float:
            return 0.0 if stopping() else math.inf

        def drain(job: BackfillJob) -> None:
            pending: BackfillJob | None = job
            while pending is not None and not stopping():
                pending = self.run_slice(pending, segments=tenant, remaining=remaining, reserve=1.0)

        if workers <= 1:
            for job in jobs:
                drain(job)
            return self.progress(tenant_id, segment_id, version)
        pool = ThreadPoolExecutor(max_workers=workers)
        try:
            for future in [pool.submit(drain, job) for job in jobs]:
                future.result()
        except BaseException:
            interrupted.set()  # the other slices stop after their current page
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return self.progress(tenant_id, segment_id, version)


class BackfillWorker:
    """What ``growthos_segments.handlers.backfill`` does with one message: split a job, or run a slice
    and queue its continuation."""

    def __init__(self, backfill: Backfill, queue: BackfillQueue) -> None:
        self.backfill = backfill
        self.queue = queue

    def handle(
        self, job: BackfillJob, *, remaining: Callable[[], float] | None = None, reserve: float = 10.0
    ) -> BackfillJob | None:
        if job.shard is None:
            self.queue.send(self.backfill.plan(job.tenant_id, job.segment_id, job.version))
            return None
        continuation = self.backfill.run_slice(job, remaining=remaining, reserve=reserve)
        if continuation is not None:
            self.queue.send([continuation])
        return continuation
