"""The membership engine with in-memory ports: decisions, ordering and races.

The fakes keep the storage contract of ``growthos_segments.core.ports`` (conditional on ``seq``,
counts in the same step) so the engine's own logic is what is under test; the
DynamoDB versions are exercised in ``tests/integration``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from growthos_segments.core.dependencies import Change
from growthos_segments.core.membership import (
    ENTERED,
    EXITED,
    MembershipEngine,
    PairState,
    SeqClock,
    TenantSegments,
    recheck_write,
    transition_event,
)
from growthos_segments.core.ports import MembershipRecord, RecheckRecord, TransitionOutcome, TransitionResult
from growthos_segments.core.segments import SegmentDefinition
from growthos_segments.plugins import default_host

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
HOST = default_host(load_entry_points=False)
PRO = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}
RECENT = {"attribute": {"field": "signup_date", "op": "within_last", "amount": 7, "unit": "days"}}


@dataclass
class Memory:
    """Contacts, memberships and re-checks in dicts, with the ports' semantics."""

    contacts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    rows: dict[tuple[str, str, str], MembershipRecord] = field(default_factory=dict)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    rechecks: dict[tuple[str, str, str], RecheckRecord] = field(default_factory=dict)
    log: list[tuple[str, str, str, int]] = field(default_factory=list)
    writes: int = 0
    reads: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    # ContactViewLoader
    def load_view(self, tenant_id: str, contact_id: str, *, now: datetime, lookback: Any) -> Any:
        self.reads += 1
        doc = self.contacts.get((tenant_id, contact_id))
        return None if doc is None else {**doc, "events": list(doc.get("events", []))}

    # PairStateReader
    def read(self, tenant_id: str, contact_id: str, segment_ids: Sequence[str]) -> Mapping[str, PairState]:
        self.reads += 1
        out = {}
        for sid in segment_ids:
            row = self.rows.get((tenant_id, sid, contact_id))
            recheck = self.rechecks.get((tenant_id, sid, contact_id))
            out[sid] = PairState(
                row.member if row else False, row.seq if row else None,
                recheck.recheck_at if recheck else None, recheck.seq if recheck else None,
            )
        return out

    # MembershipStore
    def _move(self, tenant_id: str, sid: str, cid: str, enter: bool, seq: int, at: datetime,
              version: int | None) -> TransitionResult:
        with self.lock:
            self.writes += 1
            key = (tenant_id, sid, cid)
            row = self.rows.get(key)
            if row is not None and row.seq >= seq:
                return TransitionResult(TransitionOutcome.STALE, row)
            if (row.member if row else False) == enter:
                if row is not None:
                    self.rows[key] = MembershipRecord(tenant_id, sid, cid, enter, seq, row.changed_at,
                                                      row.transition_id)
                return TransitionResult(TransitionOutcome.UNCHANGED, self.rows.get(key))
            record = MembershipRecord(tenant_id, sid, cid, enter, seq, at.isoformat(), f"{sid}#{cid}#{seq}",
                                      segment_version=version)
            self.rows[key] = record
            self.counts[(tenant_id, sid)] = self.counts.get((tenant_id, sid), 0) + (1 if enter else -1)
            self.log.append(("enter" if enter else "exit", sid, cid, seq))
            return TransitionResult(TransitionOutcome.APPLIED, record)

    def enter(self, tenant_id: str, segment_id: str, contact_id: str, *, seq: int, at: datetime,
              segment_version: int | None = None) -> TransitionResult:
        return self._move(tenant_id, segment_id, contact_id, True, seq, at, segment_version)

    def exit(self, tenant_id: str, segment_id: str, contact_id: str, *, seq: int, at: datetime,
             segment_version: int | None = None) -> TransitionResult:
        return self._move(tenant_id, segment_id, contact_id, False, seq, at, segment_version)

    def confirm(self, tenant_id: str, segment_id: str, contact_id: str, *, member: bool, seq: int,
                at: datetime) -> bool:
        with self.lock:
            self.writes += 1
            key = (tenant_id, segment_id, contact_id)
            row = self.rows.get(key)
            if row is not None and (row.seq >= seq or row.member != member):
                return False
            if row is None and member:
                return False
            self.rows[key] = MembershipRecord(tenant_id, segment_id, contact_id, member, seq, at.isoformat(),
                                              row.transition_id if row else "tombstone")
            return True

    # RecheckStore
    shards = 1

    def schedule(self, tenant_id: str, segment_id: str, contact_id: str, *, recheck_at: datetime | None,
                 seq: int, replacing: tuple[datetime, int] | None = None) -> bool:
        with self.lock:
            self.writes += 1
            key = (tenant_id, segment_id, contact_id)
            current = self.rechecks.get(key)
            stored = (current.recheck_at, current.seq) if current is not None else None
            earlier = recheck_at is not None and (current is None or current.recheck_at > recheck_at)
            if not earlier and stored != replacing:
                return False
            if recheck_at is None:
                self.rechecks.pop(key, None)
            else:
                self.rechecks[key] = RecheckRecord(tenant_id, segment_id, contact_id, recheck_at, seq)
            return True


class Source:
    def __init__(self, tenants: Mapping[str, TenantSegments]) -> None:
        self.tenants = tenants

    def for_tenant(self, tenant_id: str, *, fresh: bool = False) -> TenantSegments:
        return self.tenants[tenant_id]


def build(
    memory: Memory, *definitions: SegmentDefinition, clock: Any = None, **options: Any
) -> MembershipEngine:
    tenants = {t: TenantSegments.build(t, HOST, definitions) for t in ("t1", "t2")}
    return MembershipEngine(Source(tenants), memory, memory, memory, memory,
                            clock=clock or (lambda: NOW), **options)


def contact(memory: Memory, cid: str, tenant: str = "t1", **attributes: Any) -> None:
    memory.contacts[(tenant, cid)] = {"tenant_id": tenant, "contact_id": cid, "attributes": attributes}


# --------------------------------------------------------------------------- decisions


@pytest.mark.parametrize(
    ("stored", "wanted", "expected"),
    [
        (None, None, (False, None)),
        (None, NOW + timedelta(days=1), (True, NOW + timedelta(days=1))),
        (NOW + timedelta(days=2), NOW + timedelta(days=1), (True, NOW + timedelta(days=1))),  # earlier: write
        (NOW + timedelta(days=1), NOW + timedelta(days=2), (False, NOW + timedelta(days=1))),  # later: keep
        (NOW + timedelta(days=1), None, (False, NOW + timedelta(days=1))),  # cleared: keep until due
        # due: replaced, later or not
        (NOW - timedelta(minutes=1), NOW + timedelta(days=2), (True, NOW + timedelta(days=2))),
        (NOW, None, (True, None)),  # due and nothing left to wait for: clear
        (NOW + timedelta(days=1), NOW + timedelta(days=1), (False, NOW + timedelta(days=1))),
    ],
)
def test_recheck_writes_only_move_earlier_unless_the_stored_one_is_due(
    stored: datetime | None, wanted: datetime | None, expected: tuple[bool, datetime | None]
) -> None:
    assert recheck_write(stored, wanted, NOW) == expected


def test_recheck_in_the_past_is_pushed_ahead_and_a_gone_contact_clears() -> None:
    write, value = recheck_write(None, NOW - timedelta(hours=1), NOW)
    assert write and value is not None and value > NOW
    later = NOW + timedelta(days=1)
    assert recheck_write(later, later + timedelta(days=1), NOW, contact_gone=True) == (True, None)
    assert recheck_write(None, None, NOW, contact_gone=True) == (False, None)


def test_seq_clock_is_strictly_increasing_and_steps_past_what_it_saw() -> None:
    frozen = SeqClock(lambda: 1_000_000_000)  # a clock that does not move
    assert [frozen.next() for _ in range(3)] == [1_000_000, 1_000_001, 1_000_002]
    assert frozen.next(at_least=5_000_000) == 5_000_000
    assert frozen.next() == 5_000_001


def row(member: bool, **extra: Any) -> dict[str, Any]:
    return {"tenant_id": "t1", "segment_id": "pro", "contact_id": "c1", "member": member, "seq": 7,
            "changed_at": "2026-11-22T12:00:00Z", "transition_id": "t1#pro#c1#7#x",
            "segment_version": 3, **extra}


def test_only_a_change_of_member_is_a_notification() -> None:
    entered = transition_event(None, row(True))
    assert entered is not None and entered.detail_type == ENTERED
    assert entered.idempotency_id == "t1#pro#c1#7#x" and entered.time == NOW
    assert dict(entered.detail) == {
        "tenant_id": "t1", "segment_id": "pro", "segment_version": 3, "contact_id": "c1",
        "member": True, "at": "2026-11-22T12:00:00Z", "seq": 7,
    }
    exited = transition_event(row(True), row(False, entered_at="2026-11-01T00:00:00Z"))
    assert exited is not None and exited.detail_type == EXITED
    assert exited.detail["entered_at"] == "2026-11-01T00:00:00Z"
    assert transition_event(row(True), row(True, seq=9)) is None  # a confirmation
    assert transition_event(None, row(False)) is None  # a tombstone for a never-member
    assert transition_event(None, {"pk": "t1#pro", "sk": "c1"}) is None  # moto's key-only INSERT
    assert transition_event(row(False), None) is None


# --------------------------------------------------------------------------- the engine


def test_writes_happen_only_for_real_transitions() -> None:
    memory = Memory()
    engine = build(memory, SegmentDefinition("pro", PRO))
    contact(memory, "c1", plan="pro")
    first = engine.evaluate("t1", "c1")
    assert first.entered == ["pro"] and memory.counts[("t1", "pro")] == 1
    writes = memory.writes
    again = engine.evaluate("t1", "c1", Change(paths=frozenset({"attributes.plan"})))
    assert again.entered == [] and memory.writes == writes  # unchanged: no write at all
    reads = memory.reads
    assert engine.evaluate("t1", "c1", Change(paths=frozenset({"scores.nps"}))).evaluated == ()
    assert memory.reads == reads  # nothing reads scores.nps: no request either


def test_a_deleted_contact_leaves_everything_and_its_rechecks_are_cleared() -> None:
    memory = Memory()
    engine = build(memory, SegmentDefinition("pro", PRO), SegmentDefinition("recent", RECENT))
    contact(memory, "c1", plan="pro", signup_date="2026-11-20")
    assert sorted(engine.evaluate("t1", "c1").entered) == ["pro", "recent"]
    assert ("t1", "recent", "c1") in memory.rechecks
    del memory.contacts[("t1", "c1")]
    gone = engine.evaluate("t1", "c1")
    assert not gone.contact_found and sorted(gone.exited) == ["pro", "recent"]
    assert memory.rechecks == {} and memory.counts == {("t1", "pro"): 0, ("t1", "recent"): 0}


def test_unknown_segments_in_only_get_their_rechecks_cleared() -> None:
    memory = Memory()
    engine = build(memory, SegmentDefinition("pro", PRO))
    contact(memory, "c1", plan="free")
    memory.rechecks[("t1", "archived", "c1")] = RecheckRecord("t1", "archived", "c1", NOW, 1)
    outcome = engine.evaluate("t1", "c1", only=["archived"])
    assert outcome.rescheduled == ["archived"] and memory.rechecks == {}


def test_tenants_are_evaluated_with_their_own_segments_and_rows() -> None:
    memory = Memory()
    engine = build(memory, SegmentDefinition("pro", PRO))
    contact(memory, "c1", "t1", plan="pro")
    contact(memory, "c1", "t2", plan="free")
    assert engine.evaluate("t1", "c1").entered == ["pro"]
    assert engine.evaluate("t2", "c1").entered == []
    assert set(memory.rows) == {("t1", "pro", "c1")}
    with pytest.raises(ValueError, match="tenant"):
        engine.evaluate("t2", "c1", segments=engine.segments.for_tenant("t1"))


class Interleave:
    """Holds the first evaluation between its view read and its state read, so a
    second, newer evaluation can run from start to end in between."""

    def __init__(self, memory: Memory) -> None:
        self.memory = memory
        self.read_view = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def read(self, tenant_id: str, contact_id: str, segment_ids: Sequence[str]) -> Mapping[str, PairState]:
        self.calls += 1
        if self.calls == 1:
            self.read_view.set()
            assert self.release.wait(5)
        return self.memory.read(tenant_id, contact_id, segment_ids)


def race(confirm_unchanged: bool = False, verify: bool = True) -> Memory:
    """c1 is in 'pro'; A reads plan=free, then B reads plan=pro (back again) and
    finishes; then A writes. The truth at the end is: c1 is in 'pro'."""
    memory = Memory()
    engine = build(memory, SegmentDefinition("pro", PRO), verify=verify, confirm_unchanged=confirm_unchanged)
    contact(memory, "c1", plan="pro")
    engine.evaluate("t1", "c1")
    gate = Interleave(memory)
    engine.states = gate
    contact(memory, "c1", plan="free")
    older = threading.Thread(target=engine.evaluate, args=("t1", "c1"))
    older.start()
    assert gate.read_view.wait(5)
    contact(memory, "c1", plan="pro")
    newer = engine.evaluate("t1", "c1", Change(paths=frozenset({"attributes.plan"})))
    assert newer.entered == newer.exited == []  # B found nothing to change
    gate.release.set()
    older.join(5)
    return memory


def test_a_stale_concurrent_transition_is_corrected_by_verification() -> None:
    memory = race()
    assert memory.rows[("t1", "pro", "c1")].member and memory.counts[("t1", "pro")] == 1
    # The interlude really happened in the data, and it is reported in order.
    assert [kind for kind, *_ in memory.log] == ["enter", "exit", "enter"]
    seqs = [seq for *_, seq in memory.log]
    assert seqs == sorted(seqs)


def test_without_verification_the_race_loses_the_transition() -> None:
    memory = race(verify=False)
    assert not memory.rows[("t1", "pro", "c1")].member  # what verification is for


def test_confirming_unchanged_pairs_refuses_the_stale_writer_instead() -> None:
    memory = race(confirm_unchanged=True)
    assert memory.rows[("t1", "pro", "c1")].member and memory.counts[("t1", "pro")] == 1
    assert [kind for kind, *_ in memory.log] == ["enter"]


def test_a_row_from_a_clock_that_ran_ahead_does_not_pin_a_stale_state() -> None:
    memory = Memory()
    engine = build(memory, SegmentDefinition("pro", PRO))
    contact(memory, "c1", plan="free")
    # A host whose clock was far ahead entered c1 from data that is no longer true.
    future = 10**18
    memory.rows[("t1", "pro", "c1")] = MembershipRecord("t1", "pro", "c1", True, future, "x", "y")
    memory.counts[("t1", "pro")] = 1
    outcome = engine.evaluate("t1", "c1")
    assert outcome.stale == ["pro"] and outcome.conflicts == ["pro"]
    assert outcome.corrections is not None and outcome.corrections.exited == ["pro"]
    assert memory.rows[("t1", "pro", "c1")].seq > future and memory.counts[("t1", "pro")] == 0


class Blind:
    """A state read that happened before the row below was written."""

    def read(self, tenant_id: str, contact_id: str, segment_ids: Sequence[str]) -> Mapping[str, PairState]:
        return {}


def test_a_refusal_by_a_row_that_agrees_needs_no_second_look() -> None:
    memory = Memory()
    engine = build(memory, SegmentDefinition("pro", PRO))
    contact(memory, "c1", plan="pro")
    engine.states = Blind()
    memory.rows[("t1", "pro", "c1")] = MembershipRecord("t1", "pro", "c1", True, 10**18, "x", "y")
    outcome = engine.evaluate("t1", "c1")
    assert outcome.stale == ["pro"] and outcome.conflicts == [] and outcome.corrections is None


# --------------------------------------------------------------------------- re-checks moved later


def postpone_race(verify: bool) -> Memory:
    """c1 is in 'recent' with a re-check due exactly at NOW. A (clock at NOW) reads
    signup 11-20 and stalls; signup becomes 11-19; B (clock 50 ms behind) reads it,
    finds the re-check not yet due and 11-26 no earlier, and writes nothing; A then
    moves the re-check to 11-27, what 11-20 needs."""
    memory = Memory()
    definitions = (SegmentDefinition("recent", RECENT),)
    a = build(memory, *definitions, verify=verify)
    b = build(memory, *definitions, clock=lambda: NOW - timedelta(milliseconds=50))
    contact(memory, "c1", signup_date="2026-11-20")
    a.evaluate("t1", "c1")
    memory.rechecks[("t1", "recent", "c1")] = RecheckRecord("t1", "recent", "c1", NOW, 1)
    gate = Interleave(memory)
    a.states = gate
    stale = threading.Thread(target=a.evaluate, args=("t1", "c1"))
    stale.start()
    assert gate.read_view.wait(5)
    contact(memory, "c1", signup_date="2026-11-19")
    newer = b.evaluate("t1", "c1")
    assert newer.rescheduled == [] and newer.transitions == 0  # it trusted the stored re-check
    gate.release.set()
    stale.join(5)
    return memory


def test_a_recheck_moved_later_is_verified_against_data_that_trusted_it() -> None:
    memory = postpone_race(verify=True)
    assert memory.rechecks[("t1", "recent", "c1")].recheck_at == datetime(2026, 11, 26, tzinfo=UTC)


def test_without_verification_the_later_move_loses_the_earlier_recheck() -> None:
    memory = postpone_race(verify=False)
    assert memory.rechecks[("t1", "recent", "c1")].recheck_at == datetime(2026, 11, 27, tzinfo=UTC)


def test_only_later_moves_and_transitions_cost_a_verification() -> None:
    memory = Memory()
    engine = build(memory, SegmentDefinition("recent", RECENT))
    contact(memory, "c1", signup_date="2026-11-20")
    first = engine.evaluate("t1", "c1")  # enters, and sets a re-check where there was none
    assert first.postponed == [] and first.corrections is not None
    contact(memory, "c1", signup_date="2026-11-19")
    earlier = engine.evaluate("t1", "c1")
    assert earlier.rescheduled == ["recent"] and earlier.postponed == [] and earlier.corrections is None
    due = datetime(2026, 11, 26, tzinfo=UTC)
    contact(memory, "c1", signup_date="2026-11-25")
    later = build(memory, SegmentDefinition("recent", RECENT), clock=lambda: due).evaluate("t1", "c1")
    assert later.postponed == ["recent"] and later.corrections is not None
    assert later.corrections.rescheduled == []
    assert memory.rechecks[("t1", "recent", "c1")].recheck_at == datetime(2026, 12, 2, tzinfo=UTC)


def test_a_verification_pass_never_moves_a_recheck_later() -> None:
    memory = Memory()
    engine = build(memory, SegmentDefinition("recent", RECENT))
    contact(memory, "c1", signup_date="2026-11-20")
    memory.rechecks[("t1", "recent", "c1")] = RecheckRecord("t1", "recent", "c1", NOW, 1)
    outcome = engine._evaluate(engine.segments.for_tenant("t1"), "c1", Change(), ["recent"], 10)
    assert outcome.rescheduled == [] and memory.rechecks[("t1", "recent", "c1")].recheck_at == NOW


class FailingSecondRead(Memory):
    """The contact read of a verification pass fails (throttled, timed out)."""

    views_read = 0

    def load_view(self, tenant_id: str, contact_id: str, *, now: datetime, lookback: Any) -> Any:
        self.views_read += 1
        if self.views_read == 2:
            raise TimeoutError("read timed out")
        return super().load_view(tenant_id, contact_id, now=now, lookback=lookback)


def test_a_due_recheck_refused_by_a_row_from_a_faster_clock_stays_due_until_settled() -> None:
    memory = FailingSecondRead()
    engine = build(memory, SegmentDefinition("recent", RECENT))
    contact(memory, "c1", signup_date="2026-11-01")  # left 'recent' on 11-08
    future = 10**18  # the row was written by a host whose clock runs ahead
    memory.rows[("t1", "recent", "c1")] = MembershipRecord("t1", "recent", "c1", True, future, "x", "y")
    memory.counts[("t1", "recent")] = 1
    memory.rechecks[("t1", "recent", "c1")] = RecheckRecord("t1", "recent", "c1", NOW, 1)
    with pytest.raises(TimeoutError):
        engine.evaluate("t1", "c1", only=["recent"])  # the exit is refused; its verification fails
    # Nothing was settled: the re-check is still due, so the next scheduler run comes back.
    assert memory.rechecks[("t1", "recent", "c1")].recheck_at == NOW
    again = engine.evaluate("t1", "c1", only=["recent"])
    assert again.transitions == 1 and memory.counts[("t1", "recent")] == 0
