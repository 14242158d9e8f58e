"""The SegmentSizes port answers the same on DynamoDB (moto) and in memory.

Counts are the membership counters' (read in batches on DynamoDB), history keeps
the first point of each bucket, oldest first from ``since``, and on DynamoDB each
point is one item with a TTL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from growthos_segments.core.ports import HISTORY_KEEP, MembershipStore, Resolution, SegmentSizes, SizePoint
from growthos_segments.infra import keys
from growthos_segments.infra.memory import MemoryBackend
from growthos_segments.infra.memory_audience import MemorySegmentSizes
from growthos_segments.infra.repos import Repositories

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
HOUR, DAY = Resolution.HOUR, Resolution.DAY


@dataclass
class Ports:
    sizes: SegmentSizes
    memberships: MembershipStore


@pytest.fixture(params=["dynamodb", "memory"])
def ports(request: pytest.FixtureRequest) -> Iterator[Ports]:
    if request.param == "memory":
        memberships = MemoryBackend().memberships
        yield Ports(MemorySegmentSizes(memberships), memberships)
    else:
        repos: Repositories = request.getfixturevalue("repos")
        yield Ports(repos.sizes, repos.memberships)


def enter(ports: Ports, tenant: str, segment: str, contacts: range) -> None:
    for n in contacts:
        ports.memberships.enter(tenant, segment, f"c{n:03d}", seq=1, at=NOW)


def test_counts_are_the_counters_of_each_segment_of_the_tenant_only(ports: Ports) -> None:
    enter(ports, "t1", "a", range(30))
    enter(ports, "t1", "b", range(5))
    enter(ports, "t2", "a", range(7))
    ports.memberships.exit("t1", "a", "c000", seq=2, at=NOW)
    wanted = ["a", "b", "never_filled"]
    assert ports.sizes.counts("t1", wanted) == {"a": 29, "b": 5, "never_filled": 0}
    assert ports.sizes.counts("t1", wanted) == {sid: ports.memberships.count("t1", sid) for sid in wanted}
    assert ports.sizes.counts("t2", ["a", "b"]) == {"a": 7, "b": 0}
    assert ports.sizes.counts("t1", []) == {}


def test_the_first_point_of_a_bucket_stays_and_points_come_oldest_first(ports: Ports) -> None:
    sizes = ports.sizes
    assert sizes.record("t1", {"a": 3, "b": 1}, at=NOW + timedelta(minutes=59), resolutions=[HOUR, DAY]) == 4
    assert sizes.record("t1", {"a": 4, "b": 2}, at=NOW + timedelta(minutes=1), resolutions=[HOUR, DAY]) == 0
    assert sizes.record("t1", {"a": 5}, at=NOW + timedelta(hours=1), resolutions=[HOUR]) == 1
    assert sizes.record("t1", {"a": 1}, at=NOW - timedelta(hours=1), resolutions=[HOUR]) == 1
    assert sizes.record("t2", {"a": 100}, at=NOW, resolutions=[HOUR]) == 1
    assert sizes.history("t1", "a", HOUR, since=NOW - timedelta(days=1)) == [
        SizePoint(NOW - timedelta(hours=1), 1), SizePoint(NOW, 3), SizePoint(NOW + timedelta(hours=1), 5)]
    assert sizes.history("t1", "a", DAY, since=NOW - timedelta(days=1)) == [
        SizePoint(datetime(2026, 11, 22, tzinfo=UTC), 3)]
    assert sizes.history("t1", "a", HOUR, since=NOW + timedelta(seconds=1)) == [
        SizePoint(NOW + timedelta(hours=1), 5)]
    assert sizes.history("t1", "a", HOUR, since=NOW - timedelta(days=1), limit=2) == [
        SizePoint(NOW - timedelta(hours=1), 1), SizePoint(NOW, 3)]
    assert sizes.history("t2", "a", HOUR, since=NOW - timedelta(days=1)) == [SizePoint(NOW, 100)]
    assert sizes.history("t2", "b", HOUR, since=NOW - timedelta(days=1)) == []


def test_dynamodb_reads_every_count_of_a_page_in_one_batch_per_100_shards(repos: Repositories) -> None:
    segments = [f"s{n:02d}" for n in range(30)]
    for segment in segments[:3]:
        repos.memberships.enter("t1", segment, "c1", seq=1, at=NOW)
    repos.requests.reset()
    counts = repos.sizes.counts("t1", segments)
    assert counts == {sid: int(sid in segments[:3]) for sid in segments}
    assert dict(repos.requests.by_operation) == {"BatchGetItem": 3}  # 240 counter shards, 100 a request
    repos.requests.reset()
    repos.sizes.counts("t1", segments[:12])
    assert dict(repos.requests.by_operation) == {"BatchGetItem": 1}


def test_dynamodb_keeps_one_item_per_bucket_with_its_ttl_beside_the_counters(repos: Repositories) -> None:
    repos.memberships.enter("t1", "a", "c1", seq=1, at=NOW)
    at = NOW + timedelta(minutes=30)
    repos.sizes.record("t1", {"a": 1}, at=at, resolutions=[HOUR, DAY])
    repos.sizes.record("t1", {"a": 2}, at=at, resolutions=[HOUR, DAY])
    items = repos.client.query(
        TableName=repos.settings.tables.counters, KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.counter_pk("t1", "a")}},
    )["Items"]
    sizes = {i["sk"]["S"]: (i["count"]["N"], int(i["expires_at"]["N"])) for i in items
             if i["sk"]["S"].startswith("size#")}
    day = datetime(2026, 11, 22, tzinfo=UTC)
    assert sizes == {
        "size#hour#2026-11-22T12:00Z": ("1", int((NOW + HISTORY_KEEP[HOUR]).timestamp())),
        "size#day#2026-11-22T00:00Z": ("1", int((day + HISTORY_KEEP[DAY]).timestamp())),
    }
    assert HISTORY_KEEP[HOUR] >= timedelta(days=30) and HISTORY_KEEP[DAY] >= timedelta(days=400)
    assert repos.memberships.count("t1", "a") == 1  # the members# Query does not meet size# items
