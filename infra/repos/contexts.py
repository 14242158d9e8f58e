"""Tenant contexts on DynamoDB: where they are stored, and how a pass reads a tenant.

:class:`DynamoTenantContexts` stores each tenant's context (RFM quintile
thresholds) as one small item; :class:`SampleScanner` streams a tenant to the
``tenant_context`` hook.

What a pass reads, and why. The conditions that read a context declare, in
their :class:`growthos_segments.core.contract.Reads`, the events and profile paths it is
computed from (RFM's score and tier conditions declare ``order.completed`` over
365 days). A pass reads, per sample shard of the tenant
(:data:`growthos_segments.infra.keys.SAMPLE_SHARDS`), one key-range Query of the contacts
table's ``by_sample`` index projected to the contact id and those paths, and
one of the events table's ``by_sample`` index filtered on the server to those
event names and that lookback. Both indexes are in sample-position order, so
the two are merged a position at a time and each contact becomes one view
carrying only what was declared. Memory is one 1 MB page of each plus the
contacts of one position, whatever the tenant's size; the plugin keeps its own
per-contact aggregates. The alternative, a view per contact through the
loader, costs an events Query per contact (3,000 for the demo tenant, four
million at 4M contacts) and every event of each.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from itertools import groupby
from typing import Any

from growthos_segments.core.contract import Reads
from growthos_segments.core.ports import OutOfTime, PassStats, StoredContext, history_since
from growthos_segments.core.view import ContactView
from growthos_segments.infra import keys
from growthos_segments.infra.repos._common import iso, item_values, parse_iso, plain
from growthos_segments.infra.repos.samples import sample_profile
from growthos_segments.infra.settings import TableNames

__all__ = ["DynamoTenantContexts", "SampleScanner", "TenantStream"]

log = logging.getLogger("growthos_segments.infra.repos.contexts")

_POSITION = 4
"""Hex digits of the sample position at the start of every ``sample_sk``."""


class DynamoTenantContexts:
    """:class:`growthos_segments.core.ports.TenantContextStore` on DynamoDB: plugin tenant
    data (``tenant_context`` hook) stored per tenant.

    One small item in the counters table (derived data; only the API writes
    the segments table), JSON-encoded because it is never queried, only read
    whole. Reading it costs one GetItem per tenant per cache window, nothing
    per contact.
    """

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

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


class TenantStream:
    """:class:`growthos_segments.core.ports.TenantPass`: one tenant's contacts streamed from
    the sample indexes (see the module doc).

    Re-iterable: every iteration is a new pass over the tenant (each plugin that
    implements ``tenant_context`` iterates once). ``out_of_time`` is asked before
    every request; when it says so the pass raises :class:`OutOfTime`.
    """

    def __init__(
        self,
        client: Any,
        tables: TableNames,
        tenant_id: str,
        reads: Reads,
        now: datetime,
        *,
        out_of_time: Callable[[], bool] | None = None,
    ) -> None:
        self._client = client
        self._tables = tables
        self.tenant_id = keys.check_tenant_id(tenant_id)
        self.reads = reads
        self._since = history_since(now, reads.lookback)
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
                doc = sample_profile(self.tenant_id, item)
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
                yield item_values(raw)
            start = response.get("LastEvaluatedKey")
            if not start:
                return
            request = {**request, "ExclusiveStartKey": start}


def _position(item: Mapping[str, Any]) -> str:
    return str(item.get("sample_sk", ""))[:_POSITION]


def _top_levels(paths: Iterable[str]) -> set[str]:
    """Top-level item attributes holding ``paths`` (``attributes.plan`` -> ``attributes``)."""
    return {path.split(".", 1)[0] for path in paths if path and path != "*"} - {"contact_id", "tenant_id"}


class SampleScanner:
    """:class:`growthos_segments.core.ports.TenantScanner` over the ``by_sample`` indexes."""

    def __init__(self, client: Any, tables: TableNames) -> None:
        self._client = client
        self._tables = tables

    def scan(
        self, tenant_id: str, reads: Reads, now: datetime, *, out_of_time: Callable[[], bool] | None = None
    ) -> TenantStream:
        return TenantStream(self._client, self._tables, tenant_id, reads, now, out_of_time=out_of_time)
