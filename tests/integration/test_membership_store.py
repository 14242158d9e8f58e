"""Membership transitions: stale and duplicate evaluations refused, counters exact."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from growthos_segments.core.ports import CursorError, MembershipStore, TransitionOutcome
from growthos_segments.infra import keys
from growthos_segments.infra.repos import Repositories
from tests.integration.conftest import NOW

APPLIED, STALE, UNCHANGED = TransitionOutcome.APPLIED, TransitionOutcome.STALE, TransitionOutcome.UNCHANGED


def test_store_satisfies_the_port(repos: Repositories) -> None:
    assert isinstance(repos.memberships, MembershipStore)


def test_enter_then_exit_with_counter_in_the_same_transaction(repos: Repositories) -> None:
    m = repos.memberships
    repos.requests.reset()
    entered = m.enter("t1", "seg1", "c1", seq=10, at=NOW, segment_version=3)
    assert entered.outcome is APPLIED and entered.applied
    assert dict(repos.requests.by_operation) == {"TransactWriteItems": 1}
    assert m.count("t1", "seg1") == 1
    stored = m.get("t1", "seg1", "c1")
    assert stored is not None and stored.member and stored.seq == 10 and stored.segment_version == 3
    assert stored.entered_at == "2026-11-22T12:00:00Z"
    assert stored.transition_id == keys.transition_id("t1", "seg1", "c1", 10, True)

    exited = m.exit("t1", "seg1", "c1", seq=11, at=NOW + timedelta(minutes=1))
    assert exited.outcome is APPLIED
    assert m.count("t1", "seg1") == 0
    tombstone = m.get("t1", "seg1", "c1")
    assert tombstone is not None and not tombstone.member and tombstone.seq == 11
    assert tombstone.exited_at == "2026-11-22T12:01:00Z"


def test_duplicate_delivery_is_refused_and_not_counted_twice(repos: Repositories) -> None:
    m = repos.memberships
    assert m.enter("t1", "seg1", "c1", seq=10, at=NOW).applied
    again = m.enter("t1", "seg1", "c1", seq=10, at=NOW)
    assert again.outcome is STALE and again.current is not None and again.current.seq == 10
    assert m.count("t1", "seg1") == 1


def test_duplicate_enter_from_a_newer_evaluation_is_refused_but_remembered(repos: Repositories) -> None:
    m = repos.memberships
    m.enter("t1", "seg1", "c1", seq=10, at=NOW)
    newer = m.enter("t1", "seg1", "c1", seq=20, at=NOW)
    assert newer.outcome is UNCHANGED and newer.current is not None and newer.current.seq == 20
    assert m.count("t1", "seg1") == 1
    # An evaluation from between the two (seq 15) may no longer flip the state.
    assert m.exit("t1", "seg1", "c1", seq=15, at=NOW).outcome is STALE
    assert m.get("t1", "seg1", "c1").member  # type: ignore[union-attr]


def test_stale_exit_cannot_overwrite_a_newer_enter(repos: Repositories) -> None:
    m = repos.memberships
    m.enter("t1", "seg1", "c1", seq=10, at=NOW)
    stale = m.exit("t1", "seg1", "c1", seq=9, at=NOW)
    assert stale.outcome is STALE and stale.current is not None and stale.current.member
    assert m.count("t1", "seg1") == 1


def test_stale_enter_cannot_resurrect_an_exited_member(repos: Repositories) -> None:
    m = repos.memberships
    m.enter("t1", "seg1", "c1", seq=10, at=NOW)
    m.exit("t1", "seg1", "c1", seq=12, at=NOW)
    assert m.enter("t1", "seg1", "c1", seq=11, at=NOW).outcome is STALE
    assert m.count("t1", "seg1") == 0
    assert m.enter("t1", "seg1", "c1", seq=13, at=NOW).outcome is APPLIED
    assert m.count("t1", "seg1") == 1


def test_exit_of_a_never_member_leaves_a_guard_and_no_count(repos: Repositories) -> None:
    m = repos.memberships
    result = m.exit("t1", "seg1", "c1", seq=20, at=NOW)
    assert result.outcome is UNCHANGED
    assert m.count("t1", "seg1") == 0
    assert m.segments_of("t1", "c1") == []
    # an older "enter" evaluation that arrives afterwards is stale
    assert m.enter("t1", "seg1", "c1", seq=19, at=NOW).outcome is STALE
    assert m.members("t1", "seg1").items == []


def test_exited_rows_carry_a_ttl_and_leave_the_contact_index(repos: Repositories) -> None:
    m = repos.memberships
    m.enter("t1", "seg1", "c1", seq=1, at=NOW)
    raw = repos.client.get_item(
        TableName=repos.settings.tables.memberships,
        Key={"pk": {"S": keys.membership_pk("t1", "seg1")}, "sk": {"S": "c1"}},
    )["Item"]
    assert raw["contact_key"] == {"S": "t1#c1"} and "expires_at" not in raw
    m.exit("t1", "seg1", "c1", seq=2, at=NOW)
    raw = repos.client.get_item(
        TableName=repos.settings.tables.memberships,
        Key={"pk": {"S": keys.membership_pk("t1", "seg1")}, "sk": {"S": "c1"}},
    )["Item"]
    assert "contact_key" not in raw
    assert raw["expires_at"] == {"N": str(int((NOW + repos.settings.membership_tombstone).timestamp()))}


def test_seq_must_be_a_non_negative_int(repos: Repositories) -> None:
    with pytest.raises(ValueError):
        repos.memberships.enter("t1", "seg1", "c1", seq=True, at=NOW)
    with pytest.raises(ValueError):
        repos.memberships.enter("t1", "seg1", "c1", seq=-1, at=NOW)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reordered_and_duplicated_evaluations_converge_on_the_newest(repos: Repositories, seed: int) -> None:
    """Each contact gets a history of evaluations (seq, member?); they arrive
    shuffled, some twice. Whatever the order, the stored state is the newest
    evaluation's result and the counter equals the number of members."""
    rng = random.Random(seed)
    m = repos.memberships
    newest: dict[str, bool] = {}
    deliveries: list[tuple[str, int, bool]] = []
    for c in range(8):
        contact = f"c{c}"
        history = [(seq, rng.random() < 0.5) for seq in rng.sample(range(1, 100), 5)]
        newest[contact] = max(history)[1]
        deliveries += [(contact, seq, member) for seq, member in history]
    deliveries += rng.sample(deliveries, 5)  # redeliveries
    rng.shuffle(deliveries)
    for contact, seq, member in deliveries:
        call = m.enter if member else m.exit
        call("t1", "seg1", contact, seq=seq, at=NOW)
    stored = {c: m.get("t1", "seg1", c) for c in newest}
    states = {c: bool(record and record.member) for c, record in stored.items()}
    assert states == newest
    assert m.count("t1", "seg1") == sum(newest.values())
    assert sorted(m.members("t1", "seg1", limit=100).items) == sorted(c for c, v in newest.items() if v)


def test_concurrent_transitions_on_one_segment_use_different_counter_shards(repos: Repositories) -> None:
    m = repos.memberships
    contacts = [f"c{i}" for i in range(24)]
    for seq, contact in enumerate(contacts, start=1):
        m.enter("t1", "seg1", contact, seq=seq, at=NOW)
    shards = list(repos.models.counters.query(keys.counter_pk("t1", "seg1")))
    assert len(shards) > 1
    assert sum(s.count for s in shards) == 24
    repos.requests.reset()
    assert m.count("t1", "seg1") == 24
    assert repos.requests.total == 1


def test_members_are_paged_and_exclude_exited(repos: Repositories) -> None:
    m = repos.memberships
    for i in range(7):
        m.enter("t1", "seg1", f"c{i}", seq=1, at=NOW)
    m.exit("t1", "seg1", "c3", seq=2, at=NOW)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = m.members("t1", "seg1", limit=2, cursor=cursor)
        assert len(page.items) <= 2
        seen += page.items
        pages += 1
        cursor = page.cursor
        if cursor is None:
            break
    assert seen == ["c0", "c1", "c2", "c4", "c5", "c6"]
    assert pages >= 3


def test_member_cursor_is_bound_to_its_segment(repos: Repositories) -> None:
    m = repos.memberships
    for i in range(3):
        m.enter("t1", "seg1", f"c{i}", seq=1, at=NOW)
    cursor = m.members("t1", "seg1", limit=1).cursor
    assert cursor is not None
    with pytest.raises(CursorError):
        m.members("t1", "seg2", cursor=cursor)
    with pytest.raises(CursorError):
        m.members("t1", "seg1", cursor="not-a-cursor")


def test_segments_of_a_contact_via_the_index(repos: Repositories) -> None:
    m = repos.memberships
    m.enter("t1", "a", "c1", seq=1, at=NOW)
    m.enter("t1", "b", "c1", seq=1, at=NOW, segment_version=2)
    m.enter("t1", "c", "c1", seq=1, at=NOW)
    m.exit("t1", "c", "c1", seq=2, at=NOW)
    m.enter("t1", "a", "c2", seq=1, at=NOW)
    found = m.segments_of("t1", "c1")
    assert [(r.segment_id, r.segment_version) for r in found] == [("a", None), ("b", 2)]


def test_confirm_records_a_newer_no_op_evaluation(repos: Repositories) -> None:
    m = repos.memberships
    m.enter("t1", "seg1", "c1", seq=10, at=NOW)
    assert m.confirm("t1", "seg1", "c1", member=True, seq=30, at=NOW)
    assert not m.confirm("t1", "seg1", "c1", member=True, seq=20, at=NOW)  # older
    assert not m.confirm("t1", "seg1", "c1", member=False, seq=40, at=NOW)  # would be a transition
    assert m.exit("t1", "seg1", "c1", seq=25, at=NOW).outcome is STALE
    assert m.count("t1", "seg1") == 1
