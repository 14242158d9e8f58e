"""Backfill progress on DynamoDB: one item per slice in the counters table.

``T#S`` / ``backfill#<version>#NN`` holds the contacts done, enters, exits, the
cursor of the slice's next page, whether it finished, and when its first and
last pages were counted. A page is counted
only if the slice's stored cursor is still the one the page started from (a
conditional update), so a redelivered message or a second worker on the same
slice never counts twice, and a re-run resumes where the last one stopped.
``backfill#<version>#queued`` says when a save queued the version's backfill; it
sorts after the slices, so one Query reads both.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from growthos_segments.core.ports import BackfillJob, BackfillProgress, SliceState
from growthos_segments.infra import keys
from growthos_segments.infra.repos._common import batch_get, iso, parse_iso

__all__ = ["ProgressStore"]


class ProgressStore:
    """:class:`growthos_segments.core.ports.BackfillProgressStore` on DynamoDB: one item per
    slice in the counters table (raw client: the items carry more than a count, and
    the counter model only knows counts)."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def _key(self, job: BackfillJob, shard: int) -> dict[str, Any]:
        return {
            "pk": {"S": keys.counter_pk(job.tenant_id, job.segment_id)},
            "sk": {"S": keys.backfill_progress_sk(job.version, shard)},
        }

    def slice(self, job: BackfillJob) -> SliceState | None:
        assert job.shard is not None
        item = self._client.get_item(TableName=self._table, Key=self._key(job, job.shard),
                                     ConsistentRead=True).get("Item")
        return None if not item else _slice(item)

    def advance(
        self, job: BackfillJob, *, next_cursor: str | None, done: int, entered: int, exited: int
    ) -> bool:
        """Count one page that started at ``job.cursor``; ``False`` if someone else already did."""
        assert job.shard is not None
        values: dict[str, Any] = {
            ":n": {"N": str(done)},
            ":e": {"N": str(entered)},
            ":x": {"N": str(exited)},
            ":fin": {"BOOL": next_cursor is None},
            ":t": {"S": iso(datetime.now(UTC))},
        }
        update = ("ADD done :n, entered :e, exited :x "
                  "SET finished = :fin, updated_at = :t, started_at = if_not_exists(started_at, :t)")
        if next_cursor is None:
            update += " REMOVE next_cursor"
        else:
            update += ", next_cursor = :next"
            values[":next"] = {"S": next_cursor}
        if job.cursor is None:
            condition = "attribute_not_exists(pk)"
        else:
            condition = "next_cursor = :start AND finished = :false"
            values[":start"] = {"S": job.cursor}
            values[":false"] = {"BOOL": False}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(job, job.shard),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def queued(self, tenant_id: str, segment_id: str, version: int, *, at: datetime) -> None:
        self._client.put_item(TableName=self._table, Item={
            "pk": {"S": keys.counter_pk(tenant_id, segment_id)},
            "sk": {"S": keys.backfill_queued_sk(version)},
            "queued_at": {"S": iso(at)},
        })

    def _items(self, tenant_id: str, segment_id: str, version: int) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.counter_pk(tenant_id, segment_id)},
                ":prefix": {"S": keys.backfill_progress_prefix(version)},
            },
            "ConsistentRead": True,
        }
        items: list[dict[str, Any]] = []
        while True:
            response = self._client.query(**kwargs)
            items += response.get("Items", [])
            if not response.get("LastEvaluatedKey"):
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _slices(self, tenant_id: str, segment_id: str, version: int) -> list[dict[str, Any]]:
        return [item for item in self._items(tenant_id, segment_id, version) if not _is_queued(item)]

    def progress(self, tenant_id: str, segment_id: str, version: int) -> BackfillProgress:
        return _progress(tenant_id, segment_id, version, self._items(tenant_id, segment_id, version))

    def progress_many(self, tenant_id: str, versions: Mapping[str, int]) -> dict[str, BackfillProgress]:
        """Every slice and the queued mark of every version by BatchGetItem,
        ``ceil(17 * segments / 100)`` requests, where ``progress`` is a Query per segment.
        Eventually consistent (half the read cost): a list polled while backfills run may
        lag a page."""
        by_pk = {keys.counter_pk(tenant_id, sid): sid for sid in versions}
        wanted = [
            {"pk": {"S": pk}, "sk": {"S": sk}}
            for pk, sid in by_pk.items()
            for sk in (*(keys.backfill_progress_sk(versions[sid], n) for n in range(keys.CONTACT_SHARDS)),
                       keys.backfill_queued_sk(versions[sid]))
        ]
        found: dict[str, list[dict[str, Any]]] = {sid: [] for sid in versions}
        for item in batch_get(self._client, self._table, wanted):
            found[by_pk[item["pk"]["S"]]].append(item)
        return {sid: _progress(tenant_id, sid, versions[sid], items) for sid, items in found.items()}

    def finished_slices(self, tenant_id: str, segment_id: str, version: int) -> set[int]:
        return {
            int(item["sk"]["S"].rsplit("#", 1)[1])
            for item in self._slices(tenant_id, segment_id, version)
            if item.get("finished", {}).get("BOOL")
        }

    def reset(self, tenant_id: str, segment_id: str, version: int) -> None:
        """Forget a version's slices, so the next run starts from the first contact (that it
        was queued stays true)."""
        for item in self._slices(tenant_id, segment_id, version):
            self._client.delete_item(TableName=self._table, Key={"pk": item["pk"], "sk": item["sk"]})


def _is_queued(item: Mapping[str, Any]) -> bool:
    return str(item["sk"]["S"]).endswith("#queued")


def _progress(
    tenant_id: str, segment_id: str, version: int, items: list[dict[str, Any]]
) -> BackfillProgress:
    queued = [parse_iso(item["queued_at"]["S"]) for item in items if _is_queued(item)]
    states = [_slice(item) for item in items if not _is_queued(item)]
    return BackfillProgress.of(tenant_id, segment_id, version, states, slices=keys.CONTACT_SHARDS,
                               queued_at=queued[0] if queued else None)


def _slice(item: Mapping[str, Any]) -> SliceState:
    def number(name: str) -> int:
        return int(item.get(name, {}).get("N", "0"))

    def time(name: str) -> datetime | None:
        text = item.get(name, {}).get("S")
        return parse_iso(text) if text else None

    return SliceState(
        done=number("done"),
        entered=number("entered"),
        exited=number("exited"),
        cursor=item.get("next_cursor", {}).get("S"),
        finished=bool(item.get("finished", {}).get("BOOL")),
        started_at=time("started_at"),
        updated_at=time("updated_at"),
    )


