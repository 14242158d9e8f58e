"""The ingestion store's contract, held by the memory store and the DynamoDB adapter alike.

Each test drives :class:`growthos_segments.services.ingest.IngestService` over one
implementation and reads back what a segment evaluation would load, so the unit
tests on the memory store say what production does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from growthos_segments.core.ports import ContactDocument, ObservedAttribute
from growthos_segments.core.ports_ingest import IngestStore
from growthos_segments.handlers.ingest_wiring import build_ingestion
from growthos_segments.infra.memory import MemoryContacts, MemoryIngest
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.repos.fields import DynamoObservedFields
from growthos_segments.infra.repos.ingest import DynamoIngest
from growthos_segments.services.ingest import IngestService
from tests.integration.conftest import NOW


@dataclass
class Ingest:
    store: IngestStore
    service: IngestService
    view: Callable[[str, str], ContactDocument | None]


@pytest.fixture(params=["memory", "dynamodb"])
def ingest(request: pytest.FixtureRequest) -> Ingest:
    if request.param == "memory":
        contacts = MemoryContacts()
        store: IngestStore = MemoryIngest(contacts)
        views: Any = contacts
    else:
        repos = request.getfixturevalue("repos")
        store, views = DynamoIngest(repos.contacts, repos.events), repos.views
    service = IngestService(store, retention=timedelta(days=400))

    def view(tenant_id: str, contact_id: str) -> ContactDocument | None:
        return views.load_view(tenant_id, contact_id, now=NOW, lookback=timedelta(days=400))

    return Ingest(store, service, view)


def _statuses(results: list[Any]) -> list[str]:
    return [r.status for r in results]


def test_upserts_merge_key_by_key_and_an_unchanged_item_writes_nothing(ingest: Ingest) -> None:
    first = {"contact_id": "c1", "attributes": {"email": "a@b.co", "plan": "free"},
             "custom": {"interests": ["automation"], "seats": 3}, "scores": {"lead": 10},
             "suppression": {"unsubscribed": False}, "tags": ["trial", "beta"], "lists": ["news"]}
    assert _statuses(ingest.service.upsert_contacts("t1", [first], now=NOW)) == ["created"]
    change = {"contact_id": "c1", "attributes": {"plan": "pro", "email": None}, "custom": {"seats": 1.5},
              "scores": {"nps": 9}, "tags": {"add": ["vip", "beta"], "remove": ["trial"]},
              "lists": {"remove": ["news"]}}
    assert _statuses(ingest.service.upsert_contacts("t1", [change], now=NOW)) == ["updated"]
    doc = ingest.view("t1", "c1")
    assert doc is not None
    assert doc["attributes"] == {"plan": "pro", "custom": {"interests": ["automation"], "seats": 1.5}}
    assert (doc["scores"], doc["suppression"]) == ({"lead": 10, "nps": 9}, {"unsubscribed": False})
    assert (doc["tags"], doc["lists"]) == (["beta", "vip"], [])
    assert _statuses(ingest.service.upsert_contacts("t1", [change, first | {"tags": None}], now=NOW)) == [
        "unchanged", "updated"]
    assert ingest.view("t2", "c1") is None  # another tenant's contact of the same id is untouched


def test_a_write_over_a_profile_that_changed_meanwhile_keeps_both_changes(ingest: Ingest) -> None:
    service, store = ingest.service, ingest.store
    service.upsert_contacts("t1", [{"contact_id": "c1", "tags": ["a"], "scores": {"x": 1}}], now=NOW)
    read = store.profiles("t1", ["c1"])["c1"]
    # Another writer adds a tag and a score between this write's read and its write.
    service.upsert_contacts("t1", [{"contact_id": "c1", "tags": {"add": ["b"]}, "scores": {"y": 2}}], now=NOW)
    stale = {**read, "tags": ["a", "c"], "scores": {"x": 1, "z": 3}}
    only_scores = {**read, "scores": {"x": 1, "z": 3}}
    assert store.write_profiles("t1", [(read, stale)], now=NOW) == [False]  # its tags would overwrite "b"
    assert store.write_profiles("t1", [(None, stale)], now=NOW) == [False]  # it exists: not a create
    assert store.write_profiles("t1", [(read, only_scores)], now=NOW) == [True]  # keys merge: no conflict
    doc = ingest.view("t1", "c1")
    assert doc is not None and doc["tags"] == ["a", "b"] and doc["scores"] == {"x": 1, "y": 2, "z": 3}


def test_a_change_of_many_keys_is_applied_whole_and_still_merges(ingest: Ingest) -> None:
    service = ingest.service
    many = {f"k{i}": i for i in range(150)}
    service.upsert_contacts("t1", [{"contact_id": "c1", "custom": many, "attributes": {"a": 1}}], now=NOW)
    change = {"contact_id": "c1", "custom": dict.fromkeys(many) | {"z": True}}
    assert _statuses(service.upsert_contacts("t1", [change], now=NOW)) == ["updated"]
    doc = ingest.view("t1", "c1")
    assert doc is not None and doc["attributes"] == {"a": 1, "custom": {"z": True}}


def test_events_are_stored_once_per_id_whatever_their_time(ingest: Ingest) -> None:
    event = {"event_id": "e1", "contact_id": "c1", "name": "email.opened", "at": "2026-11-20T09:14:00Z",
             "properties": {"campaign": "wb"}}
    later = event | {"at": "2026-11-21T09:14:00Z"}
    late = event | {"event_id": "e0", "at": "2026-01-01T00:00:00+01:00"}
    results = ingest.service.append_events("t1", [event, later, late, event | {"contact_id": "c2"}], now=NOW)
    assert _statuses(results) == ["created", "duplicate", "created", "created"]
    ingest.service.upsert_contacts("t1", [{"contact_id": "c1"}], now=NOW)
    doc = ingest.view("t1", "c1")
    assert doc is not None
    assert [(e["name"], e["at"]) for e in doc["events"]] == [
        ("email.opened", "2025-12-31T23:00:00Z"), ("email.opened", "2026-11-20T09:14:00Z")]
    assert doc["events"][1]["properties"] == {"campaign": "wb"}
    assert _statuses(ingest.service.append_events("t2", [event], now=NOW)) == ["created"]  # other tenant


def test_a_batch_applies_the_writes_it_can_and_refuses_the_others(ingest: Ingest) -> None:
    service, store = ingest.service, ingest.store
    existing = [{"contact_id": "c1", "tags": ["a"]}, {"contact_id": "c2"}, {"contact_id": "c5"}]
    service.upsert_contacts("t1", existing, now=NOW)
    read = store.profiles("t1", ["c1", "c2", "c5"])
    service.upsert_contacts("t1", [{"contact_id": "c1", "tags": ["b"]}], now=NOW)
    # Updates and creates mixed (a transaction orders them its own way), two of them refused.
    writes = [(read["c1"], {**read["c1"], "tags": ["c"]}), (None, {**read["c2"], "contact_id": "c3"}),
              (read["c2"], {**read["c2"], "lists": ["x"]}), (None, {**read["c5"], "tags": ["new"]})]
    assert store.write_profiles("t1", writes, now=NOW) == [False, True, True, False]
    assert [(ingest.view("t1", c) or {}).get("lists") for c in ("c2", "c3")] == [["x"], []]
    events = [{"event_id": f"e{i % 3}", "contact_id": "c1", "name": "app.login", "at": "2026-11-21T00:00:00Z"}
              for i in range(120)]
    assert [r.status for r in service.append_events("t1", events[60:62], now=NOW)] == ["created", "created"]
    statuses = [r.status for r in service.append_events("t1", events, now=NOW)]
    assert statuses == ["duplicate", "duplicate", "created"] + ["duplicate"] * 117


def test_forget_deletes_profile_and_events_in_pages_and_is_idempotent(ingest: Ingest) -> None:
    service, store = ingest.service, ingest.store
    service.upsert_contacts("t1", [{"contact_id": "c1"}, {"contact_id": "c2"}], now=NOW)
    events = [{"event_id": f"e{i}", "contact_id": "c1", "name": "app.login",
               "at": f"2026-11-2{i}T00:00:00Z"} for i in range(3)]
    service.append_events("t1", events, now=NOW)
    service.upsert_contacts("t2", [{"contact_id": "c1"}], now=NOW)
    first = store.forget("t1", "c1", max_events=2)
    assert (first.found, first.events_deleted, first.complete) == (True, 2, False)
    assert ingest.view("t1", "c1") is None
    second = service.forget_contact("t1", "c1", now=NOW)
    assert (second.found, second.events_deleted, second.complete) == (False, 1, True)
    assert service.forget_contact("t1", "c1", now=NOW).to_json() == {
        "contact_id": "c1", "found": False, "events_deleted": 0, "complete": True}
    assert ingest.view("t1", "c2") is not None and ingest.view("t2", "c1") is not None
    # The ids are forgotten with the events: the same events may come back.
    assert _statuses(service.append_events("t1", events[:1], now=NOW)) == ["created"]


def test_the_bus_ingestion_forgets_a_contacts_field_samples(repos: Repositories) -> None:
    service = build_ingestion(repos.settings)
    service.upsert_contacts("t1", [{"contact_id": "c1", "attributes": {"email": "ann@example.com"}}], now=NOW)
    fields = DynamoObservedFields(repos.client, repos.settings.tables.counters)
    fields.add_attributes("t1", [ObservedAttribute("attributes.email", frozenset({"string"}),
                                                   ("ann@example.com", "bob@example.com"))])
    assert service.forget_contact("t1", "c1", now=NOW).found
    assert fields.catalog("t1").attributes[0].samples == ("bob@example.com",)
