"""Tenant contexts are computed from a stream that reads only what their readers declare.

RFM thresholds need each customer's orders of the last 365 days; a tenant's
contacts also have emails, sessions and old orders. The pass must read the
tenant a page at a time from the sample indexes (requests independent of the
number of contacts), hand the plugin views with only those orders, and give the
thresholds a brute-force nearest-rank computation over the raw data gives.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest

from growthos_segments.core.contract import Reads
from growthos_segments.core.hookspecs import hookimpl
from growthos_segments.core.host import PluginHost
from growthos_segments.core.ports import SegmentRecord
from growthos_segments.core.view import ContactView
from growthos_segments.handlers.wiring import build_service
from growthos_segments.infra import keys
from growthos_segments.infra.memory import DocumentPass
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.repos.contexts import TenantStream
from growthos_segments.plugins import default_host
from growthos_segments.services.context import ContextRefresher, context_reads
from tests.integration.conftest import NOW

CHAMPIONS = {"rfm_tier": {"tier": "champions"}}
MIXED = {"and": [{"rfm_score": {"dimension": "monetary", "min": 3}},
                 {"email": {"action": "opened", "within": "30d"}}]}


def _tenant(rng: random.Random, contacts: int, tenant_id: str = "t1") -> tuple[list[dict[str, Any]],
                                                                              list[dict[str, Any]]]:
    docs: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for n in range(contacts):
        cid = f"c{n}"
        docs.append({"tenant_id": tenant_id, "contact_id": cid, "attributes": {"plan": "pro"}})
        for k in range(rng.randint(0, 4)):  # orders over two years, some outside the period
            events.append({"tenant_id": tenant_id, "contact_id": cid, "name": "order.completed",
                           "at": NOW - timedelta(days=rng.uniform(0, 700)), "event_id": f"o{n}-{k}",
                           "properties": {"amount": round(rng.uniform(5, 500), 2)}})
        for k in range(rng.randint(0, 6)):  # what RFM never needs
            events.append({"tenant_id": tenant_id, "contact_id": cid, "name": "email.opened",
                           "at": NOW - timedelta(days=rng.uniform(0, 90)), "event_id": f"e{n}-{k}",
                           "properties": {"campaign_id": "cmp"}})
    return docs, events


def _load(repos: Repositories, docs: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    repos.contacts.put_many(docs, now=NOW)
    repos.events.append_many(events)


def _brute_force(events: Iterable[Mapping[str, Any]], alive: set[str]) -> dict[str, Any]:
    """Nearest-rank quintiles straight from the raw orders (no plugin code)."""
    per: dict[str, list[tuple[datetime, float]]] = {}
    for e in events:
        in_period = NOW - timedelta(days=365) < e["at"] <= NOW
        if e["name"] == "order.completed" and e["contact_id"] in alive and in_period:
            per.setdefault(e["contact_id"], []).append((e["at"], e["properties"]["amount"]))
    recency = sorted((NOW - max(at for at, _ in o)) / timedelta(days=1) for o in per.values())
    frequency = sorted(len(o) for o in per.values())
    monetary = sorted(sum(a for _, a in o) for o in per.values())

    def cuts(ordered: list[Any]) -> list[Any]:
        return [ordered[math.ceil(k * len(ordered) / 5) - 1] for k in (1, 2, 3, 4)]

    return {"customers": len(per),
            "thresholds": {"recency_days": cuts(recency), "frequency": cuts(frequency),
                           "monetary": cuts(monetary)}}


def _same_thresholds(found: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    assert set(found) == set(expected)
    for name, cuts in expected.items():
        assert found[name] == pytest.approx(cuts), name  # sums of floats in another order


def _save(repos: Repositories, segment_id: str, rule: Any, tenant_id: str = "t1") -> None:
    repos.segments.save(SegmentRecord(tenant_id, segment_id, segment_id, rule), now=NOW)


def test_the_context_pass_reads_pages_of_the_tenant_not_each_contact(repos: Repositories) -> None:
    docs, events = _tenant(random.Random(3), 120)
    _load(repos, docs, events)
    _save(repos, "champions", CHAMPIONS)
    _save(repos, "mixed", MIXED)
    service = build_service(repos.settings, repos=repos, clock=lambda: NOW)
    refresher = ContextRefresher(service)
    repos.requests.reset()
    with repos.requests.measure() as cost:
        assert refresher("t1", NOW)
    by_operation = dict(cost.by_operation)
    # One Query of contacts and one of events per sample shard (the pages are small here),
    # the segment list, its revision and the stored context: never a request per contact.
    assert by_operation.pop("Query") <= 2 * keys.SAMPLE_SHARDS + 2
    assert by_operation.pop("GetItem") <= 3 and by_operation.pop("UpdateItem") == 1
    assert by_operation == {}
    in_period = [e for e in events if e["name"] == "order.completed" and e["at"] > NOW - timedelta(days=365)]
    assert refresher.last_pass.contacts == 120
    assert refresher.last_pass.events == len(in_period)  # the emails and old orders stayed on the server
    stored = service.contexts.get("t1")
    assert stored is not None and stored.computed_at == NOW
    expected = _brute_force(events, {d["contact_id"] for d in docs})
    assert stored.context["rfm"]["customers"] == expected["customers"]
    _same_thresholds(stored.context["rfm"]["thresholds"], expected["thresholds"])


def test_the_views_carry_only_the_declared_events_and_deleted_contacts_are_left_out(
    repos: Repositories,
) -> None:
    docs, events = _tenant(random.Random(5), 40)
    _load(repos, docs, events)
    assert repos.contacts.delete("t1", "c7")  # its events stay until they expire
    _save(repos, "mixed", MIXED)
    service = build_service(repos.settings, repos=repos, clock=lambda: NOW)
    reads = context_reads(service.segments.for_tenant("t1"))
    assert reads is not None
    assert reads.events == frozenset({"order.completed"})  # not the segment's email condition
    assert reads.lookback == timedelta(days=365)
    stream = TenantStream(repos.client, repos.settings.tables, "t1", reads, NOW)
    views = list(stream)
    alive = {d["contact_id"] for d in docs} - {"c7"}
    assert sorted(v.contact_id for v in views) == sorted(alive)
    for view in views:
        names = {e.name for e in view.events()}
        assert names <= {"order.completed"}
        assert all(e.at >= NOW - timedelta(days=365) for e in view.events())
    expected = _brute_force(events, alive)
    computed = default_host().tenant_context("t1", stream, NOW)["rfm"]
    assert computed["customers"] == expected["customers"]
    _same_thresholds(computed["thresholds"], expected["thresholds"])


def test_the_stream_is_lazy_and_every_iteration_is_a_new_pass(repos: Repositories) -> None:
    docs, events = _tenant(random.Random(7), 30)
    _load(repos, docs, events)
    reads = Reads(events=frozenset({"order.completed"}), lookback=timedelta(days=365),
                  context=frozenset({"rfm"}))
    stream = TenantStream(repos.client, repos.settings.tables, "t1", reads, NOW)
    with repos.requests.measure() as cost:
        first = next(iter(stream))
    assert isinstance(first, ContactView)
    assert cost.total <= 2  # one page of contacts and one of events: nothing read ahead
    assert len(list(stream)) == len(list(stream)) == 30


def test_a_pass_out_of_time_stores_nothing(repos: Repositories) -> None:
    docs, events = _tenant(random.Random(9), 20)
    _load(repos, docs, events)
    _save(repos, "champions", CHAMPIONS)
    service = build_service(repos.settings, repos=repos, clock=lambda: NOW)
    budget = iter([False, False, True])
    assert not ContextRefresher(service)("t1", NOW, lambda: next(budget, True))
    assert service.contexts.get("t1") is None


def test_documents_in_memory_give_the_same_context_as_the_stored_tenant(repos: Repositories) -> None:
    docs, events = _tenant(random.Random(11), 60)
    _load(repos, docs, events)
    _save(repos, "champions", CHAMPIONS)
    service = build_service(repos.settings, repos=repos, clock=lambda: NOW)
    reads = context_reads(service.segments.for_tenant("t1"))
    assert reads is not None
    in_memory = [{**d, "events": [{"name": e["name"], "at": e["at"], "properties": e["properties"]}
                                  for e in events if e["contact_id"] == d["contact_id"]]} for d in docs]
    host = default_host()
    assert host.tenant_context("t1", DocumentPass(in_memory, reads, NOW), NOW) == host.tenant_context(
        "t1", TenantStream(repos.client, repos.settings.tables, "t1", reads, NOW), NOW)


class _Counting:
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    @hookimpl
    def tenant_context(self, tenant_id: str, contacts: Iterable[Any], now: datetime) -> Mapping[str, Any]:
        return {self.namespace: sum(1 for _ in contacts)}


def test_several_plugins_each_get_a_full_pass_and_a_one_shot_iterator_is_refused() -> None:
    host = PluginHost([_Counting("a"), _Counting("b")], load_entry_points=False)
    assert host.tenant_context("t1", [{}, {}, {}], NOW) == {"a": 3, "b": 3}
    with pytest.raises(TypeError, match="re-iterable"):
        host.tenant_context("t1", iter([{}, {}, {}]), NOW)
    single = PluginHost([_Counting("a")], load_entry_points=False)
    assert single.tenant_context("t1", iter([{}, {}]), NOW) == {"a": 2}
