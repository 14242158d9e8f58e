"""The contact view: the one document every condition reads.

A view wraps the contact document of the design (section 4) and memoises what
is expensive to derive from it (parsed event times, events per name prefix,
the datalogic data handle), so a hundred segments evaluated against one
contact parse each timestamp once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from growthos_segments.core.limits import EARLIEST_INSTANT, LATEST_INSTANT
from growthos_segments.core.timeutil import parse_instant
from growthos_segments.core.values import plain

__all__ = [
    "MISSING",
    "VIEW_FIELDS",
    "VIEW_LISTS",
    "VIEW_MAPS",
    "ContactView",
    "Event",
    "SegmentResolver",
    "resolve_path",
]

VIEW_MAPS: tuple[str, ...] = ("attributes", "suppression", "scores")
"""Fields of the contact document (DESIGN.md section 4) that hold a map; the view
reads a missing or malformed one as ``{}``."""
VIEW_LISTS: tuple[str, ...] = ("tags", "lists")
"""Fields that hold a list of strings (a DynamoDB string set is one too); read as
``()`` when missing."""
VIEW_FIELDS: tuple[str, ...] = (*VIEW_MAPS, *VIEW_LISTS)
"""Every field conditions read besides ``events``. Anything else on a stored contact
(keys, timestamps) is invisible to segments, so a change confined to it affects nothing."""


class _Missing:
    """Marker for "the field is absent", distinct from a stored ``null``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


def resolve_path(doc: Any, path: Sequence[str]) -> Any:
    """Follow ``path`` through nested mappings; ``MISSING`` where it cannot."""
    current = doc
    for key in path:
        if not isinstance(current, Mapping):
            return MISSING
        current = current.get(key, MISSING)
        if current is MISSING:
            return MISSING
    return current


class Event(NamedTuple):
    """One behavioural event with its time parsed (UTC).

    A named tuple rather than a dataclass: views build hundreds per contact and
    tuple construction is several times cheaper.
    """

    name: str
    at: datetime
    properties: Mapping[str, Any]


class SegmentResolver(Protocol):
    """Answers "is this contact in segment S" for segment-reference nodes."""

    def __call__(self, segment_id: str, view: ContactView, now: datetime) -> tuple[bool, datetime | None]:
        ...


def _no_segments(segment_id: str, view: ContactView, now: datetime) -> tuple[bool, datetime | None]:
    return False, None


class ContactView:
    """Read-only access to one contact, with per-view memoisation.

    ``context`` carries tenant-wide data supplied by plugins through the
    ``tenant_context`` hook (e.g. RFM quintile thresholds), keyed by namespace.
    ``segments`` resolves segment references; by default nothing is a member.
    """

    __slots__ = (
        "_handle",
        "_memo",
        "attributes",
        "contact_id",
        "context",
        "doc",
        "lists",
        "scores",
        "segments",
        "suppression",
        "tags",
        "tenant_id",
    )

    def __init__(
        self,
        doc: Mapping[str, Any],
        *,
        context: Mapping[str, Any] | None = None,
        segments: SegmentResolver | None = None,
    ) -> None:
        self.doc = doc
        self.tenant_id: str | None = doc.get("tenant_id")
        self.contact_id: str | None = doc.get("contact_id")
        attributes = doc.get("attributes")
        self.attributes: Mapping[str, Any] = attributes if isinstance(attributes, Mapping) else {}
        self.tags: Sequence[Any] = _as_list(doc.get("tags"))
        self.lists: Sequence[Any] = _as_list(doc.get("lists"))
        suppression = doc.get("suppression")
        self.suppression: Mapping[str, Any] = suppression if isinstance(suppression, Mapping) else {}
        scores = doc.get("scores")
        self.scores: Mapping[str, Any] = scores if isinstance(scores, Mapping) else {}
        self.context: Mapping[str, Any] = context or {}
        self.segments: SegmentResolver = segments or _no_segments
        self._memo: dict[Any, Any] = {}
        self._handle: Any = None

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """Compute a value derived from this view once (keys must be hashable and unique)."""
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = compute()
            return value

    def events(self) -> tuple[Event, ...]:
        """All well-formed events, oldest first. Malformed ones are skipped, not fatal.

        An event stamped outside :func:`growthos_segments.core.limits.in_time_range` (years 1900-2199)
        counts as malformed: the conditions add windows of up to 100 years to event
        times, which would overflow near year 9999.
        """
        return self.memo(("events",), self._parse_events)

    def events_named(self, prefix: str) -> tuple[Event, ...]:
        """Events named ``prefix`` or under it (``email`` and ``email.`` both mean ``email.*``)."""
        def pick() -> tuple[Event, ...]:
            if prefix.endswith("."):
                return tuple(e for e in self.events() if e.name.startswith(prefix))
            dotted = prefix + "."
            return tuple(e for e in self.events() if e.name == prefix or e.name.startswith(dotted))

        return self.memo(("events_named", prefix), pick)

    def data_handle(self) -> Any:
        """The document pre-parsed for datalogic, built on first use only.

        datalogic holds numbers in 64 bits and refuses a whole document with an
        integer beyond them, which would make every plain expression false for
        that contact because of one unrelated field; such integers are given to
        it as the doubles a JSON reader holds (what the SQL path reads too)."""
        if self._handle is None:
            from datalogic_py import DataHandle, ParseError

            data = plain(self.doc)
            try:
                self._handle = DataHandle(data)
            except ParseError:
                self._handle = DataHandle(_doubles_beyond_64_bits(data))
        return self._handle

    def _parse_events(self) -> tuple[Event, ...]:
        parsed: list[Event] = []
        empty: Mapping[str, Any] = {}
        for raw in _as_list(self.doc.get("events")):
            # `type(x) is dict` first: the Mapping ABC check costs more than the rest.
            if type(raw) is not dict and not isinstance(raw, Mapping):
                continue
            name, at = raw.get("name"), parse_instant(raw.get("at"))
            if type(name) is not str or at is None or not EARLIEST_INSTANT <= at < LATEST_INSTANT:
                continue  # out of range: a window added to it could overflow a datetime
            props = raw.get("properties")
            if type(props) is not dict and not isinstance(props, Mapping):
                props = empty
            parsed.append(Event(name, at, props))
        parsed.sort(key=lambda e: e.at)
        return tuple(parsed)


def _as_list(value: Any) -> Sequence[Any]:
    # DynamoDB string sets arrive as Python sets; order does not matter for tags or lists.
    if isinstance(value, list | tuple):
        return value
    if isinstance(value, set | frozenset):
        return tuple(sorted(value, key=str))
    return ()


_INT64_LOW, _UINT64_HIGH = -(2**63), 2**64 - 1


def _doubles_beyond_64_bits(value: Any) -> Any:
    """``value`` with every integer outside datalogic's 64 bits made a float (one beyond
    a double's range stays, and datalogic refuses the document as before)."""
    if type(value) is int and not _INT64_LOW <= value <= _UINT64_HIGH:
        try:
            return float(value)
        except OverflowError:  # beyond a double too: datalogic still refuses the document
            return value
    if isinstance(value, dict):
        return {key: _doubles_beyond_64_bits(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_doubles_beyond_64_bits(item) for item in value]
    return value
