"""Segment sizes on DynamoDB: many counts in one batch read, size history beside the counters.

The history lives in the counters table, in the segment's counter partition
(``T#S``) under its own sort-key prefix, ``size#<resolution>#<bucket start>``:
one item per segment and bucket, with ``count`` and an ``expires_at`` TTL
attribute. It is derived per-segment data like the counters and the backfill
progress beside it, so it needs no table, stream or permissions of its own, and
a segment's points are one key-range Query in time order. Nothing that reads the
partition by prefix (``members#``, ``backfill#``) can meet a ``size#`` item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from growthos_segments.core.ports import HISTORY_KEEP, HISTORY_PAGE, Resolution, SizePoint, bucket_start
from growthos_segments.infra import keys
from growthos_segments.infra.repos._common import batch_get, parse_iso

__all__ = ["DynamoSegmentSizes"]


class DynamoSegmentSizes:
    """:class:`growthos_segments.core.ports.SegmentSizes` on the counters table (raw client:
    a batch read over many partitions, and conditional puts of items with a TTL)."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def counts(self, tenant_id: str, segment_ids: Sequence[str]) -> dict[str, int]:
        """Every counter shard of every segment by BatchGetItem: ``ceil(8 * segments / 100)``
        requests (plus one per retry of keys DynamoDB left unprocessed), where a Query per
        segment would cost one request each."""
        by_pk = {keys.counter_pk(tenant_id, sid): sid for sid in segment_ids}
        wanted = [
            {"pk": {"S": pk}, "sk": {"S": keys.counter_shard_sk(keys.MEMBERS_COUNTER, shard)}}
            for pk in by_pk
            for shard in range(keys.COUNTER_SHARDS)
        ]
        totals = dict.fromkeys(segment_ids, 0)
        projection = {"ProjectionExpression": "pk, #count", "ExpressionAttributeNames": {"#count": "count"}}
        for item in batch_get(self._client, self._table, wanted, ConsistentRead=True, **projection):
            totals[by_pk[item["pk"]["S"]]] += int(item.get("count", {}).get("N", "0"))
        return totals

    def record(
        self, tenant_id: str, counts: Mapping[str, int], *, at: datetime, resolutions: Sequence[Resolution]
    ) -> int:
        """One conditional put per segment and resolution: the first count of a bucket stays."""
        written = 0
        for resolution in resolutions:
            start = bucket_start(at, resolution)
            expires = keys.expires_at(start, HISTORY_KEEP[resolution])
            for segment_id, count in counts.items():
                try:
                    self._client.put_item(
                        TableName=self._table,
                        Item={
                            "pk": {"S": keys.counter_pk(tenant_id, segment_id)},
                            "sk": {"S": keys.size_history_sk(resolution, start)},
                            "count": {"N": str(count)},
                            "expires_at": {"N": str(expires)},
                        },
                        ConditionExpression="attribute_not_exists(pk)",
                    )
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                        raise
                else:
                    written += 1
        return written

    def history(
        self, tenant_id: str, segment_id: str, resolution: Resolution, *, since: datetime,
        limit: int = HISTORY_PAGE,
    ) -> list[SizePoint]:
        """One Query of the segment's points from ``since`` (oldest first); ``limit`` ≤ 800
        items of about 60 bytes stay far below the 1 MB a Query page holds."""
        prefix = keys.size_history_prefix(resolution)
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :from AND :to",
            ExpressionAttributeValues={
                ":pk": {"S": keys.counter_pk(tenant_id, segment_id)},
                ":from": {"S": keys.size_history_sk(resolution, since)},
                ":to": {"S": prefix + "~"},
            },
            ProjectionExpression="sk, #count",
            ExpressionAttributeNames={"#count": "count"},
            Limit=limit,
        )
        points = [
            SizePoint(parse_iso(item["sk"]["S"].removeprefix(prefix)), int(item["count"]["N"]))
            for item in response.get("Items", [])
        ]
        return [p for p in points if p.at >= since]  # the key has minutes; ``since`` may have seconds
