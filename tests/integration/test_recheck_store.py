"""Re-check state: newer evaluations win, "due before T" is a key-range query."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from growthos_segments.core.ports import CursorError, RecheckRecord, RecheckStore
from growthos_segments.infra import keys
from growthos_segments.infra.repos import Repositories
from tests.integration.conftest import NOW


def _all_due(repos: Repositories, tenant_id: str, now: datetime, limit: int = 500) -> list[RecheckRecord]:
    found: list[RecheckRecord] = []
    for shard in range(repos.rechecks.shards):
        cursor: str | None = None
        while True:
            page = repos.rechecks.due(tenant_id, now=now, shard=shard, limit=limit, cursor=cursor)
            found += page.items
            cursor = page.cursor
            if cursor is None:
                break
    return found


def test_store_satisfies_the_port(repos: Repositories) -> None:
    assert isinstance(repos.rechecks, RecheckStore)


def test_schedule_and_read_back(repos: Repositories) -> None:
    at = NOW + timedelta(days=60, seconds=30)
    assert repos.rechecks.schedule("t1", "seg1", "c1", recheck_at=at, seq=5)
    [record] = repos.rechecks.for_contact("t1", "c1")
    assert record == RecheckRecord("t1", "seg1", "c1", at, 5)


def test_an_earlier_recheck_is_accepted_whatever_its_seq(repos: Repositories) -> None:
    r = repos.rechecks
    assert r.schedule("t1", "seg1", "c1", recheck_at=NOW + timedelta(hours=2), seq=10)
    # A host whose clock is behind: a smaller seq, and it needs the pair sooner.
    assert r.schedule("t1", "seg1", "c1", recheck_at=NOW + timedelta(hours=1), seq=9)
    assert not r.schedule("t1", "seg1", "c1", recheck_at=NOW + timedelta(hours=1), seq=11)  # not earlier
    assert r.for_contact("t1", "c1") == [RecheckRecord("t1", "seg1", "c1", NOW + timedelta(hours=1), 9)]


def test_later_or_cleared_only_if_the_row_is_still_the_one_read(repos: Repositories) -> None:
    r = repos.rechecks
    read = (NOW + timedelta(hours=1), 9)
    assert r.schedule("t1", "seg1", "c1", recheck_at=read[0], seq=read[1])
    # A larger seq proves nothing: without the row it read, no later value and no clearing.
    assert not r.schedule("t1", "seg1", "c1", recheck_at=NOW + timedelta(hours=3), seq=10**18)
    assert not r.schedule("t1", "seg1", "c1", recheck_at=None, seq=10**18)
    assert not r.schedule("t1", "seg1", "c1", recheck_at=None, seq=12, replacing=(read[0], 8))
    assert r.schedule("t1", "seg1", "c1", recheck_at=NOW + timedelta(hours=3), seq=5, replacing=read)
    assert not r.schedule("t1", "seg1", "c1", recheck_at=NOW + timedelta(hours=4), seq=13, replacing=read)
    assert r.for_contact("t1", "c1")[0].recheck_at == NOW + timedelta(hours=3)
    assert r.schedule("t1", "seg1", "c1", recheck_at=None, seq=14, replacing=(NOW + timedelta(hours=3), 5))
    assert r.for_contact("t1", "c1") == []
    assert r.schedule("t1", "seg1", "c1", recheck_at=None, seq=15)  # clearing no row: nothing to do


def test_earlier_is_chronological_below_the_second(repos: Repositories) -> None:
    r = repos.rechecks
    whole = NOW + timedelta(minutes=5)
    assert r.schedule("t1", "seg1", "c1", recheck_at=whole + timedelta(microseconds=500_000), seq=2)
    assert r.schedule("t1", "seg1", "c1", recheck_at=whole, seq=1)  # "…:00Z" sorts after "…:00.5Z" as text
    assert not r.schedule("t1", "seg1", "c1", recheck_at=whole + timedelta(microseconds=1), seq=3)
    assert r.for_contact("t1", "c1")[0].recheck_at == whole


def test_a_row_stored_at_second_precision_can_still_be_replaced(repos: Repositories) -> None:
    due = NOW + timedelta(minutes=5)
    repos.models.rechecks(
        keys.recheck_pk("t1", "c1"), "seg1", tenant_id="t1", segment_id="seg1", contact_id="c1",
        recheck_at="2026-11-22T12:05:00Z", seq=4, due_pk=keys.recheck_due_pk("t1", "c1"),
        due_at=keys.due_bucket(due),
    ).save()
    assert repos.rechecks.for_contact("t1", "c1")[0].recheck_at == due
    assert repos.rechecks.schedule("t1", "seg1", "c1", recheck_at=NOW + timedelta(days=1), seq=5,
                                   replacing=(due, 4))


def test_due_uses_minute_precision_and_never_fires_early(repos: Repositories) -> None:
    r = repos.rechecks
    r.schedule("t1", "seg1", "c1", recheck_at=NOW + timedelta(minutes=5), seq=1)
    r.schedule("t1", "seg1", "c2", recheck_at=NOW + timedelta(minutes=5, seconds=1), seq=1)
    r.schedule("t1", "seg2", "c3", recheck_at=NOW + timedelta(days=3), seq=1)
    r.schedule("t1", "seg2", "c4", recheck_at=NOW - timedelta(days=3), seq=1)  # overdue: still found

    def due_ids(at: datetime) -> list[str]:
        return sorted(x.contact_id for x in _all_due(repos, "t1", at))

    assert due_ids(NOW) == ["c4"]
    assert due_ids(NOW + timedelta(minutes=4, seconds=59)) == ["c4"]
    assert due_ids(NOW + timedelta(minutes=5)) == ["c1", "c4"]
    assert due_ids(NOW + timedelta(minutes=5, seconds=59)) == ["c1", "c4"]
    assert due_ids(NOW + timedelta(minutes=6)) == ["c1", "c2", "c4"]
    assert due_ids(NOW + timedelta(days=4)) == ["c1", "c2", "c3", "c4"]


def test_due_reads_one_shard_per_query_without_scanning(repos: Repositories) -> None:
    r = repos.rechecks
    for i in range(12):
        r.schedule("t1", "seg1", f"c{i}", recheck_at=NOW, seq=1)
    repos.requests.reset()
    assert len(_all_due(repos, "t1", NOW)) == 12
    assert set(repos.requests.by_operation) == {"Query"}
    assert repos.requests.total == r.shards  # one page per shard at this size


def test_due_pages_with_cursors_and_rejects_foreign_ones(repos: Repositories) -> None:
    r = repos.rechecks
    contacts = [f"c{i}" for i in range(40)]
    for contact in contacts:
        r.schedule("t1", "seg1", contact, recheck_at=NOW, seq=1)
    assert sorted(x.contact_id for x in _all_due(repos, "t1", NOW, limit=2)) == sorted(contacts)
    shard = next(
        s for s in range(r.shards)
        if sum(keys.recheck_due_pk("t1", c).endswith(f"#{s:02d}") for c in contacts) > 2
    )
    page = r.due("t1", now=NOW, shard=shard, limit=1)
    assert page.cursor is not None
    with pytest.raises(CursorError):
        r.due("t2", now=NOW, shard=shard, cursor=page.cursor)
    with pytest.raises(CursorError):
        r.due("t1", now=NOW, shard=(shard + 1) % r.shards, cursor=page.cursor)
