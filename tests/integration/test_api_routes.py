"""Audience API routes through ``handlers.api.handler`` with synthetic API Gateway events on moto."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from growthos_segments.infra.repos import Repositories
from tests.integration.api_support import OPENED, PRO, Api, FakeContext, event, install, path

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def api(repos: Repositories, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    yield install(repos, lambda: NOW, monkeypatch)


def seed(api: Api, tenant: str = "t1") -> None:
    """Six contacts: c0, c3 on pro; c1 bounced; c2 unsubscribed; c4 no email; c5 spam."""
    for i in range(6):
        api.contact(
            f"c{i}",
            tenant,
            attributes={
                "plan": "pro" if i % 3 == 0 else "free",
                **({"email": f"c{i}@x.io"} if i != 4 else {}),
            },
            suppression={
                "bounced": i == 1,
                "unsubscribed": i == 2,
                "status": "complained" if i == 5 else "ok",
            },
        )
        api.repos.events.append(
            tenant, f"c{i}", "email.opened", at=NOW - timedelta(days=10 * i), event_id=f"e{i}"
        )


def create(api: Api, body: dict, **kwargs: object) -> dict:
    reply = api.post("/segments", body, **kwargs)
    assert reply.status == 201, reply.body
    return reply.body


# --- catalog and rules ---------------------------------------------------------------------


def test_catalog_templates_and_validation(api: Api) -> None:
    catalog = api.get("/condition-types")
    assert catalog.status == 200
    names = {c["name"] for c in catalog.body["condition_types"]}
    assert {"attribute", "email", "score"} <= names
    assert all({"schema", "examples", "label"} <= set(c) for c in catalog.body["condition_types"])
    assert api.get("/templates").body["templates"]
    bad = api.post("/rules/validate", {"rule": {"and": [{"score": {"name": "nps", "gtee": 9}}]}})
    assert bad.status == 422 and bad.body["errors"][0]["path"] == "/and/0/score/gtee"
    assert api.post("/rules/validate", {"rule": PRO}).body["valid"] is True


def test_openapi_document_is_served(api: Api) -> None:
    reply = api.get("/openapi.json")
    assert reply.status == 200 and "/segments/{segment_id}/members" in reply.body["paths"]


# --- segments ------------------------------------------------------------------------------


def test_create_get_list_update_archive(api: Api) -> None:
    seed(api)
    created = create(api, {"id": "pro", "name": "Pro plan", "rule": PRO})
    assert created["version"] == 1 and created["backfill"] == "queued"
    assert api.backfills == [("t1", "pro", 1)]
    assert api.get("/segments/pro").body["rule"] == PRO
    generated = create(api, {"name": "Openers", "rule": {"not": {"not": OPENED}}})
    assert generated["id"].startswith("seg_") and generated["rule"] == OPENED  # stored normalised
    assert [s["id"] for s in api.get("/segments").body["segments"]] == sorted(["pro", generated["id"]])

    updated = api.call("PUT", "/segments/pro", body={"version": 1, "name": "Pro", "rule": OPENED})
    assert updated.status == 200 and updated.body["version"] == 2
    assert api.backfills[-1] == ("t1", "pro", 2)
    stale = api.call("PUT", "/segments/pro", body={"version": 1, "name": "Pro", "rule": PRO})
    assert stale.status == 409 and stale.body["errors"][0]["path"] == "/version"

    archived = api.call("DELETE", "/segments/pro")
    assert archived.status == 200 and archived.body["status"] == "archived"
    assert [s["id"] for s in api.get("/segments").body["segments"]] == [generated["id"]]
    assert len(api.get("/segments", query={"include_archived": "true"}).body["segments"]) == 2
    assert api.get("/segments/pro/count").status == 409  # archived: nothing live to count


def test_creating_an_existing_id_is_a_conflict(api: Api) -> None:
    create(api, {"id": "pro", "name": "Pro", "rule": PRO})
    again = api.post("/segments", {"id": "pro", "name": "Pro", "rule": PRO})
    assert again.status == 409 and again.body["errors"][0]["path"] == "/id"


def test_rule_errors_references_and_cycles_are_422_with_pointers(api: Api) -> None:
    bad = api.post("/segments", {"name": "x", "rule": {"and": [PRO, {"score": {"name": "nps", "gtee": 9}}]}})
    assert bad.status == 422
    assert [(e["location"], e["path"]) for e in bad.body["errors"]] == [("body", "/rule/and/1/score/gtee")]
    unknown = api.post(
        "/segments", {"name": "x", "rule": {"segment": {"id": "pr0"}}, "exclude_segments": ["nope"]}
    )
    assert unknown.status == 422
    paths = {e["path"] for e in unknown.body["errors"]}
    assert paths == {"/rule/segment/id", "/exclude_segments/0"}
    create(api, {"id": "pro", "name": "Pro", "rule": PRO})
    create(api, {"id": "a", "name": "A", "rule": {"segment": {"id": "pro"}}})
    cycle = api.call(
        "PUT", "/segments/pro", body={"version": 1, "name": "Pro", "rule": {"segment": {"id": "a"}}}
    )
    assert cycle.status == 422 and "cycle" in str(cycle.body["errors"])
    assert api.get("/segments/pro").body["version"] == 1  # nothing stored
    in_use = api.call("DELETE", "/segments/pro")
    assert in_use.status == 409 and "'a'" in in_use.body["errors"][0]["message"]


def test_types_static_and_pinned(api: Api) -> None:
    seed(api)
    assert api.post("/segments", {"name": "s", "type": "static", "rule": PRO}).status == 422
    assert api.post("/segments", {"name": "r", "type": "shared"}).status == 422
    static = create(api, {"id": "vips", "name": "VIPs", "type": "static", "include_contacts": ["c1", "c2"]})
    assert static["rule"] is None
    create(
        api,
        {
            "id": "emailable",
            "name": "Emailable",
            "type": "pinned",
            "rule": {"!": {"suppression": {"flag": "bounced"}}},
        },
    )
    create(api, {"id": "hidden", "name": "Embedded", "type": "embedded", "rule": PRO})
    listed = [s["id"] for s in api.get("/segments").body["segments"]]
    assert "hidden" not in listed and "vips" in listed
    assert [s["id"] for s in api.get("/segments", query={"type": "embedded"}).body["segments"]] == ["hidden"]
    # The pinned segment is ANDed into estimates of every other type: c1 (bounced) is not counted.
    everyone = {"attribute": {"field": "plan", "op": "exists"}}
    assert api.post("/rules/estimate", {"rule": everyone}).body["estimate"] == 5
    assert api.post("/rules/estimate", {"rule": everyone, "type": "pinned"}).body["estimate"] == 6


# --- membership ----------------------------------------------------------------------------


def test_members_count_check_and_contact_segments(api: Api) -> None:
    seed(api)
    create(api, {"id": "pro", "name": "Pro", "rule": PRO})
    api.backfill("t1", "pro")
    assert api.get("/segments/pro/count").body == {"segment_id": "pro", "count": 2}
    first = api.get("/segments/pro/members", query={"limit": "1"})
    assert first.status == 200 and first.body["members"] == ["c0"] and first.body["cursor"]
    second = api.get("/segments/pro/members", query={"limit": "1", "cursor": first.body["cursor"]})
    assert second.body["members"] == ["c3"]
    member = api.get("/segments/pro/members/c0").body
    assert member["member"] is True and member["entered_at"] and member["segment_version"] == 1
    assert api.get("/segments/pro/members/c1").body["member"] is False
    assert api.get("/segments/pro/members/nobody").status == 404
    assert api.get("/contacts/c0/segments").body["segments"][0]["segment_id"] == "pro"
    assert api.get("/contacts/c1/segments").body["segments"] == []
    assert api.get("/contacts/nobody/segments").status == 404


def test_membership_check_is_one_request(api: Api) -> None:
    seed(api)
    create(api, {"id": "pro", "name": "Pro", "rule": PRO})
    api.backfill("t1", "pro")
    for contact in ("c0", "c1"):
        with api.repos.requests.measure() as cost:
            assert api.get(f"/segments/pro/members/{contact}").status == 200
        assert dict(cost.by_operation) == {"BatchGetItem": 1}
    with api.repos.requests.measure() as cost:
        assert api.get("/segments/pro/members", query={"limit": "100"}).status == 200
    assert dict(cost.by_operation) == {"GetItem": 1, "Query": 1}


def test_bad_cursors_and_limits_are_4xx(api: Api) -> None:
    create(api, {"id": "pro", "name": "Pro", "rule": PRO})
    assert api.get("/segments/pro/members", query={"cursor": "not-a-cursor"}).status == 400
    too_many = api.get("/segments/pro/members", query={"limit": "5000"})
    assert too_many.status == 422 and too_many.body["errors"][0] == {
        "location": "query",
        "path": "/limit",
        "message": too_many.body["errors"][0]["message"],
    }


def test_explain_a_non_member_and_a_member(api: Api) -> None:
    seed(api)
    create(api, {"id": "pro", "name": "Pro", "rule": PRO})
    create(
        api,
        {"id": "engaged_pro", "name": "Engaged pro", "rule": {"and": [{"segment": {"id": "pro"}}, OPENED]}},
    )
    api.backfill("t1", "engaged_pro")
    no = api.post(path("segments", "engaged_pro", "explain", "c3"))
    assert no.status == 200 and no.body["match"] is False and no.body["stored"]["member"] is False
    children = no.body["trace"]["children"]
    assert children[0] == {**children[0], "kind": "segment", "segment_id": "pro", "match": True}
    assert children[1]["match"] is False and "events:email.opened" in children[1]["values"]
    yes = api.post("/segments/engaged_pro/explain/c0").body
    assert yes["match"] is True and yes["stored"]["member"] is True and yes["recheck_at"]
    assert api.post("/segments/engaged_pro/explain/nobody").status == 404


# --- estimate ------------------------------------------------------------------------------


def test_estimate_of_a_small_tenant_is_exact(api: Api) -> None:
    seed(api)
    reply = api.post("/rules/estimate", {"rule": OPENED})
    assert reply.status == 200
    body = reply.body
    assert (
        body["exact"] is True and body["estimate"] == body["low"] == body["high"] == 3
    )  # 0, 10, 20 days ago
    assert body["sample_size"] == 6 and body["reads"]["events"] == ["email.opened"]
    bad = api.post("/rules/estimate", {"rule": {"segment": {"id": "missing"}}})
    assert bad.status == 422 and bad.body["errors"][0]["path"] == "/rule/segment/id"


# --- snapshots -----------------------------------------------------------------------------


def test_snapshot_breakdown_listing_and_pages(api: Api) -> None:
    seed(api)
    create(api, {"id": "all", "name": "All", "rule": {"attribute": {"field": "plan", "op": "exists"}}})
    api.backfill("t1", "all")
    taken = api.post("/segments/all/snapshots", {"label": "cmp_q4"})
    assert taken.status == 201
    assert taken.body["counts"] == {
        "all": 6,
        "addressable": 2,
        "bounced": 1,
        "unsubscribed": 1,
        "spam": 1,
        "no_email": 1,
    }
    snapshot_id = taken.body["snapshot_id"]
    base = f"/segments/all/snapshots/{snapshot_id}"
    assert api.get(base).body == taken.body
    assert api.get(base + "/contacts", query={"category": "addressable"}).body["contacts"] == ["c0", "c3"]
    assert api.get(base + "/contacts", query={"category": "spam"}).body["contacts"] == ["c5"]
    assert api.get(base + "/contacts").body["contacts"] == [f"c{i}" for i in range(6)]
    # Immutable: a later change does not touch it; a second snapshot is listed first.
    api.contact("c0", attributes={"plan": "pro", "email": "c0@x.io"}, suppression={"bounced": True})
    api.audience.clock = lambda: NOW + timedelta(minutes=1)
    assert api.post("/segments/all/snapshots").body["counts"]["addressable"] == 1
    listed = api.get("/segments/all/snapshots").body["snapshots"]
    assert len(listed) == 2 and listed[1] == taken.body
    assert api.get(base).body["counts"]["addressable"] == 2
    assert api.get(base + "/contacts", query={"category": "nope"}).status == 422
    assert api.get("/segments/all/snapshots/snap_20260101T000000Z_00000000").status == 404


# --- idempotency ---------------------------------------------------------------------------


def test_idempotency_key_replays_a_create_and_refuses_another_body(api: Api) -> None:
    body = {"name": "Pro", "rule": PRO}
    first = api.post("/segments", body, headers={"Idempotency-Key": "k-1"})
    again = api.post("/segments", body, headers={"Idempotency-Key": "k-1"})
    assert first.status == again.status == 201 and first.body == again.body
    assert len(api.get("/segments").body["segments"]) == 1 and len(api.backfills) == 1
    other = api.post("/segments", {"name": "Other", "rule": PRO}, headers={"Idempotency-Key": "k-1"})
    assert other.status == 422 and other.body["errors"][0]["location"] == "header"
    # The same key in another tenant is another request.
    assert api.post("/segments", body, headers={"Idempotency-Key": "k-1"}, tenant="t2").status == 201
    assert len(api.get("/segments", tenant="t2").body["segments"]) == 1


def test_idempotent_snapshot(api: Api) -> None:
    seed(api)
    create(api, {"id": "pro", "name": "Pro", "rule": PRO})
    api.backfill("t1", "pro")
    one = api.post("/segments/pro/snapshots", {"label": "x"}, headers={"Idempotency-Key": "send-42"})
    two = api.post("/segments/pro/snapshots", {"label": "x"}, headers={"Idempotency-Key": "send-42"})
    assert one.body == two.body
    assert len(api.get("/segments/pro/snapshots").body["snapshots"]) == 1


# --- errors --------------------------------------------------------------------------------


def test_missing_tenant_is_401_before_anything_else(api: Api) -> None:
    from growthos_segments.handlers.api import handler

    reply = handler(event("POST", "/segments", tenant=None, raw_body="{bad"), FakeContext())
    assert reply["statusCode"] == 401 and reply["multiValueHeaders"]["Content-Type"] == ["application/json"]


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("{bad", 400),
        ("[1, 2]", 400),
        ("", 400),
        ('"text"', 400),
        ("null", 400),
        ('{"name": "x"}', 422),
        ('{"name": "x", "rule": {}, "extra": 1}', 422),
        ('{"name": 7, "rule": []}', 422),
    ],
)
def test_bad_bodies_are_400_or_422_with_located_errors(api: Api, raw: str, status: int) -> None:
    reply = api.call("POST", "/segments", raw_body=raw)
    assert reply.status == status, reply.body
    assert reply.body["errors"] and all(
        {"location", "path", "message"} <= set(e) for e in reply.body["errors"]
    )


def test_form_encoded_bodies_are_read_as_json(api: Api) -> None:
    """``curl -d`` without a Content-Type sends a form type; the README's lines rely on this."""
    reply = api.call(
        "POST",
        "/rules/validate",
        raw_body='{"rule": {"tag": {"match": "any", "tags": ["vip"]}}}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 200 and reply.body["valid"] is True


def test_unknown_routes_are_404_in_the_error_shape(api: Api) -> None:
    reply = api.get("/nothing/here")
    assert reply.status == 404 and reply.body["message"] == "no such route"


def test_estimate_applies_the_manual_lists_as_a_save_would(api: Api) -> None:
    """Excluded by hand wins over included by hand, which wins over the rule; each
    condition sized alone gets the same lists."""
    seed(api)
    lists = {"include_contacts": ["c1", "c2"], "exclude_contacts": ["c0", "c2"]}
    body = {"rule": {"and": [PRO, OPENED]}, **lists, "per_condition": True}
    reply = api.post("/rules/estimate", body)
    assert reply.status == 200, reply.body
    # the rule matches c0 alone (pro, opened today), excluded by hand; c2 is listed in both
    assert reply.body["exact"] and reply.body["estimate"] == 1  # c1, by hand
    assert [c["estimate"] for c in reply.body["per_condition"]] == [2, 1]  # c1 and c3 (pro); c1
    bad = api.post("/rules/estimate", {"rule": PRO, "include_contacts": [""]})
    assert bad.status == 422 and bad.body["errors"][0]["path"] == "/include_contacts/0"


def test_the_list_says_which_segments_are_in_use_at_one_cost_whoever_uses_them(api: Api) -> None:
    create(api, {"id": "pro", "name": "Pro", "rule": PRO})
    create(api, {"id": "opened", "name": "Opened", "rule": OPENED})
    with api.repos.requests.measure() as before:
        assert all(s["used_by"] == [] for s in api.get("/segments").body["segments"])
    assert api.call("PUT", "/segments/pro/users/journey:welcome").status == 200
    assert api.call("PUT", "/segments/pro/users/campaign:b1").status == 200
    assert api.call("PUT", "/segments/opened/users/journey:theirs", tenant="t2").status == 404
    with api.repos.requests.measure() as after:
        listed = {s["id"]: [u["user"] for u in s["used_by"]] for s in api.get("/segments").body["segments"]}
    assert listed == {"opened": [], "pro": ["campaign:b1", "journey:welcome"]}
    assert dict(after.by_operation) == dict(before.by_operation)  # users or not, the same reads
    assert before.by_operation["Query"] >= 1
