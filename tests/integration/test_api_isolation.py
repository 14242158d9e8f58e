"""Tenant isolation through the API: another tenant's ids are "not found", never data.

The routes are taken from the OpenAPI document, so a route added later is
covered (and must be given a valid body below if it takes one).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from growthos_segments.analytics.parquet import write_tenant
from growthos_segments.handlers.api import openapi_document
from growthos_segments.infra import aws
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.repos.fields import DynamoObservedFields
from growthos_segments.infra.settings import Settings
from growthos_segments.services.fields import FieldsService
from tests.integration.api_support import IMPORTS_BUCKET, PRO, Api, install, install_imports

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
OWNER, OTHER = "alpha", "beta"

BODIES: dict[tuple[str, str], Any] = {
    ("put", "/segments/{segment_id}"): {"version": 1, "name": "stolen", "rule": PRO},
    ("post", "/segments/{segment_id}/duplicate"): {"name": "stolen copy"},
    ("post", "/segments/{segment_id}/snapshots"): {"label": "x"},
    ("post", "/segments/{segment_id}/impact"): {"rule": PRO},
    ("post", "/imports/{import_id}/start"): {"dry_run": True},
}


CONFIRM: dict[tuple[str, str], dict[str, str]] = {
    ("put", "/segments/{segment_id}"): {"confirm": "true"},
    ("delete", "/segments/{segment_id}"): {"confirm": "true"},
}
"""The owner changes or archives its segment in use knowingly."""


FORGET = ("delete", "/contacts/{contact_id}")
"""Forgetting is idempotent (200 for a contact the tenant does not have): held by
:func:`test_ingestion_writes_and_forgets_only_the_callers_contacts` instead of a 404."""


def _routes_with_ids() -> list[tuple[str, str]]:
    doc = json.loads(openapi_document())
    return sorted((method, route) for route, item in doc["paths"].items() for method in item
                  if "{" in route and (method, route) != FORGET)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """With an analytical copy folder: the owner's exact routes answer from its copy."""
    return replace(Settings.local("it"), analytics_copy=str(tmp_path))


@pytest.fixture
def api(repos: Repositories, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    repos = install_imports(repos, monkeypatch)
    api = install(repos, lambda: NOW, monkeypatch)
    write_tenant(repos.settings.analytics_copy or "", OWNER, [
        {"contact_id": "c0", "attributes": {"plan": "pro", "email": "secret@alpha.io"}}])
    api.contact("c0", OWNER, attributes={"plan": "pro", "email": "secret@alpha.io"})
    api.repos.events.append(OWNER, "c0", "email.opened", at=NOW - timedelta(days=1), event_id="e0")
    assert api.post("/segments", {"id": "pro", "name": "Alpha pro", "rule": PRO}, tenant=OWNER).status == 201
    api.backfill(OWNER, "pro")
    snapshot = api.post("/segments/pro/snapshots", {"label": "send"}, tenant=OWNER)
    assert snapshot.status == 201
    assert api.call("PUT", "/segments/pro/users/campaign:c1", tenant=OWNER).status == 200
    import_id = api.post("/imports", tenant=OWNER).body["import_id"]
    aws.client("s3", repos.settings).put_object(Bucket=IMPORTS_BUCKET, Key=f"{OWNER}/{import_id}.csv",
                                                Body=b"contact_id\nc0\n")
    api.ids = {"segment_id": "pro", "contact_id": "c0", "snapshot_id": snapshot.body["snapshot_id"],  # type: ignore[attr-defined]
               "user": "campaign:c1", "import_id": import_id}
    yield api


def _fill(route: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], route)


@pytest.mark.parametrize(("method", "route"), _routes_with_ids())
def test_every_route_with_another_tenants_ids_is_404(api: Api, method: str, route: str) -> None:
    ids: dict[str, str] = api.ids  # type: ignore[attr-defined]
    reply = api.call(method.upper(), _fill(route, ids), tenant=OTHER, body=BODIES.get((method, route)))
    assert reply.status == 404, (method, route, reply.body)
    text = json.dumps(reply.body)
    assert "secret" not in text and "Alpha" not in text and ids["snapshot_id"] not in text
    # and the owner still sees it all, untouched
    owner = api.call(method.upper(), _fill(route, ids), tenant=OWNER, body=BODIES.get((method, route)),
                     query=CONFIRM.get((method, route)))
    assert owner.status in (200, 201, 202), (method, route, owner.body)


def test_the_covered_routes_are_every_route_with_ids() -> None:
    routes = _routes_with_ids()
    assert len(routes) >= 12
    assert {r for _, r in routes} >= {
        "/segments/{segment_id}/members/{contact_id}",
        "/contacts/{contact_id}/segments",
    }


def test_ingestion_writes_and_forgets_only_the_callers_contacts(api: Api) -> None:
    owner_profile = api.repos.contacts.get(OWNER, "c0")
    owner_events = api.repos.events.events(OWNER, "c0")
    items = [{"contact_id": "c0", "attributes": {"plan": "free", "email": None}, "tags": ["stolen"]}]
    assert api.post("/contacts", {"items": items}, tenant=OTHER).body["results"][0]["status"] == "created"
    event = {"event_id": "e0", "contact_id": "c0", "name": "email.opened", "at": "2026-11-21T12:00:00Z"}
    assert api.post("/events", {"items": [event]}, tenant=OTHER).body["results"][0]["status"] == "created"
    forgotten = api.call("DELETE", "/contacts/c0", tenant=OTHER)
    assert forgotten.status == 200 and forgotten.body["found"] is True
    assert forgotten.body["events_deleted"] == 1  # its own event, not the owner's
    assert api.call("DELETE", "/contacts/c0", tenant=OTHER).body["found"] is False
    assert api.repos.contacts.get(OWNER, "c0") == owner_profile
    assert api.repos.events.events(OWNER, "c0") == owner_events
    assert api.get("/segments/pro/members/c0", tenant=OWNER).body["member"] is True


def test_own_segment_with_another_tenants_contact_or_snapshot_is_404(api: Api) -> None:
    ids: dict[str, str] = api.ids  # type: ignore[attr-defined]
    assert api.post("/segments", {"id": "mine", "name": "Beta", "rule": PRO}, tenant=OTHER).status == 201
    assert api.get("/segments/mine/members/c0", tenant=OTHER).status == 404
    assert api.post("/segments/mine/explain/c0", tenant=OTHER).status == 404
    assert api.get(f"/segments/mine/snapshots/{ids['snapshot_id']}", tenant=OTHER).status == 404
    assert api.get(f"/segments/mine/snapshots/{ids['snapshot_id']}/contacts", tenant=OTHER).status == 404


def test_lists_estimates_cursors_and_references_stay_in_the_tenant(api: Api) -> None:
    assert api.get("/segments", tenant=OTHER).body == {"segments": []}
    estimate = api.post("/rules/estimate", {"rule": PRO}, tenant=OTHER).body
    assert estimate["estimate"] == 0 and estimate["sample_size"] == 0
    reference = api.post("/segments", {"name": "x", "rule": {"segment": {"id": "pro"}}}, tenant=OTHER)
    assert reference.status == 422  # alpha's segment is unknown here
    assert api.post("/segments", {"id": "pro", "name": "Beta pro", "rule": PRO}, tenant=OTHER).status == 201
    # the same segment id and version: beta's list reads its own counters and backfill only
    def listed(tenant: str) -> list[tuple[str, int, str]]:
        items = api.get("/segments", tenant=tenant).body["segments"]
        return [(s["id"], s["count"], s["backfill_progress"]["status"]) for s in items]

    assert listed(OTHER) == [("pro", 0, "queued")]
    assert listed(OWNER) == [("pro", 1, "complete")]
    cursor = api.get("/segments/pro/members", query={"limit": "1"}, tenant=OWNER).body["cursor"]
    # a one-member segment has no next page: forge one from alpha's partition instead
    from growthos_segments.infra.repos._common import encode_cursor

    forged = encode_cursor({"pk": {"S": "alpha#pro"}, "sk": {"S": "c0"}})
    assert cursor is None or isinstance(cursor, str)
    stolen = api.get("/segments/pro/members", query={"cursor": forged}, tenant=OTHER)
    assert stolen.status == 400 and "c0" not in json.dumps(stolen.body)
    assert api.get("/segments/pro/members", tenant=OTHER).body["members"] == []


def test_fields_and_validation_warnings_come_from_the_callers_tenant_only(api: Api) -> None:
    learn = FieldsService(DynamoObservedFields(api.repos.client, api.repos.settings.tables.counters))
    secret = {"attributes": {"secret_field": "secret"}, "events": [{"name": "alpha.x"}]}
    learn.observe_documents(OWNER, [secret])
    learn.observe_documents(OTHER, [{"attributes": {"plan": "free"}}])
    theirs = api.get("/fields", tenant=OTHER)
    text = json.dumps(theirs.body)
    assert theirs.status == 200 and "secret" not in text and "alpha" not in text
    plan = {"path": "attributes.plan", "types": ["string"], "samples": ["free"]}
    assert theirs.body == {"attributes": [plan], "events": []}
    rule = {"attribute": {"field": "secret_field", "op": "exists"}}
    warned = api.post("/rules/validate", {"rule": rule}, tenant=OTHER).body["warnings"]
    assert [w["message"] for w in warned] == ["no contact of this tenant has had `attributes.secret_field`"]
    assert api.post("/rules/validate", {"rule": rule}, tenant=OWNER).body["warnings"] == []


def test_exact_counts_read_the_callers_copy_only(api: Api) -> None:
    refused = api.post("/rules/count", {"rule": PRO, "members": True}, tenant=OTHER)
    assert refused.status == 409 and "c0" not in json.dumps(refused.body)  # beta has no copy yet
    write_tenant(api.repos.settings.analytics_copy or "", OTHER, [])
    assert api.post("/rules/count", {"rule": PRO, "members": True}, tenant=OTHER).body["members"] == []
    assert api.post("/rules/count", {"rule": PRO, "members": True}, tenant=OWNER).body["members"] == ["c0"]
