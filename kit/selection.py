"""Event selection: which of a contact's events a condition looks at.

A :class:`Selector` names events (``order.completed``, or ``order.*`` for a
whole namespace) and optionally filters them by property; its selection is
memoised on the view, so two conditions that select the same events (in one
segment or in a hundred) share one scan. :class:`EventRef` is the params form
of a selector: a name plus ``where`` property filters written with the value
operators of :mod:`growthos_segments.kit.operators`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from growthos_segments.core.timeutil import UTC
from growthos_segments.core.view import MISSING, ContactView, Event, resolve_path
from growthos_segments.kit.operators import (
    TIME_BASED_OPS,
    ValueTest,
    compile_value_test,
    describe_value_test,
)
from growthos_segments.kit.params import ParamsModel

__all__ = [
    "EventRef",
    "Selector",
    "Series",
    "Where",
    "id_filter",
]


@dataclass(frozen=True, slots=True)
class Series:
    """Selected events, oldest first, with their times in a parallel list for bisect."""

    events: tuple[Event, ...]
    times: list[datetime]


@dataclass(frozen=True, slots=True)
class Selector:
    """Which events a condition looks at: names plus a property filter.

    ``key`` identifies the selection in the view's memo, so two conditions that
    select the same events (in one segment or in a hundred) share one scan.
    A name ending in ``.*`` selects the whole namespace (``order.*``).
    """

    key: str
    names: tuple[str, ...]
    keep: Callable[[Event], bool] | None = None

    @staticmethod
    def make(
        names: Sequence[str],
        keep: Callable[[Event], bool] | None = None,
        filter_key: Any = None,
    ) -> Selector:
        """``filter_key`` must describe ``keep`` completely (it is part of the memo key)."""
        names = tuple(names)
        if keep is not None and filter_key is None:
            raise ValueError("a property filter needs a filter_key for memoisation")
        blob = json.dumps([list(names), filter_key], sort_keys=True, separators=(",", ":"), default=str)
        return Selector("behavior:" + blob, names, keep)

    @property
    def prefixes(self) -> frozenset[str]:
        """Event-name prefixes for :class:`growthos_segments.core.contract.Reads`."""
        return frozenset(n[:-1] if n.endswith(".*") else n for n in self.names)

    def series(self, view: ContactView) -> Series:
        return view.memo(self.key, lambda: self._build(view))  # type: ignore[no-any-return]

    def _build(self, view: ContactView) -> Series:
        picked: list[Event] = []
        for name in self.names:
            if name.endswith(".*"):
                picked.extend(view.events_named(name[:-1]))
            else:
                picked.extend(_by_name(view).get(name, ()))
        if len(self.names) > 1:
            picked.sort(key=_at)
        if self.keep is not None:
            keep = self.keep
            picked = [e for e in picked if keep(e)]
        return Series(tuple(picked), [e.at for e in picked])


def _by_name(view: ContactView) -> dict[str, list[Event]]:
    """The contact's events grouped by exact name, oldest first, built in one pass.

    Every exact-name selection of every condition is then a dict lookup instead
    of its own scan of the whole history.
    """

    def group() -> dict[str, list[Event]]:
        out: dict[str, list[Event]] = {}
        for event in view.events():
            bucket = out.get(event.name)
            if bucket is None:
                out[event.name] = [event]
            else:
                bucket.append(event)
        return out

    return view.memo(("behavior", "by_name"), group)  # type: ignore[no-any-return]


def _at(event: Event) -> datetime:
    return event.at


def id_filter(prop: str, wanted: str | Sequence[str] | None) -> tuple[Callable[[Event], bool] | None, Any]:
    """A filter keeping events whose property ``prop`` is one of ``wanted`` (None: all).

    Returns ``(keep, filter_key)`` for :meth:`Selector.make`. Events without the
    property never match a specific id: an unattributed open cannot be credited
    to a campaign.
    """
    if wanted is None:
        return None, None
    allowed = frozenset([wanted] if isinstance(wanted, str) else wanted)

    def keep(event: Event) -> bool:
        value = event.properties.get(prop)
        return isinstance(value, str) and value in allowed

    return keep, {prop: sorted(allowed)}


def _property(event: Event, path: tuple[str, ...]) -> Any:
    """A (possibly nested, dotted) event property, or ``MISSING``."""
    if len(path) == 1:
        return event.properties.get(path[0], MISSING)
    return resolve_path(event.properties, path)


def _no_time_ops(where: dict[str, Any]) -> dict[str, Any]:
    for name, test in where.items():
        if test.op in TIME_BASED_OPS:
            raise ValueError(
                f"property {name!r}: operator {test.op!r} depends on the current time, which "
                "would make the selected events change on their own; compare with a fixed "
                "date instead (greater_than, between)"
            )
    return where


PropertyPath = Annotated[
    str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")
]

Where = Annotated[
    dict[PropertyPath, ValueTest],
    Field(
        max_length=20,
        description=(
            "Event property filters, all of which must hold: {property: value test}, with the "
            "attribute operators (dotted paths reach nested properties). Time-relative "
            "operators are not allowed here."
        ),
        examples=[{"category": {"op": "equals", "value": "shoes"}}],
    ),
    AfterValidator(_no_time_ops),
]
"""Property filters on events: ``{property: value test}``, every one must hold."""


def _where_filter(where: Mapping[str, Any] | None) -> tuple[Callable[[Event], bool] | None, Any]:
    """Compile property filters into one event predicate plus its memo key."""
    if not where:
        return None, None
    tests = [
        (tuple(name.split(".")), compile_value_test(test))
        for name, test in sorted(where.items())
    ]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)  # time-free operators ignore it

    def keep(event: Event) -> bool:
        return all(test(_property(event, path), epoch)[0] for path, test in tests)

    key = {name: test.model_dump(mode="json") for name, test in sorted(where.items())}
    return keep, {"where": key}


def _describe_where(where: Mapping[str, Any] | None) -> str:
    """`` where amount is greater than 100`` (empty without filters)."""
    if not where:
        return ""
    parts = [f"{name} {describe_value_test(test)}" for name, test in sorted(where.items())]
    return " where " + " and ".join(parts)


class EventRef(ParamsModel):
    """One kind of event: a name (``order.*`` for a whole namespace) and property filters."""

    name: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9_:\-]+(\.[A-Za-z0-9_:\-]+)*(\.\*)?$",
        description="Event name; 'ns.*' selects every event of the namespace 'ns'.",
    )
    where: Where | None = None

    def selector(self) -> Selector:
        keep, key = _where_filter(self.where)
        return Selector.make([self.name], keep, key)

    def describe(self) -> str:
        return f"{self.name!r}{_describe_where(self.where)}"
