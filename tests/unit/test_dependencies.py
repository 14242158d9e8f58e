"""The dependency index: a change re-evaluates exactly the segments that read it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from growthos_segments.core.contract import Reads
from growthos_segments.core.dependencies import (
    EVERYTHING,
    Change,
    DependencyIndex,
    changed_paths,
    event_matches,
)
from growthos_segments.core.segments import SegmentDefinition, SegmentSet
from growthos_segments.plugins import default_host

HOST = default_host(load_entry_points=False)


def seg(sid: str, rule: object, **kw: object) -> SegmentDefinition:
    return SegmentDefinition(sid, rule, **kw)  # type: ignore[arg-type]


def index_of(*definitions: SegmentDefinition) -> DependencyIndex:
    return DependencyIndex.of(SegmentSet(HOST, definitions))


PLAN = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}
CUSTOM = {"attribute": {"field": "custom.plan_type", "op": "equals", "value": "premium"}}
OPENED = {"email": {"action": "opened", "min_count": 2, "within": "30d"}}
ORDERED = {"event": {"name": "order.completed", "within": "90d"}}
NPS = {"score": {"name": "nps", "gte": 9}}
TAGGED = {"tag": {"match": "any", "tags": ["vip"]}}


# --------------------------------------------------------------------------- diffs


def test_changed_paths_goes_down_maps_and_compares_lists_whole() -> None:
    old = {"attributes": {"plan": "free", "custom": {"plan_type": "basic", "x": 1}}, "tags": ["a", "b"],
           "scores": {"nps": 3}}
    new = {"attributes": {"plan": "free", "custom": {"plan_type": "premium", "x": 1}}, "tags": ["b", "a"],
           "scores": {"nps": 3, "lead": 10}}
    assert changed_paths(old, new) == {"attributes.custom.plan_type", "tags", "scores.lead"}


def test_changed_paths_keeps_json_types_apart() -> None:
    # True == 1 in Python; in a rule they are different values (DESIGN.md section 8).
    assert changed_paths({"scores": {"nps": 1}}, {"scores": {"nps": True}}) == {"scores.nps"}
    assert changed_paths({"scores": {"nps": 1}}, {"scores": {"nps": "1"}}) == {"scores.nps"}
    assert changed_paths({"scores": {"nps": 1}}, {"scores": {"nps": Decimal("1")}}) == frozenset()
    assert changed_paths({"scores": {"nps": 1}}, {"scores": {"nps": 1.0}}) == frozenset()


def test_changed_paths_treats_missing_as_empty_and_ignores_non_view_fields() -> None:
    assert changed_paths({"tags": []}, {}) == frozenset()
    assert changed_paths({}, {"scores": {}}) == frozenset()
    assert changed_paths({"updated_at": "a", "pk": "t#c"}, {"updated_at": "b", "pk": "t#c"}) == frozenset()
    assert changed_paths(None, {"attributes": {"plan": "pro"}, "tags": ["x"]}) == {"attributes.plan", "tags"}
    assert changed_paths({"tags": ["x"]}, {"tags": {"x"}}) == frozenset()  # a set and a list of the same tags


def test_event_prefixes_match_like_the_view_does() -> None:
    assert event_matches("email.", "email.opened")
    assert event_matches("email", "email.opened") and event_matches("email", "email")
    assert not event_matches("email", "emails.opened")
    assert event_matches("order.completed", "order.completed")
    assert not event_matches("order.completed", "order.completed_late")
    assert event_matches("", "anything")


# --------------------------------------------------------------------------- the index


def test_an_email_event_does_not_reach_attribute_segments() -> None:
    index = index_of(seg("pro", PLAN), seg("opened", OPENED), seg("buyer", ORDERED))
    assert index.affected(Change.of_event("email.opened")) == ["opened"]
    assert index.affected(Change.of_event("order.completed")) == ["buyer"]
    assert index.affected(Change.of_event("page.viewed")) == []
    assert index.affected(Change(paths=frozenset({"attributes.plan"}))) == ["pro"]
    assert index.affected(Change(paths=frozenset({"scores.nps"}))) == []


def test_paths_match_ancestors_and_descendants() -> None:
    index = index_of(seg("custom", CUSTOM), seg("pro", PLAN), seg("nps", NPS), seg("vip", TAGGED))
    assert index.affected(Change(paths=frozenset({"attributes.custom.plan_type"}))) == ["custom"]
    # A whole map replaced reaches the segments reading inside it.
    assert index.affected(Change(paths=frozenset({"attributes.custom"}))) == ["custom"]
    assert sorted(index.affected(Change(paths=frozenset({"attributes"})))) == ["custom", "pro"]
    assert index.affected(Change(paths=frozenset({"attributes.custom.other"}))) == []
    assert index.affected(Change(paths=frozenset({"tags"}))) == ["vip"]


def test_references_bring_dependents_in_dependency_order() -> None:
    index = index_of(
        seg("b_top", {"and": [{"segment": {"id": "c_mid"}}, TAGGED]}),
        seg("c_mid", {"and": [{"segment": {"id": "z_base"}}, NPS]}),
        seg("z_base", PLAN),
        seg("other", OPENED),
    )
    assert index.affected(Change(paths=frozenset({"attributes.plan"}))) == ["z_base", "c_mid", "b_top"]
    assert index.affected(Change(paths=frozenset({"tags"}))) == ["b_top"]
    assert index.closure(["c_mid"]) == ["c_mid", "b_top"]
    assert index.requirements(["b_top"]) == ["z_base", "c_mid", "b_top"]


def test_pinned_segments_and_exclusions_are_dependencies_too() -> None:
    index = index_of(
        seg("reachable", {"!": {"suppression": {"flag": "unsubscribed"}}}, type="pinned"),
        seg("pro", PLAN),
        seg("vip", TAGGED, exclude_segments=("pro",)),
    )
    unsubscribed = Change(paths=frozenset({"suppression.unsubscribed"}))
    assert index.affected(unsubscribed) == ["reachable", "pro", "vip"]
    assert index.affected(Change(paths=frozenset({"attributes.plan"}))) == ["pro", "vip"]


def test_lookback_covers_referenced_segments_and_is_none_without_events() -> None:
    index = index_of(
        seg("opened", OPENED), seg("buyer", ORDERED), seg("pro", PLAN),
        seg("pro_buyer", {"and": [PLAN, {"segment": {"id": "buyer"}}]}),
    )
    assert index.lookback(["pro"]) is None
    assert index.lookback(["opened"]) == timedelta(days=30)
    assert index.lookback(["pro_buyer"]) == timedelta(days=90)
    assert index.lookback(["opened", "pro"]) == timedelta(days=30)


def test_reads_of_gathers_what_referenced_segments_read() -> None:
    index = index_of(
        seg("buyer", ORDERED), seg("pro", PLAN), seg("opened", OPENED),
        seg("pro_buyer", {"and": [PLAN, {"segment": {"id": "buyer"}}]}),
    )
    assert index.reads_of(["pro_buyer"]) == Reads(
        attributes=frozenset({"attributes.plan"}), events=frozenset({"order.completed"}),
        lookback=timedelta(days=90), segments=frozenset({"buyer"}))
    assert index.reads_of(["unknown"]) == Reads()
    # Events read without a window are all of them, as for the loader (lookback).
    windowless = DependencyIndex({"raw": Reads(events=frozenset({"x."}))}, ["raw"])
    assert windowless.reads_of(["raw"]).lookback == timedelta.max


def test_an_expression_with_unknown_reads_is_affected_by_everything() -> None:
    reads = {"opaque": Reads(attributes=frozenset({"*"}), events=frozenset({""}), lookback=timedelta.max),
             "pro": Reads(attributes=frozenset({"attributes.plan"}))}
    index = DependencyIndex(reads, ["opaque", "pro"])
    assert index.affected(Change(paths=frozenset({"scores.x"}))) == ["opaque"]
    assert index.affected(Change.of_event("anything.at_all")) == ["opaque"]
    assert index.lookback(["opaque"]) == timedelta.max


def test_static_segments_and_manual_picks_only_move_with_the_whole_contact() -> None:
    index = index_of(seg("list", None, type="static", include_contacts={"c1"}), seg("pro", PLAN))
    assert index.affected(Change(paths=frozenset({"attributes.plan"}))) == ["pro"]
    assert sorted(index.affected(EVERYTHING)) == ["list", "pro"]
    assert index.affected(Change(any_event=True)) == []


def test_changes_merge_and_report_emptiness() -> None:
    merged = Change(paths=frozenset({"tags"})) | Change.of_event("email.opened") | Change.of_event(None)
    assert merged.paths == {"tags"} and merged.events == {"email.opened"} and merged.any_event
    assert Change().empty and not merged.empty
    assert (Change() | EVERYTHING).everything


def test_the_index_refuses_reads_without_an_order() -> None:
    with pytest.raises(ValueError, match="without a position"):
        DependencyIndex({"a": Reads()}, [])
