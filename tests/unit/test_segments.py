"""Segment composition: references, pinned segments, exclusions, manual picks, cycles."""

from __future__ import annotations

from datetime import timedelta

import pytest

from growthos_segments.core.dependencies import DependencyIndex
from growthos_segments.core.limits import DEFAULT_LIMITS
from growthos_segments.core.segments import SegmentDefinition, SegmentSet, SegmentSetError
from growthos_segments.core.timeutil import to_iso
from tests.conftest import NOW


def eq(field, value):
    return {"toy_eq": {"field": field, "value": value}}


def seg(sid, rule=None, **kw):
    return SegmentDefinition(sid, rule, **kw)


def contact(cid="c1", **attributes):
    return {"contact_id": cid, "attributes": attributes}


def test_references_resolve_in_dependency_order(toy_host):
    segments = SegmentSet(toy_host, [
        seg("uk_free", {"and": [{"segment": {"id": "uk"}}, eq("plan", "free")]}),
        seg("uk", eq("country", "GB")),
    ])
    assert segments.order.index("uk") < segments.order.index("uk_free")
    result = segments.evaluate(segments.view(contact(country="GB", plan="free")), NOW)
    assert result == {"uk": (True, None), "uk_free": (True, None)}
    result = segments.evaluate(segments.view(contact(country="FR", plan="free")), NOW)
    assert result["uk_free"] == (False, None)


def test_reference_recheck_propagates(toy_host):
    start = NOW + timedelta(minutes=3)
    segments = SegmentSet(toy_host, [
        seg("trial", {"toy_window": {"field": "t", "seconds": 60}}),
        seg("not_trial", {"!": {"segment": {"id": "trial"}}}),
    ])
    view = segments.view(contact(t=to_iso(start)))
    assert segments.evaluate(view, NOW)["not_trial"] == (True, start)


def test_pinned_segments_are_anded_into_every_other_segment(toy_host):
    segments = SegmentSet(toy_host, [
        seg("reachable", {"!": eq("unsubscribed", True)}, type="pinned"),
        seg("free", eq("plan", "free")),
    ])
    assert segments.evaluate(segments.view(contact(plan="free")), NOW)["free"] == (True, None)
    view = segments.view(contact(plan="free", unsubscribed=True))
    assert segments.evaluate(view, NOW) == {"reachable": (False, None), "free": (False, None)}


def test_exclusions_and_manual_picks(toy_host):
    segments = SegmentSet(toy_host, [
        seg("vip", eq("tier", "vip")),
        seg("free", eq("plan", "free"), exclude_segments=["vip"],
            include_contacts={"c_in"}, exclude_contacts={"c_out"}),
    ])
    run = lambda doc: segments.evaluate(segments.view(doc), NOW)["free"][0]  # noqa: E731
    assert run(contact("c1", plan="free")) is True
    assert run(contact("c1", plan="free", tier="vip")) is False
    assert run(contact("c_in", plan="pro")) is True
    assert run(contact("c_out", plan="free")) is False


def test_static_segment_is_its_list(toy_host):
    segments = SegmentSet(toy_host, [seg("beta", type="static", include_contacts={"c7"})])
    assert segments.evaluate(segments.view(contact("c7")), NOW)["beta"] == (True, None)
    assert segments.evaluate(segments.view(contact("c8")), NOW)["beta"] == (False, None)
    explanation = segments.explain("beta", segments.view(contact("c8")), NOW)
    assert explanation.match is False and "static" in explanation.trace["description"]


def test_cycles_are_rejected_with_the_path_of_the_reference(toy_host):
    with pytest.raises(SegmentSetError) as caught:
        SegmentSet(toy_host, [
            seg("a", {"and": [eq("plan", "x"), {"segment": {"id": "b"}}]}),
            seg("b", {"segment": {"id": "c"}}),
            seg("c", {"or": [eq("plan", "y"), {"segment": {"id": "a"}}]}),
        ])
    (sid, errors), = caught.value.errors.items()
    assert sid == "c" and errors[0].path == "/or/1"
    assert "a → b → c → a" in errors[0].message


def chain(length):
    """s0 references s1 ... references s{length-1}: a chain ``length`` segments deep."""
    return [seg(f"s{i}", {"and": [eq("plan", "pro"), {"segment": {"id": f"s{i + 1}"}}]})
            for i in range(length - 1)] + [seg(f"s{length - 1}", eq("plan", "pro"))]


def test_a_chain_of_references_at_the_depth_limit_evaluates(toy_host):
    segments = SegmentSet(toy_host, chain(DEFAULT_LIMITS.max_reference_depth))
    assert segments.evaluate(segments.view(contact(plan="pro")), NOW, only=["s0"]) == {"s0": (True, None)}


def test_a_chain_of_references_deeper_than_the_limit_is_refused_where_it_starts(toy_host):
    """A chain of 1,200 references built, then overflowed Python's stack on the first evaluation."""
    deep = DEFAULT_LIMITS.max_reference_depth + 1
    with pytest.raises(SegmentSetError) as caught:
        SegmentSet(toy_host, chain(deep))
    (sid, errors), = caught.value.errors.items()
    assert sid == "s0" and errors[0].path == "/and/1"
    assert f"{deep} segments deep" in errors[0].message
    with pytest.raises(SegmentSetError):
        SegmentSet(toy_host, chain(1200))


def test_unknown_and_self_references_are_rejected(toy_host):
    with pytest.raises(SegmentSetError) as caught:
        SegmentSet(toy_host, [
            seg("a", {"segment": {"id": "ghost"}}),
            seg("b", {"segment": {"id": "b"}}),
            seg("c", eq("plan", "x"), exclude_segments=["nobody"]),
        ])
    errors = caught.value.errors
    assert errors["a"][0].message == "unknown segment 'ghost'"
    assert "itself" in errors["b"][0].message
    assert errors["c"][0].path == "/exclude_segments/0"


def test_invalid_rule_errors_are_reported_per_segment(toy_host):
    with pytest.raises(SegmentSetError) as caught:
        SegmentSet(toy_host, [seg("a", {"toy_eq": {}}), seg("b", None)])
    assert set(caught.value.errors) == {"a", "b"}


def test_dependents_follow_references_transitively(toy_host):
    segments = SegmentSet(toy_host, [
        seg("base", eq("plan", "free")),
        seg("mid", {"segment": {"id": "base"}}),
        seg("top", {"!": {"segment": {"id": "mid"}}}),
        seg("other", eq("plan", "pro")),
    ])
    assert DependencyIndex.of(segments).closure(["base"]) == ["base", "mid", "top"]

