"""Ports: what the engine needs from storage and messaging, stated without AWS.

The evaluator, scheduler, backfill and API logic are written against these
protocols so they can be tested with in-memory fakes and run unchanged on
DynamoDB/EventBridge (``infra.repos``, ``infra.publisher``) or on moto. The
value types here are plain frozen dataclasses, never ORM objects, so nothing
from ``infra`` leaks into ``core``.

Shared conventions:

- Every method takes the tenant first and can only see that tenant's data; an
  id or cursor of another tenant behaves as "not found" or is rejected with
  :class:`CursorError`, never as a read of someone else's items.
- ``seq`` is an evaluation sequence: a larger number means a newer evaluation.
  Use epoch microseconds of the moment the contact view was *read* (not
  written), so an evaluation that saw older data loses to one that saw newer.
- Times are aware UTC ``datetime`` objects in, ISO 8601 ``...Z`` strings in
  stored records.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar, runtime_checkable

from growthos_segments.core.dependencies import event_matches
from growthos_segments.core.segments import SegmentType
from growthos_segments.core.timeutil import as_utc, parse_instant

__all__ = [
    "SEGMENT_STATUSES",
    "SEGMENT_TYPES",
    "ContactDocument",
    "ContactViewLoader",
    "CursorError",
    "EventPublisher",
    "MembershipRecord",
    "MembershipStore",
    "OutboundEvent",
    "Page",
    "PublishFailure",
    "PublishResult",
    "RecheckRecord",
    "RecheckStore",
    "SegmentRecord",
    "SegmentStore",
    "SegmentVersionConflict",
    "StorageError",
    "TransitionOutcome",
    "TransitionResult",
]

T = TypeVar("T")

ContactDocument = dict[str, Any]
"""The contact view document of DESIGN.md section 4, as plain JSON types:
``{"tenant_id", "contact_id", "attributes": {..., "custom": {...}}, "tags",
"lists", "suppression", "scores", "events": [{"name", "at", "properties"}]}``."""

SEGMENT_TYPES = tuple(kind.value for kind in SegmentType)
SEGMENT_STATUSES = ("active", "archived")


# --- errors -----------------------------------------------------------------


class StorageError(Exception):
    """Base of the errors a port raises for a caller to handle (not infrastructure failures)."""


class SegmentVersionConflict(StorageError):
    """The segment changed since the caller read it (optimistic concurrency)."""

    def __init__(self, tenant_id: str, segment_id: str, expected: int, current: int | None) -> None:
        self.tenant_id = tenant_id
        self.segment_id = segment_id
        self.expected = expected
        self.current = current
        super().__init__(
            f"segment {segment_id!r} is at version {current}, not {expected}: reload and retry"
        )


class CursorError(StorageError, ValueError):
    """A paging cursor is malformed or belongs to another tenant/segment/query."""


# --- values -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results; ``cursor`` is opaque and ``None`` on the last page."""

    items: list[T]
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class SegmentRecord:
    """One version of a segment definition as stored.

    ``version`` is the version this record *is* (0: never saved). Saving a
    record whose ``version`` is N writes version N+1 and succeeds only if the
    stored head is still at N, so two editors cannot silently overwrite each
    other. ``rule`` is the JsonLogic-shaped rule tree as plain JSON.
    """

    tenant_id: str
    segment_id: str
    name: str
    rule: Mapping[str, Any]
    type: str = "shared"
    status: str = "active"
    description: str = ""
    exclude_segments: tuple[str, ...] = ()
    include_contacts: tuple[str, ...] = ()
    exclude_contacts: tuple[str, ...] = ()
    version: int = 0
    created_at: str | None = None
    updated_at: str | None = None
    created_by: str | None = None
    """Name of the key that created the segment (kept by every later version)."""
    updated_by: str | None = None
    """Name of the key that saved this version (``None``: saved by no key, e.g. seeded)."""
    teams: tuple[str, ...] = ()
    """Team scopes: only keys of one of these teams, or of no team, see the segment."""

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "segment_id": self.segment_id,
            "version": self.version,
            "name": self.name,
            "description": self.description,
            "type": self.type,
            "status": self.status,
            "rule": dict(self.rule),
            "exclude_segments": list(self.exclude_segments),
            "include_contacts": list(self.include_contacts),
            "exclude_contacts": list(self.exclude_contacts),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "created_by": self.created_by,
            "updated_by": self.updated_by,
            "teams": list(self.teams),
        }


@dataclass(frozen=True, slots=True)
class MembershipRecord:
    """Stored membership of one contact in one segment (``member`` false: exited)."""

    tenant_id: str
    segment_id: str
    contact_id: str
    member: bool
    seq: int
    changed_at: str
    transition_id: str
    entered_at: str | None = None
    exited_at: str | None = None
    segment_version: int | None = None


class TransitionOutcome(StrEnum):
    APPLIED = "applied"
    """The transition was written (with its counter update, atomically)."""
    STALE = "stale"
    """Refused: the stored membership comes from an evaluation at least as new
    (this includes an exact redelivery of the same evaluation)."""
    UNCHANGED = "unchanged"
    """No transition: the contact is already in the requested state (duplicate
    enter, exit of a non-member). The newer ``seq`` is recorded, so an older
    evaluation arriving later is refused as stale."""


@dataclass(frozen=True, slots=True)
class TransitionResult:
    outcome: TransitionOutcome
    current: MembershipRecord | None
    """The stored membership after the call (the refusing one when refused)."""

    @property
    def applied(self) -> bool:
        return self.outcome is TransitionOutcome.APPLIED


@dataclass(frozen=True, slots=True)
class RecheckRecord:
    """(tenant, segment, contact) must be re-evaluated at ``recheck_at``."""

    tenant_id: str
    segment_id: str
    contact_id: str
    recheck_at: datetime
    seq: int


@dataclass(frozen=True, slots=True)
class OutboundEvent:
    """One notification for the event bus (``Segment Entered`` / ``Segment Exited``).

    ``idempotency_id`` is stable across redeliveries of the same transition and
    is added to the detail, so consumers can de-duplicate.
    """

    detail_type: str
    detail: Mapping[str, Any]
    idempotency_id: str
    time: datetime | None = None
    resources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PublishFailure:
    event: OutboundEvent
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class PublishResult:
    sent: int
    failed: list[PublishFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


# --- ports ------------------------------------------------------------------


@runtime_checkable
class ContactViewLoader(Protocol):
    """Loads the document every condition reads, in a bounded number of requests."""

    def load_view(
        self,
        tenant_id: str,
        contact_id: str,
        *,
        now: datetime,
        lookback: timedelta | None,
    ) -> ContactDocument | None:
        """The contact with its events since ``now - lookback``, oldest first.

        ``lookback`` is the longest lookback of the tenant's active segments:
        ``None`` loads no events (no segment reads them), ``timedelta.max``
        loads all retained history. Returns ``None`` for an unknown contact.
        Numbers come back as ``int``/``float`` (never ``Decimal``).
        """
        ...


@runtime_checkable
class SegmentStore(Protocol):
    """Versioned segment definitions, with a cheap per-tenant active list."""

    def get(self, tenant_id: str, segment_id: str, *, version: int | None = None) -> SegmentRecord | None:
        """The current definition, or a given historical ``version``; ``None`` if absent."""
        ...

    def save(self, segment: SegmentRecord, *, now: datetime | None = None) -> SegmentRecord:
        """Store ``segment`` as version ``segment.version + 1`` and return it.

        Raises :class:`SegmentVersionConflict` if the stored head is not at
        ``segment.version``; ``ValueError`` for an unknown type/status.
        Archiving is a save with ``status="archived"``.
        """
        ...

    def versions(self, tenant_id: str, segment_id: str) -> list[SegmentRecord]:
        """Every stored version, newest first."""
        ...

    def list_segments(self, tenant_id: str, *, include_archived: bool = False) -> list[SegmentRecord]:
        """Current heads, read now (not cached): the API's listing."""
        ...

    def active_segments(self, tenant_id: str) -> Sequence[SegmentRecord]:
        """Active heads for evaluation; cached per tenant and revalidated with
        one small read of the tenant's revision (so usually one request, or none
        within the configured staleness window)."""
        ...

    def revision(self, tenant_id: str) -> int:
        """Counter bumped by every save of any of the tenant's segments."""
        ...

    def tenants(self) -> Iterator[str]:
        """Tenants that have ever saved a segment (the scheduler's work list)."""
        ...


def check_seq(seq: int) -> int:
    """A ``seq`` orders evaluations of a pair: a non-negative integer, never a bool."""
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise ValueError(f"seq must be a non-negative integer, got {seq!r}")
    return seq


@runtime_checkable
class MembershipStore(Protocol):
    """Membership with conditional transitions and exact counts.

    A transition is applied only if the stored membership was produced by an
    older evaluation (smaller ``seq``) and is not already in the target state;
    the segment's member count changes in the same transaction, so counts are
    exact under retries, duplicates and reordering.
    """

    def get(self, tenant_id: str, segment_id: str, contact_id: str) -> MembershipRecord | None: ...

    def transition(
        self,
        tenant_id: str,
        segment_id: str,
        contact_id: str,
        *,
        enter: bool,
        seq: int,
        at: datetime,
        segment_version: int | None = None,
    ) -> TransitionResult:
        """Move the pair in (``enter``) or out under the rule above. Implementations
        subclass this Protocol and write only this; ``seq`` is already checked."""
        ...

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
        return self.transition(tenant_id, segment_id, contact_id, enter=True, seq=check_seq(seq), at=at,
                               segment_version=segment_version)

    def exit(
        self,
        tenant_id: str,
        segment_id: str,
        contact_id: str,
        *,
        seq: int,
        at: datetime,
        segment_version: int | None = None,
    ) -> TransitionResult:
        return self.transition(tenant_id, segment_id, contact_id, enter=False, seq=check_seq(seq), at=at,
                               segment_version=segment_version)

    def confirm(
        self, tenant_id: str, segment_id: str, contact_id: str, *, member: bool, seq: int, at: datetime
    ) -> bool:
        """Record that the evaluation at ``seq`` left the state at ``member`` (no
        transition, no count change). Optional: an evaluator that skips writes
        for unchanged results accepts that a concurrent older evaluation may
        still flip the state until the next change; calling this closes that
        window at the cost of a write. ``False`` if a newer evaluation won."""
        ...

    def members(
        self, tenant_id: str, segment_id: str, *, limit: int = 100, cursor: str | None = None
    ) -> Page[str]:
        """Current member contact ids, in contact-id order, one page at a time."""
        ...

    def segments_of(self, tenant_id: str, contact_id: str) -> list[MembershipRecord]:
        """The contact's current memberships (eventually consistent index read)."""
        ...

    def count(self, tenant_id: str, segment_id: str) -> int:
        """Exact number of current members."""
        ...


@runtime_checkable
class RecheckStore(Protocol):
    """When each (segment, contact) pair must be re-evaluated without new data."""

    shards: int
    """The due index is split in this many shards per tenant; ``due`` is per shard
    so a scheduler can read them in parallel."""

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
        """Set (or with ``None`` clear) the pair's re-check; ``True`` if written.

        A stored re-check must never be later than the first instant the latest
        data could flip the pair, and ``seq`` cannot tell which of two hosts saw
        the latest data (their clocks disagree). So the rule is about values,
        not seqs: an *earlier* re-check is always written (no row, or the stored
        one is later), whoever wrote the stored one; a *later* one, or clearing,
        is written only if the row is still the one the caller read —
        ``replacing`` is its ``(recheck_at, seq)``, ``None`` for no row — so an
        evaluation never moves later a re-check written after it read. ``seq``
        is recorded with the value and identifies that write.
        """
        ...

    def for_contact(self, tenant_id: str, contact_id: str) -> list[RecheckRecord]: ...

    def due(
        self,
        tenant_id: str,
        *,
        now: datetime,
        shard: int,
        limit: int = 500,
        cursor: str | None = None,
    ) -> Page[RecheckRecord]:
        """Re-checks of one shard due at ``now`` (minute precision), oldest first."""
        ...


@runtime_checkable
class EventPublisher(Protocol):
    """Publishes notifications; reports per-event failures instead of raising."""

    def publish(self, events: Sequence[OutboundEvent]) -> PublishResult: ...


# =========================================================================== audience side
# What the audience API's services (queries, snapshots, estimates, idempotent creates)
# read and write beyond the stores above.

__all__ += [
    "SNAPSHOT_CATEGORIES",
    "SNAPSHOT_FLAGS",
    "AudienceLookups",
    "ContactSamples",
    "IdempotencyInProgress",
    "IdempotencyKeyReused",
    "IdempotentCalls",
    "MembershipCheck",
    "SnapshotMember",
    "SnapshotRecord",
    "SnapshotStore",
    "StoredState",
    "snapshot_counts",
]

SNAPSHOT_FLAGS = ("bounced", "unsubscribed", "spam", "no_email")
"""Why a send would skip a member: each is a snapshot category of its own."""
SNAPSHOT_CATEGORIES = ("all", "addressable", *SNAPSHOT_FLAGS)
"""``addressable``: members with none of the flags."""


@dataclass(frozen=True, slots=True)
class SnapshotMember:
    """One member at snapshot time with the reasons a send would skip them."""

    contact_id: str
    bounced: bool = False
    unsubscribed: bool = False
    spam: bool = False
    no_email: bool = False

    @property
    def addressable(self) -> bool:
        return not (self.bounced or self.unsubscribed or self.spam or self.no_email)


def snapshot_counts(members: Sequence[SnapshotMember]) -> dict[str, int]:
    """How many of ``members`` each of :data:`SNAPSHOT_CATEGORIES` holds (a snapshot's breakdown)."""
    flagged = {name: sum(bool(getattr(m, name)) for m in members) for name in SNAPSHOT_FLAGS}
    return {"all": len(members), "addressable": sum(m.addressable for m in members), **flagged}


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """A stored snapshot's header: who took it when, and its breakdown per category."""

    tenant_id: str
    segment_id: str
    snapshot_id: str
    taken_at: str
    segment_version: int | None
    label: str
    chunks: int
    """How many pages of ids it holds (pages of :meth:`SnapshotStore.contacts`)."""
    counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredState:
    """The parts of a stored membership row the API reports."""

    member: bool
    entered_at: str | None = None
    exited_at: str | None = None
    segment_version: int | None = None


@dataclass(frozen=True, slots=True)
class MembershipCheck:
    """Segment, membership row and contact as one strongly consistent read saw them."""

    segment_status: str | None
    """``None``: the tenant has no such segment."""
    stored: StoredState | None
    """``None``: no row (the contact never entered, or its tombstone expired)."""
    contact_exists: bool


class IdempotencyKeyReused(StorageError):
    """The idempotency key was first used with a different request body."""


class IdempotencyInProgress(StorageError):
    """The first request with this idempotency key has not finished yet."""


@runtime_checkable
class SnapshotStore(Protocol):
    """Immutable audience snapshots: written once, listed only when complete, never changed."""

    def create(
        self,
        tenant_id: str,
        segment_id: str,
        members: Sequence[SnapshotMember],
        *,
        segment_version: int | None,
        label: str = "",
        now: datetime,
    ) -> SnapshotRecord: ...

    def get(self, tenant_id: str, segment_id: str, snapshot_id: str) -> SnapshotRecord | None:
        """``None`` for an unknown id, also one that is not a snapshot id at all."""
        ...

    def list(
        self, tenant_id: str, segment_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[SnapshotRecord]:
        """Headers, newest first."""
        ...

    def contacts(self, snapshot: SnapshotRecord, category: str, *, cursor: str | None = None) -> Page[str]:
        """One stored page of ids in ``category`` (one of :data:`SNAPSHOT_CATEGORIES`)."""
        ...


@runtime_checkable
class AudienceLookups(Protocol):
    """Point reads the audience routes answer from, each in as few requests as the store allows."""

    def membership_check(self, tenant_id: str, segment_id: str, contact_id: str) -> MembershipCheck:
        """Segment status, membership row and contact existence in one consistent read,
        so a membership check costs one request whatever the answer."""
        ...

    def contact_exists(self, tenant_id: str, contact_id: str) -> bool: ...

    def suppression_profiles(
        self, tenant_id: str, contact_ids: Sequence[str]
    ) -> dict[str, ContactDocument]:
        """``suppression`` and ``attributes.email`` of each contact found, by contact id."""
        ...


@runtime_checkable
class ContactSamples(Protocol):
    """A uniform random sample of a tenant's contacts, read by position.

    Every contact has a stable position in ``[0, positions)`` (a hash of its
    id), so the contacts at positions ``[0, stop)`` are a random sample of
    ``stop / positions`` of the tenant, and a larger ``stop`` extends it.
    """

    positions: int

    def count(self, tenant_id: str) -> int | None:
        """The tenant's contact count, ``None`` when it was never counted."""
        ...

    def contacts(
        self, tenant_id: str, start: int, stop: int, paths: frozenset[str] | None
    ) -> list[ContactDocument]:
        """Profiles at positions ``[start, stop)`` (no events), with at least the dotted
        document ``paths`` read (``None``: everything)."""
        ...

    def events(
        self, tenant_id: str, start: int, stop: int, *, since: datetime | None, prefixes: frozenset[str]
    ) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        """Events of the contacts at positions ``[start, stop)`` at or after ``since``
        and named under ``prefixes``, per contact id, oldest first, as ``(key, event)``:
        ``key`` is unique per event and sorts in time order."""
        ...

    def event_key_floor(self, since: datetime) -> str:
        """The smallest ``key`` an event at or after ``since`` can have."""
        ...


@runtime_checkable
class IdempotentCalls(Protocol):
    """Replays the first result of a call for a while instead of running it again."""

    def wrap(
        self, name: str, function: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """``function(request)`` run at most once per ``(request["tenant_id"],
        request["key"])`` under ``name``; a repeat returns the stored result. A repeat
        with another ``request["body"]`` raises :class:`IdempotencyKeyReused`, one
        while the first still runs :class:`IdempotencyInProgress`."""
        ...


# --- real-time ports: stream records, tenant contexts, backfill ---------------
#
# What stream evaluation, notification, scheduling, tenant-context refresh and
# backfill need beyond the stores above. ``RealtimePorts`` bundles one
# implementation of each: DynamoDB/EventBridge/SQS in production
# (``growthos_segments.handlers.wiring``), ``growthos_segments.infra.memory`` in
# unit tests and the local stack's initial fill.

__all__ += [
    "PUBLISH_BATCH",
    "BackfillJob",
    "BackfillProgress",
    "BackfillProgressStore",
    "BackfillQueue",
    "ContactChanges",
    "ContactPager",
    "OutOfTime",
    "PassStats",
    "RealtimePorts",
    "SliceState",
    "StoredContext",
    "StreamRecordReader",
    "TenantContextStore",
    "TenantPass",
    "TenantScanner",
    "history_since",
    "keeps_event",
]

if TYPE_CHECKING:
    from growthos_segments.core.contract import Reads
    from growthos_segments.core.dependencies import Change
    from growthos_segments.core.membership import PairStateReader
    from growthos_segments.core.view import ContactView


PUBLISH_BATCH = 10
"""Events an :class:`EventPublisher` sends in one request at most (EventBridge's
PutEvents limit): the notifier cuts its runs at this size so a refusal stops a
batch before more is sent."""


@dataclass
class ContactChanges:
    """Every change record of one contact in a batch, merged into one change."""

    tenant_id: str
    contact_id: str
    change: Change
    records: list[str] = field(default_factory=list)
    """Ids of the records merged here (what a failure of this contact reports)."""


@runtime_checkable
class StreamRecordReader(Protocol):
    """Reads the change records a trigger delivers (a DynamoDB stream's, in Lambda's shape)."""

    def record_id(self, record: Mapping[str, Any]) -> str:
        """The id a partial batch response names this record by."""
        ...

    def contact_changes(
        self, records: Sequence[Mapping[str, Any]]
    ) -> tuple[list[ContactChanges], dict[str, Exception]]:
        """Contacts and events records merged into one change per contact, in
        first-seen order, and the records that cannot be understood (id -> why)."""
        ...

    def images(
        self, record: Mapping[str, Any]
    ) -> tuple[str | None, dict[str, Any] | None, dict[str, Any] | None]:
        """A memberships record's ``(event name, old image, new image)`` as plain values."""
        ...


@dataclass(frozen=True, slots=True)
class StoredContext:
    """A tenant's stored context (``tenant_context`` hook) and when it was computed."""

    context: Mapping[str, Any]
    computed_at: datetime


@runtime_checkable
class TenantContextStore(Protocol):
    """Tenant contexts, one per tenant, read and written whole."""

    def get(self, tenant_id: str) -> StoredContext | None: ...

    def put(self, tenant_id: str, context: Mapping[str, Any], computed_at: datetime) -> None: ...


class OutOfTime(Exception):
    """The caller's time budget ran out during a pass over a tenant; nothing was computed."""


@dataclass(slots=True)
class PassStats:
    """What the last pass over a tenant read (logs, tests and the README's figures)."""

    requests: int = 0
    contacts: int = 0
    events: int = 0


@runtime_checkable
class TenantPass(Protocol):
    """One tenant's contacts as views carrying only what the pass's ``Reads`` declare.

    Re-iterable: each iteration is a new pass (each plugin implementing
    ``tenant_context`` iterates once); ``stats`` describes the latest one.
    """

    stats: PassStats

    def __iter__(self) -> Iterator[ContactView]: ...


@runtime_checkable
class TenantScanner(Protocol):
    """Passes over a whole tenant for the ``tenant_context`` hook."""

    def scan(
        self, tenant_id: str, reads: Reads, now: datetime, *, out_of_time: Callable[[], bool] | None = None
    ) -> TenantPass:
        """Every contact of the tenant with the events ``reads`` names since
        :func:`history_since`; ``out_of_time`` is asked before every request and
        a pass it stops raises :class:`OutOfTime`."""
        ...


def history_since(now: datetime, lookback: timedelta | None) -> datetime | None:
    """The oldest event instant a pass needs (``None``: all history, also for a
    lookback that reaches past year 1000, before every event time there is)."""
    if lookback is None or lookback == timedelta.max:
        return None
    try:
        since = now - lookback
    except OverflowError:
        return None
    return since if since.year >= 1000 else None


def keeps_event(reads: Reads, since: datetime | None) -> Callable[[Mapping[str, Any]], bool]:
    """Whether a pass keeps an event: its name is one ``reads`` names and it is not
    older than ``since`` (the selection a storage adapter makes on its side)."""
    prefixes = tuple(reads.events)

    def keep(event: Mapping[str, Any]) -> bool:
        name = event.get("name")
        if not isinstance(name, str) or not any(event_matches(p, name) for p in prefixes):
            return False
        if since is None:
            return True
        at = parse_instant(event.get("at"))
        return at is not None and at >= since

    return keep


@runtime_checkable
class ContactPager(Protocol):
    """A tenant's contact ids in ``shards`` key-ordered slices (backfill work units)."""

    shards: int

    def contact_ids(
        self, tenant_id: str, *, shard: int, limit: int = 1000, cursor: str | None = None
    ) -> Page[str]: ...

    def shard_of(self, contact_id: str) -> int:
        """The slice whose ``contact_ids`` lists ``contact_id`` when it exists (a backfill
        that evaluates only some contacts gives each to the slice that would list it)."""
        ...


@dataclass(frozen=True, slots=True)
class BackfillJob:
    """A backfill of one segment version: the whole tenant (``shard`` None) or one slice."""

    tenant_id: str
    segment_id: str
    version: int
    shard: int | None = None
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class SliceState:
    """One slice's stored progress: counts so far and the cursor of its next page."""

    done: int
    entered: int
    exited: int
    cursor: str | None
    finished: bool
    started_at: datetime | None = None
    """When its first page was counted."""
    updated_at: datetime | None = None
    """When its last page was counted (for a finished slice: when it finished)."""


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
    slices: int
    started_at: datetime | None = None
    """When the first page of any slice was counted (``None`` before that)."""
    finished_at: datetime | None = None
    """When the last slice finished (``None`` until every slice has)."""
    queued_at: datetime | None = None
    """When a save queued this backfill (``None`` for one nobody queued, such as the
    local stack's initial fill): before its first page it is waiting, not absent."""

    @classmethod
    def of(
        cls, tenant_id: str, segment_id: str, version: int, states: Iterable[SliceState], *, slices: int,
        queued_at: datetime | None = None,
    ) -> BackfillProgress:
        """The sum of the stored states of a version's slices (``slices``: how many there are)."""
        states = list(states)
        finished = sum(1 for s in states if s.finished)
        starts = [s.started_at for s in states if s.started_at is not None]
        ends = [s.updated_at for s in states if s.updated_at is not None]
        return cls(
            tenant_id,
            segment_id,
            version,
            done=sum(s.done for s in states),
            entered=sum(s.entered for s in states),
            exited=sum(s.exited for s in states),
            slices_finished=finished,
            slices=slices,
            started_at=min(starts, default=None),
            finished_at=max(ends, default=None) if finished >= slices else None,
            queued_at=queued_at,
        )

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


@runtime_checkable
class BackfillProgressStore(Protocol):
    """Per-slice progress of backfills, advanced a page at a time, at most once per page."""

    def slice(self, job: BackfillJob) -> SliceState | None:
        """The stored state of ``job``'s slice (strongly consistent)."""
        ...

    def advance(
        self, job: BackfillJob, *, next_cursor: str | None, done: int, entered: int, exited: int
    ) -> bool:
        """Count one page that started at ``job.cursor`` (``None``: the slice's first
        page); ``False`` if the stored slice is not at that cursor any more, so a
        redelivered job or a second worker never counts a page twice."""
        ...

    def queued(self, tenant_id: str, segment_id: str, version: int, *, at: datetime) -> None:
        """Record that a save queued this version's backfill (kept by ``reset``)."""
        ...

    def progress(self, tenant_id: str, segment_id: str, version: int) -> BackfillProgress: ...

    def progress_many(self, tenant_id: str, versions: Mapping[str, int]) -> dict[str, BackfillProgress]:
        """The progress of each segment's version in ``versions`` (the segment list's):
        one batch read for many segments where ``progress`` reads one, possibly a moment stale."""
        ...

    def finished_slices(self, tenant_id: str, segment_id: str, version: int) -> set[int]: ...

    def reset(self, tenant_id: str, segment_id: str, version: int) -> None:
        """Forget a version's progress, so the next run starts from the first contact."""
        ...


@runtime_checkable
class BackfillQueue(Protocol):
    """Where backfill jobs wait for a worker."""

    def send(self, jobs: Sequence[BackfillJob], *, delay_seconds: int = 0) -> None:
        """Queue every job or raise; ``delay_seconds`` holds them back that long."""
        ...


@dataclass(frozen=True)
class RealtimePorts:
    """One implementation of every port the real-time services use."""

    segments: SegmentStore
    views: ContactViewLoader
    pair_states: PairStateReader
    memberships: MembershipStore
    rechecks: RecheckStore
    contexts: TenantContextStore
    scanner: TenantScanner
    contacts: ContactPager
    progress: BackfillProgressStore
    publisher: EventPublisher
    records: StreamRecordReader
    backfills: BackfillQueue | None = None
    """``None`` where no queue is configured (a changed tenant context then backfills nothing)."""
    fields: ObservedFields | None = None
    """Where stream batches record the tenant's observed fields; ``None``: not recorded."""


# =========================================================================== observed fields
# What a tenant's data has shown so far: attribute paths with their JSON types and a
# few sample values, and event names with counts. The rule builder completes names
# from it and validation warns about a path or event the tenant never had.

__all__ += [
    "FIELD_CAP",
    "SAMPLE_CAP",
    "SAMPLE_CHARS",
    "FieldCatalog",
    "ObservedAttribute",
    "ObservedFields",
    "Sample",
    "SamplesKeptChanging",
    "sample_key",
]

FIELD_CAP = 2000
"""Attribute paths, and separately event names, kept per tenant at most: the catalog is
read whole for every validation (cached briefly), so it must stay small."""
SAMPLE_CAP = 5
"""Sample values kept per attribute path (the first ones observed)."""
SAMPLE_CHARS = 40
"""A sample string is cut to this many characters."""

Sample = str | int | float | bool
"""One sample value of an attribute path (a JSON scalar, strings cut to :data:`SAMPLE_CHARS`)."""


def sample_key(value: Sample) -> tuple[bool, Sample]:
    """What makes two samples the same: their JSON value, so ``true`` is not the number 1
    (Python's ``True == 1``) while 1 and 1.0, one JSON number, are one sample."""
    return isinstance(value, bool), value


@dataclass(frozen=True, slots=True)
class ObservedAttribute:
    """One attribute path as observed: its JSON types and up to :data:`SAMPLE_CAP` samples.

    ``types`` are JSON type names (``string``, ``number``, ``boolean``, ``null``,
    ``array``); a tag or list name (path ``tags.<name>``, ``lists.<name>``) has none.
    """

    path: str
    types: frozenset[str] = frozenset()
    samples: tuple[Sample, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "types": sorted(self.types), "samples": list(self.samples)}


@dataclass(frozen=True, slots=True)
class FieldCatalog:
    """A tenant's observed paths (sorted) and event names with counts."""

    attributes: tuple[ObservedAttribute, ...] = ()
    events: Mapping[str, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.attributes and not self.events

    def to_json(self) -> dict[str, Any]:
        return {
            "attributes": [a.to_json() for a in sorted(self.attributes, key=lambda a: a.path)],
            "events": [{"name": name, "count": self.events[name]} for name in sorted(self.events)],
        }


@runtime_checkable
class ObservedFields(Protocol):
    """Per-tenant store of observed fields; writes merge, never replace."""

    def catalog(self, tenant_id: str) -> FieldCatalog:
        """Everything stored for the tenant, at most :data:`FIELD_CAP` paths and names."""
        ...

    def add_attributes(self, tenant_id: str, attributes: Sequence[ObservedAttribute]) -> None:
        """Merge each path: its types are added to the stored ones; its samples are
        stored only if the path had none (the first observation's are kept)."""
        ...

    def count_events(self, tenant_id: str, counts: Mapping[str, int]) -> None:
        """Add ``counts`` to the stored count of each name (one write per name)."""
        ...

    def forget_samples(self, tenant_id: str, values: Mapping[str, Collection[Sample]]) -> int:
        """Remove ``values`` from the samples of each path (a forgotten contact's values)
        and return how many samples were removed; a path left without samples takes
        those of its next observation. Only the given paths are read or written. A
        path whose samples another writer changes meanwhile is read again a few times;
        then :class:`SamplesKeptChanging` is raised, that path's values still there."""
        ...


class SamplesKeptChanging(RuntimeError):
    """A path's samples changed under every attempt to remove values from them."""


# --- segment sizes: live counts of many segments, size history ----------------


class Resolution(StrEnum):
    """How wide one point of a segment's size history is."""

    HOUR = "hour"
    DAY = "day"


HISTORY_KEEP = {Resolution.HOUR: timedelta(days=32), Resolution.DAY: timedelta(days=401)}
"""How long a point is kept: more than the 30 days of hours and 400 days of days the
history promises, and few enough points that all of them fit in one page."""
HISTORY_PAGE = 800
"""The most points one history read returns (more than either resolution keeps)."""


def bucket_start(at: datetime, resolution: Resolution) -> datetime:
    """The start of the hour or UTC day holding ``at``: the bucket a size is kept in."""
    start = as_utc(at).replace(minute=0, second=0, microsecond=0)
    return start.replace(hour=0) if resolution is Resolution.DAY else start


@dataclass(frozen=True, slots=True)
class SizePoint:
    """A segment's member count as first observed in the bucket starting at ``at``."""

    at: datetime
    count: int


@runtime_checkable
class SegmentSizes(Protocol):
    """Member counts of many segments at once, and their size history.

    History is one stored point per segment and bucket: the first count recorded in
    the bucket stays (a later record of the same bucket writes nothing), and each point
    expires :data:`HISTORY_KEEP` after its bucket starts, so storage stays bounded.
    """

    def counts(self, tenant_id: str, segment_ids: Sequence[str]) -> dict[str, int]:
        """The exact member count of each segment, read in as few requests as the store allows."""
        ...

    def record(
        self, tenant_id: str, counts: Mapping[str, int], *, at: datetime, resolutions: Sequence[Resolution]
    ) -> int:
        """Keep each count as the point of its bucket holding ``at``, at each resolution,
        unless that bucket already has one; returns how many points were written."""
        ...

    def history(
        self, tenant_id: str, segment_id: str, resolution: Resolution, *, since: datetime,
        limit: int = HISTORY_PAGE,
    ) -> list[SizePoint]:
        """The points of buckets starting at or after ``since``, oldest first, at most ``limit``."""
        ...


# --- transition feed: a segment's recent enters and exits, newest first --------------


FEED_KEEP = timedelta(days=30)
"""How long a transition stays in its segment's feed (a TTL on DynamoDB)."""
FEED_PAGE = 100
"""The most transitions one feed read returns."""


@dataclass(frozen=True, slots=True)
class Transition:
    """One enter or exit as the notifier published it.

    ``transition_id`` is the membership row's stable id of the transition (the
    event's idempotency id): a redelivered record names the same one, so
    recording it again changes nothing.
    """

    tenant_id: str
    segment_id: str
    contact_id: str
    kind: Literal["enter", "exit"]
    at: datetime
    segment_version: int | None
    transition_id: str


@runtime_checkable
class TransitionFeed(Protocol):
    """Per segment, the transitions of the last :data:`FEED_KEEP`, newest first.

    Order is by ``at`` (when the membership changed), then ``transition_id``.
    Cursors and ``after`` marks are opaque and scoped to one tenant's segment:
    another's is a :class:`CursorError`.
    """

    def record(self, transitions: Sequence[Transition]) -> None:
        """Store each transition once: recording one again (a retry) is a no-op."""
        ...

    def recent(
        self,
        tenant_id: str,
        segment_id: str,
        *,
        now: datetime,
        limit: int,
        cursor: str | None = None,
        after: str | None = None,
    ) -> FeedPage:
        """Up to ``limit`` transitions newer than ``now - FEED_KEEP`` (and than the
        ``after`` mark, when given), newest first, from where ``cursor`` left off."""
        ...


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One page of a feed: ``cursor`` reads older ones (``None``: no more), ``newest``
    is the mark of the first item (``None`` when the page is empty) for a later
    ``after=``."""

    items: list[Transition]
    cursor: str | None
    newest: str | None
