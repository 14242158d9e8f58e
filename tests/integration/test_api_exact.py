"""POST /rules/count and POST /segments/{id}/impact through the API on moto, over a Parquet
copy written to a temporary ANALYTICS_COPY folder; answers checked against the
per-contact evaluator on the same documents."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from growthos_segments.analytics.parquet import write_tenant
from growthos_segments.core.segments import SegmentDefinition, SegmentSet
from growthos_segments.infra.repos import Repositories, build_repositories
from growthos_segments.infra.settings import Settings
from growthos_segments.plugins import default_host
from tests.integration.api_support import PRO, Api, install
from tests.integration.test_api_contract import response_schema, schema_accepts

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
OPENED = {"email": {"action": "opened", "min_count": 2, "within": "30d"}}
SCORED = {"score": {"name": "nps", "gte": 9}}
TEAM = {"attribute": {"field": "plan", "op": "equals", "value": "team"}}


def documents(tenant: str, n: int) -> list[dict[str, Any]]:
    """Plans cycle pro, free, team; nps is i mod 11; contacts with even i opened i mod 4 emails lately."""
    out = []
    for i in range(n):
        events = [{"name": "email.opened", "at": (NOW - timedelta(days=1 + k)).isoformat()}
                  for k in range(i % 4 if i % 2 == 0 else 0)]
        out.append({"tenant_id": tenant, "contact_id": f"c{i:03d}", "updated_at": "2026-11-22T11:00:00Z",
                    "attributes": {"plan": ("pro", "free", "team")[i % 3]}, "scores": {"nps": i % 11},
                    "events": events})
    return out


def per_contact(rule: Any, docs: list[dict[str, Any]], now: datetime = NOW) -> list[str]:
    segments = SegmentSet(default_host(), [SegmentDefinition("r", rule)])
    evaluate = segments.segments["r"].evaluate
    return sorted(d["contact_id"] for d in docs if evaluate(segments.view(d), now)[0])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return replace(Settings.local("it"), analytics_copy=str(tmp_path / "copy"))


@pytest.fixture
def api(repos: Repositories, monkeypatch: pytest.MonkeyPatch) -> Api:
    assert repos.settings.analytics_copy is not None
    write_tenant(repos.settings.analytics_copy, "t1", documents("t1", 60))
    return install(repos, lambda: NOW, monkeypatch)


def test_the_count_of_a_draft_is_the_per_contact_answer(api: Api) -> None:
    rule = {"and": [{"or": [PRO, SCORED]}, {"!": TEAM}]}
    reply = api.post("/rules/count", {"rule": rule})
    assert reply.status == 200, reply.body
    expected = per_contact(rule, documents("t1", 60))
    assert 0 < len(expected) < 60
    assert reply.body == {"count": len(expected), "path": "sql", "as_of": "2026-11-22T11:00:00Z",
                          "evaluated_at": "2026-11-22T12:00:00Z", "reason": None, "decided_per_contact": 0,
                          "members": None, "cursor": None}
    paged, cursor = [], None
    while True:
        body = {"rule": rule, "members": True, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.post("/rules/count", body).body
        paged += page["members"]
        if not (cursor := page["cursor"]):
            break
    assert paged == expected


def test_the_count_applies_the_manual_lists_as_a_save_would(api: Api) -> None:
    """Excluded by hand wins; included by hand counts the copy's contacts only."""
    lists = {"include_contacts": ["c001", "c002", "nobody"], "exclude_contacts": ["c000", "c002"]}
    reply = api.post("/rules/count", {"rule": PRO, **lists, "members": True, "limit": 1000})
    assert reply.status == 200, reply.body
    expected = sorted({*per_contact(PRO, documents("t1", 60)), "c001"} - {"c000"})
    assert reply.body["members"] == expected and reply.body["count"] == len(expected)


def test_the_instant_is_the_requests(api: Api) -> None:
    then = NOW - timedelta(days=40)
    reply = api.post("/rules/count", {"rule": OPENED, "now": "2026-10-13T12:00:00Z"})
    assert reply.body["count"] == len(per_contact(OPENED, documents("t1", 60), then)) == 0
    assert reply.body["evaluated_at"] == "2026-10-13T12:00:00Z"


def test_references_resolve_among_the_tenants_segments(api: Api) -> None:
    assert api.post("/segments", {"id": "pro", "name": "Pro", "rule": PRO}).status == 201
    reply = api.post("/rules/count", {"rule": {"and": [{"segment": {"id": "pro"}}, SCORED]}})
    assert reply.body["count"] == len(per_contact({"and": [PRO, SCORED]}, documents("t1", 60)))
    unknown = api.post("/rules/count", {"rule": {"segment": {"id": "por"}}})
    assert unknown.status == 422
    assert unknown.body["errors"][0]["path"] == "/rule/segment/id"
    assert unknown.body["errors"][0]["suggestion"] == "did you mean 'pro'?"


def test_bad_requests_are_4xx_in_the_error_shape(api: Api) -> None:
    for body, status, path in (
        ({"rule": {"atribute": {}}}, 422, "/rule"),
        ({"rule": PRO, "now": "soon"}, 422, "/now"),
        ({"rule": PRO, "members": True, "limit": 1001}, 422, "/limit"),
        ({"rule": PRO, "colour": "red"}, 422, "/colour"),
    ):
        reply = api.post("/rules/count", body)
        assert reply.status == status, (body, reply.body)
        assert set(reply.body) == {"message", "errors"}, reply.body
        assert reply.body["errors"][0]["path"] == path, reply.body


def test_a_tenant_without_a_copy_gets_409_and_never_anothers(api: Api) -> None:
    assert api.get("/rules/count", tenant="t2").body == {"available": False}
    assert api.get("/rules/count").body == {"available": True}
    reply = api.post("/rules/count", {"rule": PRO}, tenant="t2")
    assert reply.status == 409
    assert reply.body["message"] == "no analytical copy" and "estimate" in reply.body["errors"][0]["message"]
    write_tenant(api.repos.settings.analytics_copy or "", "t2", documents("t2", 3))
    theirs = api.post("/rules/count", {"rule": PRO, "members": True}, tenant="t2").body
    assert (theirs["count"], theirs["members"]) == (1, ["c000"])


def test_a_deployment_without_a_copy_answers_409(
    repos: Repositories, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = build_repositories(replace(repos.settings, analytics_copy=None))
    without = install(plain, lambda: NOW, monkeypatch)
    assert without.get("/rules/count").body == {"available": False}
    assert without.post("/rules/count", {"rule": PRO}).status == 409


def test_impact_of_an_edit(api: Api) -> None:
    assert api.post("/segments", {"id": "pro", "name": "Pro", "rule": PRO}).status == 201
    edited = {"and": [PRO, SCORED]}
    reply = api.post("/segments/pro/impact", {"rule": edited, "examples": 3})
    assert reply.status == 200, reply.body
    docs = documents("t1", 60)
    before, after = set(per_contact(PRO, docs)), set(per_contact(edited, docs))
    assert reply.body == {
        "segment_id": "pro", "version": 1, "members": len(before), "after": len(after),
        "would_enter": 0, "would_exit": len(before - after), "enter_examples": [],
        "exit_examples": sorted(before - after)[:3], "path": "sql", "reason": None,
        "as_of": "2026-11-22T11:00:00Z", "evaluated_at": "2026-11-22T12:00:00Z",
    }
    assert api.post("/segments/nope/impact", {"rule": PRO}).status == 404
    assert api.post("/segments/pro/impact", {"rule": {"segment": {"id": "pro"}}}).status == 422
    assert api.post("/segments/pro/impact", {"rule": PRO}, tenant="t2").status == 404


def test_the_other_routes_do_not_load_duckdb_or_sqlglot() -> None:
    """The API function's cold start imports every route module; only a question asked of
    the copy may load the analytical engine."""
    probe = ("import sys; import growthos_segments.handlers.api; "
             "print(sorted(m for m in ('duckdb', 'sqlglot', 'pyarrow') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(loaded.stdout.replace("'", '"')) == []


def test_every_answer_is_the_documented_shape(api: Api) -> None:
    assert api.post("/segments", {"id": "pro", "name": "Pro", "rule": PRO}).status == 201
    for method, route, path, body, status in (
        ("GET", "/rules/count", "/rules/count", None, 200),
        ("POST", "/rules/count", "/rules/count", {"rule": PRO, "members": True, "limit": 3}, 200),
        ("POST", "/segments/{segment_id}/impact", "/segments/pro/impact", {"rule": SCORED}, 200),
        ("POST", "/rules/count", "/rules/count", {"rule": PRO}, 409),
        ("POST", "/segments/{segment_id}/impact", "/segments/pro/impact", {"rule": PRO, "now": "x"}, 422),
    ):
        reply = api.call(method, path, body=body, tenant="t2" if status == 409 else "t1")
        assert reply.status == status, (path, reply.body)
        assert schema_accepts(response_schema(method, route, status), reply.body), (path, reply.body)
