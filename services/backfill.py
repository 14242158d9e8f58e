"""Backfill: membership of every contact of a tenant for a new or changed segment.

A segment saved at version N is evaluated for each of the tenant's contacts
through the same engine as the stream (so a backfill and a concurrent stream
evaluation are ordered by ``seq`` like any two evaluations). Contacts are read
in slices — the ``by_tenant_shard`` index splits every tenant into
:data:`growthos_segments.infra.keys.CONTACT_SHARDS` key-ordered shards — and a slice advances a
page at a time:

- **locally**, :meth:`Backfill.run` runs the slices on a thread pool in-process;
- **on AWS**, one SQS message ``{tenant, segment, version}`` (sent by whoever
  saved the segment) is split by a worker into one message per shard, and a
  worker that nears its time limit sends the rest of its slice back to the
  queue (:class:`BackfillWorker`, behind ``growthos_segments.handlers.backfill``).

Progress is one item per slice in the counters table (``T#S`` /
``backfill#<version>#NN``): contacts done, enters, exits, the cursor of the
next page and whether the slice finished. A page is counted only if the
slice's stored cursor is still the one the page started from (a conditional
update), so a redelivered message or a second worker on the same slice never
counts twice, and a re-run resumes where the last one stopped instead of
starting over. Evaluations are idempotent (unchanged pairs write nothing,
transitions are conditional on ``seq``), which is what makes a re-run safe.

A backfill of version N stops as soon as the segment is at a later version
(that version's backfill covers it), and covers exits: a contact that was a
member under the old rule and does not match the new one leaves.

Start a backfill after the segment caches have seen the new version
(``Settings.segment_cache_seconds``): a contact written before that is still
evaluated by the stream against the old rule, and the backfill must read it
afterwards. :func:`start_backfill` delays its message by that much.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from growthos_segments.core.host import PluginHost
from growthos_segments.core.membership import MembershipEngine, PairState, TenantSegments, with_context
from growthos_segments.core.ports import MembershipRecord, TransitionOutcome, TransitionResult
from growthos_segments.infra import aws, keys
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.repos._common import iso, parse_iso
from growthos_segments.infra.settings import Settings
from growthos_segments.services.context import DocumentStream, TenantContexts, context_reads
from growthos_segments.services.evaluation import EvaluationService, TenantSegmentCache

__all__ = [
    "Backfill",
    "BackfillJob",
    "BackfillProgress",
    "BackfillQueue",
    "BackfillWorker",
    "InitialLoad",
    "LoadReport",
    "ProgressStore",
    "SliceState",
    "start_backfill",
]

log = logging.getLogger("growthos_segments.services.backfill")

SQS_BATCH = 10
MAX_DELAY_SECONDS = 900


class JobError(ValueError):
    """A backfill message is malformed (never retried into success: it is reported and dropped)."""


@dataclass(frozen=True, slots=True)
class BackfillJob:
    """A backfill of one segment version: the whole tenant (``shard`` None) or one slice."""

    tenant_id: str
    segment_id: str
    version: int
    shard: int | None = None
    cursor: str | None = None

    def to_json(self) -> str:
        body: dict[str, Any] = {"tenant_id": self.tenant_id, "segment_id": self.segment_id,
                                "version": self.version}
        if self.shard is not None:
            body["shard"] = self.shard
        if self.cursor is not None:
            body["cursor"] = self.cursor
        return json.dumps(body, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BackfillJob:
        try:
            body = json.loads(text)
        except (TypeError, ValueError) as error:
            raise JobError(f"backfill message is not JSON: {error}") from None
        if not isinstance(body, dict):
            raise JobError("backfill message must be a JSON object")
        try:
            tenant_id = keys.check_tenant_id(body.get("tenant_id"))
            segment_id = keys.check_segment_id(body.get("segment_id"))
        except keys.InvalidKeyError as error:
            raise JobError(str(error)) from None
        version, shard, cursor = body.get("version"), body.get("shard"), body.get("cursor")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise JobError(f"invalid segment version: {version!r}")
        if shard is not None and (
            not isinstance(shard, int) or isinstance(shard, bool) or not 0 <= shard < keys.CONTACT_SHARDS
        ):
            raise JobError(f"invalid shard: {shard!r}")
        if cursor is not None and not isinstance(cursor, str):
            raise JobError("cursor must be a string")
        return cls(tenant_id, segment_id, version, shard, cursor)


@dataclass(frozen=True, slots=True)
class SliceState:
    done: int
    entered: int
    exited: int
    cursor: str | None
    finished: bool


@dataclass(frozen=True, slots=True)
class BackfillProgress:
    """How far a backfill of one segment version has got (summed over its slices)."""

    tenant_id: str
    segment_id: str
    version: int
    done: int
    entered: int
    exited: int
    slices_finished: int
    slices: int = keys.CONTACT_SHARDS

    @property
    def complete(self) -> bool:
        return self.slices_finished >= self.slices

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "segment_id": self.segment_id,
            "version": self.version,
            "contacts_done": self.done,
            "entered": self.entered,
            "exited": self.exited,
            "slices_finished": self.slices_finished,
            "slices": self.slices,
            "complete": self.complete,
        }


class ProgressStore:
    """Per-slice progress items in the counters table (raw client: the items carry
    more than a count, and the counter model only knows counts)."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def _key(self, job: BackfillJob, shard: int) -> dict[str, Any]:
        return {
            "pk": {"S": keys.counter_pk(job.tenant_id, job.segment_id)},
            "sk": {"S": keys.backfill_progress_sk(job.version, shard)},
        }

    def slice(self, job: BackfillJob) -> SliceState | None:
        assert job.shard is not None
        item = self._client.get_item(TableName=self._table, Key=self._key(job, job.shard),
                                     ConsistentRead=True).get("Item")
        return None if not item else _slice(item)

    def advance(
        self, job: BackfillJob, *, next_cursor: str | None, done: int, entered: int, exited: int
    ) -> bool:
        """Count one page that started at ``job.cursor``; ``False`` if someone else already did."""
        assert job.shard is not None
        values: dict[str, Any] = {
            ":n": {"N": str(done)},
            ":e": {"N": str(entered)},
            ":x": {"N": str(exited)},
            ":fin": {"BOOL": next_cursor is None},
            ":t": {"S": iso(datetime.now(UTC))},
        }
        update = "ADD done :n, entered :e, exited :x SET finished = :fin, updated_at = :t"
        if next_cursor is None:
            update += " REMOVE next_cursor"
        else:
            update += ", next_cursor = :next"
            values[":next"] = {"S": next_cursor}
        if job.cursor is None:
            condition = "attribute_not_exists(pk)"
        else:
            condition = "next_cursor = :start AND finished = :false"
            values[":start"] = {"S": job.cursor}
            values[":false"] = {"BOOL": False}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(job, job.shard),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _items(self, tenant_id: str, segment_id: str, version: int) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.counter_pk(tenant_id, segment_id)},
                ":prefix": {"S": keys.backfill_progress_prefix(version)},
            },
            "ConsistentRead": True,
        }
        items: list[dict[str, Any]] = []
        while True:
            response = self._client.query(**kwargs)
            items += response.get("Items", [])
            if not response.get("LastEvaluatedKey"):
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def progress(self, tenant_id: str, segment_id: str, version: int) -> BackfillProgress:
        slices = [_slice(item) for item in self._items(tenant_id, segment_id, version)]
        return BackfillProgress(
            tenant_id,
            segment_id,
            version,
            done=sum(s.done for s in slices),
            entered=sum(s.entered for s in slices),
            exited=sum(s.exited for s in slices),
            slices_finished=sum(1 for s in slices if s.finished),
        )

    def finished_slices(self, tenant_id: str, segment_id: str, version: int) -> set[int]:
        return {
            int(item["sk"]["S"].rsplit("#", 1)[1])
            for item in self._items(tenant_id, segment_id, version)
            if item.get("finished", {}).get("BOOL")
        }

    def reset(self, tenant_id: str, segment_id: str, version: int) -> None:
        """Forget a version's progress, so the next run starts from the first contact."""
        for item in self._items(tenant_id, segment_id, version):
            self._client.delete_item(TableName=self._table, Key={"pk": item["pk"], "sk": item["sk"]})


def _slice(item: Mapping[str, Any]) -> SliceState:
    def number(name: str) -> int:
        return int(item.get(name, {}).get("N", "0"))

    return SliceState(
        done=number("done"),
        entered=number("entered"),
        exited=number("exited"),
        cursor=item.get("next_cursor", {}).get("S"),
        finished=bool(item.get("finished", {}).get("BOOL")),
    )


class Backfill:
    """Runs backfill slices against the engine."""

    def __init__(
        self,
        service: EvaluationService,
        *,
        page_size: int = 100,
        progress: ProgressStore | None = None,
    ) -> None:
        self.service = service
        self.page_size = page_size
        counters = service.settings.tables.counters
        self.progress_store = progress or ProgressStore(service.repos.client, counters)

    def current(self, tenant_id: str, segment_id: str) -> tuple[TenantSegments, int | None]:
        tenant = self.service.segments.for_tenant(tenant_id, fresh=True)
        return tenant, tenant.versions.get(segment_id)

    def plan(self, tenant_id: str, segment_id: str, version: int | None = None) -> list[BackfillJob]:
        """One job per contact shard (``version`` defaults to the segment's current one)."""
        if version is None:
            _, version = self.current(tenant_id, segment_id)
            if version is None:
                raise LookupError(f"segment {segment_id!r} of tenant {tenant_id!r} is not active")
        return [BackfillJob(tenant_id, segment_id, version, shard) for shard in range(keys.CONTACT_SHARDS)]

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
            log.info("backfill %s: segment is not active any more; nothing to do", job.to_json())
            return None
        if current > job.version:
            log.info("backfill %s: superseded by version %d", job.to_json(), current)
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
        contacts = self.service.repos.contacts
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
                log.info("backfill %s: another worker advanced this slice; leaving it", job.to_json())
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
        jobs = [BackfillJob(tenant_id, segment_id, version, shard) for shard in range(keys.CONTACT_SHARDS)
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


class BackfillQueue:
    """Backfill jobs on SQS (the template's ``BackfillQueue``)."""

    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self._sqs = sqs_client
        self._url = queue_url

    def send(self, jobs: Sequence[BackfillJob], *, delay_seconds: int = 0) -> None:
        delay = max(0, min(MAX_DELAY_SECONDS, int(delay_seconds)))
        for start in range(0, len(jobs), SQS_BATCH):
            chunk = jobs[start:start + SQS_BATCH]
            entries = [
                {"Id": str(i), "MessageBody": job.to_json(), "DelaySeconds": delay}
                for i, job in enumerate(chunk)
            ]
            response = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries)
            failed = response.get("Failed") or []
            if failed:
                reason = failed[0].get("Message")
                raise RuntimeError(f"could not queue {len(failed)} backfill job(s): {reason}")


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


def start_backfill(
    settings: Settings,
    tenant_id: str,
    segment_id: str,
    version: int,
    *,
    sqs_client: Any = None,
    delay_seconds: float | None = None,
) -> BackfillJob:
    """Queue the backfill of a just-saved segment version (what the API calls after a save).

    The message is delayed past the segment cache window, so every stream
    evaluator already uses version ``version`` when the backfill reads contacts.
    """
    if not settings.backfill_queue_url:
        raise RuntimeError("BACKFILL_QUEUE_URL is not set: no queue to start a backfill on")
    job = BackfillJob(keys.check_tenant_id(tenant_id), keys.check_segment_id(segment_id), version)
    client = sqs_client or aws.client("sqs", settings)
    delay = settings.segment_cache_seconds + 1 if delay_seconds is None else delay_seconds
    BackfillQueue(client, settings.backfill_queue_url).send([job], delay_seconds=int(delay + 0.999))
    return job


def wait_for(
    backfill: Backfill, job: BackfillJob, *, timeout: float, poll: float = 0.2
) -> BackfillProgress:
    """Poll a backfill's progress until it completes or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        progress = backfill.progress(job.tenant_id, job.segment_id, job.version)
        if progress.complete or time.monotonic() >= deadline:
            return progress
        time.sleep(poll)


# --------------------------------------------------------------------------- initial load


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What :class:`InitialLoad` wrote for one tenant."""

    tenant_id: str
    contacts: int
    memberships: int
    rechecks: int
    segments: int
    seconds: float


Progress = Callable[[str, int, int], None]
"""``(what, done, total)``: called as an initial load advances."""


class _InMemoryViews:
    """:class:`growthos_segments.core.ports.ContactViewLoader` (and the bulk variant) over documents in
    memory, with the repository's event selection: events at or after ``now - lookback``."""

    def __init__(self, docs: Mapping[str, Mapping[str, Any]]) -> None:
        self._docs = docs

    def load_view(
        self, tenant_id: str, contact_id: str, *, now: datetime, lookback: timedelta | None
    ) -> dict[str, Any] | None:
        doc = self._docs.get(contact_id)
        if doc is None or doc.get("tenant_id") != tenant_id:
            return None
        since = None if lookback is None or lookback == timedelta.max else now - lookback
        events = [] if lookback is None else [
            e for e in doc.get("events") or () if since is None or parse_iso(e["at"]) >= since
        ]
        return {**doc, "events": events}

    def load_views(
        self, tenant_id: str, contact_ids: Sequence[str], *, now: datetime, lookback: timedelta | None
    ) -> dict[str, dict[str, Any] | None]:
        return {cid: self.load_view(tenant_id, cid, now=now, lookback=lookback) for cid in contact_ids}


class _NothingStored:
    """:class:`growthos_segments.core.membership.PairStateReader` for tables that hold none of the
    tenant's memberships or re-checks yet (what :class:`InitialLoad` requires)."""

    def read(self, tenant_id: str, contact_id: str, segment_ids: Sequence[str]) -> dict[str, PairState]:
        return {}

    def read_many(
        self, tenant_id: str, contact_ids: Sequence[str], segment_ids: Sequence[str]
    ) -> dict[str, dict[str, PairState]]:
        return {}


class _Rows:
    """Collects the engine's writes as the items the repositories would store.

    Stands in for the membership and re-check stores during an initial load;
    the engine only ever calls ``enter`` (nothing is stored, so there is nothing
    to exit or confirm) and ``schedule``. Re-check items come from
    :meth:`growthos_segments.infra.repos.RecheckRepository.row`; membership items mirror what
    :meth:`growthos_segments.infra.repos.MembershipRepository.enter` sets (a test compares the
    stored items with what the engine writes through the repositories).
    """

    def __init__(self, repos: Repositories) -> None:
        self._models = repos.models
        self._rechecks = repos.rechecks
        self.memberships: list[Any] = []
        self.rechecks: list[Any] = []
        self.counts: dict[tuple[str, str], int] = {}

    def enter(
        self,
        tenant_id: str,
        segment_id: str,
        contact_id: str,
        *,
        seq: int,
        at: datetime,
        segment_version: int | None = None,
    ) -> TransitionResult:
        stamp = iso(at)
        transition = keys.transition_id(tenant_id, segment_id, contact_id, seq, True)
        self.memberships.append(self._models.memberships(
            keys.membership_pk(tenant_id, segment_id),
            keys.check_contact_id(contact_id),
            tenant_id=tenant_id,
            segment_id=segment_id,
            contact_id=contact_id,
            member=True,
            seq=seq,
            segment_version=segment_version,
            changed_at=stamp,
            entered_at=stamp,
            transition_id=transition,
            contact_key=keys.membership_contact_key(tenant_id, contact_id),
        ))
        shard = (keys.counter_pk(tenant_id, segment_id), keys.counter_sk(keys.MEMBERS_COUNTER, contact_id))
        self.counts[shard] = self.counts.get(shard, 0) + 1
        record = MembershipRecord(tenant_id, segment_id, contact_id, True, seq, stamp, transition,
                                  entered_at=stamp, segment_version=segment_version)
        return TransitionResult(TransitionOutcome.APPLIED, record)

    def schedule(
        self,
        tenant_id: str,
        segment_id: str,
        contact_id: str,
        *,
        recheck_at: datetime | None,
        seq: int,
        replacing: tuple[datetime, int] | None = None,
    ) -> bool:
        """Record a re-check (``replacing`` is always ``None``: no re-check is stored yet)."""
        if recheck_at is None:
            return False  # nothing stored, nothing to clear
        row = self._rechecks.row(tenant_id, segment_id, contact_id, recheck_at=recheck_at, seq=seq)
        self.rechecks.append(row)
        return True


class InitialLoad:
    """A tenant's first memberships, from contact documents still in memory, in bulk.

    For data that is loaded before anything evaluates it (the local stack's demo
    seed, an import before go-live): the tenant's tables hold none of its
    memberships, re-checks or member counters yet. A :class:`Backfill` would read
    every contact back and write each enter as its own conditional transaction
    (on moto each one also copies the tables it touches, so a few thousand
    members take minutes). Here the same :class:`~core.membership.MembershipEngine`
    evaluates the documents through in-memory ports, so the decisions, ``seq``,
    re-checks and counters are the engine's own, and the rows it would have
    written go out with BatchWriteItem, 25 per request. With nothing stored,
    every decision is an enter or nothing, so a blind put cannot overwrite a
    newer evaluation.

    The tenant context (RFM thresholds) is computed first, from the same
    documents, and stored, so segments that read it are right from the start.
    """

    def __init__(self, repos: Repositories, host: PluginHost, *, page_size: int = 250) -> None:
        self.repos = repos
        self.host = host
        self.page_size = page_size

    def run(
        self,
        tenant_id: str,
        docs: Sequence[Mapping[str, Any]],
        now: datetime,
        *,
        progress: Progress | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> LoadReport | None:
        """Evaluate ``docs`` (contact documents with their events) at ``now`` and store
        the result; ``None`` if ``cancelled`` said so before the writes began."""
        started = time.perf_counter()
        report = progress or (lambda what, done, total: None)
        contexts = TenantContexts(self.repos)
        cache = TenantSegmentCache(self.repos.segments, self.host)
        tenant = cache.for_tenant(tenant_id, fresh=True)
        reads = context_reads(tenant)
        if reads is not None:
            context = self.host.tenant_context(tenant_id, DocumentStream(docs, reads, now), now)
            contexts.put(tenant_id, context, now)
            tenant = with_context(tenant, context)
        rows = _Rows(self.repos)
        engine = MembershipEngine(
            cache, _InMemoryViews({d["contact_id"]: d for d in docs}), _NothingStored(),
            rows, rows,  # type: ignore[arg-type]  # the engine calls only enter and schedule here
            clock=lambda: now, verify=False,
        )
        ids = [str(d["contact_id"]) for d in docs]
        segment_ids = list(tenant.versions)
        for start in range(0, len(ids), self.page_size):
            if cancelled is not None and cancelled():
                return None
            page = ids[start:start + self.page_size]
            engine.evaluate_many(tenant_id, page, only=segment_ids, segments=tenant)
            report("evaluating", start + len(page), len(ids))
        models = self.repos.models
        counters = [models.counters(pk, sk, count=n) for (pk, sk), n in sorted(rows.counts.items())]
        total = len(rows.memberships) + len(counters) + len(rows.rechecks)
        written = 0
        for model, batch in ((models.memberships, rows.memberships), (models.counters, counters),
                             (models.rechecks, rows.rechecks)):
            with model.batch_write() as writer:
                for item in batch:
                    writer.save(item)
                    written += 1
                    if written % 500 == 0 or written == total:
                        report("writing", written, total)
        return LoadReport(tenant_id, len(ids), len(rows.memberships), len(rows.rechecks), len(segment_ids),
                          time.perf_counter() - started)
