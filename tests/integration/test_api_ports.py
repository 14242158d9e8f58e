"""The audience side's ports answer the same on AWS (moto) and in memory.

The unit tests of the audience services run on the in-memory implementations
(:mod:`growthos_segments.infra.memory_audience`); these tests hold them to the
DynamoDB adapters, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from growthos_segments.core.ports import (
    SNAPSHOT_CATEGORIES,
    AudienceLookups,
    ContactSamples,
    CursorError,
    IdempotencyKeyReused,
    IdempotentCalls,
    MembershipCheck,
    MembershipStore,
    SegmentRecord,
    SegmentStore,
    SnapshotMember,
    SnapshotStore,
    StoredState,
)
from growthos_segments.core.ports_usage import SegmentUsages, UsageRecord
from growthos_segments.core.timeutil import parse_instant
from growthos_segments.infra import keys
from growthos_segments.infra.idempotency import PowertoolsIdempotency
from growthos_segments.infra.memory import MemoryBackend, MemoryContacts
from growthos_segments.infra.memory_audience import (
    MemoryAudienceLookups,
    MemoryContactSamples,
    MemoryIdempotency,
    MemorySnapshots,
)
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.repos.audience import AudienceLookupRepository
from growthos_segments.infra.repos.samples import SampleReader
from growthos_segments.infra.repos.usages import SegmentUsageRepository
from tests.integration.api_support import FakeContext

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PRO = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}


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


# --- point lookups and idempotent calls ----------------------------------------------------


@dataclass
class Deployment:
    """One implementation of the stores the lookups read, and the lookups over them."""

    segments: SegmentStore
    memberships: MembershipStore
    lookups: AudienceLookups
    put_contact: Callable[[dict[str, Any]], None]


@pytest.fixture(params=["dynamodb", "memory"])
def deployment(request: pytest.FixtureRequest) -> Deployment:
    if request.param == "memory":
        backend = MemoryBackend()
        lookups = MemoryAudienceLookups(backend.segments, backend.memberships, backend.contacts)
        return Deployment(backend.segments, backend.memberships, lookups, backend.contacts.put)
    repos: Repositories = request.getfixturevalue("repos")
    return Deployment(repos.segments, repos.memberships,
                      AudienceLookupRepository(repos.client, repos.settings.tables),
                      lambda doc: repos.contacts.put(doc, now=NOW))


def test_a_membership_check_sees_segment_row_and_contact_alike(deployment: Deployment) -> None:
    d = deployment
    d.segments.save(SegmentRecord(tenant_id="t1", segment_id="pro", name="pro", rule=PRO), now=NOW)
    for contact_id in ("in", "out", "never"):
        d.put_contact({"tenant_id": "t1", "contact_id": contact_id,
                       "attributes": {"email": f"{contact_id}@x.io"},
                       "suppression": {"bounced": contact_id == "out"}})
    d.memberships.enter("t1", "pro", "in", seq=1, at=NOW, segment_version=1)
    d.memberships.enter("t1", "pro", "out", seq=1, at=NOW, segment_version=1)
    d.memberships.exit("t1", "pro", "out", seq=2, at=NOW + timedelta(minutes=1), segment_version=1)
    check = d.lookups.membership_check
    assert check("t1", "pro", "in") == MembershipCheck(
        "active", StoredState(True, "2026-11-22T12:00:00Z", None, 1), True)
    assert check("t1", "pro", "out") == MembershipCheck(
        "active", StoredState(False, "2026-11-22T12:00:00Z", "2026-11-22T12:01:00Z", 1), True)
    assert check("t1", "pro", "never") == MembershipCheck("active", None, True)
    assert check("t1", "pro", "nobody") == MembershipCheck("active", None, False)
    assert check("t1", "other", "in") == MembershipCheck(None, None, True)
    assert check("t2", "pro", "in") == MembershipCheck(None, None, False)
    head = d.segments.get("t1", "pro")
    assert head is not None
    d.segments.save(replace(head, status="archived"), now=NOW)
    assert check("t1", "pro", "in").segment_status == "archived"
    assert (d.lookups.contact_exists("t1", "in"), d.lookups.contact_exists("t2", "in")) == (True, False)
    profiles = d.lookups.suppression_profiles("t1", ["in", "out", "nobody"])
    assert sorted(profiles) == ["in", "out"]
    assert profiles["out"]["suppression"]["bounced"] is True
    assert profiles["in"]["attributes"]["email"] == "in@x.io"


@pytest.fixture(params=["powertools", "memory"])
def calls(request: pytest.FixtureRequest) -> IdempotentCalls:
    if request.param == "memory":
        return MemoryIdempotency()
    repos: Repositories = request.getfixturevalue("repos")
    powertools = PowertoolsIdempotency(repos.settings.tables.idempotency, repos.client)
    powertools.register_lambda_context(FakeContext())  # as the API's creates do, inside a Lambda
    return powertools


def test_idempotent_calls_replay_refuse_another_body_and_keep_tenants_apart(calls: IdempotentCalls) -> None:
    ran: list[dict[str, Any]] = []

    def create(request: dict[str, Any]) -> dict[str, Any]:
        ran.append(request)
        return {"n": len(ran)}

    call = calls.wrap("test.create", create)
    first = {"tenant_id": "t1", "key": "k", "body": {"a": 1}}
    assert call(first) == {"n": 1}
    assert call(dict(first)) == {"n": 1} and len(ran) == 1
    with pytest.raises(IdempotencyKeyReused):
        call({**first, "body": {"a": 2}})
    assert call({**first, "tenant_id": "t2"}) == {"n": 2}
    assert calls.wrap("test.other", create)(first) == {"n": 3}  # another function, another record


# --- segment usages and the identity on segment versions -------------------------------------


@dataclass
class Management:
    segments: SegmentStore
    usages: SegmentUsages


@pytest.fixture(params=["dynamodb", "memory"])
def management(request: pytest.FixtureRequest) -> Management:
    if request.param == "memory":
        backend = MemoryBackend()
        return Management(backend.segments, backend.usages)
    repos: Repositories = request.getfixturevalue("repos")
    return Management(repos.segments, SegmentUsageRepository(repos.models))


def test_versions_keep_their_creator_editor_and_teams_alike(management: Management) -> None:
    store = management.segments
    first = store.save(SegmentRecord(tenant_id="t1", segment_id="pro", name="pro", rule=PRO, updated_by="ana",
                                     teams=("growth",)), now=NOW)
    second = store.save(replace(first, updated_by="bob", teams=("growth", "sales")), now=NOW)
    third = store.save(replace(second, updated_by=None, teams=()), now=NOW)
    assert [(r.version, r.created_by, r.updated_by, r.teams) for r in store.versions("t1", "pro")] == [
        (3, "ana", None, ()), (2, "ana", "bob", ("growth", "sales")), (1, "ana", "ana", ("growth",))]
    assert store.get("t1", "pro") == third and store.list_segments("t1") == [third]


def test_usages_register_replace_remove_and_stay_in_their_tenant_and_segment(management: Management) -> None:
    usages = management.usages
    assert usages.users("t1", "pro") == []
    usages.register("t1", "pro", "journey:a", by="ana", now=NOW)
    latest = usages.register("t1", "pro", "journey:a", by="bob", now=NOW + timedelta(hours=1))
    first = usages.register("t1", "pro", "campaign:z", by=None, now=NOW)
    usages.register("t1", "pro2", "campaign:other", by="ana", now=NOW)  # a segment whose id extends "pro"
    usages.register("t2", "pro", "campaign:theirs", by="eve", now=NOW)
    assert usages.users("t1", "pro") == [first, latest]
    assert latest == UsageRecord("pro", "journey:a", "bob", "2026-11-22T13:00:00Z")
    usages.remove("t1", "pro", "campaign:z")
    usages.remove("t1", "pro", "campaign:z")  # removing twice is not an error
    usages.remove("t2", "pro", "journey:a")  # another tenant's removal touches nothing here
    assert usages.users("t1", "pro") == [latest]
    assert [u.user for u in usages.users("t2", "pro")] == ["campaign:theirs"]
    assert usages.users_by_segment("t1") == {"pro": [latest], "pro2": usages.users("t1", "pro2")}
    assert list(usages.users_by_segment("t2")) == ["pro"] and usages.users_by_segment("t3") == {}
    with pytest.raises(keys.InvalidKeyError):
        usages.register("t1", "pro", "a#b", by=None, now=NOW)
