"""Real-time membership on DynamoDB: the engine wired to the repositories.

:class:`growthos_segments.core.membership.MembershipEngine` decides; this module gives it what it
needs on AWS (or moto) and adapts the three triggers to it:

- :class:`TenantSegmentCache` compiles each tenant's active segments once per
  revision (the repository's revision-checked cache says when they changed)
  and attaches the tenant context;
- :class:`DynamoPairStates` reads the stored membership and re-check of the
  affected pairs with one strongly consistent ``BatchGetItem`` across both
  tables (that is the third read of a contact change, after the view's
  GetItem and Query);
- :class:`growthos_segments.services.context.TenantContexts` stores plugin tenant data (RFM
  thresholds), read at most every few minutes per container;
- :class:`StreamEvaluator` turns contacts/events stream records into one
  :class:`~core.dependencies.Change` per contact and evaluates each contact
  once per batch; :class:`Notifier` turns memberships stream records into
  ``Segment Entered`` / ``Segment Exited`` events; :class:`Scheduler` runs the
  due re-checks and refreshes tenant contexts.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from pynamodb.exceptions import TransactWriteError

from growthos_segments.core.dependencies import EVERYTHING, Change, changed_paths
from growthos_segments.core.host import PluginHost
from growthos_segments.core.membership import (
    ContactOutcome,
    MembershipEngine,
    PairState,
    SeqClock,
    TenantSegments,
    transition_event,
    with_context,
)
from growthos_segments.core.ports import (
    EventPublisher,
    MembershipRecord,
    MembershipStore,
    OutboundEvent,
    Page,
    SegmentRecord,
    SegmentStore,
    TransitionResult,
)
from growthos_segments.core.segments import SegmentDefinition
from growthos_segments.infra import aws, keys
from growthos_segments.infra.publisher import MAX_BATCH_ENTRIES, EventBridgePublisher
from growthos_segments.infra.repos import Repositories, build_repositories
from growthos_segments.infra.repos._common import parse_iso, plain
from growthos_segments.infra.settings import Settings
from growthos_segments.services.context import TenantContexts

__all__ = [
    "BatchResult",
    "ContactChanges",
    "DynamoPairStates",
    "EvaluationService",
    "HeldBack",
    "Notifier",
    "NotifyResult",
    "PublishError",
    "Scheduler",
    "SchedulerReport",
    "StreamEvaluator",
    "TenantSegmentCache",
    "build_service",
    "group_stream_records",
    "record_id",
]

log = logging.getLogger("growthos_segments.services.evaluation")

_DESERIALIZER = TypeDeserializer()
BATCH_GET_KEYS = 100
"""BatchGetItem reads at most 100 keys per request."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- raw item helpers


def _image(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A stream image (DynamoDB JSON) as plain Python values (ints/floats, lists)."""
    if not raw:
        return None
    return {name: plain(_DESERIALIZER.deserialize(value)) for name, value in raw.items()}


def _s(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value.get("S") if isinstance(value, Mapping) else None


def _n(item: Mapping[str, Any], name: str) -> int | None:
    value = item.get(name)
    raw = value.get("N") if isinstance(value, Mapping) else None
    return int(raw) if raw is not None else None


# --------------------------------------------------------------------------- stored pair state


class DynamoPairStates:
    """:class:`growthos_segments.core.membership.PairStateReader`: membership and re-check rows of
    (segment, contact) pairs, strongly consistent, up to 50 pairs per BatchGetItem
    (two keys each, one per table, in the same request).

    One contact with more than 50 affected segments (a new or deleted contact
    touches all of them) reads its membership keys in chunks of 100 and its
    re-checks with one Query of its re-check partition, which holds every
    segment's row anyway.
    """

    def __init__(
        self, repos: Repositories, *, max_attempts: int = 8, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._client = repos.client
        self._memberships = repos.settings.tables.memberships
        self._rechecks = repos.settings.tables.rechecks
        self._max_attempts = max_attempts
        self._sleep = sleep

    def read(self, tenant_id: str, contact_id: str, segment_ids: Sequence[str]) -> dict[str, PairState]:
        return self.read_many(tenant_id, [contact_id], segment_ids).get(contact_id, {})

    def read_many(
        self, tenant_id: str, contact_ids: Sequence[str], segment_ids: Sequence[str]
    ) -> dict[str, dict[str, PairState]]:
        contacts = list(dict.fromkeys(contact_ids))
        segments = list(dict.fromkeys(segment_ids))
        if not contacts or not segments:
            return {}
        members: dict[tuple[str, str], tuple[bool, int]] = {}
        rechecks: dict[tuple[str, str], tuple[datetime, int]] = {}
        membership_keys = [
            (self._memberships,
             {"pk": {"S": keys.membership_pk(tenant_id, sid)}, "sk": {"S": keys.check_contact_id(cid)}})
            for cid in contacts
            for sid in segments
        ]
        if len(contacts) == 1 and 2 * len(segments) > BATCH_GET_KEYS:
            wanted = membership_keys
            self._query_rechecks(keys.recheck_pk(tenant_id, contacts[0]), contacts[0], rechecks)
        else:
            wanted = membership_keys + [
                (self._rechecks,
                 {"pk": {"S": keys.recheck_pk(tenant_id, cid)}, "sk": {"S": keys.check_segment_id(sid)}})
                for cid in contacts
                for sid in segments
            ]
        for start in range(0, len(wanted), BATCH_GET_KEYS):
            self._batch_get(wanted[start:start + BATCH_GET_KEYS], members, rechecks)
        out: dict[str, dict[str, PairState]] = {}
        for cid in contacts:
            states: dict[str, PairState] = {}
            for sid in segments:
                member, seq = members.get((cid, sid), (False, None))
                recheck_at, recheck_seq = rechecks.get((cid, sid), (None, None))
                if seq is not None or recheck_at is not None:
                    states[sid] = PairState(member, seq, recheck_at, recheck_seq)
            out[cid] = states
        return out

    def _batch_get(
        self,
        wanted: list[tuple[str, dict[str, Any]]],
        members: dict[tuple[str, str], tuple[bool, int]],
        rechecks: dict[tuple[str, str], tuple[datetime, int]],
    ) -> None:
        request: dict[str, Any] = {}
        for table, key in wanted:
            if table not in request:
                projection = "#c, #sid, #m, #q" if table == self._memberships else "#c, #sk, #r, #q"
                names = (
                    {"#c": "contact_id", "#sid": "segment_id", "#m": "member", "#q": "seq"}
                    if table == self._memberships
                    else {"#c": "contact_id", "#sk": "sk", "#r": "recheck_at", "#q": "seq"}
                )
                request[table] = {"Keys": [], "ConsistentRead": True, "ProjectionExpression": projection,
                                  "ExpressionAttributeNames": names}
            request[table]["Keys"].append(key)
        for attempt in range(self._max_attempts):
            response = self._client.batch_get_item(RequestItems=request)
            found = response.get("Responses", {})
            for item in found.get(self._memberships, []):
                cid, sid, seq = _s(item, "contact_id"), _s(item, "segment_id"), _n(item, "seq")
                if cid is not None and sid is not None and seq is not None:
                    members[(cid, sid)] = (bool(item.get("member", {}).get("BOOL")), seq)
            for item in found.get(self._rechecks, []):
                self._recheck(item, rechecks)
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return
            self._sleep(min(1.0, 0.02 * 2**attempt) * random.random())
        raise RuntimeError("BatchGetItem kept returning unprocessed keys (throttled); retry the record")

    @staticmethod
    def _recheck(item: Mapping[str, Any], rechecks: dict[tuple[str, str], tuple[datetime, int]]) -> None:
        cid, sid, at, seq = _s(item, "contact_id"), _s(item, "sk"), _s(item, "recheck_at"), _n(item, "seq")
        if cid is not None and sid is not None and at is not None and seq is not None:
            rechecks[(cid, sid)] = (parse_iso(at), seq)

    def _query_rechecks(
        self, pk: str, contact_id: str, rechecks: dict[tuple[str, str], tuple[datetime, int]]
    ) -> None:
        kwargs: dict[str, Any] = {
            "TableName": self._rechecks,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        while True:
            response = self._client.query(**kwargs)
            for item in response.get("Items", []):
                self._recheck(item, rechecks)
            if not response.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


# --------------------------------------------------------------------------- compiled segments


def definition_of(record: SegmentRecord) -> SegmentDefinition:
    return SegmentDefinition(
        id=record.segment_id,
        rule=dict(record.rule) if record.rule else None,
        version=record.version,
        name=record.name,
        type=record.type,  # type: ignore[arg-type]  # SegmentDefinition coerces the string
        exclude_segments=tuple(record.exclude_segments),
        include_contacts=frozenset(record.include_contacts),
        exclude_contacts=frozenset(record.exclude_contacts),
    )


@dataclass(slots=True)
class _Compiled:
    segments: TenantSegments
    context_checked: float = 0.0


class TenantSegmentCache:
    """:class:`growthos_segments.core.membership.SegmentSource`: a compiled set per tenant, rebuilt only
    when the (segment id, version) fingerprint of the active heads changes.

    The heads come from :meth:`SegmentStore.active_segments`, itself cached and
    revalidated with one small read every few seconds, so a contact change
    normally costs no segment request at all. Compiling (parsing, validating,
    building closures) happens once per revision per container.
    """

    def __init__(
        self,
        store: SegmentStore,
        host: PluginHost,
        contexts: TenantContexts | None = None,
        *,
        context_seconds: float = 300.0,
        max_tenants: int = 256,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._host = host
        self._contexts = contexts
        self._context_seconds = context_seconds
        self._max = max_tenants
        self._monotonic = monotonic
        self._cache: OrderedDict[str, _Compiled] = OrderedDict()
        self._lock = threading.Lock()

    def for_tenant(self, tenant_id: str, *, fresh: bool = False) -> TenantSegments:
        records = self._store.list_segments(tenant_id) if fresh else self._store.active_segments(tenant_id)
        fingerprint = tuple(sorted((r.segment_id, r.version) for r in records))
        with self._lock:
            entry = self._cache.get(tenant_id)
        if entry is None or entry.segments.fingerprint != fingerprint:
            compiled = TenantSegments.build(tenant_id, self._host, (definition_of(r) for r in records))
            for sid, why in compiled.rejected.items():
                log.warning("tenant %s: segment %s is not evaluated: %s", tenant_id, sid, why)
            compiled = replace(compiled, fingerprint=fingerprint)
            entry = _Compiled(compiled)
        entry = self._with_context(tenant_id, entry, force=fresh)
        with self._lock:
            self._cache[tenant_id] = entry
            self._cache.move_to_end(tenant_id)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return entry.segments

    def _with_context(self, tenant_id: str, entry: _Compiled, *, force: bool) -> _Compiled:
        if self._contexts is None or not entry.segments.index.context_readers:
            return entry
        now = self._monotonic()
        if not force and entry.context_checked and now - entry.context_checked < self._context_seconds:
            return entry
        stored = self._contexts.get(tenant_id)
        context = stored.context if stored is not None else {}
        return _Compiled(with_context(entry.segments, context), now)

    def invalidate(self, tenant_id: str) -> None:
        with self._lock:
            self._cache.pop(tenant_id, None)


# --------------------------------------------------------------------------- transaction conflicts


class ConflictRetrying:
    """Retries a transition whose transaction was cancelled by a *conflict*.

    Two contacts on one counter shard can transition at the same moment; DynamoDB
    cancels one transaction with ``TransactionConflict`` (not a condition failure)
    and botocore does not retry it. Re-running the transition is safe: it is
    conditional on ``seq``.
    """

    def __init__(
        self, inner: MembershipStore, *, attempts: int = 5, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._inner = inner
        self._attempts = attempts
        self._sleep = sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _retry(self, call: Callable[[], TransitionResult]) -> TransitionResult:
        for attempt in range(self._attempts):
            try:
                return call()
            except TransactWriteError as error:
                reasons = error.cancellation_reasons or []
                conflict = any(r is not None and r.code == "TransactionConflict" for r in reasons)
                if not conflict or attempt == self._attempts - 1:
                    raise
                self._sleep(min(0.5, 0.01 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def enter(self, tenant_id: str, segment_id: str, contact_id: str, **kwargs: Any) -> TransitionResult:
        return self._retry(lambda: self._inner.enter(tenant_id, segment_id, contact_id, **kwargs))

    def exit(self, tenant_id: str, segment_id: str, contact_id: str, **kwargs: Any) -> TransitionResult:
        return self._retry(lambda: self._inner.exit(tenant_id, segment_id, contact_id, **kwargs))

    def confirm(self, tenant_id: str, segment_id: str, contact_id: str, **kwargs: Any) -> bool:
        return self._inner.confirm(tenant_id, segment_id, contact_id, **kwargs)

    def get(self, tenant_id: str, segment_id: str, contact_id: str) -> MembershipRecord | None:
        return self._inner.get(tenant_id, segment_id, contact_id)

    def members(self, tenant_id: str, segment_id: str, **kwargs: Any) -> Page[str]:
        return self._inner.members(tenant_id, segment_id, **kwargs)

    def segments_of(self, tenant_id: str, contact_id: str) -> list[MembershipRecord]:
        return self._inner.segments_of(tenant_id, contact_id)

    def count(self, tenant_id: str, segment_id: str) -> int:
        return self._inner.count(tenant_id, segment_id)


# --------------------------------------------------------------------------- the service


@dataclass
class EvaluationService:
    """Everything the real-time handlers share in one container."""

    settings: Settings
    repos: Repositories
    host: PluginHost
    segments: TenantSegmentCache
    contexts: TenantContexts
    engine: MembershipEngine
    clock: Callable[[], datetime]
    events_client: Any = None
    _publisher: EventPublisher | None = field(default=None, repr=False)

    @property
    def publisher(self) -> EventPublisher:
        if self._publisher is None:
            client = self.events_client or aws.client("events", self.settings)
            self._publisher = EventBridgePublisher(
                client, self.settings.event_bus_name, source=self.settings.event_source
            )
        return self._publisher


def build_service(
    settings: Settings,
    *,
    host: PluginHost | None = None,
    clock: Callable[[], datetime] = _utcnow,
    repos: Repositories | None = None,
    publisher: EventPublisher | None = None,
    verify: bool = True,
    confirm_unchanged: bool = False,
    context_seconds: float = 300.0,
    seqs: SeqClock | None = None,
) -> EvaluationService:
    """Wire the engine for one deployment (``host`` defaults to the installed plugins)."""
    if host is None:
        from growthos_segments.plugins import default_host

        host = default_host()
    repos = repos or build_repositories(settings)
    contexts = TenantContexts(repos)
    cache = TenantSegmentCache(repos.segments, host, contexts, context_seconds=context_seconds)
    engine = MembershipEngine(
        cache,
        repos.views,
        DynamoPairStates(repos),
        ConflictRetrying(repos.memberships),
        repos.rechecks,
        clock=clock,
        seqs=seqs,
        verify=verify,
        confirm_unchanged=confirm_unchanged,
    )
    return EvaluationService(settings, repos, host, cache, contexts, engine, clock, _publisher=publisher)


# --------------------------------------------------------------------------- stream records


def record_id(record: Mapping[str, Any]) -> str:
    """The item identifier Lambda expects in ``batchItemFailures`` for a stream record."""
    return str((record.get("dynamodb") or {}).get("SequenceNumber") or record.get("eventID") or id(record))


@dataclass
class ContactChanges:
    """Every record of one contact in a batch, merged into one change."""

    tenant_id: str
    contact_id: str
    change: Change
    records: list[str] = field(default_factory=list)


def _table_of(record: Mapping[str, Any]) -> str | None:
    arn = record.get("eventSourceARN")
    if isinstance(arn, str) and ":table/" in arn:
        return arn.split(":table/", 1)[1].split("/", 1)[0]
    return None


def _profile(image: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if image is None else dict(image)


def _change_of(record: Mapping[str, Any], is_event: bool) -> Change:
    name = record.get("eventName")
    body = record.get("dynamodb") or {}
    if is_event:
        if name == "REMOVE":
            return Change(any_event=True)
        new = _image(body.get("NewImage"))
        return Change.of_event(new.get("name") if new else None)
    if name == "MODIFY":
        old, new = _image(body.get("OldImage")), _image(body.get("NewImage"))
        if old is None or new is None:
            return EVERYTHING
        return Change(paths=changed_paths(_profile(old), _profile(new)))
    return EVERYTHING  # INSERT (a new contact) or REMOVE (a deleted one): every segment


def group_stream_records(
    records: Sequence[Mapping[str, Any]], settings: Settings
) -> tuple[list[ContactChanges], dict[str, Exception]]:
    """Contacts and events stream records, one merged change per contact, in first-seen order.

    Returns the groups and the records that cannot be understood at all (no
    usable key): those are reported as failures, the rest proceed.
    """
    groups: dict[tuple[str, str], ContactChanges] = {}
    poison: dict[str, Exception] = {}
    for record in records:
        rid = record_id(record)
        try:
            body = record.get("dynamodb")
            if not isinstance(body, Mapping):
                raise ValueError("record has no dynamodb section")
            key_image = _image(body.get("Keys")) or {}
            tenant_id, contact_id = keys.split_contact_pk(key_image.get("pk"))
            table = _table_of(record)
            if table == settings.tables.events:
                is_event = True
            elif table == settings.tables.contacts:
                is_event = False
            else:  # unknown table name (a renamed stack): the key shape tells
                is_event = "sk" in key_image
            change = _change_of(record, is_event)
        except (ValueError, TypeError, KeyError) as error:
            poison[rid] = error
            continue
        group = groups.get((tenant_id, contact_id))
        if group is None:
            group = groups[(tenant_id, contact_id)] = ContactChanges(tenant_id, contact_id, change)
        else:
            group.change = group.change | change
        group.records.append(rid)
    return list(groups.values()), poison


@dataclass
class BatchResult:
    failed: dict[str, Exception] = field(default_factory=dict)
    """Record id -> why (every record of a contact whose evaluation failed)."""
    outcomes: list[ContactOutcome] = field(default_factory=list)


class StreamEvaluator:
    """Evaluates a batch of contacts/events stream records, each contact once."""

    def __init__(self, service: EvaluationService, *, workers: int = 1) -> None:
        self._service = service
        self._workers = max(1, workers)

    def evaluate_batch(self, records: Sequence[Mapping[str, Any]]) -> BatchResult:
        groups, poison = group_stream_records(records, self._service.settings)
        result = BatchResult(failed=dict(poison))
        for rid, error in poison.items():
            log.error("stream record %s cannot be read: %s", rid, error)
        work = [g for g in groups if not g.change.empty]

        def run(group: ContactChanges) -> ContactOutcome | Exception:
            try:
                return self._service.engine.evaluate(group.tenant_id, group.contact_id, group.change)
            except Exception as error:  # one contact's failure must not fail the others
                log.exception("evaluating %s/%s failed", group.tenant_id, group.contact_id)
                return error

        if self._workers > 1 and len(work) > 1:
            with ThreadPoolExecutor(max_workers=min(self._workers, len(work))) as pool:
                done = list(pool.map(run, work))
        else:
            done = [run(group) for group in work]
        for group, outcome in zip(work, done, strict=True):
            if isinstance(outcome, Exception):
                for rid in group.records:
                    result.failed[rid] = outcome
            else:
                result.outcomes.append(outcome)
        return result


# --------------------------------------------------------------------------- notifications


@dataclass
class NotifyResult:
    sent: int = 0
    skipped: int = 0
    failed: dict[str, Exception] = field(default_factory=dict)
    events: list[OutboundEvent] = field(default_factory=list)


class PublishError(RuntimeError):
    """EventBridge did not accept a transition's event; its record is retried."""


class HeldBack(RuntimeError):
    """A record after the batch's first failure: not published in this invocation,
    because Lambda redelivers everything from the first failed record anyway."""


def _pair(event: OutboundEvent) -> tuple[Any, Any, Any]:
    detail = event.detail
    return detail.get("tenant_id"), detail.get("segment_id"), detail.get("contact_id")


class Notifier:
    """Memberships stream -> ``Segment Entered`` / ``Segment Exited`` events.

    The memberships table is the outbox: an event exists only because a
    transition was committed, and a record is acknowledged only once its
    event is accepted. Delivery is at least once (a retried batch re-sends),
    so every event carries the transition's stable idempotency id.

    Order per (segment, contact) pair is the stream's, which is commit order.
    A partial failure must not break it, and Lambda's partial batch response
    cannot express "retry only this record": it checkpoints before the first
    failed record and redelivers everything after it. So the batch stops at
    its first failure: that record and every later one are reported failed,
    and nothing after it is published. Events before it go out in stream order
    and never two of one pair in one ``PutEvents`` request (EventBridge
    processes the entries of a request independently: it could refuse the
    enter and accept the exit that follows it). The result: an event is
    published only after every earlier event of its pair was accepted, and a
    redelivered record is never published after a later one of its pair.
    """

    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    def notify(self, records: Sequence[Mapping[str, Any]]) -> NotifyResult:
        result = NotifyResult()
        ids = [record_id(record) for record in records]
        stop = len(records)
        stop_error: Exception | None = None
        pending: dict[str, OutboundEvent] = {}
        first_index: dict[str, int] = {}
        for index, record in enumerate(records):
            if record.get("eventName") not in ("INSERT", "MODIFY"):
                result.skipped += 1  # REMOVE: a tombstone's TTL expiry, never a transition
                continue
            body = record.get("dynamodb") or {}
            try:
                event = transition_event(_image(body.get("OldImage")), _image(body.get("NewImage")))
            except (TypeError, ValueError) as error:
                stop, stop_error = index, error
                break
            if event is None:
                result.skipped += 1
                continue
            if event.idempotency_id not in pending:  # a duplicate record: its first copy decides
                pending[event.idempotency_id] = event
                first_index[event.idempotency_id] = index
        for run in self._runs(list(pending.values())):
            published = self._publisher.publish(run)
            result.sent += published.sent
            refused = {f.event.idempotency_id: f for f in published.failed}
            result.events += [e for e in run if e.idempotency_id not in refused]
            if refused:
                first = min(refused, key=first_index.__getitem__)
                failure = refused[first]
                stop = min(stop, first_index[first])
                stop_error = PublishError(f"{failure.code}: {failure.message}")
                break
        for index in range(stop, len(records)):
            result.failed[ids[index]] = stop_error if index == stop else HeldBack(
                f"held back behind record {ids[stop]}, which failed: {stop_error}"
            )
        return result

    @staticmethod
    def _runs(events: list[OutboundEvent]) -> Iterator[list[OutboundEvent]]:
        """Consecutive events, cut before a pair's second event: one run never holds
        two events of one pair, so a later event is sent only after the earlier was
        accepted (the publisher may split a run into several requests, never merge).
        A run is at most one request's worth of entries, so a refusal stops the
        batch before more is sent that Lambda would redeliver anyway."""
        run: list[OutboundEvent] = []
        pairs: set[tuple[Any, Any, Any]] = set()
        for event in events:
            if _pair(event) in pairs or len(run) == MAX_BATCH_ENTRIES:
                yield run
                run, pairs = [], set()
            run.append(event)
            pairs.add(_pair(event))
        if run:
            yield run


# --------------------------------------------------------------------------- the scheduler


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
    ) -> None:
        self._service = service
        self._page_size = page_size
        self._refresh = context_refresher

    def tenants(self) -> Iterator[str]:
        return self._service.repos.segments.tenants()

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
            for shard in range(service.repos.rechecks.shards):
                if out_of_time() or not self._run_shard(tenant_id, shard, now, report, out_of_time):
                    report.complete = False
                    return report
        # Contexts after every due re-check: a slow recomputation must not delay
        # a time-driven transition.
        for tenant_id in tenants:
            if out_of_time():
                report.complete = False
                break
            self._maybe_refresh_context(tenant_id, now, report, out_of_time)
        return report

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
            page = service.repos.rechecks.due(
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
                service.repos.rechecks.schedule(
                    tenant_id, segment_id, contact_id, recheck_at=now, seq=service.engine.seqs.next()
                )
            except Exception:  # then the pair waits for a change of the contact that affects it
                log.exception("re-check of %s/%s/%s not put back", tenant_id, segment_id, contact_id)
