"""Watching a segment's size through the API on moto: list counts, backfill progress, history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from growthos_segments.core.ports import Resolution
from growthos_segments.infra.repos import Repositories
from tests.integration.api_support import PRO, Api, install

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
FREE = {"attribute": {"field": "plan", "op": "equals", "value": "free"}}


@pytest.fixture
def api(repos: Repositories, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    api = install(repos, lambda: NOW, monkeypatch)
    for n in range(5):
        api.contact(f"c{n}", attributes={"plan": "pro" if n < 3 else "free"})
    for segment_id, rule in (("pro", PRO), ("free", FREE)):
        assert api.post("/segments", {"id": segment_id, "name": segment_id, "rule": rule}).status == 201
        api.backfill("t1", segment_id)
    yield api


def test_list_items_carry_counters_and_backfill_progress_in_batch_reads(api: Api) -> None:
    listed = api.get("/segments")
    assert {s["id"]: s["count"] for s in listed.body["segments"]} == {"pro": 3, "free": 2}
    assert {s["id"]: api.get(f"/segments/{s['id']}/count").body["count"] for s in listed.body["segments"]} \
        == {"pro": 3, "free": 2}
    assert {s["id"]: s["backfill_progress"]["status"] for s in listed.body["segments"]} == {
        "pro": "complete", "free": "complete"}
    assert [s["backfill_progress"] for s in listed.body["segments"]] == [
        api.get(f"/segments/{s['id']}").body["backfill_progress"] for s in listed.body["segments"]]
    for n in range(14):  # 16 segments: 128 counter shards, 16 x 17 backfill items
        api.save(f"s{n:02d}", PRO)
    api.repos.requests.reset()
    page = api.get("/segments")
    assert len(page.body["segments"]) == 16 and page.body["segments"][-1]["count"] == 0
    assert page.body["segments"][-1]["backfill_progress"] is None  # saved without a queued backfill
    assert api.repos.requests.by_operation["BatchGetItem"] == 2 + 3
    # and two Queries: the tenant's segment heads, and its segment usages (each item's used_by)
    assert api.repos.requests.by_operation["Query"] == 2
    assert api.repos.requests.total == 7


def test_a_saved_segment_is_queued_in_the_list_until_its_backfill_counts_a_page(api: Api) -> None:
    created = api.post("/segments", {"id": "later", "name": "later", "rule": PRO})
    assert created.status == 201 and created.body["backfill"] == "queued"
    queued = {"status": "queued", "contacts_done": 0, "entered": 0, "exited": 0, "slices_finished": 0,
              "slices": 16, "queued_at": "2026-11-22T12:00:00Z", "started_at": None, "finished_at": None}
    listed = {s["id"]: s["backfill_progress"] for s in api.get("/segments").body["segments"]}
    assert listed["later"] == queued and api.get("/segments/later").body["backfill_progress"] == queued
    assert api.call("DELETE", "/segments/later").status == 200
    archived = api.get("/segments", query={"include_archived": "true"}).body["segments"]
    assert [s["backfill_progress"] for s in archived if s["id"] == "later"] == [None]


def test_get_shows_the_count_and_the_backfill_of_the_current_version(api: Api) -> None:
    got = api.get("/segments/pro").body
    assert got["count"] == 3
    started, finished = got["backfill_progress"]["started_at"], got["backfill_progress"]["finished_at"]
    assert got["backfill_progress"] == {
        "status": "complete", "contacts_done": 5, "entered": 3, "exited": 0, "slices_finished": 16,
        "slices": 16, "queued_at": "2026-11-22T12:00:00Z", "started_at": started, "finished_at": finished,
    }
    assert datetime.fromisoformat(started) <= datetime.fromisoformat(finished)
    updated = api.call("PUT", "/segments/pro", body={"version": 1, "name": "pro", "rule": FREE})
    assert updated.status == 200 and updated.body["backfill"] == "queued"
    queued = api.get("/segments/pro").body
    assert (queued["version"], queued["backfill_progress"]["status"], queued["count"]) == (2, "queued", 3)
    assert queued["backfill_progress"]["queued_at"] == "2026-11-22T12:00:00Z"
    api.backfill("t1", "pro")
    done = api.get("/segments/pro").body
    progress = done["backfill_progress"]
    assert (done["count"], progress["status"], progress["entered"], progress["exited"]) == (
        2, "complete", 2, 3)


def test_history_route_answers_points_oldest_first_within_bounds(api: Api) -> None:
    sizes = api.repos.sizes
    for hours in (800, 48, 2, 1, 0):
        sizes.record("t1", {"pro": hours}, at=NOW - timedelta(hours=hours),
                     resolutions=[Resolution.HOUR, Resolution.DAY])
    hourly = api.get("/segments/pro/history")
    assert hourly.status == 200
    assert hourly.body == {"segment_id": "pro", "resolution": "hour", "points": [
        {"at": "2026-11-20T12:00:00Z", "count": 48}, {"at": "2026-11-22T10:00:00Z", "count": 2},
        {"at": "2026-11-22T11:00:00Z", "count": 1}, {"at": "2026-11-22T12:00:00Z", "count": 0},
    ]}  # 800 hours ago is past the 30 days the route reads by default
    since = api.get("/segments/pro/history", query={"since": "2026-11-22T10:30:00Z"}).body["points"]
    assert [p["count"] for p in since] == [1, 0]
    query = {"resolution": "day", "since": "2026-01-01T00:00:00Z"}
    daily = api.get("/segments/pro/history", query=query).body
    assert [(p["at"], p["count"]) for p in daily["points"]] == [
        ("2026-10-20T00:00:00Z", 800), ("2026-11-20T00:00:00Z", 48), ("2026-11-22T00:00:00Z", 2)]
    assert api.get("/segments/free/history").body["points"] == []


@pytest.mark.parametrize(("query", "pointer"), [
    ({"resolution": "minute"}, "/resolution"),
    ({"since": "yesterday"}, "/since"),
    ({"since": "0.5"}, "/since"),  # pydantic alone reads epoch seconds
    ({"since": "2026-11-01"}, "/since"),  # and a date without a time
])
def test_bad_history_parameters_are_422_in_the_error_shape(
    api: Api, query: dict[str, str], pointer: str
) -> None:
    reply = api.get("/segments/pro/history", query=query)
    assert reply.status == 422
    assert [(e["location"], e["path"]) for e in reply.body["errors"]] == [("query", pointer)]
    assert reply.body["message"]


def test_history_of_an_unknown_segment_is_404(api: Api) -> None:
    reply = api.get("/segments/nope/history")
    assert reply.status == 404 and reply.body["errors"][0]["path"] == "/segment_id"
