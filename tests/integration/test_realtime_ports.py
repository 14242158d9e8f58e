"""One contract, two implementations: the in-memory ports hold to what the DynamoDB adapters do.

Every test runs against :mod:`growthos_segments.infra.memory` and against the
DynamoDB adapters on moto, with the same calls and the same expected answers,
so the stores the services' unit tests run on cannot drift from production.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from growthos_segments.core.ports import (
    BackfillJob,
    BackfillProgressStore,
    ContactPager,
    MembershipStore,
    RecheckStore,
    SegmentRecord,
    SegmentStore,
    SegmentVersionConflict,
    TransitionOutcome,
)
from growthos_segments.infra import keys
from growthos_segments.infra.memory import MemoryBackend
from growthos_segments.infra.repos.progress import ProgressStore
from tests.integration.conftest import NOW

APPLIED, STALE, UNCHANGED = TransitionOutcome.APPLIED, TransitionOutcome.STALE, TransitionOutcome.UNCHANGED


@dataclass
class Stores:
    memberships: MembershipStore
    rechecks: RecheckStore
    progress: BackfillProgressStore
    contacts: ContactPager
    put_contact: Callable[[Mapping[str, Any]], None]
    segments: SegmentStore


@pytest.fixture(params=["memory", "dynamodb"])
def stores(request: pytest.FixtureRequest) -> Stores:
    if request.param == "memory":
        mem = MemoryBackend()
        return Stores(
            mem.memberships, mem.rechecks, mem.progress, mem.contacts, mem.contacts.put, mem.segments
        )
    repos = request.getfixturevalue("repos")
    progress = ProgressStore(repos.client, repos.settings.tables.counters)
    return Stores(
        repos.memberships, repos.rechecks, progress, repos.contacts, repos.contacts.put, repos.segments
    )


def test_transitions_apply_only_over_older_evaluations_and_count_exactly(stores: Stores) -> None:
    m = stores.memberships
    assert m.enter("t1", "s", "c1", seq=10, at=NOW, segment_version=2).outcome is APPLIED
    assert m.enter("t1", "s", "c1", seq=10, at=NOW).outcome is STALE  # a redelivery
    newer = m.enter("t1", "s", "c1", seq=20, at=NOW)
    assert newer.outcome is UNCHANGED and newer.current is not None and newer.current.seq == 20
    assert m.exit("t1", "s", "c1", seq=15, at=NOW).outcome is STALE  # older than the recorded 20
    assert m.count("t1", "s") == 1
    exited = m.exit("t1", "s", "c1", seq=30, at=NOW + timedelta(minutes=1))
    assert exited.outcome is APPLIED and m.count("t1", "s") == 0
    row = m.get("t1", "s", "c1")
    assert row is not None and (row.member, row.seq, row.exited_at) == (False, 30, "2026-11-22T12:01:00Z")
    assert row.transition_id == keys.transition_id("t1", "s", "c1", 30, False)


def test_an_exit_of_a_never_member_leaves_a_tombstone_that_refuses_older_enters(stores: Stores) -> None:
    m = stores.memberships
    gone = m.exit("t1", "s", "c1", seq=10, at=NOW)
    assert gone.outcome is UNCHANGED and gone.current is not None and not gone.current.member
    assert m.enter("t1", "s", "c1", seq=5, at=NOW).outcome is STALE
    assert m.enter("t1", "s", "c1", seq=11, at=NOW).outcome is APPLIED and m.count("t1", "s") == 1


def test_confirm_moves_the_seq_of_the_same_state_only(stores: Stores) -> None:
    m = stores.memberships
    assert m.confirm("t1", "s", "c1", member=True, seq=1, at=NOW) is False  # nothing to confirm
    assert m.confirm("t1", "s", "c1", member=False, seq=2, at=NOW) is True  # a tombstone
    assert m.enter("t1", "s", "c1", seq=3, at=NOW).applied
    assert m.confirm("t1", "s", "c1", member=False, seq=4, at=NOW) is False  # another state
    assert m.confirm("t1", "s", "c1", member=True, seq=4, at=NOW) is True
    assert m.confirm("t1", "s", "c1", member=True, seq=4, at=NOW) is False  # not newer
    assert m.get("t1", "s", "c1").seq == 4  # type: ignore[union-attr]


def test_members_and_memberships_of_a_contact(stores: Stores) -> None:
    m = stores.memberships
    for n, cid in enumerate(["c4", "c2", "c5", "c1", "c3"]):
        m.enter("t1", "s", cid, seq=n + 1, at=NOW)
    m.exit("t1", "s", "c3", seq=10, at=NOW)
    m.enter("t1", "other", "c1", seq=1, at=NOW)
    m.enter("t2", "s", "c9", seq=1, at=NOW)
    ids: list[str] = []
    cursor: str | None = None
    while True:
        page = m.members("t1", "s", limit=2, cursor=cursor)
        ids += page.items
        cursor = page.cursor
        if cursor is None:
            break
    assert ids == ["c1", "c2", "c4", "c5"]
    assert sorted(r.segment_id for r in m.segments_of("t1", "c1")) == ["other", "s"]


def test_an_earlier_recheck_always_wins_a_later_one_only_in_place_of_what_was_read(stores: Stores) -> None:
    r = stores.rechecks
    at = NOW + timedelta(hours=1)
    assert r.schedule("t1", "s", "c1", recheck_at=at, seq=1) is True
    assert r.schedule("t1", "s", "c1", recheck_at=at + timedelta(hours=1), seq=2) is False
    assert r.schedule("t1", "s", "c1", recheck_at=at - timedelta(minutes=30), seq=3) is True
    earlier = at - timedelta(minutes=30)
    assert r.schedule("t1", "s", "c1", recheck_at=at, seq=4, replacing=(at, 1)) is False  # not the row
    assert r.schedule("t1", "s", "c1", recheck_at=at, seq=4, replacing=(earlier, 3)) is True
    assert r.schedule("t1", "s", "c1", recheck_at=None, seq=5, replacing=(earlier, 3)) is False
    assert [(x.recheck_at, x.seq) for x in r.for_contact("t1", "c1")] == [(at, 4)]
    assert r.schedule("t1", "s", "c1", recheck_at=None, seq=5, replacing=(at, 4)) is True
    assert r.for_contact("t1", "c1") == []
    assert r.schedule("t1", "s", "c1", recheck_at=None, seq=6) is True  # nothing stored, nothing read


def test_due_rechecks_by_shard_and_minute_never_early(stores: Stores) -> None:
    r = stores.rechecks
    due_at = NOW + timedelta(seconds=30)
    r.schedule("t1", "s", "c1", recheck_at=due_at, seq=1)
    r.schedule("t2", "s", "c1", recheck_at=due_at, seq=1)
    shard = int(keys.recheck_due_pk("t1", "c1")[-2:])

    def due(now: Any) -> list[tuple[str, str]]:
        found = []
        for n in range(r.shards):
            found += [(x.contact_id, x.segment_id) for x in r.due("t1", now=now, shard=n).items]
            if n != shard:
                assert r.due("t1", now=now, shard=n).items == []
        return found

    assert due(NOW + timedelta(seconds=59)) == []
    assert due(NOW + timedelta(minutes=1)) == [("c1", "s")]


def test_backfill_progress_counts_a_page_once_from_where_the_slice_is(stores: Stores) -> None:
    p = stores.progress
    first = BackfillJob("t1", "s", 2, shard=3)
    assert p.slice(first) is None
    assert p.advance(first, next_cursor="k1", done=5, entered=2, exited=0) is True
    assert p.advance(first, next_cursor="k1", done=5, entered=2, exited=0) is False  # redelivered
    second = BackfillJob("t1", "s", 2, shard=3, cursor="k1")
    assert p.advance(second, next_cursor=None, done=3, entered=1, exited=1) is True
    assert p.advance(second, next_cursor=None, done=3, entered=1, exited=1) is False
    state = p.slice(first)
    assert state is not None and (state.done, state.entered, state.exited, state.finished) == (8, 3, 1, True)
    other = BackfillJob("t1", "s", 2, shard=0)
    assert p.advance(other, next_cursor="x", done=1, entered=0, exited=0)
    progress = p.progress("t1", "s", 2)
    assert (progress.done, progress.entered, progress.exited, progress.slices_finished) == (9, 3, 1, 1)
    assert progress.slices == keys.CONTACT_SHARDS and not progress.complete
    assert p.finished_slices("t1", "s", 2) == {3}
    p.reset("t1", "s", 2)
    assert p.progress("t1", "s", 2).done == 0 and p.slice(first) is None


def test_backfill_progress_says_when_it_was_queued_and_reads_many_segments_at_once(stores: Stores) -> None:
    p = stores.progress
    p.queued("t1", "a", 1, at=NOW)
    p.queued("t2", "b", 1, at=NOW)  # another tenant's segment of the same name
    assert (p.progress("t1", "a", 1).queued_at, p.progress("t1", "a", 2).queued_at) == (NOW, None)
    assert p.advance(BackfillJob("t1", "a", 1, shard=2), next_cursor=None, done=4, entered=1, exited=0)
    assert p.finished_slices("t1", "a", 1) == {2}  # the queued mark is no slice
    many = p.progress_many("t1", {"a": 1, "b": 1, "never": 3})
    assert many == {"a": p.progress("t1", "a", 1), "b": p.progress("t1", "b", 1),
                    "never": p.progress("t1", "never", 3)}
    assert (many["a"].done, many["a"].slices_finished, many["a"].queued_at) == (4, 1, NOW)
    assert (many["b"].queued_at, many["b"].done, many["never"].queued_at) == (None, 0, None)
    assert p.progress_many("t1", {}) == {}
    p.reset("t1", "a", 1)
    assert (p.progress("t1", "a", 1).done, p.progress("t1", "a", 1).queued_at) == (0, NOW)


def test_contact_pages_cover_each_shard_once(stores: Stores) -> None:
    ids = [f"c{n:02d}" for n in range(40)]
    for cid in ids:
        stores.put_contact({"tenant_id": "t1", "contact_id": cid, "attributes": {}})
    stores.put_contact({"tenant_id": "t2", "contact_id": "c00", "attributes": {}})
    seen: list[str] = []
    for shard in range(stores.contacts.shards):
        cursor: str | None = None
        while True:
            page = stores.contacts.contact_ids("t1", shard=shard, limit=3, cursor=cursor)
            assert all(keys.contact_shard(cid) == shard for cid in page.items)
            seen += page.items
            cursor = page.cursor
            if cursor is None:
                break
    assert sorted(seen) == ids


def test_segments_are_versioned_with_optimistic_concurrency(stores: Stores) -> None:
    store = stores.segments
    first = store.save(SegmentRecord("t1", "pro", "Pro", {"and": []}), now=NOW)
    assert (first.version, first.created_at, first.updated_at) == (
        1,
        "2026-11-22T12:00:00Z",
        "2026-11-22T12:00:00Z",
    )
    later = NOW + timedelta(hours=1)
    second = store.save(SegmentRecord("t1", "pro", "Pro 2", {"and": []}, version=1), now=later)
    assert (second.version, second.created_at, second.updated_at) == (
        2,
        first.created_at,
        "2026-11-22T13:00:00Z",
    )
    with pytest.raises(SegmentVersionConflict):
        store.save(SegmentRecord("t1", "pro", "stale", {"and": []}, version=1), now=later)
    with pytest.raises(ValueError):
        store.save(SegmentRecord("t1", "x", "x", {"and": []}, type="dynamic"), now=later)
    store.save(SegmentRecord("t1", "old", "Old", {"and": []}), now=NOW)
    store.save(SegmentRecord("t1", "old", "Old", {"and": []}, status="archived", version=1), now=NOW)
    store.save(SegmentRecord("t2", "pro", "Pro", {"and": []}), now=NOW)
    assert [r.version for r in store.versions("t1", "pro")] == [2, 1]
    assert store.get("t1", "pro", version=1).name == "Pro"  # type: ignore[union-attr]
    assert store.get("t1", "missing") is None
    assert [r.segment_id for r in store.list_segments("t1")] == ["pro"]
    assert sorted(r.segment_id for r in store.list_segments("t1", include_archived=True)) == ["old", "pro"]
    assert [(r.segment_id, r.version) for r in store.active_segments("t1")] == [("pro", 2)]
    assert store.revision("t1") == 4 and store.revision("t3") == 0
    assert sorted(store.tenants()) == ["t1", "t2"]
