"""Field help: the observed-fields catalog a batch fills, its bounds, and validation warnings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from growthos_segments.core.dependencies import EVERYTHING, Change, event_matches
from growthos_segments.core.ports import ContactChanges, FieldCatalog, ObservedAttribute
from growthos_segments.core.rules import parse_rule
from growthos_segments.infra.memory import MemoryBackend, MemoryContacts, MemoryObservedFields
from growthos_segments.plugins import default_host
from growthos_segments.services.fields import FieldsService, _Vocabulary, rule_warnings
from growthos_segments.services.realtime import evaluation_service
from tests.support.memory import MemoryRealtime, memory_realtime
from tests.support.realtime import Clock

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
HOST = default_host()


def contact(cid: str, tenant: str = "t1", **profile: Any) -> dict[str, Any]:
    return {"tenant_id": tenant, "contact_id": cid, **profile}


ADA = contact(
    "c1",
    attributes={"plan": "pro", "country": "GB", "custom": {"lead_score": 82, "interests": ["ai", "ml"]}},
    tags=["vip"],
    scores={"nps": 9},
    suppression={"unsubscribed": False},
    events=[{"name": "email.opened", "at": "2026-11-20T09:00:00Z"},
            {"name": "email.opened", "at": "2026-11-21T09:00:00Z"},
            {"name": "order.completed", "at": "2026-11-21T10:00:00Z"}],
)


def service(store: MemoryObservedFields | None = None, **options: Any) -> FieldsService:
    return FieldsService(store or MemoryObservedFields(), **options)


def test_documents_fill_paths_types_samples_and_exact_event_counts() -> None:
    fields = service()
    fields.observe_documents("t1", [ADA, contact("c2", attributes={"plan": "free", "country": None})])
    body = fields.store.catalog("t1").to_json()
    by_path = {a["path"]: a for a in body["attributes"]}
    assert by_path["attributes.plan"] == {"path": "attributes.plan", "types": ["string"],
                                          "samples": ["pro", "free"]}
    assert by_path["attributes.country"]["types"] == ["null", "string"]
    assert by_path["attributes.custom.lead_score"] == {"path": "attributes.custom.lead_score",
                                                       "types": ["number"], "samples": [82]}
    assert by_path["attributes.custom.interests"]["samples"] == ["ai", "ml"]
    assert by_path["tags.vip"] == {"path": "tags.vip", "types": [], "samples": []}
    assert "scores.nps" in by_path and "suppression.unsubscribed" in by_path
    assert body["events"] == [{"name": "email.opened", "count": 2}, {"name": "order.completed", "count": 1}]
    assert [a["path"] for a in body["attributes"]] == sorted(by_path)


def test_samples_are_few_and_short() -> None:
    fields = service()
    fields.observe_documents("t1", [contact(f"c{i}", attributes={"city": f"{i}" * 100}) for i in range(9)])
    (city,) = fields.store.catalog("t1").attributes
    assert len(city.samples) == 5 and all(len(str(s)) == 40 for s in city.samples)


def test_known_paths_cost_no_write_and_events_one_write_per_name() -> None:
    store = MemoryObservedFields()
    fields = service(store)
    fields.observe_documents("t1", [ADA])
    before = store.writes
    fields.observe_documents("t1", [ADA, ADA])
    assert store.writes - before == 2  # email.opened and order.completed, once each
    assert store.catalog("t1").events == {"email.opened": 6, "order.completed": 3}


def test_a_new_type_of_a_known_path_is_written() -> None:
    fields = service()
    fields.observe_documents("t1", [contact("c1", attributes={"plan": "pro"})])
    fields.observe_documents("t1", [contact("c2", attributes={"plan": 3})])
    (plan,) = fields.store.catalog("t1").attributes
    assert plan.types == {"string", "number"} and plan.samples == ("pro",)


def test_paths_and_names_are_capped_per_tenant() -> None:
    fields = service(cap=3)
    fields.observe_documents("t1", [contact("c1", attributes={f"a{i}": i for i in range(5)},
                                            events=[{"name": f"e{i}"} for i in range(5)])])
    later = contact("c2", attributes={"z": 1}, events=[{"name": "e0"}, {"name": "z"}])
    fields.observe_documents("t1", [later])
    catalog = fields.store.catalog("t1")
    assert [a.path for a in catalog.attributes] == ["attributes.a0", "attributes.a1", "attributes.a2"]
    assert catalog.events == {"e0": 2, "e1": 1, "e2": 1}
    assert fields.store.catalog("t2").empty


def test_the_catalog_is_read_once_per_refresh_window() -> None:
    class Counting(MemoryObservedFields):
        reads = 0

        def catalog(self, tenant_id: str) -> FieldCatalog:
            self.reads += 1
            return super().catalog(tenant_id)

    clock = [0.0]
    store = Counting()
    fields = service(store, refresh_seconds=60, monotonic=lambda: clock[0])
    for _ in range(3):
        fields.catalog("t1")
    assert store.reads == 1
    clock[0] = 61
    fields.catalog("t1")
    assert store.reads == 2


def test_a_stream_batch_reads_only_profiles_that_may_hold_something_new() -> None:
    contacts = MemoryContacts()
    for doc in (ADA, contact("c2", attributes={"plan": "free"}), contact("c3", attributes={"pln": "x"})):
        contacts.put(doc)
    fields = service()
    batch = [
        ContactChanges("t1", "c1", EVERYTHING),
        ContactChanges("t1", "c2", Change(events=frozenset({"nudge.shown"}))),
    ]
    assert fields.observe_changes(batch, contacts, NOW) == 1
    catalog = fields.store.catalog("t1")
    assert "attributes.plan" in {a.path for a in catalog.attributes}
    assert catalog.events == {"nudge.shown": 1}
    known = [ContactChanges("t1", "c2", Change(paths=frozenset({"attributes.plan"})))]
    assert fields.observe_changes(known, contacts, NOW) == 0
    unknown = [ContactChanges("t1", "c3", Change(paths=frozenset({"attributes.pln"})))]
    assert fields.observe_changes(unknown, contacts, NOW) == 1
    assert "attributes.pln" in {a.path for a in fields.store.catalog("t1").attributes}


def test_profile_reads_per_batch_are_bounded() -> None:
    contacts = MemoryContacts()
    for i in range(30):
        contacts.put(contact(f"c{i}", attributes={"plan": "free"}))
    fields = service(profile_reads=4)
    batch = [ContactChanges("t1", f"c{i}", EVERYTHING) for i in range(30)]
    assert fields.observe_changes(batch, contacts, NOW) == 4


# --------------------------------------------------------------------------- warnings


def catalog_of(*docs: dict[str, Any]) -> FieldCatalog:
    fields = service()
    fields.observe_documents("t1", docs)
    return fields.catalog("t1")


def warnings(rule: Any, catalog: FieldCatalog) -> list[dict[str, Any]]:
    return [w.to_json() for w in rule_warnings(parse_rule(rule, HOST), catalog)]


PLN = {"attribute": {"field": "pln", "op": "equals", "value": "pro"}}
PLAN = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}


def test_a_misspelt_field_is_warned_at_its_node_with_a_suggestion() -> None:
    found = warnings({"and": [PLAN, {"!": PLN}]}, catalog_of(ADA))
    assert found == [{"path": "/and/1/!", "message": "no contact of this tenant has had `attributes.pln`",
                      "suggestion": "did you mean 'plan'?"}]


def test_known_fields_events_tags_and_custom_fields_are_not_warned() -> None:
    rule = {"and": [
        PLAN,
        {"attribute": {"field": "custom.lead_score", "op": "greater_or_equal", "value": 50}},
        {"tag": {"match": "any", "tags": ["vip"]}},
        {"score": {"name": "nps", "gte": 9}},
        {"email": {"action": "opened", "within": "30d"}},
        {">=": [{"var": "scores.nps"}, 5]},
    ]}
    assert warnings(rule, catalog_of(ADA)) == []


def test_an_event_never_seen_is_warned() -> None:
    found = warnings({"and": [PLAN, {"email": {"action": "clicked", "within": "30d"}}]}, catalog_of(ADA))
    assert [(w["path"], w["message"]) for w in found] == [
        ("/and/1", "no event named `email.clicked` has arrived for this tenant")]


def test_plain_jsonlogic_reads_are_checked() -> None:
    found = warnings({"and": [PLAN, {"==": [{"var": "scores.nsp"}, 9]}]}, catalog_of(ADA))
    assert found == [{"path": "/and/1", "message": "no contact of this tenant has had `scores.nsp`",
                      "suggestion": "did you mean 'nps'?"}]


def test_an_empty_catalog_gives_no_warnings() -> None:
    assert warnings(PLN, FieldCatalog()) == []


@pytest.mark.parametrize("path", ["attributes.custom", "tags", "attributes.custom.interests.0"])
def test_reads_of_a_map_a_list_or_below_a_known_path_are_known(path: str) -> None:
    known = _Vocabulary({"attributes.custom.lead_score", "attributes.custom.interests", "tags.vip"})
    assert known.knows(path) and not known.knows("attributes.custo") and not known.knows("attributes.plan")


def test_known_events_are_what_conditions_reading_a_prefix_see() -> None:
    names = ["email.opened", "order.completed.refunded", "signup", "nudge.shown"]
    prefixes = ["", "email", "email.", "email.opened", "email.open", "order.", "order.completed",
                "order.completed.", "order.completed.refunded", "signup", "signup.", "sign", "nudge.shown.x"]
    for count in range(len(names) + 1):
        known = _Vocabulary((), names[:count])
        for prefix in prefixes:
            expected = any(event_matches(prefix, name) for name in names[:count])
            assert known.has_event(prefix) is expected, (prefix, names[:count])


def test_observed_attribute_json() -> None:
    assert ObservedAttribute("a", frozenset({"string"}), ("x",)).to_json() == {
        "path": "a", "types": ["string"], "samples": ["x"]}


# --------------------------------------------------------------------------- the stream's batches


def test_the_stream_evaluator_fills_the_catalog_from_its_batches() -> None:
    rt = memory_realtime(NOW)
    rt.save("pro", PLAN)
    rt.contact("c1", attributes={"plan": "pro", "custom": {"lead_score": 7}}, tags=["vip"])
    rt.event("c1", "order.completed", amount=10)
    result = rt.evaluate()
    assert rt.memory.fields.catalog("t1").empty  # evaluation alone learns nothing (its cost is its own)
    assert rt.evaluator.learn_fields(result) == 1  # the new contact's profile
    body = rt.memory.fields.catalog("t1").to_json()
    assert {a["path"] for a in body["attributes"]} == {"attributes.plan", "attributes.custom.lead_score",
                                                       "tags.vip"}
    assert body["events"] == [{"name": "order.completed", "count": 1}]


def test_a_failing_catalog_store_does_not_fail_the_batch() -> None:
    class Broken(MemoryObservedFields):
        def add_attributes(self, tenant_id: str, attributes: Any) -> None:
            raise RuntimeError("store down")

    memory = MemoryBackend()
    memory.fields = Broken()
    clock = Clock(NOW)
    rt = MemoryRealtime(memory, evaluation_service(memory.ports(), HOST, clock=clock), clock)
    rt.save("pro", PLAN)
    rt.contact("c1", attributes={"plan": "pro"})
    result = rt.evaluate()
    assert rt.evaluator.learn_fields(result) == 0
    assert not result.failed and [o.entries for o in result.outcomes] == [1]
