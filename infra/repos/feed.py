"""Transition feed on DynamoDB: one TTL'd item per transition in the counters table.

``<tenant>#<segment>#feed`` / ``<at, microseconds>#<transition id>``: a Query of
the partition with ``ScanIndexForward=False`` reads a segment's transitions
newest first, and the sort key's time bounds it to the kept window (DynamoDB's
TTL deletes expired items up to days late; a read never returns them). Segment
ids cannot hold ``#``, so the partition never meets a segment's counters
(``<tenant>#<segment>``) or the tenant's own items (``<tenant>#_tenant``).

Why the counters table rather than a table of its own: the feed is derived,
per-segment data like the counters beside it, read and written by the same
functions, and it needs nothing the table lacks but a TTL attribute (the
counters carry no ``expires_at``, so the TTL never touches them). A recorded
transition is a plain put of a key that names the transition, so a retried
record overwrites its own item with the same values: once, however often.

A segment's feed is one partition: it takes about 1,000 transitions a second
(DynamoDB's per-partition write rate) before puts are throttled and retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from growthos_segments.core.ports import FEED_KEEP, CursorError, FeedPage, Transition
from growthos_segments.infra import keys
from growthos_segments.infra.repos._common import decode_cursor, encode_cursor, iso, parse_iso

__all__ = ["DynamoTransitionFeed", "feed_pk", "feed_sk"]

_BATCH = 25
_ATTEMPTS = 8


def feed_pk(tenant_id: str, segment_id: str) -> str:
    return keys.membership_pk(tenant_id, segment_id) + "#feed"


def feed_sk(at: datetime, transition_id: str) -> str:
    return f"{iso(at, 'microseconds')}#{transition_id}"


class DynamoTransitionFeed:
    """:class:`growthos_segments.core.ports.TransitionFeed` on the counters table."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def record(self, transitions: Sequence[Transition]) -> None:
        items = {
            (feed_pk(t.tenant_id, t.segment_id), feed_sk(t.at, t.transition_id)): t for t in transitions
        }
        puts = [{"PutRequest": {"Item": _item(pk, sk, t)}} for (pk, sk), t in items.items()]
        for start in range(0, len(puts), _BATCH):
            pending = {self._table: puts[start:start + _BATCH]}
            for _ in range(_ATTEMPTS):
                pending = self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if not pending:
                    break
            else:
                raise RuntimeError("BatchWriteItem kept returning unprocessed items (throttled); retry")

    def recent(
        self,
        tenant_id: str,
        segment_id: str,
        *,
        now: datetime,
        limit: int,
        cursor: str | None = None,
        after: str | None = None,
    ) -> FeedPage:
        pk = feed_pk(tenant_id, segment_id)
        low = feed_sk(now - FEED_KEEP, "")
        mark = _position(after, pk)
        if mark is not None:
            low = max(low, mark["sk"]["S"])
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk > :low",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":low": {"S": low}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        start = _position(cursor, pk)
        if start is not None:
            request["ExclusiveStartKey"] = start
        page = self._client.query(**request)
        raw = page.get("Items", [])
        items = [_transition(tenant_id, segment_id, item) for item in raw]
        newest = encode_cursor({"pk": {"S": pk}, "sk": raw[0]["sk"]}) if raw else None
        return FeedPage(items, encode_cursor(page.get("LastEvaluatedKey")), newest)


def _position(token: str | None, pk: str) -> dict[str, Any] | None:
    """The key a cursor or an ``after`` mark holds, if it was issued for this feed."""
    key = decode_cursor(token, equal={"pk": pk}, allowed=frozenset({"sk"}))
    if key is not None and "sk" not in key:
        raise CursorError("malformed cursor")
    return key


def _item(pk: str, sk: str, transition: Transition) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": pk},
        "sk": {"S": sk},
        "contact_id": {"S": transition.contact_id},
        "kind": {"S": transition.kind},
        "at": {"S": iso(transition.at)},
        "transition_id": {"S": transition.transition_id},
        "expires_at": {"N": str(keys.expires_at(transition.at, FEED_KEEP))},
    }
    if transition.segment_version is not None:
        item["segment_version"] = {"N": str(transition.segment_version)}
    return item


def _transition(tenant_id: str, segment_id: str, item: dict[str, Any]) -> Transition:
    version = item.get("segment_version")
    return Transition(
        tenant_id=tenant_id,
        segment_id=segment_id,
        contact_id=item["contact_id"]["S"],
        kind="enter" if item["kind"]["S"] == "enter" else "exit",
        at=parse_iso(item["at"]["S"]),
        segment_version=int(version["N"]) if version else None,
        transition_id=item["transition_id"]["S"],
    )
