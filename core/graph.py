"""The segment-reference graph: which segments a segment's rule references.

A segment can reference others (``{"segment": {"id": ...}}``), and pinned
segments and exclusions become references of its effective rule. Every
question about those references is a walk of this one graph, written once
here: the evaluation order (:attr:`ReferenceGraph.order`), the cycles saving
must refuse (:attr:`ReferenceGraph.cycles`), what evaluating some segments
computes (:meth:`ReferenceGraph.requirements`) and what a change of some
segments can move (:meth:`ReferenceGraph.dependents`).

The walks are iterative: a chain of references longer than Python's recursion
limit is a valid tenant, not a crash.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property

__all__ = ["Cycle", "ReferenceGraph"]

Cycle = tuple[str, int, list[str]]
"""``(segment, index of its reference that closes the cycle, the loop of ids)``."""

_ON_PATH, _DONE = 1, 2


class ReferenceGraph:
    """Segments and the segments each one references, in the order its rule names them.

    Only the segments given as keys are *known*; a reference to an unknown id
    is kept (the caller reports it) but leads nowhere.
    """

    def __init__(self, references: Mapping[str, Sequence[str]]) -> None:
        self.references: dict[str, tuple[str, ...]] = {sid: tuple(refs) for sid, refs in references.items()}
        self._referenced_by: dict[str, list[str]] = {}
        for sid, refs in self.references.items():
            for ref in dict.fromkeys(refs):
                self._referenced_by.setdefault(ref, []).append(sid)

    @cached_property
    def order(self) -> list[str]:
        """Known segments, each after every known segment it references (stable:
        segments taken by id, references in the order written)."""
        return self._search()[0]

    @cached_property
    def cycles(self) -> list[Cycle]:
        """Every reference that closes a cycle, with the loop it closes."""
        return self._search()[1]

    def requirements(self, segment_ids: Iterable[str]) -> set[str]:
        """The known ``segment_ids`` and every segment they reference, transitively:
        what evaluating them computes."""
        return self._reach(segment_ids, self.references)

    def dependents(self, segment_ids: Iterable[str]) -> set[str]:
        """The known ``segment_ids`` and every segment that references them,
        transitively: what a change of their membership can move."""
        return self._reach(segment_ids, self._referenced_by)

    def _reach(self, segment_ids: Iterable[str], edges: Mapping[str, Sequence[str]]) -> set[str]:
        pending = [sid for sid in segment_ids if sid in self.references]
        found = set(pending)
        while pending:
            for other in edges.get(pending.pop(), ()):
                if other in self.references and other not in found:
                    found.add(other)
                    pending.append(other)
        return found

    def _search(self) -> tuple[list[str], list[Cycle]]:
        """One depth-first search gives both the order (post-order) and the cycles
        (a reference back to a segment still on the path)."""
        order: list[str] = []
        cycles: list[Cycle] = []
        state: dict[str, int] = {}
        for root in sorted(self.references):
            if root in state:
                continue
            state[root] = _ON_PATH
            path: list[tuple[str, int]] = [(root, 0)]
            while path:
                sid, index = path[-1]
                refs = self.references.get(sid, ())
                if index == len(refs):
                    state[sid] = _DONE
                    path.pop()
                    if sid in self.references:
                        order.append(sid)
                    continue
                path[-1] = (sid, index + 1)
                ref = refs[index]
                seen = state.get(ref)
                if seen == _ON_PATH:
                    trail = [s for s, _ in path[:-1]]
                    loop = [*trail[trail.index(ref):], sid, ref] if ref in trail else [sid, ref]
                    cycles.append((sid, index, loop))
                elif seen is None:
                    state[ref] = _ON_PATH
                    path.append((ref, 0))
        return order, cycles
