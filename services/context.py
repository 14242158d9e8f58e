"""Tenant contexts: tenant-wide data that conditions read (RFM quintile thresholds).

A plugin computes its context in the ``tenant_context`` hook from the whole
tenant; conditions read the stored result from ``view.context``. This module
stores contexts (:class:`TenantContexts`), streams a tenant to the hook
(:class:`TenantStream`, or :class:`DocumentStream` for documents already in
memory) and recomputes stale ones on the scheduler's clock
(:class:`ContextRefresher`).

What the hook is given, and why. The conditions that read a context declare,
in their :class:`growthos_segments.core.contract.Reads`, the events and profile paths it is
computed from (RFM's score and tier conditions declare ``order.completed`` over
365 days); :func:`context_reads` collects them. A pass over the tenant then
reads, per sample shard of the tenant (:data:`growthos_segments.infra.keys.SAMPLE_SHARDS`), one
key-range Query of the contacts table's ``by_sample`` index projected to the
contact id and those paths, and one of the events table's ``by_sample`` index
filtered on the server to those event names and that lookback. Both indexes
are in sample-position order, so the two are merged a position at a time and
each contact becomes one view carrying only what was declared. Memory is one
1 MB page of each plus the contacts of one position, whatever the tenant's
size; the plugin keeps its own per-contact aggregates. The alternative, a view
per contact through the loader, costs an events Query per contact (3,000 for
the demo tenant, four million at 4M contacts) and every event of each.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer

from growthos_segments.core.contract import Reads
from growthos_segments.core.dependencies import event_matches
from growthos_segments.core.membership import TenantSegments
from growthos_segments.core.rules import Condition, iter_nodes
from growthos_segments.core.timeutil import parse_instant
from growthos_segments.core.view import ContactView
from growthos_segments.infra import keys
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.repos._common import iso, parse_iso, plain

if TYPE_CHECKING:
    from growthos_segments.services.evaluation import EvaluationService

__all__ = [
    "ContextRefresher",
    "DocumentStream",
    "OutOfTime",
    "PassStats",
    "StoredContext",
    "TenantContexts",
    "TenantStream",
    "context_reads",
]

log = logging.getLogger("growthos_segments.services.context")

_DESERIALIZER = TypeDeserializer()
_POSITION = 4
"""Hex digits of the sample position at the start of every ``sample_sk``."""


class OutOfTime(Exception):
    """The caller's time budget ran out during a pass; nothing was computed."""


# --------------------------------------------------------------------------- storage


@dataclass(frozen=True, slots=True)
class StoredContext:
    context: Mapping[str, Any]
    computed_at: datetime


class TenantContexts:
    """Plugin tenant data (``tenant_context`` hook) stored per tenant.

    One small item in the counters table (derived data; only the API writes
    the segments table), JSON-encoded because it is never queried, only read
    whole. Reading it costs one GetItem per tenant per cache window, nothing
    per contact.
    """

    def __init__(self, repos: Repositories) -> None:
        self._client = repos.client
        self._table = repos.settings.tables.counters

    def _key(self, tenant_id: str) -> dict[str, Any]:
        pk, sk = keys.tenant_context_key(tenant_id)
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def get(self, tenant_id: str) -> StoredContext | None:
        response = self._client.get_item(TableName=self._table, Key=self._key(tenant_id), ConsistentRead=True)
        item = response.get("Item") or {}
        if not item:
            return None
        try:
            context = json.loads(item.get("context", {}).get("S") or "{}")
            computed_at = parse_iso(item.get("computed_at", {}).get("S") or "")
        except ValueError:
            log.warning("tenant %s: unreadable stored context ignored", tenant_id)
            return None
        return StoredContext(context if isinstance(context, dict) else {}, computed_at)

    def put(self, tenant_id: str, context: Mapping[str, Any], computed_at: datetime) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=self._key(tenant_id),
            UpdateExpression="SET tenant_id = :t, #c = :c, computed_at = :at",
            ExpressionAttributeNames={"#c": "context"},
            ExpressionAttributeValues={
                ":t": {"S": tenant_id},
                ":c": {"S": json.dumps(context, separators=(",", ":"), sort_keys=True, default=str)},
                ":at": {"S": iso(computed_at)},
            },
        )


# --------------------------------------------------------------------------- what to read


def context_reads(tenant: TenantSegments) -> Reads | None:
    """What the tenant's contexts are computed from: the declared reads of every
    condition that reads a context (``None`` when no active segment reads one).

    Only those conditions count, not whole segments: a segment "RFM champions
    who opened an email" needs emails per contact, but its thresholds do not.
    """
    if not tenant.index.context_readers:
        return None
    total = Reads()
    for segment_id in tenant.index.context_readers:
        node = tenant.segments.segments[segment_id].effective
        if node is None:
            continue
        for _, item in iter_nodes(node):
            if isinstance(item, Condition) and item.reads.context:
                total = total.union(item.reads)
    return total


def _since(now: datetime, lookback: timedelta | None) -> datetime | None:
    """The oldest event instant a pass needs (``None``: all history)."""
    if lookback is None or lookback == timedelta.max:
        return None
    try:
        return now - lookback
    except OverflowError:
        return None


def _wanted(reads: Reads, since: datetime | None) -> Callable[[Mapping[str, Any]], bool]:
    """The same selection as the server-side filter, for documents in memory."""
    prefixes = tuple(reads.events)

    def keep(event: Mapping[str, Any]) -> bool:
        name = event.get("name")
        if not isinstance(name, str) or not any(event_matches(p, name) for p in prefixes):
            return False
        if since is None:
            return True
        at = parse_instant(event.get("at"))
        return at is not None and at >= since

    return keep


# --------------------------------------------------------------------------- streams


@dataclass(slots=True)
class PassStats:
    """What the last pass over a tenant read (logs, tests and the README's figures)."""

    requests: int = 0
    contacts: int = 0
    events: int = 0


class DocumentStream:
    """Contact documents already in memory (an import, the demo seed) as the views a
    context is computed from: each view keeps only the events ``reads`` declares.

    Re-iterable: every iteration is a new pass over the same documents.
    """

    def __init__(self, docs: Iterable[Mapping[str, Any]], reads: Reads, now: datetime) -> None:
        self._docs = docs
        self._keep = _wanted(reads, _since(now, reads.lookback))
        self._events = bool(reads.events)

    def __iter__(self) -> Iterator[ContactView]:
        for doc in self._docs:
            events = [e for e in doc.get("events") or () if self._keep(e)] if self._events else []
            yield ContactView({**doc, "events": events})


class TenantStream:
    """One tenant's contacts streamed from the sample indexes (see the module doc).

    Re-iterable: every iteration is a new pass over the tenant (each plugin that
    implements ``tenant_context`` iterates once). ``out_of_time`` is asked before
    every request; when it says so the pass raises :class:`OutOfTime`.
    """

    def __init__(
        self,
        repos: Repositories,
        tenant_id: str,
        reads: Reads,
        now: datetime,
        *,
        out_of_time: Callable[[], bool] | None = None,
    ) -> None:
        self._client = repos.client
        self._tables = repos.settings.tables
        self.tenant_id = keys.check_tenant_id(tenant_id)
        self.reads = reads
        self._since = _since(now, reads.lookback)
        self._out_of_time = out_of_time
        self.stats = PassStats()

    def __iter__(self) -> Iterator[ContactView]:
        self.stats = PassStats()
        for pk, _, _ in keys.sample_range(self.tenant_id, 0, keys.SAMPLE_POSITIONS):
            contacts = groupby(self._query(self._contacts_request(pk)), key=_position)
            events = None
            if self.reads.events:
                events = groupby(self._query(self._events_request(pk)), key=_position)
            yield from self._merge(contacts, events)

    def _merge(
        self,
        contacts: Iterator[tuple[str, Iterator[dict[str, Any]]]],
        events: Iterator[tuple[str, Iterator[dict[str, Any]]]] | None,
    ) -> Iterator[ContactView]:
        pending = next(events, None) if events is not None else None
        for position, group in contacts:
            found: dict[str, list[dict[str, Any]]] = {}
            while pending is not None and pending[0] <= position:
                if pending[0] == position:
                    for item in pending[1]:  # one position, time order: split it by contact
                        found.setdefault(item["contact_id"], []).append(
                            {"name": item.get("name"), "at": item.get("at"),
                             "properties": plain(item.get("properties") or {})})
                assert events is not None
                pending = next(events, None)
            for item in group:
                doc = _profile(self.tenant_id, item)
                doc["events"] = found.get(doc["contact_id"], [])
                self.stats.contacts += 1
                self.stats.events += len(doc["events"])
                yield ContactView(doc)

    def _contacts_request(self, pk: str) -> dict[str, Any]:
        names = {"#cid": "contact_id", "#pos": "sample_sk"}
        fields = ["#cid", "#pos"]
        for index, path in enumerate(sorted(_top_levels(self.reads.attributes))):
            names[f"#f{index}"] = path
            fields.append(f"#f{index}")
        return {
            "TableName": self._tables.contacts,
            "IndexName": "by_sample",
            "KeyConditionExpression": "sample_pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ExpressionAttributeNames": names,
            "ProjectionExpression": ", ".join(fields),
        }

    def _events_request(self, pk: str) -> dict[str, Any]:
        names = {"#cid": "contact_id", "#n": "name", "#a": "at", "#p": "properties", "#pos": "sample_sk"}
        values: dict[str, Any] = {":pk": {"S": pk}}
        filters: list[str] = []
        if "" not in self.reads.events:
            alternatives: list[str] = []
            for index, prefix in enumerate(sorted(self.reads.events)):
                values[f":p{index}"] = {"S": prefix if prefix.endswith(".") else prefix + "."}
                alternatives.append(f"begins_with(#n, :p{index})")
                if not prefix.endswith("."):
                    values[f":e{index}"] = {"S": prefix}
                    alternatives.append(f"#n = :e{index}")
            filters.append("(" + " OR ".join(alternatives) + ")")
        if self._since is not None:
            names["#sk"] = "sk"
            values[":since"] = {"S": keys.event_sk_floor(self._since)}
            filters.append("#sk >= :since")
        request: dict[str, Any] = {
            "TableName": self._tables.events,
            "IndexName": "by_sample",
            "KeyConditionExpression": "sample_pk = :pk",
            "ExpressionAttributeValues": values,
            "ExpressionAttributeNames": names,
            "ProjectionExpression": "#cid, #n, #a, #p, #pos",
        }
        if filters:
            request["FilterExpression"] = " AND ".join(filters)
        return request

    def _query(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of one Query, a page at a time (1 MB pages, not item counts)."""
        while True:
            if self._out_of_time is not None and self._out_of_time():
                raise OutOfTime(f"tenant {self.tenant_id}: out of time after {self.stats.contacts} contacts")
            response = self._client.query(**request)
            self.stats.requests += 1
            for raw in response.get("Items", ()):
                yield {name: _DESERIALIZER.deserialize(value) for name, value in raw.items()}
            start = response.get("LastEvaluatedKey")
            if not start:
                return
            request = {**request, "ExclusiveStartKey": start}


def _position(item: Mapping[str, Any]) -> str:
    return str(item.get("sample_sk", ""))[:_POSITION]


def _top_levels(paths: Iterable[str]) -> set[str]:
    """Top-level item attributes holding ``paths`` (``attributes.plan`` -> ``attributes``)."""
    return {path.split(".", 1)[0] for path in paths if path and path != "*"} - {"contact_id", "tenant_id"}


def _profile(tenant_id: str, item: Mapping[str, Any]) -> dict[str, Any]:
    attributes = plain(item.get("attributes")) or {}
    attributes.setdefault("custom", {})
    return {
        "tenant_id": tenant_id,
        "contact_id": str(item.get("contact_id")),
        "attributes": attributes,
        "tags": plain(item.get("tags")) or [],
        "lists": plain(item.get("lists")) or [],
        "suppression": plain(item.get("suppression")) or {},
        "scores": plain(item.get("scores")) or {},
    }


# --------------------------------------------------------------------------- the scheduler's job


def _without_stamps(context: Mapping[str, Any]) -> dict[str, Any]:
    """A context minus each namespace's ``computed_at``: what decides memberships."""
    return {
        name: {k: v for k, v in data.items() if k != "computed_at"} if isinstance(data, Mapping) else data
        for name, data in context.items()
    }


class ContextRefresher:
    """Recomputes a tenant's context (``tenant_context`` hook) when it is older than ``max_age``.

    Only tenants with a segment that reads a context pay for it, and a pass
    reads only what those conditions declare (:class:`TenantStream`).
    ``on_changed`` then re-evaluates the segments that read it for every
    contact (a backfill), because a new threshold can move a contact with no
    change of its own.
    """

    def __init__(
        self,
        service: EvaluationService,
        *,
        max_age: timedelta = timedelta(hours=24),
        on_changed: Callable[[str, list[str]], None] | None = None,
    ) -> None:
        self._service = service
        self._max_age = max_age
        self._on_changed = on_changed
        self.last_pass = PassStats()

    def __call__(self, tenant_id: str, now: datetime, out_of_time: Callable[[], bool] | None = None) -> bool:
        """Recompute if stale; ``False`` when fresh, not needed, or out of time (then the
        stale context stays in use, as RFM conditions allow by default, and the next
        run tries again)."""
        service = self._service
        tenant = service.segments.for_tenant(tenant_id)
        reads = context_reads(tenant)
        if reads is None:
            return False
        stored = service.contexts.get(tenant_id)
        if stored is not None and now - stored.computed_at < self._max_age:
            return False
        stream = TenantStream(service.repos, tenant_id, reads, now, out_of_time=out_of_time)
        try:
            context = service.host.tenant_context(tenant_id, stream, now)
        except OutOfTime:
            log.warning("tenant %s: out of time after %d contacts; context not recomputed this run",
                        tenant_id, stream.stats.contacts)
            return False
        finally:
            self.last_pass = stream.stats
        service.contexts.put(tenant_id, context, now)
        service.segments.invalidate(tenant_id)
        log.info("tenant %s: context recomputed from %d contacts (%d events, %d requests)",
                 tenant_id, stream.stats.contacts, stream.stats.events, stream.stats.requests)
        changed = stored is None or _without_stamps(stored.context) != _without_stamps(context)
        if changed and self._on_changed is not None:
            self._on_changed(tenant_id, list(tenant.index.context_readers))
        return True
