"""The copy's watermark over shards moto cannot make: closed, new, trimmed, listed over pages.

A small stand-in for DynamoDB and DynamoDB Streams serves the three calls the
watermark makes (DescribeTable, DescribeStream, GetShardIterator, GetRecords) with
DynamoDB's answers: pages of shards, ``TrimmedDataAccessException`` for a sequence
number the stream dropped, no next iterator at the end of a closed shard, and, as
its reference allows, empty pages before a record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from growthos_segments.core.ports_copy import ShardProgress, Watermark
from growthos_segments.infra.analytics_copy import LocalCopyStorage
from growthos_segments.infra.settings import TableNames
from growthos_segments.infra.stream_progress import (
    RECORD_MARGIN,
    VISIBLE_AFTER,
    DynamoStreamBacklog,
    StorageProgress,
)
from growthos_segments.services.copy import StreamWatermark

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
TABLES = TableNames.with_prefix("wm")
ARNS = {TABLES.contacts: f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLES.contacts}/stream/2026-11-01",
        TABLES.events: f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLES.events}/stream/2026-11-01"}


@dataclass
class Shard:
    records: list[datetime]
    """Creation times; record n has sequence number ``start + n``."""
    start: int = 100
    closed: bool = False
    trimmed: int = 0
    """Records the stream no longer holds (the first ``trimmed``)."""
    empty_pages: int = 0
    """Empty pages a fresh iterator reads before its records."""


@dataclass
class Streams:
    """DynamoDB and DynamoDB Streams, as far as the watermark reads them."""

    shards: dict[str, dict[str, Shard]]
    page_size: int = 2
    calls: list[str] = field(default_factory=list)

    def describe_table(self, TableName: str) -> dict[str, Any]:
        return {"Table": {"LatestStreamArn": ARNS[TableName]}}

    def describe_stream(self, StreamArn: str, ExclusiveStartShardId: str | None = None) -> dict[str, Any]:
        self.calls.append("DescribeStream")
        ids = sorted(self.shards[StreamArn])
        start = ids.index(ExclusiveStartShardId) + 1 if ExclusiveStartShardId else 0
        page = ids[start:start + self.page_size]
        listed = []
        for shard_id in page:
            shard = self.shards[StreamArn][shard_id]
            span = {"StartingSequenceNumber": str(shard.start)}
            if shard.closed:
                span["EndingSequenceNumber"] = str(shard.start + len(shard.records) - 1)
            listed.append({"ShardId": shard_id, "SequenceNumberRange": span})
        more = start + self.page_size < len(ids)
        last = {"LastEvaluatedShardId": page[-1]} if more else {}
        return {"StreamDescription": {"Shards": listed, **last}}

    def get_shard_iterator(self, StreamArn: str, ShardId: str, ShardIteratorType: str,
                           SequenceNumber: str | None = None) -> dict[str, Any]:
        self.calls.append(f"GetShardIterator {ShardIteratorType}")
        shard = self.shards[StreamArn][ShardId]
        position = shard.trimmed
        if ShardIteratorType == "AFTER_SEQUENCE_NUMBER":
            position = int(str(SequenceNumber)) - shard.start + 1
            if position - 1 < shard.trimmed:
                raise ClientError({"Error": {"Code": "TrimmedDataAccessException", "Message": "trimmed"}},
                                  "GetShardIterator")
        return {"ShardIterator": f"{StreamArn}|{ShardId}|{position}|{shard.empty_pages}"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        self.calls.append("GetRecords")
        stream, shard_id, at, empty = ShardIterator.split("|")
        shard, position = self.shards[stream][shard_id], int(at)
        if int(empty):
            return {"Records": [], "NextShardIterator": f"{stream}|{shard_id}|{position}|{int(empty) - 1}"}
        found = [{"dynamodb": {"SequenceNumber": str(shard.start + n), "ApproximateCreationDateTime": made}}
                 for n, made in enumerate(shard.records[position:position + Limit], start=position)]
        position += len(found)
        ended = shard.closed and position >= len(shard.records)
        following = {} if ended else {"NextShardIterator": f"{stream}|{shard_id}|{position}|0"}
        return {"Records": found, **following}


def watermark(
    tmp_path: Path, streams: Streams, progress: dict[str, dict[str, int]]
) -> tuple[Watermark, StorageProgress]:
    """The watermark computed at ``NOW`` with the copy function's progress (stream -> shard ->
    index of the last applied record)."""
    stored = StorageProgress(LocalCopyStorage(tmp_path / "copy"))
    for stream, shards in progress.items():
        for shard_id, index in shards.items():
            shard = streams.shards[stream][shard_id]
            stored.record(ShardProgress(stream, shard_id, str(shard.start + index), shard.records[index]))
    backlog = DynamoStreamBacklog(streams, streams, TABLES)
    return StreamWatermark(stored, backlog, clock=lambda: NOW).refresh(), stored


def at(minutes: int, seconds: float = 0) -> datetime:
    return NOW - timedelta(minutes=minutes) + timedelta(seconds=seconds)


C, E = ARNS[TABLES.contacts], ARNS[TABLES.events]


def test_a_lagging_shard_bounds_the_watermark_however_far_the_others_are(tmp_path: Path) -> None:
    streams = Streams({C: {"a": Shard([at(9), at(5, 0.4)]), "b": Shard([at(9), at(2), at(1)])},
                       E: {"e": Shard([at(3)])}})
    mark, _ = watermark(tmp_path, streams, {C: {"a": 0, "b": 2}, E: {"e": 0}})
    assert mark.at == at(5) - RECORD_MARGIN  # a's second record (second precision, one more off)
    assert (mark.shards, mark.checked_at) == (3, NOW)


def test_every_shard_caught_up_is_fresh_to_the_look(tmp_path: Path) -> None:
    streams = Streams({C: {"a": Shard([at(90)])}, E: {"e": Shard([at(80)])}})
    mark, _ = watermark(tmp_path, streams, {C: {"a": 0}, E: {"e": 0}})
    assert mark.at == NOW - VISIBLE_AFTER  # an idle tenant: nothing waits on any shard


def test_closed_shards_bound_only_while_they_hold_unapplied_records(tmp_path: Path) -> None:
    done, behind = Shard([at(50), at(40)], closed=True), Shard([at(50), at(30)], closed=True, start=300)
    streams = Streams({C: {"done": done, "behind": behind, "open": Shard([at(20)], start=500)},
                       E: {"e": Shard([at(10)])}})
    mark, _ = watermark(tmp_path, streams, {C: {"done": 1, "behind": 0, "open": 0}, E: {"e": 0}})
    assert mark.at == at(30) - RECORD_MARGIN
    streams.shards[C]["behind"] = Shard([at(50)], closed=True, start=300)
    mark, _ = watermark(tmp_path / "2", streams, {C: {"done": 1, "behind": 0, "open": 0}, E: {"e": 0}})
    assert mark.at == NOW - VISIBLE_AFTER
    assert "GetShardIterator AFTER_SEQUENCE_NUMBER" in streams.calls


def test_a_new_shard_without_progress_is_read_from_its_trim_horizon(tmp_path: Path) -> None:
    streams = Streams({C: {"old": Shard([at(50)], closed=True), "new": Shard([at(4), at(3)], start=900)},
                       E: {"e": Shard([at(10)]), "empty": Shard([], start=700)}})
    mark, _ = watermark(tmp_path, streams, {C: {"old": 0}, E: {"e": 0}})
    assert mark.at == at(4) - RECORD_MARGIN  # the new shard's first record, not applied yet
    assert streams.calls.count("GetShardIterator TRIM_HORIZON") == 2  # "new", and the empty "empty"


def test_progress_the_stream_dropped_reads_what_it_still_holds(tmp_path: Path) -> None:
    trimmed = Shard([at(60 * 25), at(60 * 24 + 1), at(7)], trimmed=2)
    streams = Streams({C: {"a": trimmed}, E: {"e": Shard([at(10)])}})
    mark, _ = watermark(tmp_path, streams, {C: {"a": 0}, E: {"e": 0}})
    assert mark.at == at(7) - RECORD_MARGIN
    assert streams.calls.count("GetShardIterator TRIM_HORIZON") == 1


def test_shards_over_several_pages_are_all_looked_at_and_gone_ones_forgotten(tmp_path: Path) -> None:
    shards = {f"s{n}": Shard([at(20 - n)], start=100 * n) for n in range(5)}
    streams = Streams({C: shards, E: {"e": Shard([at(10)])}})
    stored = StorageProgress(LocalCopyStorage(tmp_path / "copy"))
    stored.record(ShardProgress(C, "expired", "5", at(60 * 30)))  # a shard the stream no longer lists
    backlog = DynamoStreamBacklog(streams, streams, TABLES)
    StreamWatermark(stored, backlog, clock=lambda: NOW).compute()
    assert "expired" in stored.recorded(C)  # computing writes nothing: a backfill may do it
    mark, _ = watermark(tmp_path, streams, {C: {f"s{n}": 0 for n in range(4)}, E: {"e": 0}})
    assert mark.at == at(16) - RECORD_MARGIN  # s4 (third page) holds an unapplied record
    assert mark.shards == 6 and streams.calls.count("DescribeStream") == 2 * (3 + 1)
    assert set(stored.recorded(C)) == {"s0", "s1", "s2", "s3"}
    per_shard = (mark.requests - 2 - 4) / mark.shards
    assert per_shard <= 1 + 3  # an iterator and at most three pages


def test_empty_pages_before_a_record_are_followed(tmp_path: Path) -> None:
    streams = Streams({C: {"a": Shard([at(9), at(6)], empty_pages=2)}, E: {"e": Shard([at(10)])}})
    mark, _ = watermark(tmp_path, streams, {C: {"a": 0}, E: {"e": 0}})
    assert mark.at == at(6) - RECORD_MARGIN


def test_a_stream_without_an_open_shard_gives_no_watermark(tmp_path: Path) -> None:
    streams = Streams({C: {"a": Shard([at(9)], closed=True)}, E: {"e": Shard([at(10)])}})
    with pytest.raises(ValueError, match="no open shard"):
        watermark(tmp_path, streams, {C: {"a": 0}, E: {"e": 0}})


def test_a_progress_of_another_stream_of_the_table_is_not_this_ones(tmp_path: Path) -> None:
    stored = StorageProgress(LocalCopyStorage(tmp_path / "copy"))
    older = C.replace("2026-11-01", "2026-10-01")
    stored.record(ShardProgress(older, "a", "150", at(60)))
    assert stored.recorded(C) == {}
    with pytest.raises(ValueError, match="shard id"):
        stored.record(ShardProgress(C, "../escape", "1", None))
