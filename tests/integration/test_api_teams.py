"""Team scopes through the API: a segment scoped to team B is, for a key of team A, exactly
a segment that does not exist, on every route that names or lists segments.

Keys of no team (every key before teams existed) see the whole tenant; a key with teams
sees unscoped segments and its teams' ones. Routes are taken from the OpenAPI document,
as the tenant isolation tests take them, so a segment route added later is covered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from growthos_segments.analytics.parquet import write_tenant
from growthos_segments.handlers.api import openapi_document
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.settings import Settings
from tests.integration.api_support import PRO, Api, install

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TENANT = "alpha"
TEAM_A = {"caller": "growth-app", "teams": "a"}
TEAM_B = {"caller": "retention-app", "teams": "b,c"}
ADMIN = {"caller": "admin"}

BODIES: dict[tuple[str, str], Any] = {
    ("put", "/segments/{segment_id}"): {"version": 2, "name": "renamed", "rule": PRO, "teams": ["b"]},
    ("post", "/segments/{segment_id}/snapshots"): {"label": "x"},
    ("post", "/segments/{segment_id}/impact"): {"rule": PRO},
    ("post", "/segments/{segment_id}/duplicate"): {"name": "copy"},
}
CONFIRM = {"put", "delete"}


def _segment_routes() -> list[tuple[str, str]]:
    doc = json.loads(openapi_document())
    return sorted((method, route) for route, item in doc["paths"].items() for method in item
                  if "{segment_id}" in route)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return replace(Settings.local("it"), analytics_copy=str(tmp_path))


@pytest.fixture
def api(repos: Repositories, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    api = install(repos, lambda: NOW, monkeypatch)
    contact = {"contact_id": "c0", "attributes": {"plan": "pro"}}
    write_tenant(repos.settings.analytics_copy or "", TENANT, [contact])
    api.contact("c0", TENANT, attributes={"plan": "pro"})
    created = api.post("/segments", {"id": "pro", "name": "B's pro", "rule": PRO}, tenant=TENANT, **TEAM_B)
    scoped = api.call("PUT", "/segments/pro", tenant=TENANT, **ADMIN,
                      body={"version": 1, "name": "B's pro", "rule": PRO, "teams": ["b"]})
    assert created.status == 201 and scoped.status == 200, scoped.body
    api.backfill(TENANT, "pro")
    snapshot = api.post("/segments/pro/snapshots", {"label": "send"}, tenant=TENANT, **TEAM_B)
    assert api.call("PUT", "/segments/pro/users/campaign:b1", tenant=TENANT, **TEAM_B).status == 200
    api.ids = {"contact_id": "c0", "snapshot_id": snapshot.body["snapshot_id"], "user": "campaign:b1"}  # type: ignore[attr-defined]
    yield api


def _call(api: Api, method: str, route: str, segment_id: str, key: dict[str, str]) -> Any:
    ids = {**api.ids, "segment_id": segment_id}  # type: ignore[attr-defined]
    path = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], route)
    query = {"confirm": "true"} if method in CONFIRM else None
    body = BODIES.get((method, route))
    if body is not None and "version" in body:  # the version as last read, whichever key saved it
        head = api.repos.segments.get(TENANT, "pro")
        body = {**body, "version": head.version if head else 1}
    return api.call(method.upper(), path, tenant=TENANT, body=body, query=query, **key)


@pytest.mark.parametrize(("method", "route"), _segment_routes())
def test_a_team_b_segment_is_the_unknown_404_for_a_team_a_key(api: Api, method: str, route: str) -> None:
    theirs = _call(api, method, route, "pro", TEAM_A)
    unknown = _call(api, method, route, "no_such", TEAM_A)
    assert theirs.status == 404 and theirs.body == unknown.body, (method, route, theirs.body)
    assert "B's pro" not in json.dumps(theirs.body)
    for key in (TEAM_B, ADMIN):  # a key of the team, and a key of the whole tenant, use it
        assert _call(api, method, route, "pro", key).status in (200, 201), (method, route, key)


def test_every_segment_route_is_covered() -> None:
    routes = {r for _, r in _segment_routes()}
    assert {"/segments/{segment_id}", "/segments/{segment_id}/members", "/segments/{segment_id}/users/{user}",
            "/segments/{segment_id}/transitions", "/segments/{segment_id}/impact"} <= routes


def test_lists_contacts_and_references_show_team_a_nothing_of_team_b(api: Api) -> None:
    def listed(key: dict[str, str]) -> list[str]:
        return [s["id"] for s in api.get("/segments", tenant=TENANT, **key).body["segments"]]

    def of_contact(key: dict[str, str]) -> list[str]:
        reply = api.get("/contacts/c0/segments", tenant=TENANT, **key)
        return [s["segment_id"] for s in reply.body["segments"]]

    assert listed(TEAM_A) == [] and listed(TEAM_B) == ["pro"] and listed(ADMIN) == ["pro"]
    assert of_contact(TEAM_A) == [] and of_contact(TEAM_B) == ["pro"]
    reference = {"and": [PRO, {"segment": {"id": "pro"}}]}
    # a segment of no team is everyone's
    everyone = {"id": "all", "name": "all", "rule": PRO}
    assert api.post("/segments", everyone, tenant=TENANT, **TEAM_A).status == 201
    assert "all" in listed(TEAM_B)
    for path, body in (("/segments", {"name": "x", "rule": reference}),
                       ("/segments", {"name": "x", "rule": PRO, "exclude_segments": ["pro"]}),
                       ("/rules/estimate", {"rule": reference}), ("/rules/count", {"rule": reference}),
                       ("/segments/all/impact", {"rule": reference})):
        refused = api.post(path, body, tenant=TENANT, **TEAM_A)
        assert refused.status == 422 and "unknown segment 'pro'" in json.dumps(refused.body), refused.body
        assert api.post(path, body, tenant=TENANT, **TEAM_B).status in (200, 201)


def test_a_key_changes_only_its_own_teams_scopes(api: Api) -> None:
    foreign = api.post("/segments", {"name": "x", "rule": PRO, "teams": ["a", "b"]}, tenant=TENANT, **TEAM_A)
    assert foreign.status == 422
    assert foreign.body["errors"] == [{"location": "body", "path": "/teams/1",
                                       "message": "this key is not of team 'b'"}]
    mine = api.post("/segments", {"id": "mine", "name": "x", "rule": PRO, "teams": ["a"]},
                    tenant=TENANT, **TEAM_A)
    assert mine.status == 201 and mine.body["teams"] == ["a"]
    # team B's key (of teams b and c) may add c and remove b from its segment, not remove a from a shared one
    def put(version: int, teams: list[str], key: dict[str, str]) -> Any:
        body = {"version": version, "name": "x", "rule": PRO, "teams": teams}
        return api.call("PUT", "/segments/mine", body=body, tenant=TENANT, **key)

    shared = put(1, ["a", "b"], ADMIN)
    assert shared.status == 200
    dropped = put(2, ["c"], TEAM_B)
    assert dropped.status == 422
    assert dropped.body["errors"][0]["message"].startswith("this key is not of team 'a'")
    moved = put(2, ["a", "c"], TEAM_B)
    assert moved.status == 200 and moved.body["teams"] == ["a", "c"]


def test_a_pinned_segment_of_team_b_still_applies_to_team_a(api: Api) -> None:
    pinned = {"id": "not_pro", "name": "no pro", "type": "pinned", "teams": ["b"],
              "rule": {"not": PRO}}
    assert api.post("/segments", pinned, tenant=TENANT, **ADMIN).status == 201
    estimate = api.post("/rules/estimate", {"rule": PRO}, tenant=TENANT, **TEAM_A).body
    assert estimate["matches"] == 0 and estimate["sample_size"] == 1  # c0 is pro, so the pinned rule drops it
    assert [s["id"] for s in api.get("/segments", query={"type": "pinned"}, tenant=TENANT, **TEAM_A)
            .body["segments"]] == []


def test_only_a_key_with_teams_pays_one_read_for_its_scope(api: Api) -> None:
    def requests(key: dict[str, str]) -> int:
        before = api.repos.requests.total
        assert api.get("/segments/pro/count", tenant=TENANT, **key).status == 200
        return api.repos.requests.total - before

    assert requests(TEAM_B) == requests(ADMIN) + 1  # the segment's head, read before the route runs


def test_a_usage_route_reads_the_segment_once(api: Api) -> None:
    costs = {}
    for method in ("PUT", "GET", "DELETE"):
        path = "/segments/pro/users" + ("" if method == "GET" else "/journey:j1")
        with api.repos.requests.measure() as cost:
            assert api.call(method, path, tenant=TENANT, **ADMIN).status == 200
        costs[method] = dict(cost.by_operation)
    assert costs == {"PUT": {"GetItem": 1, "PutItem": 1}, "GET": {"GetItem": 1, "Query": 1},
                     "DELETE": {"GetItem": 1, "DeleteItem": 1, "Query": 1}}  # the head, then the users
