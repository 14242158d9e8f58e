"""How far the copy function has applied each stream shard, and what each shard holds after that.

- :class:`StorageProgress` keeps, beside the copy's files (the same
  :class:`~growthos_segments.core.ports_copy.CopyStorage`: a folder, or S3), one
  small object per shard, ``_progress/<table>/<shard id>.json``, with the last
  sequence number the copy function applied and that record's creation time, and
  the copy's watermark (``_watermark.json``). Names starting with ``_`` sit beside
  the ``tenant_id=`` folders and are never part of a tenant's files.
- :class:`DynamoStreamBacklog` reads the two tables' streams: DescribeStream
  (paged) for the shards, then for each shard an iterator after the recorded
  sequence number (at the trim horizon without one, or when the stream no longer
  holds it) and GetRecords with ``Limit=1``. A record there was not applied yet:
  the shard is bounded by its creation time. DynamoDB gives that time in whole
  seconds, rounded down, and records of different items in one shard are not
  strictly in creation order, so the bound is one second earlier still. A closed
  shard read to its end holds nothing more (no bound). An open shard with no record
  after the progress is bounded by the time of the look less :data:`VISIBLE_AFTER`,
  the time a write is assumed to take to appear in its stream. GetRecords may
  answer an empty page before a later record ("it might take multiple calls to get
  to a portion of the shard that contains stream records", says its reference), so
  an empty page is followed up to :data:`PAGES` times before the shard counts as
  caught up.

Each stream's ARN is the table's ``LatestStreamArn`` (DescribeTable): the local
stack enables the streams only after seeding its tables, and a stream turned off
and on again gets a new ARN, so a fixed ARN in the environment could be stale.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from growthos_segments.core.ports_copy import WATERMARK, CopyStorage, ShardBound, ShardProgress, Watermark
from growthos_segments.core.timeutil import as_utc, parse_instant, to_iso
from growthos_segments.infra.settings import TableNames

__all__ = ["PAGES", "PROGRESS", "RECORD_MARGIN", "VISIBLE_AFTER", "DynamoStreamBacklog", "StorageProgress"]

PROGRESS = "_progress"
RECORD_MARGIN = timedelta(seconds=1)
"""Taken off a pending record's creation time (whole seconds, rounded down): records of
different items in a shard may be a little out of creation order."""
VISIBLE_AFTER = timedelta(seconds=2)
"""How long a write is assumed to take to appear in its stream: a shard caught up at the
look vouches for the changes made this much before it."""
PAGES = 3
"""GetRecords pages followed while they come back empty before a shard counts as caught up."""

_SHARD = re.compile(r"[A-Za-z0-9_.-]{1,100}\Z")


def _table_of(stream: str) -> str:
    """``arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>`` -> ``<table>``."""
    found = re.search(r":table/([A-Za-z0-9_.-]+)/stream/", stream)
    if found is None:
        raise ValueError(f"not a DynamoDB stream ARN: {stream!r}")
    return found.group(1)


class StorageProgress:
    """:class:`~growthos_segments.core.ports_copy.CopyProgress` as small objects in the copy's storage."""

    def __init__(self, storage: CopyStorage) -> None:
        self._storage = storage

    def _folder(self, stream: str) -> str:
        return f"{PROGRESS}/{_table_of(stream)}"

    def record(self, progress: ShardProgress) -> None:
        if _SHARD.match(progress.shard_id) is None:
            raise ValueError(f"unexpected shard id {progress.shard_id!r}")
        body = {"stream": progress.stream, "shard_id": progress.shard_id, "sequence": progress.sequence,
                "changed_at": to_iso(progress.changed_at, "microseconds")}
        self._storage.write(f"{self._folder(progress.stream)}/{progress.shard_id}.json",
                            json.dumps(body).encode("utf-8"))

    def recorded(self, stream: str) -> dict[str, ShardProgress]:
        found: dict[str, ShardProgress] = {}
        for path in self._storage.listing(self._folder(stream) + "/"):
            data = self._storage.read(path)
            body = json.loads(data) if data else {}
            if body.get("stream") == stream:  # a shard of an earlier stream of the table is not this one's
                shard_id = str(body["shard_id"])
                found[shard_id] = ShardProgress(stream, shard_id, str(body["sequence"]),
                                                parse_instant(body.get("changed_at")))
        return found

    def forget(self, stream: str, shard_ids: Iterable[str]) -> None:
        self._storage.remove([f"{self._folder(stream)}/{shard_id}.json" for shard_id in sorted(shard_ids)])

    def save(self, watermark: Watermark) -> None:
        body = {"at": to_iso(watermark.at, "microseconds"),
                "checked_at": to_iso(watermark.checked_at, "microseconds"),
                "shards": watermark.shards, "requests": watermark.requests}
        self._storage.write(WATERMARK, json.dumps(body).encode("utf-8"))


class DynamoStreamBacklog:
    """:class:`~growthos_segments.core.ports_copy.StreamBacklog` on DynamoDB Streams (see the
    module docstring)."""

    def __init__(self, dynamodb: Any, streams: Any, tables: TableNames, *, pages: int = PAGES) -> None:
        self._dynamodb = dynamodb
        self._streams = streams
        self._tables = tables
        self._pages = pages
        self.requests = 0

    def streams(self) -> list[str]:
        found = []
        for table in (self._tables.contacts, self._tables.events):
            self.requests += 1
            arn = self._dynamodb.describe_table(TableName=table)["Table"].get("LatestStreamArn")
            if not arn:
                raise ValueError(f"table {table} has no stream: the copy cannot be kept from it")
            found.append(str(arn))
        return found

    def bounds(
        self, stream: str, progress: Mapping[str, ShardProgress], checked_at: datetime
    ) -> list[ShardBound]:
        return [self._bound(stream, shard, progress.get(str(shard["ShardId"])), checked_at)
                for shard in self._shards(stream)]

    def _shards(self, stream: str) -> Iterator[Mapping[str, Any]]:
        start: str | None = None
        while True:
            kwargs: dict[str, Any] = {"StreamArn": stream}
            if start:
                kwargs["ExclusiveStartShardId"] = start
            self.requests += 1
            description = self._streams.describe_stream(**kwargs)["StreamDescription"]
            yield from description.get("Shards", [])
            start = description.get("LastEvaluatedShardId")
            if not start:
                return

    def _bound(
        self, stream: str, shard: Mapping[str, Any], progress: ShardProgress | None, checked_at: datetime
    ) -> ShardBound:
        shard_id = str(shard["ShardId"])
        ending = (shard.get("SequenceNumberRange") or {}).get("EndingSequenceNumber")
        if progress is not None and ending is not None and int(progress.sequence) >= int(ending):
            return ShardBound(shard_id, None, "closed, applied to its end")
        iterator = self._iterator(stream, shard_id, progress)
        for _ in range(self._pages):
            self.requests += 1
            page = self._streams.get_records(ShardIterator=iterator, Limit=1)
            records = page.get("Records") or []
            if records:
                made = as_utc(records[0]["dynamodb"]["ApproximateCreationDateTime"]).replace(microsecond=0)
                return ShardBound(shard_id, made - RECORD_MARGIN,
                                  f"record {records[0]['dynamodb']['SequenceNumber']} not applied yet")
            iterator = page.get("NextShardIterator")
            if iterator is None:
                return ShardBound(shard_id, None, "closed, nothing after the copy's progress")
        return ShardBound(shard_id, checked_at - VISIBLE_AFTER, "nothing after the copy's progress")

    def _iterator(self, stream: str, shard_id: str, progress: ShardProgress | None) -> str:
        kwargs: dict[str, Any] = {"StreamArn": stream, "ShardId": shard_id}
        if progress is not None:
            after = {**kwargs, "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                     "SequenceNumber": progress.sequence}
            self.requests += 1
            try:
                return str(self._streams.get_shard_iterator(**after)["ShardIterator"])
            except ClientError as error:  # the stream dropped that record (24 h): read what it still holds
                if error.response.get("Error", {}).get("Code") != "TrimmedDataAccessException":
                    raise
        self.requests += 1
        oldest = self._streams.get_shard_iterator(**kwargs, ShardIteratorType="TRIM_HORIZON")
        return str(oldest["ShardIterator"])
