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

**Candidates from the analytical copy.** With :class:`SqlCandidates` a slice
evaluates only the contacts whose membership can change, named by the copy
(:class:`~growthos_segments.core.ports_candidates.CandidateSource`), and leaves
exactly the memberships and re-checks evaluating everyone would leave. The
evaluated segments are the backfilled one and every segment that references it
(the engine recomputes those too); for each, the candidates are:

(a) the SQL answer at the backfill's instant over the copy (members, and the
    contacts the query leaves undecided);
(b) every current member, read from the membership store (not the copy): those
    who no longer match must exit;
(c) nothing for contacts changed after the copy's instant T, because a slice
    uses the copy only when T is at or after the version's save time plus the
    segment cache window (the *horizon*). A change written after the horizon is
    evaluated by the stream against the new version (every cache has it by
    then); a change before T is in the copy. Reading the changed contacts some
    other way would need an index of contacts by change time that the tables do
    not have. The copy's instant is a watermark (``services/copy.py``): every
    change made before it is in the copy, whichever stream shard carried it (the
    newest change the copy holds would not do: one shard may lag behind another).
    While the stored one is short of the horizon, the backfill computes it afresh
    from the streams (``SqlCandidates.watermark``) before opening the copy. The
    whole-tenant job waits for the copy to pass the horizon, a poll
    at a time (``SqlCandidates.poll``), at most ``SqlCandidates.wait`` past it; a
    slice that finds the copy still behind, or no copy, or a rule without an
    exact SQL form, evaluates every contact of its shard and logs why;
(d) the contacts whose answer can change with time alone (a contact with an
    order 10 days ago enters "no order in 60 days" in 50 days with no write;
    the engine stores a ``recheck_at`` for it, and a skipped contact never gets
    one): the copy names a superset from the declared reads of the conditions
    whose SQL form reads the instant (``growthos_segments.analytics.candidates``).

Everyone else is not a member, matches no condition that can move by time, and
has no change since T: evaluating them writes nothing. A re-check row an older
version left on such a contact stays until it falls due, when the scheduler
evaluates the pair against the new version, as it does for any contact.

The engine still decides and writes every transition and re-check. Each
candidate goes to the slice whose shard lists it (``ContactPager.shard_of``),
so a slice evaluating candidates and one evaluating its whole shard can run
side by side without leaving a contact out. A slice's mode is fixed by its first
counted page (a candidate slice's cursor is ``sql:<last contact id>``); its
progress counts the candidates evaluated, so ``contacts_done`` ends at the
number of candidates. A worker keeps the candidates it named for the other
slices of that version it runs (still complete later: what changed since is the
stream's, what moves with time was named); a worker without them names them
again, and a slice half done by candidates fails rather than go on without them.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from growthos_segments.core.membership import TenantSegments
from growthos_segments.core.ports import BackfillJob, BackfillProgress, BackfillQueue, Page
from growthos_segments.core.ports_candidates import CandidateSource, NoCandidates
from growthos_segments.core.timeutil import parse_instant, to_iso
from growthos_segments.services.realtime import EvaluationService

__all__ = ["Backfill", "BackfillWorker", "SqlCandidates"]

log = logging.getLogger("growthos_segments.services.backfill")

SQL_CURSOR = "sql:"
"""Prefix of a candidate slice's cursor (a pager's cursors are base64: never this)."""


@dataclass(frozen=True)
class SqlCandidates:
    """How a backfill uses the analytical copy to evaluate only its candidates."""

    source: CandidateSource
    cache_window: timedelta
    """``Settings.segment_cache_seconds``: after the save plus this, every stream
    evaluation uses the new version."""
    wait: timedelta = timedelta(minutes=5)
    """How long past that horizon a backfill waits for the copy before evaluating everyone."""
    poll: timedelta = timedelta(seconds=30)
    """How often a waiting backfill looks at the copy again."""
    sleep: Callable[[float], None] = time.sleep
    """How an in-process run waits (tests pass their clock's)."""
    watermark: Callable[[], datetime] | None = None
    """Computes the copy's watermark now, from the streams, for when the stored one is short
    of the horizon (``None``: wait for the stored one)."""


@dataclass(frozen=True, slots=True)
class _Candidates:
    """A backfill's candidates by shard (sorted), or why it evaluates everyone."""

    by_shard: Mapping[int, Sequence[str]] | None
    reason: str


class Backfill:
    """Runs backfill slices against the engine."""

    def __init__(
        self, service: EvaluationService, *, page_size: int = 100, candidates: SqlCandidates | None = None
    ) -> None:
        self.service = service
        self.page_size = page_size
        self.candidates = candidates
        self.progress_store = service.ports.progress
        self._shards = service.ports.contacts.shards
        self._named: tuple[tuple[str, str, int], _Candidates] | None = None
        """The last candidates named, kept for the next slice of the same version in this
        container: a set named from a copy past the horizon stays complete later (what
        changed since is the stream's, what moved with time was named)."""

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

    def _horizon(self, tenant_id: str, segment_id: str, version: int) -> datetime | None:
        """The version's save time plus the cache window (``None``: save time unknown)."""
        assert self.candidates is not None
        saved = self.service.ports.segments.get(tenant_id, segment_id, version=version)
        stamp = parse_instant(saved.updated_at) if saved is not None else None
        return None if stamp is None else stamp + self.candidates.cache_window

    def copy_wait(self, tenant_id: str, segment_id: str, version: int) -> float:
        """Seconds to wait before the slices start, for the copy to pass the horizon;
        0 when it has, when there is no copy to wait for, or when the wait is over."""
        if self.candidates is None:
            return 0.0
        horizon = self._horizon(tenant_id, segment_id, version)
        if horizon is None:
            return 0.0
        as_of, _ = self._as_of(tenant_id, horizon)
        if as_of is None or as_of >= horizon:
            return 0.0
        left = (horizon + self.candidates.wait - self.service.clock()).total_seconds()
        if left <= 0:
            return 0.0
        log.info("backfill %s/%s v%d: waiting for the analytical copy (as of %s, needs %s)",
                 tenant_id, segment_id, version, to_iso(as_of), to_iso(horizon))
        return max(1.0, min(left, self.candidates.poll.total_seconds()))

    def _as_of(self, tenant_id: str, horizon: datetime) -> tuple[datetime | None, datetime | None]:
        """The copy's instant, and the watermark computed now when the stored instant was
        short of ``horizon`` (``None``: not computed, or it could not be)."""
        assert self.candidates is not None
        as_of = self.candidates.source.as_of(tenant_id)
        if as_of is None or as_of >= horizon or self.candidates.watermark is None:
            return as_of, None
        try:
            marked = self.candidates.watermark()
        except Exception as error:  # the stored instant still holds; it is only older
            log.warning("computing the analytical copy's watermark failed: %s", error)
            return as_of, None
        return max(as_of, marked), marked

    def _candidates(self, tenant: TenantSegments, segment_id: str, version: int) -> _Candidates:
        """The candidates of this version's backfill (see the module docstring), by shard."""
        if self.candidates is None:
            return _Candidates(None, "no analytical copy configured")
        tenant_id = tenant.tenant_id
        horizon = self._horizon(tenant_id, segment_id, version)
        if horizon is None:
            return _Candidates(None, "the version's save time is unknown")
        source = self.candidates.source
        targets = tenant.index.closure([segment_id])
        as_of, marked = self._as_of(tenant_id, horizon)  # first, so a copy that is behind costs no query
        found = None
        if as_of is not None and as_of >= horizon:
            try:  # the copy opened after the watermark was computed holds what it vouches for
                found = source.candidates(tenant_id, tenant.segments, targets, self.service.clock(),
                                          tenant.context)
            except NoCandidates as exc:
                return _Candidates(None, f"no exact SQL form: {exc}")
            as_of = None if found is None else max(found.as_of, marked or found.as_of)
        if as_of is None:
            return _Candidates(None, "the tenant has no analytical copy")
        if found is None or as_of < horizon:
            return _Candidates(None, f"the analytical copy (as of {to_iso(as_of)}) is older than "
                                     f"the save plus the cache window ({to_iso(horizon)})")
        ids = set(found.ids)
        memberships = self.service.ports.memberships
        for sid in targets:
            cursor: str | None = None
            while True:
                page = memberships.members(tenant_id, sid, limit=1000, cursor=cursor)
                ids.update(page.items)
                if (cursor := page.cursor) is None:
                    break
        pager = self.service.ports.contacts
        by_shard: dict[int, list[str]] = {}
        for contact_id in sorted(ids):
            by_shard.setdefault(pager.shard_of(contact_id), []).append(contact_id)
        return _Candidates(by_shard, f"{len(ids)} candidates from the analytical copy as of {to_iso(as_of)}")

    def _pages(self, job: BackfillJob, found: _Candidates | None, tenant: TenantSegments
               ) -> Callable[[str | None], Page[str]]:
        """How this slice reads its next page: its candidates, or every contact of its shard."""
        assert job.shard is not None
        shard = job.shard
        if job.cursor is None or job.cursor.startswith(SQL_CURSOR):
            if found is None:
                key = (job.tenant_id, job.segment_id, job.version)
                if self._named is not None and self._named[0] == key:
                    found = self._named[1]
                else:
                    found = self._candidates(tenant, job.segment_id, job.version)
                    if found.by_shard is not None:
                        self._named = (key, found)
            if found.by_shard is not None:
                if job.cursor is None:
                    log.info("backfill %s: evaluating candidates only (%s)", job, found.reason)
                return self._candidate_pages(found.by_shard.get(shard, ()))
            if job.cursor is not None:  # a candidate slice half done: the rest needs candidates too
                raise RuntimeError(f"backfill {job}: cannot name the candidates any more ({found.reason})")
            if self.candidates is not None:
                log.info("backfill %s: evaluating every contact of the shard (%s)", job, found.reason)
        contacts = self.service.ports.contacts
        return lambda cursor: contacts.contact_ids(job.tenant_id, shard=shard, limit=self.page_size,
                                                   cursor=cursor)

    def _candidate_pages(self, ids: Sequence[str]) -> Callable[[str | None], Page[str]]:
        def page(cursor: str | None) -> Page[str]:
            start = 0 if cursor is None else bisect_right(ids, cursor[len(SQL_CURSOR):])
            items = list(ids[start:start + self.page_size])
            more = start + len(items) < len(ids)
            return Page(items, SQL_CURSOR + items[-1] if more else None)

        return page

    def run_slice(
        self,
        job: BackfillJob,
        *,
        remaining: Callable[[], float] | None = None,
        reserve: float = 10.0,
        segments: TenantSegments | None = None,
        candidates: _Candidates | None = None,
    ) -> BackfillJob | None:
        """Advance one slice page by page; returns the continuation when time runs out.

        ``segments`` is the tenant's compiled set when the caller just read it
        (an in-process run), ``candidates`` what it computed for every slice; a
        message on its own reads both fresh.
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
        next_page = self._pages(job, candidates, tenant)
        while True:
            page = next_page(job.cursor)
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
        resume there, so stopping never waits for whole slices. With
        :class:`SqlCandidates` the run first waits for the copy as a queued job
        does, then names the candidates once for every slice.
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

        found: _Candidates | None = None
        if jobs and self.candidates is not None and version == current:
            while (pause := self.copy_wait(tenant_id, segment_id, version)) > 0 and not stopping():
                self.candidates.sleep(pause)
            found = self._candidates(tenant, segment_id, version)

        def drain(job: BackfillJob) -> None:
            pending: BackfillJob | None = job
            while pending is not None and not stopping():
                pending = self.run_slice(pending, segments=tenant, candidates=found, remaining=remaining,
                                         reserve=1.0)

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
            pause = self.backfill.copy_wait(job.tenant_id, job.segment_id, job.version)
            if pause > 0:  # the copy is behind the save: look again later, the same job
                self.queue.send([job], delay_seconds=math.ceil(pause))
                return job
            self.queue.send(self.backfill.plan(job.tenant_id, job.segment_id, job.version))
            return None
        continuation = self.backfill.run_slice(job, remaining=remaining, reserve=reserve)
        if continuation is not None:
            self.queue.send([continuation])
        return continuation
