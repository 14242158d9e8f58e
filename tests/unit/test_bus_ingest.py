"""Bus messages to ingestion calls: parsing, naming, batching and which records come back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from growthos_segments.core.ports_bus import RejectedMessage
from growthos_segments.core.ports_ingest import ForgetResult
from growthos_segments.infra.memory import MemoryContacts, MemoryIngest
from growthos_segments.services import ingest
from growthos_segments.services.bus_ingest import BusIngester
from growthos_segments.services.ingest import IngestService, ItemResult

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class Throttled(Exception):
    """What a throttled DynamoDB write looks like to the service (not a ValueError)."""


class ThrottlingStore(MemoryIngest):
    """The memory store, whose profile writes of some contacts are throttled."""

    def __init__(self, throttle: set[str], contended: set[str]) -> None:
        super().__init__(MemoryContacts())
        self.throttle = throttle
        self.contended = contended
        """Contact ids whose every write finds the profile changed meanwhile."""

    def write_profile(self, tenant_id: str, old: Any, new: Any, *, now: datetime) -> bool:
        if new["contact_id"] in self.throttle:
            raise Throttled("ProvisionedThroughputExceededException")
        if new["contact_id"] in self.contended:
            return False
        return super().write_profile(tenant_id, old, new, now=now)


@dataclass
class Recording:
    """The ingestion service over the memory store, recording each call it is given."""

    throttle: set[str] = field(default_factory=set)
    contended: set[str] = field(default_factory=set)
    calls: list[tuple[str, str, list[Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.store = ThrottlingStore(self.throttle, self.contended)
        self.service = IngestService(self.store, retention=timedelta(days=400))

    def upsert_contacts(self, tenant_id: str, items: Sequence[Any], *, now: datetime) -> list[ItemResult]:
        self.calls.append(("contacts", tenant_id, list(items)))
        return self.service.upsert_contacts(tenant_id, items, now=now)

    def append_events(self, tenant_id: str, items: Sequence[Any], *, now: datetime) -> list[ItemResult]:
        self.calls.append(("events", tenant_id, list(items)))
        return self.service.append_events(tenant_id, items, now=now)

    def forget_contact(self, tenant_id: str, contact_id: str, *, now: datetime) -> ForgetResult:
        self.calls.append(("forget", tenant_id, [contact_id]))
        return self.service.forget_contact(tenant_id, contact_id, now=now)


@dataclass
class ListDeadLetters:
    sent: list[RejectedMessage] = field(default_factory=list)
    refuse: bool = False

    def send(self, messages: Sequence[RejectedMessage]) -> list[str]:
        if self.refuse:
            return [m.message_id for m in messages]
        self.sent.extend(messages)
        return []


def record(message_id: str, detail_type: str, detail: Any, source: str = "growthos.email") -> dict[str, Any]:
    envelope = {"version": "0", "id": f"ev-{message_id}", "detail-type": detail_type, "source": source,
                "account": "123456789012", "time": "2026-11-20T09:00:00Z", "region": "us-east-1",
                "resources": [], "detail": detail}
    return {"messageId": message_id, "body": json.dumps(envelope)}


def upserted(message_id: str, contact_id: str, tenant_id: str = "t1", **item: Any) -> dict[str, Any]:
    return record(message_id, "Contact Upserted",
                  {"tenant_id": tenant_id, "contact": {"contact_id": contact_id, **item}})


def recorded(message_id: str, event: dict[str, Any], source: str = "growthos.email") -> dict[str, Any]:
    return record(message_id, "Event Recorded", {"tenant_id": "t1", "event": event}, source)


def ingester(ingestion: Recording, dead: ListDeadLetters | None = None) -> BusIngester:
    return BusIngester(ingestion, dead if dead is not None else ListDeadLetters(), clock=lambda: NOW)


def test_consecutive_items_of_one_tenant_and_kind_are_one_call_in_order() -> None:
    ingestion = Recording()
    records = [upserted("m1", "c1"), upserted("m2", "c2", attributes={"plan": "pro"}),
               upserted("m3", "c3", tenant_id="t2"),
               recorded("m4", {"event_id": "e1", "contact_id": "c1", "action": "opened",
                               "at": "2026-11-20T08:59:00Z"}),
               record("m5", "Contact Deleted", {"tenant_id": "t1", "contact_id": "c2"})]
    outcome = ingester(ingestion).ingest(records)
    assert ingestion.calls == [
        ("contacts", "t1", [{"contact_id": "c1"}, {"contact_id": "c2", "attributes": {"plan": "pro"}}]),
        ("contacts", "t2", [{"contact_id": "c3"}]),
        ("events", "t1", [{"event_id": "e1", "contact_id": "c1", "name": "email.opened",
                           "at": "2026-11-20T08:59:00Z"}]),
        ("forget", "t1", ["c2"]),
    ]
    assert outcome.statuses == {"created": 4, "forgotten": 1}
    assert (outcome.rejected, outcome.failed) == ([], {})


def test_runs_are_cut_at_the_service_limit() -> None:
    ingestion = Recording()
    ingester(ingestion).ingest([upserted(f"m{i}", f"c{i}") for i in range(101)])
    assert [len(items) for _, _, items in ingestion.calls] == [100, 1]


@pytest.mark.parametrize(("event", "source", "name"), [
    ({"action": "opened"}, "growthos.email", "email.opened"),
    ({"name": "dismissed"}, "growthos.nudge", "nudge.dismissed"),
    ({"name": "order.placed", "action": "ignored"}, "growthos.shop", "order.placed"),
    ({"action": "onboarding.completed"}, "growthos.app", "onboarding.completed"),
])
def test_event_names_are_namespaced_by_the_publishing_module(event: dict[str, Any], source: str,
                                                              name: str) -> None:
    ingestion = Recording()
    item = {"event_id": "e1", "contact_id": "c1", "at": "2026-11-20T08:00:00Z", **event}
    outcome = ingester(ingestion).ingest([recorded("m1", item, source)])
    [(_, _, [sent])] = ingestion.calls
    assert sent == {"event_id": "e1", "contact_id": "c1", "at": "2026-11-20T08:00:00Z", "name": name}
    assert outcome.statuses == {"created": 1}  # "action" never reaches the service, even beside "name"


@pytest.mark.parametrize(("body", "reason"), [
    ("{not json", "the message is not JSON"),
    (json.dumps([1]), "the message: expected an object, got list"),
    (json.dumps({"detail-type": "Segment Entered", "source": "growthos.segments", "detail": {}}),
     "/detail-type: 'Segment Entered' is not one of"),
    (json.dumps({"detail-type": "Contact Upserted", "source": "growthos.segments", "detail": {}}),
     "/source: 'growthos.segments' is not growthos.<module> of another module"),
    (json.dumps({"detail-type": "Contact Upserted", "source": "acme.crm", "detail": {}}),
     "/source: 'acme.crm' is not growthos.<module>"),
    (json.dumps({"detail-type": "Contact Upserted", "source": "growthos.crm", "detail": "x"}),
     "/detail: expected an object, got str"),
    (json.dumps({"detail-type": "Contact Upserted", "source": "growthos.crm",
                 "detail": {"contact": {"contact_id": "c1"}}}), "/detail/tenant_id: None is not a tenant id"),
    (json.dumps({"detail-type": "Contact Upserted", "source": "growthos.crm",
                 "detail": {"tenant_id": "a#b", "contact": {"contact_id": "c1"}}}),
     "/detail/tenant_id: 'a#b' is not a tenant id"),
    (json.dumps({"detail-type": "Contact Upserted", "source": "growthos.crm", "detail": {"tenant_id": "t1"}}),
     "/detail/contact: expected an object, got NoneType"),
    (json.dumps({"detail-type": "Event Recorded", "source": "growthos.crm",
                 "detail": {"tenant_id": "t1", "event": {"action": 3}}}),
     "/detail/event/action: expected a string, got int"),
    (json.dumps({"detail-type": "Contact Deleted", "source": "growthos.crm", "detail": {"tenant_id": "t1"}}),
     "/detail/contact_id: None is not a contact id"),
])
def test_a_message_that_can_never_be_ingested_goes_to_the_dead_letter_queue_at_once(body: str,
                                                                                     reason: str) -> None:
    ingestion, dead = Recording(), ListDeadLetters()
    outcome = ingester(ingestion, dead).ingest([{"messageId": "bad", "body": body}, upserted("ok", "c1")])
    [sent] = dead.sent
    assert (sent.message_id, sent.body) == ("bad", body)
    assert sent.reason.startswith(reason), sent.reason
    assert outcome.failed == {}  # not retried: the queue deletes it
    assert ingestion.calls == [("contacts", "t1", [{"contact_id": "c1"}])]  # the good one still goes in


def test_an_item_the_service_refuses_is_dead_lettered_with_its_pointer_on_the_bus_detail() -> None:
    dead = ListDeadLetters()
    outcome = ingester(Recording(), dead).ingest([
        recorded("m1", {"event_id": "e1", "contact_id": "c1", "name": "opened",
                        "at": "2026-11-20T09:04:00Z"}),
        recorded("m2", {"event_id": "e2", "contact_id": "c1", "name": "opened",
                        "at": "2026-11-20T09:06:00Z"}),
    ])
    [(message_id, reason)] = [(m.message_id, m.reason) for m in dead.sent]
    assert message_id == "m2" and reason.startswith("/detail/event/at: is 0:06:00 in the future"), reason
    assert outcome.statuses == {"created": 1} and outcome.failed == {}


def test_a_throttled_write_fails_only_its_own_records_which_come_back() -> None:
    ingestion = Recording(throttle={"c2"})
    records = [upserted("m1", "c1", tenant_id="t0"), upserted("m2", "c2"), upserted("m3", "c3"),
               recorded("m4", {"event_id": "e1", "contact_id": "c1", "action": "opened",
                               "at": "2026-11-20T08:00:00Z"})]
    outcome = ingester(ingestion).ingest(records)
    assert set(outcome.failed) == {"m2", "m3"}  # the call that raised held both
    assert "ProvisionedThroughputExceededException" in outcome.failed["m2"]
    assert outcome.statuses == {"created": 2} and outcome.rejected == []


def test_a_whole_call_refusal_is_not_retried() -> None:
    class Refusing(Recording):
        def append_events(self, tenant_id: str, items: Sequence[Any], *, now: datetime) -> list[ItemResult]:
            raise ValueError("too many items")

    dead = ListDeadLetters()
    outcome = ingester(Refusing(), dead).ingest([recorded("m1", {"event_id": "e1", "contact_id": "c1"})])
    assert [(m.message_id, m.reason) for m in dead.sent] == [("m1", "/detail: too many items")]
    assert outcome.failed == {}


def test_a_refused_message_the_dead_letter_queue_does_not_take_is_delivered_again() -> None:
    outcome = ingester(Recording(), ListDeadLetters(refuse=True)).ingest(
        [{"messageId": "bad", "body": "{"}])
    assert list(outcome.failed) == ["bad"]


def test_a_forget_goes_on_until_every_event_of_the_contact_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "FORGET_PAGE", 2)
    ingestion = Recording()
    events = [recorded(f"e{i}", {"event_id": f"e{i}", "contact_id": "c1", "action": "opened",
                                 "at": f"2026-11-20T08:0{i}:00Z"}) for i in range(5)]
    ingester(ingestion).ingest([upserted("m0", "c1"), *events])
    assert len(ingestion.store.profiles("t1", ["c1"])) == 1
    forget = record("m1", "Contact Deleted", {"tenant_id": "t1", "contact_id": "c1"})
    outcome = ingester(ingestion).ingest([forget])
    assert outcome.statuses == {"forgotten": 1}
    assert [kind for kind, _, _ in ingestion.calls].count("forget") == 3  # 2 + 2 + 1 events
    assert ingestion.store.forget("t1", "c1", max_events=10).events_deleted == 0


def test_each_message_writes_only_its_own_tenant() -> None:
    ingestion = Recording()
    ingester(ingestion).ingest([upserted("m1", "c1", tenant_id="t1", attributes={"plan": "pro"}),
                                upserted("m2", "c1", tenant_id="t2", attributes={"plan": "free"}),
                                record("m3", "Contact Deleted", {"tenant_id": "t2", "contact_id": "c1"})])
    assert ingestion.store.profiles("t1", ["c1"])["c1"]["attributes"]["plan"] == "pro"
    assert ingestion.store.profiles("t2", ["c1"]) == {}


def test_an_item_whose_contact_kept_changing_is_delivered_again_not_dead_lettered() -> None:
    dead = ListDeadLetters()
    outcome = ingester(Recording(contended={"c2"}), dead).ingest([upserted("m1", "c1"), upserted("m2", "c2")])
    assert outcome.failed == {"m2": ingest.KEPT_CHANGING}
    assert dead.sent == [] and outcome.statuses == {"created": 1}
