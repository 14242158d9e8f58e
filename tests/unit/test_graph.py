"""The segment-reference graph: one walk for order, cycles, requirements and dependents."""

from __future__ import annotations

from growthos_segments.core.graph import ReferenceGraph

#   top -> mid -> base,  side -> base,  lone,  mid -> ghost (not a known segment)
GRAPH = ReferenceGraph({"top": ["mid"], "mid": ["base", "ghost"], "base": [], "side": ["base"], "lone": []})


def test_order_puts_every_segment_after_what_it_references() -> None:
    assert GRAPH.order == ["base", "lone", "mid", "side", "top"]
    assert GRAPH.cycles == []


def test_requirements_and_dependents_walk_opposite_ways_through_known_segments() -> None:
    assert GRAPH.requirements(["top"]) == {"top", "mid", "base"}
    assert GRAPH.dependents(["base"]) == {"base", "mid", "top", "side"}
    assert GRAPH.dependents(["ghost"]) == set()  # unknown ids lead nowhere
    assert GRAPH.requirements(["lone", "nobody"]) == {"lone"}


def test_each_reference_closing_a_cycle_is_reported_with_its_loop() -> None:
    graph = ReferenceGraph({"a": ["b"], "b": ["c", "a"], "c": ["c"]})
    assert graph.cycles == [("c", 0, ["c", "c"]), ("b", 1, ["a", "b", "a"])]
