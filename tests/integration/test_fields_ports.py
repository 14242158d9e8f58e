"""One contract, two implementations of the observed-fields store: memory and DynamoDB (moto).

The service's unit tests run on the memory store; these assertions hold both to
the same merging, per-tenant scope and bounds, and the service on DynamoDB to
its write budget.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from growthos_segments.core.dependencies import EVERYTHING, Change
from growthos_segments.core.ports import (
    ContactChanges,
    ObservedAttribute,
    ObservedFields,
    SamplesKeptChanging,
)
from growthos_segments.handlers.wiring import build_service
from growthos_segments.infra.memory import MemoryObservedFields
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.repos.fields import FORGET_ATTEMPTS, DynamoObservedFields
from growthos_segments.services.fields import FieldsService
from tests.integration.conftest import NOW
from tests.support.realtime import Bus, Clock, Realtime, Streams

CAP = 4


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> ObservedFields:
    if request.param == "memory":
        return MemoryObservedFields(cap=CAP)
    repos: Repositories = request.getfixturevalue("repos")
    return DynamoObservedFields(repos.client, repos.settings.tables.counters, cap=CAP)


def test_paths_merge_types_and_keep_their_first_samples(store: ObservedFields) -> None:
    store.add_attributes("t1", [ObservedAttribute("attributes.plan", frozenset({"string"}), ("pro", "free")),
                                ObservedAttribute("tags.vip")])
    store.add_attributes("t1", [ObservedAttribute("attributes.plan", frozenset({"number"}), (3,))])
    assert store.catalog("t1").to_json()["attributes"] == [
        {"path": "attributes.plan", "types": ["number", "string"], "samples": ["pro", "free"]},
        {"path": "tags.vip", "types": [], "samples": []},
    ]


def test_event_counts_add_up(store: ObservedFields) -> None:
    store.count_events("t1", {"email.opened": 2, "order.completed": 1})
    store.count_events("t1", {"email.opened": 3})
    assert store.catalog("t1").to_json()["events"] == [
        {"name": "email.opened", "count": 5}, {"name": "order.completed", "count": 1}]


def test_a_tenant_sees_only_its_own_fields(store: ObservedFields) -> None:
    store.add_attributes("t1", [ObservedAttribute("attributes.secret", frozenset({"string"}), ("x",))])
    store.count_events("t1", {"private.event": 1})
    assert store.catalog("t2").empty
    assert store.catalog("t1x").empty
    with pytest.raises(ValueError):
        store.count_events("t1#x", {"e": 1})


def test_the_catalog_returns_at_most_the_cap(store: ObservedFields) -> None:
    store.add_attributes("t1", [ObservedAttribute(f"attributes.f{i}") for i in (5, 3, 6, 1, 2, 4)])
    store.count_events("t1", {f"e{i}": 1 for i in (5, 3, 6, 1, 2, 4)})
    catalog = store.catalog("t1")
    assert [a.path for a in catalog.attributes] == [f"attributes.f{i}" for i in range(1, CAP + 1)]
    assert list(catalog.events) == [f"e{i}" for i in range(1, CAP + 1)]


def test_a_stream_batch_fills_the_catalog_on_dynamodb(repos: Repositories) -> None:
    """The stream's service on DynamoDB: new contact read once, known paths cost no write."""
    repos.contacts.put({"tenant_id": "t1", "contact_id": "c1", "attributes": {"plan": "pro"},
                        "tags": ["vip"], "scores": {"nps": 9}}, now=NOW)
    fields = FieldsService(DynamoObservedFields(repos.client, repos.settings.tables.counters))
    batch = [ContactChanges("t1", "c1", EVERYTHING),
             ContactChanges("t1", "c2", Change(events=frozenset({"email.opened"})))]
    fields.observe_changes(batch, repos.views, NOW)
    body: dict[str, Any] = fields.catalog("t1").to_json()
    assert {a["path"] for a in body["attributes"]} >= {"attributes.plan", "tags.vip", "scores.nps"}
    assert body["events"] == [{"name": "email.opened", "count": 1}]
    repos.requests.reset()
    known = [ContactChanges("t1", "c1", Change(paths=frozenset({"attributes.plan"}), events=frozenset(
        {"email.opened"})))]
    fields.observe_changes(known, repos.views, NOW)
    assert repos.requests.total == 1  # the one ADD of the event's count


def test_the_stream_evaluator_learns_from_dynamodb_stream_batches(repos: Repositories) -> None:
    """The deployment's wiring: contacts and events stream records in, the catalog filled."""
    clock = Clock(NOW)
    rt = Realtime(repos, build_service(repos.settings, repos=repos, clock=clock), clock,
                  Streams(repos.settings, repos.client), Bus(repos.settings))
    rt.contact("c1", attributes={"plan": "pro", "custom": {"lead_score": 3}}, tags=["vip"])
    rt.event("c1", "email.opened")
    rt.event("c1", "email.opened", ago=timedelta(hours=1))
    result = rt.evaluate()
    assert rt.evaluator.learn_fields(result) == 1
    body = DynamoObservedFields(repos.client, repos.settings.tables.counters).catalog("t1").to_json()
    assert [a["path"] for a in body["attributes"]] == ["attributes.custom.lead_score", "attributes.plan",
                                                       "tags.vip"]
    assert body["events"] == [{"name": "email.opened", "count": 1}]  # once per contact per batch


def test_forgetting_samples_removes_only_those_values_of_those_paths(store: ObservedFields) -> None:
    store.add_attributes("t1", [
        ObservedAttribute("attributes.email", frozenset({"string"}), ("ann@example.com", "bob@example.com")),
        ObservedAttribute("attributes.custom.vip", frozenset({"boolean"}), (True,)),
        ObservedAttribute("scores.lead", frozenset({"number"}), (1, 7)),
    ])
    email = frozenset({"string"})
    store.add_attributes("t2", [ObservedAttribute("attributes.email", email, ("ann@example.com",))])
    removed = store.forget_samples("t1", {"attributes.email": ["ann@example.com"], "scores.lead": [True, 7.0],
                                          "attributes.custom.vip": [True], "attributes.unknown": ["x"]})
    assert removed == 3  # true is not the number 1; 7.0 is 7
    assert store.catalog("t1").to_json()["attributes"] == [
        {"path": "attributes.custom.vip", "types": ["boolean"], "samples": []},
        {"path": "attributes.email", "types": ["string"], "samples": ["bob@example.com"]},
        {"path": "scores.lead", "types": ["number"], "samples": [1]},
    ]
    assert store.catalog("t2").attributes[0].samples == ("ann@example.com",)
    assert store.forget_samples("t1", {"attributes.email": ["ann@example.com"]}) == 0
    store.add_attributes("t1", [ObservedAttribute("attributes.custom.vip", frozenset({"boolean"}), (False,)),
                                ObservedAttribute("attributes.email", email, ("cy@example.com",))])
    samples = {a.path: a.samples for a in store.catalog("t1").attributes}
    assert samples["attributes.custom.vip"] == (False,)  # emptied: the next observation's are kept
    assert samples["attributes.email"] == ("bob@example.com",)


class _Interleaved:
    """A client on which another writer changes a path's samples before each of the first
    ``times`` conditional writes (what a concurrent forget does)."""

    def __init__(self, client: Any, table: str, times: int) -> None:
        self._client = client
        self._table = table
        self.times = times

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_item(self, **request: Any) -> Any:
        if "ConditionExpression" in request and self.times:
            self.times -= 1
            self._client.update_item(
                TableName=self._table, Key=request["Key"], UpdateExpression="SET #s = :s",
                ExpressionAttributeNames={"#s": "samples"},
                ExpressionAttributeValues={":s": {"S": f'["ann", "z{self.times}"]'}})
        return self._client.update_item(**request)


@pytest.mark.parametrize("times", [2, 5])
def test_forgetting_samples_on_dynamodb_rereads_a_path_that_changed(repos: Repositories, times: int) -> None:
    table = repos.settings.tables.counters
    client = _Interleaved(repos.client, table, times)
    store = DynamoObservedFields(client, table)
    store.add_attributes("t1", [ObservedAttribute("attributes.name", frozenset({"string"}), ("ann", "bob"))])
    if times < FORGET_ATTEMPTS:
        assert store.forget_samples("t1", {"attributes.name": ["ann"]}) == 1
        assert store.catalog("t1").attributes[0].samples == ("z0",)  # the other writer's list, scrubbed
    else:
        with pytest.raises(SamplesKeptChanging):
            store.forget_samples("t1", {"attributes.name": ["ann"]})
        assert store.catalog("t1").attributes[0].samples == ("ann", "z0")
