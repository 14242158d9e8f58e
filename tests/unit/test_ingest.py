"""The ingestion service's rules, on the memory store: per-item answers with pointers,
whole-request refusals, and what is accepted of late, early and re-sent events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from growthos_segments.core.ports import SamplesKeptChanging
from growthos_segments.infra.memory import MemoryContacts, MemoryIngest, MemoryObservedFields
from growthos_segments.services.fields import FieldsService
from growthos_segments.services.ingest import IngestRequestError, IngestService
from tests.support.memory import memory_realtime

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def contacts() -> MemoryContacts:
    return MemoryContacts()


@pytest.fixture
def service(contacts: MemoryContacts) -> IngestService:
    return IngestService(MemoryIngest(contacts), retention=timedelta(days=30))


def _errors(result: Any) -> list[tuple[str, str]]:
    return [(e.pointer, e.message) for e in result.errors]


def test_a_bad_item_gets_its_errors_with_pointers_and_the_others_are_stored(
    service: IngestService, contacts: MemoryContacts
) -> None:
    items: list[Any] = [
        {"contact_id": "c1", "attributes": {"plan": "pro"}},
        {"contact_id": "c#2", "scores": {"lead": "high"}, "tags": {"add": [1]}, "colour": "red"},
        "c3",
        {"attributes": {"custom": {"x": 1}, "big": 1e200}, "suppression": {"unsubscribed": "yes"}},
        {"contact_id": "c4", "lists": {"append": ["x"]}},
    ]
    results = service.upsert_contacts("t1", items, now=NOW)
    assert [(r.index, r.id, r.status) for r in results] == [
        (0, "c1", "created"), (1, "c#2", "error"), (2, None, "error"), (3, None, "error"), (4, "c4", "error")]
    assert [p for p, _ in _errors(results[1])] == [
        "/items/1/colour", "/items/1/contact_id", "/items/1/scores/lead", "/items/1/tags/add/0"]
    assert _errors(results[2]) == [("/items/2", "must be an object")]
    assert [p for p, _ in _errors(results[3])] == [
        "/items/3/contact_id", "/items/3/attributes/big", "/items/3/attributes/custom",
        "/items/3/suppression/unsubscribed"]
    assert "too large" in _errors(results[3])[1][1]
    assert [p for p, _ in _errors(results[4])] == ["/items/4/lists"]
    assert contacts.profile("t1", "c1") is not None and contacts.profile("t1", "c4") is None


def test_whole_request_problems_raise_with_a_pointer_and_store_nothing(
    service: IngestService, contacts: MemoryContacts
) -> None:
    with pytest.raises(IngestRequestError) as too_many:
        service.upsert_contacts("t1", [{"contact_id": f"c{i}"} for i in range(101)], now=NOW)
    assert too_many.value.pointer == "/items" and "at most 100" in too_many.value.message
    with pytest.raises(IngestRequestError, match="at most 500"):
        service.append_events("t1", [{}] * 501, now=NOW)
    with pytest.raises(IngestRequestError, match="must be a list"):
        service.upsert_contacts("t1", {"contact_id": "c1"}, now=NOW)  # type: ignore[arg-type]
    assert contacts.profile("t1", "c0") is None
    assert len(service.upsert_contacts("t1", [{"contact_id": f"c{i}"} for i in range(100)], now=NOW)) == 100


def test_two_items_for_one_contact_apply_in_order(service: IngestService, contacts: MemoryContacts) -> None:
    results = service.upsert_contacts("t1", [
        {"contact_id": "c1", "tags": ["a", "b"]},
        {"contact_id": "c1", "tags": {"remove": ["a"], "add": ["c"]}},
        {"contact_id": "c1", "tags": {"add": ["c"]}},
    ], now=NOW)
    assert [r.status for r in results] == ["created", "updated", "unchanged"]
    assert (contacts.profile("t1", "c1") or {})["tags"] == ["b", "c"]


def test_a_true_flag_is_not_the_number_one(service: IngestService, contacts: MemoryContacts) -> None:
    service.upsert_contacts("t1", [{"contact_id": "c1", "custom": {"x": 1, "y": 2.0}}], now=NOW)
    again = service.upsert_contacts("t1", [{"contact_id": "c1", "custom": {"x": True, "y": 2}}], now=NOW)
    assert again[0].status == "updated"
    assert (contacts.profile("t1", "c1") or {})["attributes"]["custom"] == {"x": True, "y": 2}


def test_event_times_late_accepted_future_and_too_old_refused(service: IngestService) -> None:
    base = {"event_id": "e", "contact_id": "c1", "name": "nudge.dismissed"}
    items = [
        base | {"event_id": "late", "at": "2026-10-24T12:00:01Z"},  # 29 days old: within retention
        base | {"event_id": "skew", "at": "2026-11-22T12:05:00Z"},  # 5 minutes ahead: accepted
        base | {"event_id": "ahead", "at": "2026-11-22T12:05:01Z"},
        base | {"event_id": "old", "at": "2026-10-23T11:59:59Z"},
        base | {"event_id": "naive", "at": "2026-11-22T10:00:00"},
        base | {"event_id": "day", "at": "2026-11-22"},
        base | {"event_id": "bad", "at": "yesterday", "name": "Email Opened", "properties": []},
        base | {"event_id": "y1", "at": "0001-01-01T00:00:00+01:00"},
    ]
    results = service.append_events("t1", items, now=NOW)
    assert [r.status for r in results] == ["created", "created"] + ["error"] * 6
    assert _errors(results[2]) == [
        ("/items/2/at", "is 0:05:01 in the future; at most 0:05:00 ahead is accepted")]
    assert _errors(results[3]) == [("/items/3/at", "is older than the event retention of 30 days")]
    assert [p for p, _ in _errors(results[4]) + _errors(results[5])] == ["/items/4/at", "/items/5/at"]
    assert [p for p, _ in _errors(results[6])] == ["/items/6/name", "/items/6/at", "/items/6/properties"]
    assert [p for p, _ in _errors(results[7])] == ["/items/7/at"]


def test_built_in_and_demo_event_names_are_accepted(service: IngestService) -> None:
    names = ["email.opened", "order.completed", "nudge.dismissed", "referral.converted", "app.login",
             "subscription.created", "cart.added", "checkout.started"]
    items = [{"event_id": n, "contact_id": "c1", "name": n, "at": "2026-11-22T11:00:00Z"} for n in names]
    assert {r.status for r in service.append_events("t1", items, now=NOW)} == {"created"}


def test_an_oversized_item_is_refused_alone(service: IngestService) -> None:
    big = {"contact_id": "c1", "attributes": {"bio": "x" * 40_000}}
    results = service.upsert_contacts("t1", [big, {"contact_id": "c2"}], now=NOW)
    assert [r.status for r in results] == ["error", "created"]
    assert _errors(results[0])[0][0] == "/items/0"


def test_forget_refuses_an_id_that_cannot_be_a_contact(service: IngestService) -> None:
    with pytest.raises(IngestRequestError) as refused:
        service.forget_contact("t1", "a#b", now=NOW)
    assert refused.value.pointer == "/contact_id"


def test_an_upsert_enters_and_a_forget_exits_with_the_re_checks_cleared() -> None:
    rt = memory_realtime(NOW)
    rt.save("buyers", {"event": {"name": "order.completed", "within": "30d"}})
    rt.save("pro", {"attribute": {"field": "plan", "op": "equals", "value": "pro"}})
    service = IngestService(MemoryIngest(rt.memory.contacts), retention=timedelta(days=400))
    service.upsert_contacts("t1", [{"contact_id": "c1", "attributes": {"plan": "pro"}}], now=NOW)
    service.append_events("t1", [{"event_id": "o1", "contact_id": "c1", "name": "order.completed",
                                  "at": "2026-11-20T10:00:00Z"}], now=NOW)
    assert sorted(rt.flush()) == [("ENTER", "t1", "buyers", "c1"), ("ENTER", "t1", "pro", "c1")]
    assert [r.recheck_at for r in rt.memory.rechecks.for_contact("t1", "c1")] == [
        datetime(2026, 12, 20, 10, 0, tzinfo=UTC)]
    assert service.forget_contact("t1", "c1", now=NOW).found
    assert sorted(rt.flush()) == [("EXIT", "t1", "buyers", "c1"), ("EXIT", "t1", "pro", "c1")]
    assert [r.recheck_at for r in rt.memory.rechecks.for_contact("t1", "c1")] in ([], [None])
    assert rt.memory.contacts.load_view("t1", "c1", now=NOW, lookback=None) is None


class _Fields(MemoryObservedFields):
    """Memory fields whose removals fail while ``busy`` (as when a path keeps changing)."""

    busy = False

    def forget_samples(self, tenant_id: str, values: Any) -> int:
        if self.busy:
            raise SamplesKeptChanging("the samples kept changing")
        return super().forget_samples(tenant_id, values)


def _people(contacts: MemoryContacts) -> tuple[IngestService, _Fields]:
    """Two contacts whose e-mails, names and VIP flags are the catalog's samples, as the
    stream learns them."""
    fields = _Fields()
    store = MemoryIngest(contacts)
    service = IngestService(store, retention=timedelta(days=30), fields=fields)
    service.upsert_contacts("t1", [
        {"contact_id": "c1", "attributes": {"email": "ann@example.com", "name": "Ann"},
         "custom": {"vip": True, "topics": ["crm", "ads"]}, "tags": ["vip"], "scores": {"lead": 82}},
        {"contact_id": "c2", "attributes": {"email": "bob@example.com", "name": "Bob"},
         "scores": {"lead": 7}},
    ], now=NOW)
    FieldsService(fields).observe_documents("t1", store.profiles("t1", ["c1", "c2"]).values())
    return service, fields


def _samples(fields: MemoryObservedFields) -> set[object]:
    return {s for a in fields.catalog("t1").attributes for s in a.samples}


def test_forget_removes_the_contacts_values_from_the_catalog_samples(contacts: MemoryContacts) -> None:
    service, fields = _people(contacts)
    assert {"ann@example.com", "Ann", True, "crm", "ads", 82} <= _samples(fields)
    assert service.forget_contact("t1", "c1", now=NOW).found
    assert {a.path: a.samples for a in fields.catalog("t1").attributes} == {
        "attributes.custom.topics": (), "attributes.custom.vip": (), "attributes.email": ("bob@example.com",),
        "attributes.name": ("Bob",), "scores.lead": (7,), "tags.vip": ()}
    writes = fields.writes
    assert not service.forget_contact("t1", "c1", now=NOW).found
    assert fields.writes == writes  # gone: nothing left to remove


def test_a_forget_whose_scrub_fails_deletes_nothing_and_can_be_repeated(contacts: MemoryContacts) -> None:
    service, fields = _people(contacts)
    fields.busy = True
    with pytest.raises(SamplesKeptChanging):
        service.forget_contact("t1", "c1", now=NOW)
    assert contacts.profile("t1", "c1") is not None
    fields.busy = False
    assert service.forget_contact("t1", "c1", now=NOW).found
    assert "Ann" not in _samples(fields) and "Bob" in _samples(fields)


def test_a_contact_that_keeps_changing_is_an_item_error_after_five_reads(contacts: MemoryContacts) -> None:
    class Contended(MemoryIngest):
        """Every write of c1 meets a concurrent change (as a refused condition would)."""

        reads = 0

        def profiles(self, tenant_id: str, contact_ids: Any) -> Any:
            self.reads += 1
            return super().profiles(tenant_id, contact_ids)

        def write_profile(self, tenant_id: str, old: Any, new: Any, *, now: datetime) -> bool:
            return new["contact_id"] != "c1" and super().write_profile(tenant_id, old, new, now=now)

    store = Contended(contacts)
    service = IngestService(store, retention=timedelta(days=30))
    results = service.upsert_contacts("t1", [{"contact_id": "c1"}, {"contact_id": "c2"}], now=NOW)
    assert [r.status for r in results] == ["error", "created"]
    assert _errors(results[0]) == [("/items/0", "the contact kept changing while this item was applied; "
                                                "send it again")]
    assert store.reads == 5  # the first read, then one after each of the first four refusals
