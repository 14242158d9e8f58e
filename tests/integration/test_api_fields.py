"""Field help through the API: ``GET /fields`` and the warnings of ``POST /rules/validate``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.repos.fields import DynamoObservedFields
from growthos_segments.services.fields import FieldsService
from tests.integration.api_support import Api, install

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PLN = {"attribute": {"field": "pln", "op": "equals", "value": "pro"}}
PLAN = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}


@pytest.fixture
def api(repos: Repositories, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    api = install(repos, lambda: NOW, monkeypatch)
    learn = FieldsService(DynamoObservedFields(repos.client, repos.settings.tables.counters))
    learn.observe_documents("t1", [
        {"attributes": {"plan": "pro", "custom": {"lead_score": 80}}, "tags": ["vip"],
         "events": [{"name": "email.opened"}, {"name": "email.opened"}]},
        {"attributes": {"plan": "free"}, "scores": {"nps": 9}},
    ])
    yield api


def test_fields_lists_paths_and_events_sorted(api: Api) -> None:
    reply = api.get("/fields")
    assert reply.status == 200, reply.body
    assert reply.body == {
        "attributes": [
            {"path": "attributes.custom.lead_score", "types": ["number"], "samples": [80]},
            {"path": "attributes.plan", "types": ["string"], "samples": ["pro", "free"]},
            {"path": "scores.nps", "types": ["number"], "samples": [9]},
            {"path": "tags.vip", "types": [], "samples": []},
        ],
        "events": [{"name": "email.opened", "count": 2}],
    }


def test_validate_warns_about_a_field_no_contact_has(api: Api) -> None:
    reply = api.post("/rules/validate", {"rule": {"and": [PLAN, PLN]}})
    assert reply.status == 200 and reply.body["valid"] is True
    assert reply.body["warnings"] == [{"path": "/and/1", "suggestion": "did you mean 'plan'?",
                                       "message": "no contact of this tenant has had `attributes.pln`"}]
    assert api.post("/rules/validate", {"rule": PLAN}).body["warnings"] == []


def test_warnings_never_make_a_rule_invalid_and_errors_come_alone(api: Api) -> None:
    bad = api.post("/rules/validate", {"rule": {"and": [PLN, {"attribute": {"field": "plan", "op": "eq"}}]}})
    assert bad.status == 422 and bad.body["valid"] is False and bad.body["warnings"] == []


def test_a_tenant_with_nothing_observed_gets_no_warnings_and_an_empty_catalog(api: Api) -> None:
    assert api.get("/fields", tenant="t2").body == {"attributes": [], "events": []}
    assert api.post("/rules/validate", {"rule": PLN}, tenant="t2").body["warnings"] == []


def test_the_catalog_is_read_once_per_container_window(api: Api) -> None:
    api.get("/fields")
    api.repos.requests.reset()
    for _ in range(3):
        api.post("/rules/validate", {"rule": PLN})
        api.get("/fields")
    assert api.repos.requests.by_operation["Query"] == 0


def test_an_unreadable_catalog_leaves_validation_without_warnings(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(self: DynamoObservedFields, tenant_id: str) -> None:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "Query")

    monkeypatch.setattr(DynamoObservedFields, "catalog", down)
    reply = api.post("/rules/validate", {"rule": PLN}, tenant="t3")
    assert reply.status == 200 and reply.body["valid"] is True and reply.body["warnings"] == []


def test_an_invalid_rule_is_answered_without_reading_the_catalog(api: Api) -> None:
    api.repos.requests.reset()
    assert api.post("/rules/validate", {"rule": {"atribute": {}}}, tenant="t4").status == 422
    assert api.repos.requests.total == 0
