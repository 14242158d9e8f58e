"""The audience side's ports answer the same on DynamoDB (moto) and in memory.

The unit tests of the audience services run on the in-memory implementations
(:mod:`growthos_segments.infra.memory_audience`); these tests hold them to the
DynamoDB adapters, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from growthos_segments.core.ports import (
    SNAPSHOT_CATEGORIES,
    ContactSamples,
    CursorError,
    SnapshotMember,
    SnapshotStore,
)
from growthos_segments.core.timeutil import parse_instant
from growthos_segments.infra import keys
from growthos_segments.infra.memory import MemoryContacts
from growthos_segments.infra.memory_audience import MemoryContactSamples, MemorySnapshots
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.repos.samples import SampleReader

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["dynamodb", "memory"])
def snapshots(request: pytest.FixtureRequest) -> Iterator[SnapshotStore]:
    if request.param == "memory":
        yield MemorySnapshots()
    else:
        yield request.getfixturevalue("repos").snapshots


def members(count: int) -> list[SnapshotMember]:
    """Every fourth bounced, every third without an email: categories overlap."""
    return [SnapshotMember(f"c{i:05d}", bounced=i % 4 == 0, no_email=i % 3 == 0) for i in range(count)]


def test_a_snapshot_keeps_its_members_by_category_page_by_page(snapshots: SnapshotStore) -> None:
    taken = members(1_100)  # three pages of 500 ids
    record = snapshots.create("t1", "s1", taken, segment_version=3, label="send", now=NOW)
    assert snapshots.get("t1", "s1", record.snapshot_id) == record
    assert record.counts == {
        "all": 1_100,
        "addressable": sum(m.addressable for m in taken),
        "bounced": 275,
        "unsubscribed": 0,
        "spam": 0,
        "no_email": 367,
    }
    assert (record.segment_version, record.label, record.chunks) == (3, "send", 3)
    for category in SNAPSHOT_CATEGORIES:
        ids: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = snapshots.contacts(record, category, cursor=cursor)
            ids += page.items
            pages += 1
            if page.cursor is None:
                break
            cursor = page.cursor
        expected = [m.contact_id for m in taken if category == "all" or getattr(m, category)]
        assert (ids, pages) == (expected, 3), category


def test_snapshots_list_newest_first_and_stay_in_their_segment(snapshots: SnapshotStore) -> None:
    made = [snapshots.create("t1", "s1", members(2), segment_version=1, now=NOW + timedelta(seconds=i))
            for i in range(3)]
    snapshots.create("t1", "s2", members(1), segment_version=1, now=NOW)
    snapshots.create("t2", "s1", members(1), segment_version=1, now=NOW)
    first = snapshots.list("t1", "s1", limit=2)
    assert [r.snapshot_id for r in first.items] == [made[2].snapshot_id, made[1].snapshot_id]
    assert first.cursor is not None
    rest = snapshots.list("t1", "s1", limit=2, cursor=first.cursor)
    assert [r.snapshot_id for r in rest.items] == [made[0].snapshot_id] and rest.cursor is None
    with pytest.raises(CursorError):
        snapshots.list("t1", "s2", limit=2, cursor=first.cursor)
    with pytest.raises(CursorError):
        snapshots.list("t2", "s1", limit=2, cursor=first.cursor)
    assert snapshots.get("t2", "s1", made[0].snapshot_id) is None
    assert snapshots.get("t1", "s1", "not-a-snapshot-id") is None


def test_a_page_cursor_of_one_snapshot_is_refused_by_another(snapshots: SnapshotStore) -> None:
    one = snapshots.create("t1", "s1", members(600), segment_version=1, now=NOW)
    other = snapshots.create("t1", "s1", members(600), segment_version=1, now=NOW + timedelta(seconds=1))
    cursor = snapshots.contacts(one, "all").cursor
    assert cursor is not None
    with pytest.raises(CursorError):
        snapshots.contacts(other, "all", cursor=cursor)
    with pytest.raises(CursorError):
        snapshots.contacts(one, "all", cursor="garbage!")


# --- samples -------------------------------------------------------------------------------


def documents(tenant: str, count: int) -> list[dict[str, Any]]:
    docs = []
    for i in range(count):
        events = [
            {"name": "email.opened", "at": NOW - timedelta(days=1 + i % 5), "event_id": f"o{i}"},
            {"name": "order.completed", "at": NOW - timedelta(days=40), "event_id": f"p{i}"},
        ]
        docs.append({"tenant_id": tenant, "contact_id": f"c{i}", "attributes": {"plan": "pro", "custom": {}},
                     "tags": ["vip"] if i % 2 else [], "lists": [], "suppression": {}, "scores": {},
                     "events": events})
    return docs


@pytest.fixture
def both(repos: Repositories) -> tuple[ContactSamples, ContactSamples]:
    """The same 60 contacts of t1 (and 5 of t2) behind both implementations."""
    docs = documents("t1", 60) + documents("t2", 5)
    repos.contacts.put_many([{k: v for k, v in d.items() if k != "events"} for d in docs], now=NOW)
    repos.events.append_many({"tenant_id": d["tenant_id"], "contact_id": d["contact_id"], **e}
                             for d in docs for e in d["events"])
    contacts = MemoryContacts()
    for doc in docs:
        contacts.put({**doc, "events": [{**e, "at": e["at"].isoformat()} for e in doc["events"]]})
    memory = MemoryContactSamples(contacts, contacts)
    return SampleReader(repos.client, repos.settings.tables, repos.contacts), memory


def _events(found: dict[str, list[tuple[str, dict[str, Any]]]]) -> dict[str, list[tuple[str, Any]]]:
    return {cid: [(e["name"], parse_instant(e["at"])) for _, e in pairs] for cid, pairs in found.items()}


def test_samples_pick_the_same_contacts_and_events(both: tuple[ContactSamples, ContactSamples]) -> None:
    dynamodb, memory = both
    assert dynamodb.positions == memory.positions == keys.SAMPLE_POSITIONS
    assert dynamodb.count("t1") == memory.count("t1") == 60
    assert dynamodb.count("t3") is None and memory.count("t3") is None
    half = keys.SAMPLE_POSITIONS // 2
    for start, stop in ((0, keys.SAMPLE_POSITIONS), (0, half), (half // 3, half)):
        picked = [{d["contact_id"] for d in s.contacts("t1", start, stop, None)} for s in both]
        assert picked[0] == picked[1] and picked[0] <= {f"c{i}" for i in range(60)}
        for since, prefixes in ((None, frozenset({""})), (NOW - timedelta(days=3), frozenset({"email."})),
                                (None, frozenset({"order.completed"}))):
            found = [s.events("t1", start, stop, since=since, prefixes=prefixes) for s in both]
            assert _events(found[0]) == _events(found[1])
            for pairs in found[0].values():
                assert [key for key, _ in pairs] == sorted(key for key, _ in pairs)
    everyone = dynamodb.contacts("t1", 0, keys.SAMPLE_POSITIONS, None)
    assert len(everyone) == 60 and all(d["tenant_id"] == "t1" for d in everyone)


def test_event_keys_sort_against_their_floor_alike(both: tuple[ContactSamples, ContactSamples]) -> None:
    since = NOW - timedelta(days=3)
    for samples in both:
        found = samples.events("t1", 0, keys.SAMPLE_POSITIONS, since=None, prefixes=frozenset({""}))
        floor = samples.event_key_floor(since)
        for pairs in found.values():
            for key, event in pairs:
                assert (key >= floor) == (parse_instant(event["at"]) >= since)
        ancient = datetime(500, 1, 1, tzinfo=UTC)  # before any time a key can hold: everything is after it
        everything = frozenset({""})
        assert samples.events("t1", 0, keys.SAMPLE_POSITIONS, since=ancient, prefixes=everything) == found
        assert all(key >= samples.event_key_floor(ancient) for pairs in found.values() for key, _ in pairs)
