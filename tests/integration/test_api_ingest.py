"""Ingestion routes through ``handlers.api.handler`` on moto: per-item answers, idempotent
re-sends, bounded bodies, forget."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from growthos_segments.core.ports import SamplesKeptChanging
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.repos.fields import DynamoObservedFields
from growthos_segments.infra.repos.ingest import DynamoIngest
from growthos_segments.services.fields import FieldsService
from tests.integration.api_support import Api, install, path

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CONTACTS = [
    {"contact_id": "c1", "attributes": {"plan": "pro"}, "tags": ["vip"], "scores": {"lead": 82}},
    {"contact_id": "c2", "custom": {"seats": 3}, "suppression": {"unsubscribed": True}},
    {"contact_id": "c3", "scores": {"lead": "high"}},
]
EVENTS = [
    {"event_id": "e1", "contact_id": "c1", "name": "email.opened", "at": "2026-11-20T09:14:00Z"},
    {"event_id": "e2", "contact_id": "c1", "name": "order.completed", "at": "2026-11-22T12:30:00Z"},
]


@pytest.fixture
def api(repos: Repositories, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    yield install(repos, lambda: NOW, monkeypatch)


def _statuses(reply: object) -> list[str]:
    return [r["status"] for r in reply.body["results"]]  # type: ignore[attr-defined]


def test_upserts_answer_per_item_and_a_repeated_request_changes_nothing(api: Api) -> None:
    first = api.post("/contacts", {"items": CONTACTS})
    assert first.status == 200 and _statuses(first) == ["created", "created", "error"]
    assert first.body["errors"] == 1
    assert first.body["results"][2]["errors"] == [
        {"pointer": "/items/2/scores/lead", "message": "a score must be a number (or null to remove it)"}]
    api.repos.requests.reset()
    again = api.post("/contacts", {"items": CONTACTS[:2]})
    assert _statuses(again) == ["unchanged", "unchanged"]
    assert dict(api.repos.requests.by_operation) == {"BatchGetItem": 1}  # one read, no write
    profile = api.repos.contacts.get("t1", "c1")
    assert profile is not None and profile["tags"] == ["vip"] and profile["scores"] == {"lead": 82}
    assert api.get(path("contacts", "c2", "segments")).status == 200


def test_events_are_idempotent_and_a_future_one_is_refused_alone(api: Api) -> None:
    first = api.post("/events", {"items": EVENTS})
    assert first.status == 200 and _statuses(first) == ["created", "error"]
    assert first.body["results"][1]["errors"][0]["pointer"] == "/items/1/at"
    resent = api.post("/events", {"items": [EVENTS[0] | {"at": "2026-11-21T00:00:00Z"}, EVENTS[0]]})
    assert _statuses(resent) == ["duplicate", "duplicate"]
    assert [e["name"] for e in api.repos.events.events("t1", "c1")] == ["email.opened"]


def test_malformed_requests_are_4xx_in_the_error_shape(api: Api) -> None:
    too_many = api.post("/contacts", {"items": [{"contact_id": f"c{i}"} for i in range(101)]})
    assert too_many.status == 422 and too_many.body["errors"][0]["path"] == "/items"
    assert api.post("/events", {"items": {"event_id": "e1"}}).status == 422
    assert api.post("/events", {"events": []}).status == 422
    assert api.post("/contacts", raw_body="[]").status == 400
    huge = api.post("/contacts", {"items": [{"contact_id": "c1", "attributes": {"x": "y" * 5_000_000}}]})
    assert huge.status == 413 and huge.body["errors"][0]["location"] == "body"
    assert api.repos.contacts.get("t1", "c1") is None
    bad = api.call("DELETE", path("contacts", "a#b"))
    assert bad.status == 422 and bad.body["errors"][0] == {
        "location": "path", "path": "/contact_id",
        "message": "must be a string of 1-256 characters, no '#' and no control characters"}


def _learn_fields(api: Api) -> None:
    """The catalog as the contacts stream fills it from c1 and c2."""
    profiles = DynamoIngest(api.repos.contacts, api.repos.events).profiles("t1", ["c1", "c2"]).values()
    store = DynamoObservedFields(api.repos.client, api.repos.settings.tables.counters)
    FieldsService(store).observe_documents("t1", profiles)


def test_forget_removes_profile_events_and_field_samples_and_is_idempotent(api: Api) -> None:
    api.post("/contacts", {"items": CONTACTS[:2]})
    api.post("/contacts", {"items": [{"contact_id": "c1", "attributes": {"email": "ann@example.com"}},
                                     {"contact_id": "c2", "attributes": {"email": "bob@example.com"}}]})
    api.post("/events", {"items": [EVENTS[0], EVENTS[0] | {"event_id": "e3", "contact_id": "c2"}]})
    _learn_fields(api)
    gone = api.call("DELETE", path("contacts", "c1"))
    assert gone.status == 200 and gone.body == {
        "contact_id": "c1", "found": True, "events_deleted": 1, "complete": True}
    samples = {a["path"]: a["samples"] for a in api.call("GET", "/fields").body["attributes"]}
    assert samples["attributes.email"] == ["bob@example.com"] and samples["scores.lead"] == []
    assert api.repos.contacts.get("t1", "c1") is None and api.repos.events.events("t1", "c1") == []
    assert api.call("DELETE", path("contacts", "c1")).body["found"] is False
    assert api.repos.contacts.get("t1", "c2") is not None and len(api.repos.events.events("t1", "c2")) == 1
    assert _statuses(api.post("/events", {"items": [EVENTS[0]]})) == ["created"]
    assert api.repos.events.events("t1", "c1", since=NOW - timedelta(days=5))[0]["name"] == "email.opened"


def test_a_forget_whose_samples_keep_changing_is_a_409_and_deletes_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.post("/contacts", {"items": CONTACTS[:1]})
    _learn_fields(api)

    def busy(self: DynamoObservedFields, tenant_id: str, values: object) -> int:
        raise SamplesKeptChanging("the samples of attributes.plan kept changing; forget the contact again")

    monkeypatch.setattr(DynamoObservedFields, "forget_samples", busy)
    refused = api.call("DELETE", path("contacts", "c1"))
    assert refused.status == 409 and refused.body["errors"] == [{
        "location": "path", "path": "/contact_id",
        "message": "the samples of attributes.plan kept changing; forget the contact again"}]
    assert api.repos.contacts.get("t1", "c1") is not None
