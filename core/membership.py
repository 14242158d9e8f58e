"""Real-time membership: evaluate what a change can affect, write only what changed.

One engine decides membership everywhere — the stream evaluator and the
scheduler call :meth:`MembershipEngine.evaluate`, the backfill
:meth:`MembershipEngine.evaluate_many` (the same decision per contact, with bulk
reads) — so the three paths cannot disagree about ordering, counters or
notifications.

Per contact, one evaluation is:

1. the affected segments (:class:`growthos_segments.core.dependencies.DependencyIndex`) with their
   dependents, in dependency order; nothing affected means no request at all;
2. a sequence number ``seq`` taken from :class:`SeqClock` *before* anything is
   read (see below);
3. the contact view, with events back to the longest lookback the affected
   segments (and the segments they reference) need — none for a pure
   attribute change;
4. the stored state of exactly those (segment, contact) pairs: membership and
   re-check, in one strongly consistent read (:class:`PairStateReader`);
5. evaluation in memory, then writes only where the stored state differs:
   an enter/exit is a conditional transition that refuses older evaluations
   (``seq``), and a re-check is written under the rule of :func:`recheck_write`
   (earlier always; later only in place of the due row this evaluation read).

Why ``seq`` is the wall clock in microseconds, taken before the reads: the
evaluator never trusts a stream record's image — it re-reads the contact with
a consistent read — so its answer depends only on *when it read*. An
evaluation that started reading later saw every write committed before it
started, so "larger seq wins" means "the evaluation that saw more wins".
Duplicate, retried and out-of-order records (across the contacts and events
streams, or shards) therefore cannot reorder anything: each one re-reads the
present. Stream sequence numbers are per shard and cannot order the two
streams; a version counter on the contact item would not cover events (another
table) and would need a write per evaluation. The clock's weakness is skew
between hosts (Amazon Time Sync keeps it well under a millisecond): a row
written by a host whose clock ran ahead can refuse a newer evaluation, so a
refusal by a row that *disagrees* is verified too (below), with a ``seq``
stepped past the refusing one.

Concurrent evaluations of one contact (the contacts stream, the events stream,
the scheduler and a backfill run independently) leave one window: a newer
evaluation finds nothing to change and writes nothing, then an older one,
still in flight, lands a transition the newer data contradicts. Writing a
"confirmation" for every unchanged pair (``MembershipStore.confirm``) would
close it at the price of a write per affected segment per change. Instead the
engine *verifies after applying a transition*: it re-reads the contact with a
fresh ``seq`` and re-evaluates the segments it just moved, writing the
correction if the data moved on meanwhile. Transitions are rare next to
changes, so the cost lands where the risk is. ``confirm_unchanged=True``
selects the confirm-everything policy instead (the benchmark measures both).

Re-checks do not rely on ``seq`` at all: a write that moves one earlier is
always accepted (whoever wrote the stored one, whatever its seq), and one that
moves it later or clears it is accepted only in place of the row this
evaluation read, and is verified like a transition. Neither the verification
pass nor an evaluation whose transition of the pair was refused by a row that
disagrees moves a re-check later: the stored one stays due, so if what
follows fails (the verification is a second round of reads) the scheduler
comes back to the pair. A re-check can therefore be early, never late,
whatever the hosts' clocks say.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from growthos_segments.core.contract import Result
from growthos_segments.core.dependencies import EVERYTHING, Change, DependencyIndex
from growthos_segments.core.host import PluginHost
from growthos_segments.core.ports import (
    ContactViewLoader,
    MembershipStore,
    OutboundEvent,
    RecheckStore,
    TransitionOutcome,
)
from growthos_segments.core.segments import SegmentDefinition, SegmentSet, SegmentSetError, SegmentType
from growthos_segments.core.timeutil import parse_instant

__all__ = [
    "ENTERED",
    "EXITED",
    "BulkViewLoader",
    "ContactOutcome",
    "MembershipEngine",
    "PairState",
    "PairStateReader",
    "SegmentCatalog",
    "SeqClock",
    "TenantSegments",
    "recheck_write",
    "transition_event",
    "with_context",
]

ENTERED = "Segment Entered"
EXITED = "Segment Exited"
MIN_RECHECK_STEP = timedelta(seconds=1)
"""A ``recheck_at`` at or before the evaluation instant is a plugin bug; it is pushed
this far ahead so the scheduler cannot spin on a pair."""


# --------------------------------------------------------------------------- sequence numbers


class SeqClock:
    """Epoch microseconds, strictly increasing within this process.

    The strictness makes two evaluations of one process never tie, and
    ``at_least`` lets a caller that has *seen* a stored seq step past it (so a
    host whose clock lags still produces a newer number than what it read).
    """

    def __init__(self, wall_ns: Callable[[], int] = time.time_ns) -> None:
        self._wall_ns = wall_ns
        self._last = 0
        self._lock = threading.Lock()

    def next(self, at_least: int = 0) -> int:
        with self._lock:
            value = max(self._wall_ns() // 1000, self._last + 1, at_least)
            self._last = value
            return value


# --------------------------------------------------------------------------- stored state


@dataclass(frozen=True, slots=True)
class PairState:
    """What is stored for one (segment, contact) pair: membership and re-check."""

    member: bool = False
    seq: int | None = None
    """Seq of the membership row (``None``: no row, never a member)."""
    recheck_at: datetime | None = None
    recheck_seq: int | None = None


@runtime_checkable
class BulkViewLoader(Protocol):
    """Optional: many contact views in few requests (see :meth:`MembershipEngine.evaluate_many`)."""

    def load_views(
        self, tenant_id: str, contact_ids: Sequence[str], *, now: datetime, lookback: timedelta | None
    ) -> Mapping[str, Mapping[str, Any] | None]: ...


@runtime_checkable
class PairStateReader(Protocol):
    """Reads the stored state of several pairs of one contact in (ideally) one request."""

    def read(self, tenant_id: str, contact_id: str, segment_ids: Sequence[str]) -> Mapping[str, PairState]:
        """State per segment id; pairs with nothing stored may be absent. Strongly
        consistent: the engine skips writes on its word. An adapter may also offer
        ``read_many(tenant_id, contact_ids, segment_ids) -> {contact: {segment: state}}``."""
        ...


# --------------------------------------------------------------------------- a tenant's segments


@dataclass(frozen=True)
class TenantSegments:
    """One tenant's active segments as evaluation uses them: compiled together (a
    :class:`~growthos_segments.core.segments.SegmentSet`), indexed by what they read,
    with their versions and the tenant context.

    Distinct from :class:`~growthos_segments.core.segments.SegmentSet`, which is any
    set of definitions compiled together (a draft with the segments it needs, a set
    checked before a save) and refuses a set with an error: this one is what is
    stored now, built so that one broken segment leaves the others running.
    """

    tenant_id: str
    segments: SegmentSet
    index: DependencyIndex
    versions: Mapping[str, int]
    fingerprint: tuple[tuple[str, int], ...] = ()
    """(segment id, version) of every definition used: equal fingerprints, same set."""
    context: Mapping[str, Any] = field(default_factory=dict)
    """Tenant-wide data plugins computed (``tenant_context`` hook), for views."""
    rejected: Mapping[str, str] = field(default_factory=dict)
    """Stored segments left out because they no longer compile (id -> why)."""

    @classmethod
    def build(
        cls,
        tenant_id: str,
        host: PluginHost,
        definitions: Iterable[SegmentDefinition],
        *,
        context: Mapping[str, Any] | None = None,
    ) -> TenantSegments:
        """Compile; a segment that no longer validates (a plugin was removed, a
        referenced segment archived) is left out with the segments that depend on
        it, instead of stopping evaluation for the whole tenant."""
        remaining = {d.id: d for d in definitions}
        rejected: dict[str, str] = {}
        while True:
            try:
                compiled = SegmentSet(host, remaining.values())
                break
            except SegmentSetError as error:
                if not error.errors:
                    raise
                for sid, errors in error.errors.items():
                    rejected[sid] = "; ".join(f"{e.path or '/'}: {e.message}" for e in errors)
                    remaining.pop(sid, None)
        versions = {sid: d.version for sid, d in remaining.items()}
        return cls(
            tenant_id=tenant_id,
            segments=compiled,
            index=DependencyIndex.of(compiled),
            versions=versions,
            fingerprint=tuple(sorted(versions.items())),
            context=dict(context or {}),
            rejected=rejected,
        )

    @property
    def pinned(self) -> tuple[str, ...]:
        return tuple(sid for sid, d in self.segments.definitions.items() if d.type is SegmentType.PINNED)


@runtime_checkable
class SegmentCatalog(Protocol):
    """Where the engine gets a tenant's :class:`TenantSegments`: the implementation
    reads the active segments from storage and caches them per tenant revision."""

    def for_tenant(self, tenant_id: str, *, fresh: bool = False) -> TenantSegments:
        """``fresh`` bypasses any staleness window (the backfill must see the version
        it was started for)."""
        ...


# --------------------------------------------------------------------------- decisions


def recheck_write(
    stored: datetime | None, wanted: datetime | None, now: datetime, *, contact_gone: bool = False
) -> tuple[bool, datetime | None]:
    """Whether to write the pair's re-check, and what: ``(write, value)``.

    The stored re-check must never be *later* than the first instant the
    latest data could flip the pair, or a time-driven transition is lost. An
    evaluation that may be racing a newer one cannot know whether it is the
    newer — ``seq`` cannot tell when the two run on hosts whose clocks
    disagree — so it moves the re-check *earlier* freely (the store accepts an
    earlier value from anyone, and an early re-check costs one idempotent
    evaluation by the scheduler, nothing else). A stored re-check that is
    already due belongs to whoever evaluates at or after it (the scheduler,
    usually): that evaluation replaces it, later or cleared, as a
    compare-and-set on the row it read, and then verifies the move
    (:meth:`MembershipEngine.evaluate`). The stream evaluator therefore writes
    nothing when new events slide a window's end later, and the scheduler
    moves it once, when it comes due. A deleted contact's re-checks are
    cleared the same way (verified too: the contact may be back already).
    """
    if wanted is not None and wanted <= now:
        wanted = now + MIN_RECHECK_STEP
    if contact_gone:
        return stored is not None, None
    if wanted == stored:
        return False, stored
    if stored is None:
        return True, wanted
    if wanted is not None and wanted < stored:
        return True, wanted
    if stored <= now:
        return True, wanted
    return False, stored


def transition_event(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> OutboundEvent | None:
    """The notification for one membership row change, or ``None`` if it is not a transition.

    ``old``/``new`` are the row's images as plain values. Only a change of
    ``member`` is a transition: a confirmation (newer ``seq``, same state), a
    tombstone created for a never-member, and the key-only first INSERT moto
    emits for an UpdateItem that creates an item are not. The idempotency id
    is the row's ``transition_id``, which names (tenant, segment, contact, seq,
    direction): every redelivery of a transition carries the same one.
    """
    if not new or not isinstance(new.get("member"), bool):
        return None
    was = bool(old.get("member")) if old else False
    now_member = new["member"]
    if was == now_member:
        return None
    transition = new.get("transition_id")
    tenant_id, segment_id, contact_id = new.get("tenant_id"), new.get("segment_id"), new.get("contact_id")
    if not all(isinstance(x, str) and x for x in (transition, tenant_id, segment_id, contact_id)):
        return None
    at = new.get("changed_at")
    version = new.get("segment_version")
    detail: dict[str, Any] = {
        "tenant_id": tenant_id,
        "segment_id": segment_id,
        "segment_version": int(version) if version is not None else None,
        "contact_id": contact_id,
        "member": now_member,
        "at": at,
        "seq": int(new["seq"]) if new.get("seq") is not None else None,
    }
    if not now_member and new.get("entered_at"):
        detail["entered_at"] = new.get("entered_at")
    return OutboundEvent(
        detail_type=ENTERED if now_member else EXITED,
        detail=detail,
        idempotency_id=str(transition),
        time=parse_instant(at) if isinstance(at, str) else None,
    )


# --------------------------------------------------------------------------- the engine


@dataclass
class ContactOutcome:
    """What one evaluation of one contact did (for logs, tests and benchmarks)."""

    tenant_id: str
    contact_id: str
    evaluated: tuple[str, ...] = ()
    entered: list[str] = field(default_factory=list)
    exited: list[str] = field(default_factory=list)
    unchanged_writes: list[str] = field(default_factory=list)
    """Transitions that found the pair already in the target state (a concurrent evaluation)."""
    stale: list[str] = field(default_factory=list)
    """Transitions refused because a newer evaluation had written."""
    conflicts: list[str] = field(default_factory=list)
    """Of ``stale``, those where the newer row disagrees with this evaluation."""
    seen_seq: int = 0
    """The largest stored seq a refusal showed (verification steps past it)."""
    rescheduled: list[str] = field(default_factory=list)
    postponed: list[str] = field(default_factory=list)
    """Of ``rescheduled``, re-checks moved later or cleared (verified like transitions)."""
    confirmed: list[str] = field(default_factory=list)
    contact_found: bool = True
    seq: int | None = None
    corrections: ContactOutcome | None = None
    """The verification pass, when one ran."""

    @property
    def entries(self) -> int:
        """Enters applied, the verification pass's included."""
        return len(self.entered) + (self.corrections.entries if self.corrections else 0)

    @property
    def exits(self) -> int:
        """Exits applied, the verification pass's included."""
        return len(self.exited) + (self.corrections.exits if self.corrections else 0)

    @property
    def transitions(self) -> int:
        return self.entries + self.exits


class MembershipEngine:
    """Evaluates contacts against their tenant's segments and writes transitions."""

    def __init__(
        self,
        segments: SegmentCatalog,
        views: ContactViewLoader,
        states: PairStateReader,
        memberships: MembershipStore,
        rechecks: RecheckStore,
        *,
        clock: Callable[[], datetime],
        seqs: SeqClock | None = None,
        verify: bool = True,
        confirm_unchanged: bool = False,
    ) -> None:
        self.segments = segments
        self.views = views
        self.states = states
        self.memberships = memberships
        self.rechecks = rechecks
        self.clock = clock
        self.seqs = seqs or SeqClock()
        self.verify = verify
        self.confirm_unchanged = confirm_unchanged

    def evaluate(
        self,
        tenant_id: str,
        contact_id: str,
        change: Change = EVERYTHING,
        *,
        only: Iterable[str] | None = None,
        segments: TenantSegments | None = None,
    ) -> ContactOutcome:
        """Bring the stored membership of one contact up to date.

        ``change`` selects the segments through the dependency index; ``only``
        names them instead (scheduler, backfill) and their dependents follow.
        Ids in ``only`` that are not active segments get their re-check cleared,
        so a deleted segment's due rows do not come back every minute.
        ``segments`` pins the compiled set (a backfill evaluates the version it
        was started for, not whatever a cache holds).
        """
        tenant = self._tenant(tenant_id, segments)
        outcome = self._evaluate(tenant, contact_id, change, only, None)
        self._verify(tenant, outcome)
        return outcome

    def evaluate_many(
        self,
        tenant_id: str,
        contact_ids: Sequence[str],
        *,
        only: Iterable[str],
        segments: TenantSegments | None = None,
    ) -> list[ContactOutcome]:
        """:meth:`evaluate` for a page of contacts (backfill), with bulk reads when the
        adapters offer them (:class:`BulkViewLoader`, ``PairStateReader.read_many``):
        a hundred profiles and their pair states in a few requests instead of
        three per contact. Each contact still gets its own ``seq``, taken before
        anything is read."""
        tenant = self._tenant(tenant_id, segments)
        ids = list(dict.fromkeys(contact_ids))
        targets, orphans = self._targets(tenant, EVERYTHING, only)
        if not ids or (not targets and not orphans):
            return [ContactOutcome(tenant_id, cid) for cid in ids]
        load_views = getattr(self.views, "load_views", None)
        read_many = getattr(self.states, "read_many", None)
        if load_views is None or read_many is None:
            return [self.evaluate(tenant_id, cid, only=only, segments=tenant) for cid in ids]
        seqs = {cid: self.seqs.next() for cid in ids}
        now = self.clock()
        docs = load_views(tenant_id, ids, now=now, lookback=tenant.index.lookback(targets))
        stored = read_many(tenant_id, ids, [*targets, *orphans])
        outcomes = []
        for cid in ids:
            outcome = self._apply(tenant, cid, targets, orphans, docs.get(cid), stored.get(cid, {}),
                                  seqs[cid], now)
            self._verify(tenant, outcome)
            outcomes.append(outcome)
        return outcomes

    def _tenant(self, tenant_id: str, segments: TenantSegments | None) -> TenantSegments:
        if segments is not None and segments.tenant_id != tenant_id:
            raise ValueError(f"segments of tenant {segments.tenant_id!r} used for tenant {tenant_id!r}")
        return segments or self.segments.for_tenant(tenant_id)

    def _verify(self, tenant: TenantSegments, outcome: ContactOutcome) -> None:
        """Re-read and re-evaluate what this evaluation moved, or was refused by a row
        that disagrees with it: the data may have moved on under a concurrent
        evaluation that wrote nothing, or the refusing row may come from a host
        whose clock ran ahead. The fresh ``seq`` steps past every seq seen.

        A re-check moved later (or cleared) counts as moved: a concurrent evaluation
        of newer data that found the old re-check not yet due (its clock is behind,
        or it took its instant earlier) wrote nothing, trusting it. The pass reads
        after the move, or that evaluation read after it; either way the newer
        data's re-check gets written, earlier, which is always accepted."""
        moved = [*outcome.entered, *outcome.exited, *outcome.conflicts, *outcome.postponed]
        if self.verify and moved:
            at_least = max(outcome.seq or 0, outcome.seen_seq) + 1
            outcome.corrections = self._evaluate(
                tenant, outcome.contact_id, EVERYTHING, list(dict.fromkeys(moved)), at_least
            )

    @staticmethod
    def _targets(
        tenant: TenantSegments, change: Change, only: Iterable[str] | None
    ) -> tuple[list[str], list[str]]:
        if only is None:
            return tenant.index.affected(change), []
        wanted = list(dict.fromkeys(only))
        orphans = [sid for sid in wanted if sid not in tenant.versions]
        return tenant.index.closure(wanted), orphans

    def _evaluate(
        self,
        tenant: TenantSegments,
        contact_id: str,
        change: Change,
        only: Iterable[str] | None,
        at_least: int | None,
    ) -> ContactOutcome:
        tenant_id = tenant.tenant_id
        targets, orphans = self._targets(tenant, change, only)
        if not targets and not orphans:
            return ContactOutcome(tenant_id, contact_id)
        seq = self.seqs.next(at_least or 0)
        now = self.clock()
        doc = self.views.load_view(tenant_id, contact_id, now=now, lookback=tenant.index.lookback(targets))
        stored = self.states.read(tenant_id, contact_id, [*targets, *orphans])
        return self._apply(tenant, contact_id, targets, orphans, doc, stored, seq, now,
                           verifying=at_least is not None)

    def _apply(
        self,
        tenant: TenantSegments,
        contact_id: str,
        targets: Sequence[str],
        orphans: Sequence[str],
        doc: Mapping[str, Any] | None,
        stored: Mapping[str, PairState],
        seq: int,
        now: datetime,
        *,
        verifying: bool = False,
    ) -> ContactOutcome:
        tenant_id = tenant.tenant_id
        outcome = ContactOutcome(tenant_id, contact_id, seq=seq)
        results: Mapping[str, Result]
        if doc is None:
            outcome.contact_found = False
            results = {sid: (False, None) for sid in targets}
        else:
            view = tenant.segments.view(doc, context=tenant.context)
            results = tenant.segments.evaluate(view, now, only=targets)
        outcome.evaluated = tuple(targets)
        for sid in targets:
            match, recheck_at = results[sid]
            state = stored.get(sid) or PairState()
            self._write_membership(tenant, sid, contact_id, match, state, seq, now, outcome)
            write, value = recheck_write(state.recheck_at, recheck_at, now, contact_gone=doc is None)
            later = state.recheck_at is not None and (value is None or value > state.recheck_at)
            if write and later and (verifying or sid in outcome.conflicts):
                # Not here: a verification pass is not verified itself, and a transition
                # refused by a row that disagrees is the verification's to make (which
                # may fail). The stored re-check stays due: the scheduler comes back.
                continue
            if write and self._schedule(tenant_id, sid, contact_id, value, seq, state):
                outcome.rescheduled.append(sid)
                if later:
                    outcome.postponed.append(sid)
        for sid in orphans:
            state = stored.get(sid) or PairState()
            if state.recheck_at is not None and self._schedule(tenant_id, sid, contact_id, None, seq, state):
                outcome.rescheduled.append(sid)
        return outcome

    def _schedule(
        self, tenant_id: str, sid: str, contact_id: str, value: datetime | None, seq: int, state: PairState
    ) -> bool:
        read = (state.recheck_at, state.recheck_seq or 0) if state.recheck_at is not None else None
        return self.rechecks.schedule(tenant_id, sid, contact_id, recheck_at=value, seq=seq, replacing=read)

    def _write_membership(
        self,
        tenant: TenantSegments,
        sid: str,
        contact_id: str,
        match: bool,
        state: PairState,
        seq: int,
        now: datetime,
        outcome: ContactOutcome,
    ) -> None:
        tenant_id = tenant.tenant_id
        if match == state.member:
            stale_guard = state.seq is None or state.seq < seq
            if (
                self.confirm_unchanged
                and stale_guard
                and self.memberships.confirm(tenant_id, sid, contact_id, member=match, seq=seq, at=now)
            ):
                outcome.confirmed.append(sid)
            return
        move = self.memberships.enter if match else self.memberships.exit
        result = move(tenant_id, sid, contact_id, seq=seq, at=now, segment_version=tenant.versions.get(sid))
        if result.outcome is TransitionOutcome.APPLIED:
            (outcome.entered if match else outcome.exited).append(sid)
        elif result.outcome is TransitionOutcome.UNCHANGED:
            outcome.unchanged_writes.append(sid)
        else:
            outcome.stale.append(sid)
            current = result.current
            if current is not None and current.member != match:
                outcome.conflicts.append(sid)
                outcome.seen_seq = max(outcome.seen_seq, current.seq)


def with_context(tenant: TenantSegments, context: Mapping[str, Any]) -> TenantSegments:
    """The same compiled set with another tenant context (contexts refresh on their own clock)."""
    return replace(tenant, context=dict(context))
