"""Uniform random samples of a tenant's contacts, for size estimates.

Why a sample index rather than loading views: a view is a GetItem plus a Query
per contact, so a 400-contact sample would be 800 requests (seconds on DynamoDB
latency, tens of seconds on moto). Instead every contact and every event carries
a *sample position* — a stable hash of the contact id in ``[0, 65536)``
(:func:`growthos_segments.infra.keys.sample_position`) — and both tables have a ``by_sample``
index keyed by ``T#0P`` (the position's top two bits) and ``<position>#...``.
Positions ``[0, P)`` are then a uniform random sample of the tenant whose
profiles come back from one range Query per sample shard, and whose events come
back from one more (filtered to the rule's lookback and event names, and
projected to what conditions read). A sample of up to a quarter of a tenant is
two Queries plus one for the contact count.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from growthos_segments.core.ports import ContactDocument
from growthos_segments.core.values import plain
from growthos_segments.core.view import VIEW_FIELDS
from growthos_segments.infra import keys
from growthos_segments.infra.repos._common import item_values
from growthos_segments.infra.repos.contacts import ContactRepository
from growthos_segments.infra.settings import TableNames

__all__ = ["SampleReader", "sample_profile"]



class SampleReader:
    """:class:`growthos_segments.core.ports.ContactSamples` on the ``by_sample`` indexes."""

    positions = keys.SAMPLE_POSITIONS

    def __init__(self, client: Any, tables: TableNames, contacts: ContactRepository) -> None:
        self._client = client
        self._contacts = tables.contacts
        self._events = tables.events
        self._counter = contacts

    def count(self, tenant_id: str) -> int | None:
        """The contact counter (one Query)."""
        return self._counter.count(tenant_id)

    @staticmethod
    def event_key_floor(since: datetime) -> str:
        """Keys hold four-digit years: an instant before year 1000 is before every event."""
        return keys.event_sk_floor(since) if since.year >= 1000 else ""

    def _query(self, **kwargs: Any) -> Iterable[dict[str, Any]]:
        """Every page of one Query (pages follow 1 MB limits, not item counts)."""
        start: dict[str, Any] | None = None
        while True:
            if start is not None:
                kwargs["ExclusiveStartKey"] = start
            response = self._client.query(**kwargs)
            for item in response.get("Items", ()):
                yield item_values(item)
            start = response.get("LastEvaluatedKey")
            if not start:
                return

    def _read(
        self, table: str, tenant_id: str, start: int, stop: int, values: dict[str, Any], **extra: Any
    ) -> Iterator[dict[str, Any]]:
        """Every item of ``table``'s ``by_sample`` index at positions ``[start, stop)``:
        one Query per sample shard (``values`` and ``extra`` complete each request)."""
        for pk, low, high in keys.sample_range(tenant_id, start, stop):
            condition = "sample_pk = :pk"
            bounds: dict[str, Any] = {":pk": {"S": pk}}
            if low is not None and high is not None:
                condition += " AND sample_sk BETWEEN :lo AND :hi"
                bounds.update({":lo": {"S": low}, ":hi": {"S": high}})
            yield from self._query(TableName=table, IndexName="by_sample", KeyConditionExpression=condition,
                                   ExpressionAttributeValues={**bounds, **values}, **extra)

    def contacts(
        self, tenant_id: str, start: int, stop: int, paths: frozenset[str] | None
    ) -> list[ContactDocument]:
        """Profiles at positions ``[start, stop)``, projected to ``paths`` (dotted paths
        of the contact document; ``None`` reads everything)."""
        names: dict[str, str] = {}
        projection = _projection(paths, names)
        extra: dict[str, Any] = {}
        if projection is not None:
            extra = {"ProjectionExpression": projection, "ExpressionAttributeNames": names}
        items = self._read(self._contacts, tenant_id, start, stop, {}, **extra)
        return [sample_profile(tenant_id, item) for item in items]

    def events(
        self,
        tenant_id: str,
        start: int,
        stop: int,
        *,
        since: datetime | None,
        prefixes: frozenset[str],
    ) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        """Events of the contacts at positions ``[start, stop)``, per contact, oldest
        first as ``(sk, event)``: only those at or after ``since`` and named under
        ``prefixes``."""
        names = {"#n": "name", "#a": "at", "#sk": "sk"}
        filters: list[str] = []
        base_values: dict[str, Any] = {}
        floor = None if since is None else self.event_key_floor(since)
        if floor:
            filters.append("#sk >= :since")
            base_values[":since"] = {"S": floor}
        if "" not in prefixes:
            alternatives: list[str] = []
            for index, prefix in enumerate(sorted(prefixes)):
                if prefix.endswith("."):
                    alternatives.append(f"begins_with(#n, :p{index})")
                    base_values[f":p{index}"] = {"S": prefix}
                else:
                    alternatives.append(f"#n = :e{index} OR begins_with(#n, :p{index})")
                    base_values[f":e{index}"] = {"S": prefix}
                    base_values[f":p{index}"] = {"S": prefix + "."}
            filters.append("(" + " OR ".join(alternatives) + ")")
        found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        extra = {"FilterExpression": " AND ".join(filters)} if filters else {}
        items = self._read(self._events, tenant_id, start, stop, base_values, ExpressionAttributeNames=names,
                           ProjectionExpression="contact_id, #n, #a, properties, #sk", **extra)
        for item in items:
            contact_id = item.get("contact_id")
            if not isinstance(contact_id, str):
                continue
            event = {"name": item.get("name"), "at": item.get("at"),
                     "properties": plain(item.get("properties") or {})}
            found.setdefault(contact_id, []).append((str(item.get("sk", "")), event))
        # sk is fixed-width time#id: sorting on it is time order, as the view loader's Query.
        return {cid: sorted(events, key=lambda p: p[0]) for cid, events in found.items()}


def _projection(paths: frozenset[str] | None, names: dict[str, str]) -> str | None:
    """A ProjectionExpression for the document paths a rule reads (``None``: all).

    Paths are cut at three levels and at anything that is not a plain name, and
    a path under another one is dropped (DynamoDB refuses overlapping paths).
    """
    if paths is None or "*" in paths:
        return None
    wanted: set[tuple[str, ...]] = set()
    for path in paths:
        parts = path.split(".")
        if parts[0] not in VIEW_FIELDS:
            return None  # a path outside the profile fields: read everything, stay correct
        kept: list[str] = []
        for part in parts[:3]:
            if not part or part.isdigit():
                break
            kept.append(part)
        wanted.add(tuple(kept))
    minimal = sorted(p for p in wanted if not any(q != p and p[: len(q)] == q for q in wanted))
    placeholders: dict[str, str] = {}
    rendered = []
    for path in minimal:
        tokens = []
        for part in path:
            token = placeholders.get(part)
            if token is None:
                token = placeholders[part] = f"#f{len(placeholders)}"
                names[token] = part
            tokens.append(token)
        rendered.append(".".join(tokens))
    names["#cid"] = "contact_id"
    return ", ".join(["#cid", *rendered])


def sample_profile(tenant_id: str, item: Mapping[str, Any]) -> ContactDocument:
    """A contact item read from a ``by_sample`` index as the profile part of a view document."""
    attributes = plain(item.get("attributes")) or {}
    if not isinstance(attributes, dict):
        attributes = {}
    attributes.setdefault("custom", {})
    return {
        "tenant_id": tenant_id,
        "contact_id": item.get("contact_id"),
        "attributes": attributes,
        "tags": plain(item.get("tags")) or [],
        "lists": plain(item.get("lists")) or [],
        "suppression": plain(item.get("suppression")) or {},
        "scores": plain(item.get("scores")) or {},
    }
