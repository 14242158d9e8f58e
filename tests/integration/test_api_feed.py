"""A segment's transition feed end to end on moto: the notifier Lambda records what it
publishes, ``GET /segments/{id}/transitions`` reads it newest first and polls with ``after``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import growthos_segments.handlers.notifier as notifier_handler
from growthos_segments.core.ports import Transition
from growthos_segments.devstack.runtime import LambdaFunction
from growthos_segments.handlers.wiring import build_service
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.repos.feed import DynamoTransitionFeed
from tests.integration.api_support import PRO, Api, install
from tests.integration.conftest import NOW
from tests.support.realtime import Bus, Clock, Realtime, Streams, lambda_environment


@pytest.fixture
def rt(repos: Repositories) -> Iterator[Realtime]:
    clock = Clock(NOW)
    service = build_service(repos.settings, repos=repos, clock=clock)
    yield Realtime(repos, service, clock, Streams(repos.settings, repos.client), Bus(repos.settings))


def test_the_notifier_lambda_records_each_transition_once(
    rt: Realtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = DynamoTransitionFeed(rt.repos.client, rt.repos.settings.tables.counters)
    with lambda_environment(monkeypatch, rt.settings, notifier_handler.notifier):
        function = LambdaFunction.of(notifier_handler.handler, name="NotifierFunction")
        rt.save("pro", PRO)
        for cid in ("c1", "c2"):
            rt.contact(cid, attributes={"plan": "pro"})
        rt.evaluate()
        records = rt.membership_records()
        for _ in range(2):  # Lambda delivers the batch again
            assert function.invoke({"Records": records}).payload == {"batchItemFailures": []}
    page = feed.recent("t1", "pro", now=NOW, limit=10)
    assert [(t.contact_id, t.kind, t.segment_version) for t in page.items] == [
        ("c2", "enter", 1), ("c1", "enter", 1)]


@pytest.fixture
def api(repos: Repositories, monkeypatch: pytest.MonkeyPatch) -> Api:
    return install(repos, lambda: NOW, monkeypatch)


def test_the_route_pages_polls_and_refuses_what_it_cannot_read(api: Api) -> None:
    assert api.post("/segments", {"id": "pro", "name": "Pro", "rule": PRO}).status == 201
    assert api.get("/segments/pro/transitions").body["transitions"] == []
    # what the notifier records for the backfill's transitions
    feed = DynamoTransitionFeed(api.repos.client, api.repos.settings.tables.counters)
    feed.record([Transition("t1", "pro", cid, "enter", NOW, 1, f"t1#pro#{cid}#1#enter")
                 for cid in ("c1", "c2")])
    first = api.get("/segments/pro/transitions", query={"limit": "1"})
    assert first.status == 200 and first.body["transitions"] == [
        {"contact_id": "c2", "kind": "enter", "at": "2026-11-22T12:00:00Z", "segment_version": 1}]
    rest = api.get("/segments/pro/transitions", query={"limit": "1", "cursor": first.body["cursor"]})
    assert [t["contact_id"] for t in rest.body["transitions"]] == ["c1"]
    polled = api.get("/segments/pro/transitions", query={"after": first.body["newest"]})
    assert polled.body["transitions"] == [] and polled.body["newest"] == first.body["newest"]
    bad = api.get("/segments/pro/transitions", query={"cursor": "!!"})
    assert bad.status == 400 and bad.body["errors"][0]["location"] == "query"
    assert bad.body["errors"][0]["path"] == "/cursor"
    assert api.get("/segments/pro/transitions", query={"limit": "0"}).status == 422
    assert api.get("/segments/missing/transitions").status == 404
    assert api.get("/segments/pro/transitions", tenant="t2").status == 404
