"""Contacts, events and the contact view loader on moto."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from growthos_segments.core.ports import ContactViewLoader, CursorError
from growthos_segments.infra import keys
from growthos_segments.infra.repos import Repositories
from tests.integration.conftest import NOW

PROFILE: dict[str, Any] = {
    "tenant_id": "t1",
    "contact_id": "c42",
    "attributes": {
        "email": "a@b.co",
        "city": "London",
        "plan": "free",
        "signup_date": "2026-10-02",
        "custom": {"plan_type": "premium", "interests": ["automation"], "seats": 3, "ratio": 0.25},
    },
    "tags": ["vip"],
    "lists": ["launch-2026"],
    "suppression": {"unsubscribed": False, "bounced": False, "status": "ok"},
    "scores": {"lead": 82, "nps": 9, "engagement": 75.5},
}


def _walk(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _walk(v)]
    if isinstance(value, list):
        return [x for v in value for x in _walk(v)]
    return [value]


def _seed(repos: Repositories, *, events: int = 5) -> None:
    repos.contacts.put(PROFILE, now=NOW)
    for day in range(events):
        repos.events.append(
            "t1",
            "c42",
            "email.opened" if day % 2 else "order.completed",
            at=NOW - timedelta(days=day * 10, minutes=1),
            properties={"campaign_id": f"cmp_{day}", "amount": day * 10.5, "first": day == 0},
            event_id=f"e{day}",
        )


def test_view_has_the_documented_shape_and_plain_json_numbers(repos: Repositories) -> None:
    _seed(repos)
    view = repos.views.load_view("t1", "c42", now=NOW, lookback=timedelta(days=365))
    assert view is not None
    assert set(view) == {
        "tenant_id", "contact_id", "attributes", "tags", "lists", "suppression", "scores", "events"
    }
    assert view["attributes"] == PROFILE["attributes"]
    assert (view["tags"], view["lists"]) == (["vip"], ["launch-2026"])
    assert view["suppression"] == PROFILE["suppression"]
    assert view["scores"] == {"lead": 82, "nps": 9, "engagement": 75.5}
    assert type(view["scores"]["lead"]) is int and type(view["scores"]["engagement"]) is float
    assert type(view["suppression"]["bounced"]) is bool
    assert not any(isinstance(v, Decimal) for v in _walk(view))
    # events: oldest first, ISO 8601 Z, properties intact
    ats = [e["at"] for e in view["events"]]
    assert ats == sorted(ats) and all(a.endswith("Z") for a in ats)
    assert view["events"][-1] == {
        "name": "order.completed",
        "at": "2026-11-22T11:59:00Z",
        "properties": {"campaign_id": "cmp_0", "amount": 0, "first": True},
    }


def test_view_loads_in_at_most_two_requests(repos: Repositories) -> None:
    _seed(repos)
    repos.requests.reset()
    view = repos.views.load_view("t1", "c42", now=NOW, lookback=timedelta(days=90))
    assert view is not None and len(view["events"]) == 5
    assert repos.views.last_requests == 2
    assert dict(repos.requests.by_operation) == {"GetItem": 1, "Query": 1}
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        repos.views.load_view("t1", "c42", now=NOW, lookback=timedelta(days=90))
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    print(
        f"\ncontact view load: {repos.views.last_requests} DynamoDB requests, "
        f"median {timings[len(timings) // 2]:.2f} ms in-process moto"
    )


def test_lookback_bounds_the_events_loaded(repos: Repositories) -> None:
    _seed(repos)  # events at 0, 10, 20, 30, 40 days (minus a minute)
    within_25_days = repos.views.load_view("t1", "c42", now=NOW, lookback=timedelta(days=25))
    assert within_25_days is not None
    assert [e["properties"]["campaign_id"] for e in within_25_days["events"]] == ["cmp_2", "cmp_1", "cmp_0"]
    everything = repos.views.load_view("t1", "c42", now=NOW, lookback=timedelta.max)
    assert everything is not None and len(everything["events"]) == 5
    # A lookback boundary exactly on an event includes it.
    exact = repos.views.load_view("t1", "c42", now=NOW, lookback=timedelta(days=10, minutes=1))
    assert exact is not None and len(exact["events"]) == 2


def test_no_lookback_means_no_event_query(repos: Repositories) -> None:
    _seed(repos)
    view = repos.views.load_view("t1", "c42", now=NOW, lookback=None)
    assert view is not None and view["events"] == []
    assert repos.views.last_requests == 1


def test_max_events_keeps_the_newest(repos: Repositories) -> None:
    _seed(repos)
    view = repos.views.load_view("t1", "c42", now=NOW, lookback=timedelta.max, max_events=2)
    assert view is not None
    assert [e["properties"]["campaign_id"] for e in view["events"]] == ["cmp_1", "cmp_0"]


def test_unknown_contact_is_none_after_one_request(repos: Repositories) -> None:
    assert repos.views.load_view("t1", "nobody", now=NOW, lookback=timedelta(days=30)) is None
    assert repos.views.last_requests == 1


def test_loader_satisfies_the_port(repos: Repositories) -> None:
    assert isinstance(repos.views, ContactViewLoader)


def test_put_replaces_but_keeps_created_at(repos: Repositories) -> None:
    repos.contacts.put(PROFILE, now=NOW)
    repos.contacts.put({**PROFILE, "tags": [], "scores": {"lead": 1}}, now=NOW + timedelta(hours=1))
    raw = repos.models.contacts.get(keys.contact_pk("t1", "c42"))
    assert raw.created_at == "2026-11-22T12:00:00Z" and raw.updated_at == "2026-11-22T13:00:00Z"
    doc = repos.contacts.get("t1", "c42")
    assert doc is not None and doc["tags"] == [] and doc["scores"] == {"lead": 1}


def test_patch_merges_keys_removes_nones_and_keeps_other_writers_changes(repos: Repositories) -> None:
    repos.contacts.put(PROFILE, now=NOW)
    # two modules, each touching only its own keys
    repos.contacts.patch("t1", "c42", scores={"nps": 10})
    repos.contacts.patch("t1", "c42", scores={"lead": 90}, custom={"seats": None, "tier": "gold"})
    repos.contacts.patch("t1", "c42", attributes={"city": None, "country": "GB"}, tags=["vip", "beta"])
    doc = repos.contacts.get("t1", "c42")
    assert doc is not None
    assert doc["scores"] == {"lead": 90, "nps": 10, "engagement": 75.5}
    assert doc["attributes"]["custom"] == {
        "plan_type": "premium", "interests": ["automation"], "ratio": 0.25, "tier": "gold"
    }
    assert "city" not in doc["attributes"] and doc["attributes"]["country"] == "GB"
    assert doc["tags"] == ["vip", "beta"]


def test_patch_keys_are_names_not_paths(repos: Repositories) -> None:
    repos.contacts.put(PROFILE, now=NOW)
    repos.contacts.patch("t1", "c42", custom={"utm.source": "ads", "a b": 1})
    doc = repos.contacts.get("t1", "c42")
    assert doc is not None
    assert doc["attributes"]["custom"]["utm.source"] == "ads" and doc["attributes"]["custom"]["a b"] == 1


def test_patch_creates_a_missing_contact(repos: Repositories) -> None:
    repos.contacts.patch("t1", "new", scores={"lead": 5}, custom={"a": 1})
    doc = repos.contacts.get("t1", "new")
    assert doc is not None
    assert doc["scores"] == {"lead": 5} and doc["attributes"] == {"custom": {"a": 1}}


def test_patch_refuses_custom_through_attributes(repos: Repositories) -> None:
    with pytest.raises(ValueError, match="custom"):
        repos.contacts.patch("t1", "c42", attributes={"custom": {}})


def test_delete(repos: Repositories) -> None:
    repos.contacts.put(PROFILE, now=NOW)
    assert repos.contacts.delete("t1", "c42") is True
    assert repos.contacts.delete("t1", "c42") is False
    assert repos.contacts.get("t1", "c42") is None


def test_events_get_a_ttl_and_resends_are_idempotent(repos: Repositories) -> None:
    at = NOW - timedelta(days=1)
    assert repos.events.append("t1", "c42", "order.completed", at=at, event_id="o-1") == "o-1"
    assert repos.events.append("t1", "c42", "order.completed", at=at, event_id="o-1") is None
    generated = repos.events.append("t1", "c42", "email.opened", at=at)
    assert generated and generated != "o-1"
    items = list(repos.models.events.query(keys.event_pk("t1", "c42")))
    assert len(items) == 2
    expected_ttl = int((at + repos.settings.event_retention).timestamp())
    raw = repos.client.get_item(
        TableName=repos.settings.tables.events,
        Key={"pk": {"S": items[0].pk}, "sk": {"S": items[0].sk}},
    )["Item"]
    assert raw["expires_at"] == {"N": str(expected_ttl)}


def test_event_writer_rejects_naive_times(repos: Repositories) -> None:
    with pytest.raises(ValueError, match="timezone"):
        repos.events.append("t1", "c42", "x", at=NOW.replace(tzinfo=None))


def test_bulk_append_and_time_range_query(repos: Repositories) -> None:
    written = repos.events.append_many(
        {"tenant_id": "t1", "contact_id": "c1", "name": "page.viewed", "at": NOW - timedelta(hours=h)}
        for h in range(30)
    )
    assert written == 30
    recent = repos.events.events("t1", "c1", since=NOW - timedelta(hours=9, minutes=30))
    assert len(recent) == 10
    assert [e["at"] for e in recent] == sorted(e["at"] for e in recent)
    assert len(repos.events.events("t1", "c1", limit=3)) == 3


def test_contact_ids_page_through_every_shard_exactly_once(repos: Repositories) -> None:
    ids = {f"c{i}" for i in range(40)}
    for contact_id in ids:
        repos.contacts.put({"tenant_id": "t1", "contact_id": contact_id}, now=NOW)
    repos.contacts.put({"tenant_id": "t2", "contact_id": "c0"}, now=NOW)
    seen: list[str] = []
    for shard in range(keys.CONTACT_SHARDS):
        cursor: str | None = None
        while True:
            page = repos.contacts.contact_ids("t1", shard=shard, limit=2, cursor=cursor)
            seen.extend(page.items)
            cursor = page.cursor
            if cursor is None:
                break
    assert sorted(seen) == sorted(ids)


def test_contact_id_cursor_cannot_cross_tenants(repos: Repositories) -> None:
    ids = [f"c{i}" for i in range(40)]
    for contact_id in ids:
        repos.contacts.put({"tenant_id": "t1", "contact_id": contact_id}, now=NOW)
    shard = next(s for s in range(keys.CONTACT_SHARDS) if sum(keys.contact_shard(c) == s for c in ids) > 1)
    page = repos.contacts.contact_ids("t1", shard=shard, limit=1)
    assert page.cursor is not None
    with pytest.raises(CursorError):
        repos.contacts.contact_ids("t2", shard=shard, cursor=page.cursor)
    with pytest.raises(CursorError):
        repos.contacts.contact_ids("t1", shard=(shard + 1) % keys.CONTACT_SHARDS, cursor=page.cursor)


def test_put_many_writes_what_put_writes(repos: Repositories) -> None:
    doc = {"tenant_id": "t1", "contact_id": "b1", "attributes": {"plan": "free", "custom": {"seats": 3}},
           "tags": ["vip"], "lists": ["l1"], "suppression": {"unsubscribed": False}, "scores": {"nps": 9}}
    repos.contacts.put({**doc, "contact_id": "p1"}, now=NOW)
    assert repos.contacts.put_many([doc, {**doc, "contact_id": "b2"}], now=NOW) == 2
    one = repos.views.load_view("t1", "b1", now=NOW, lookback=None)
    via_put = repos.views.load_view("t1", "p1", now=NOW, lookback=None)
    assert one is not None and via_put is not None
    assert {**one, "contact_id": "p1"} == via_put
    assert repos.views.load_view("t2", "b1", now=NOW, lookback=None) is None
