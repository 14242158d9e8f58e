"""The copy's watermark on moto's DynamoDB Streams: a lagging shard holds it back, an idle
tenant is as fresh as the streams.

The contacts and events streams are two shards here (moto gives each stream one):
a contact changed on one, an event on the other. The copy function applies the
events shard and keeps failing the contacts one. The newest delta then says the
copy is as fresh as the event, yet the contact's change, made before it, is not
in the copy; the watermark stays before that change until its shard is applied.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from growthos_segments.analytics.deltas import Delta, ParquetCopy, deltas_prefix, stored_as_of
from growthos_segments.core.ports_copy import WATERMARK
from growthos_segments.devstack.pump import StreamReader
from growthos_segments.handlers import copy as copy_handler
from growthos_segments.handlers import copy_fold
from growthos_segments.infra import aws
from growthos_segments.infra.analytics_copy import DynamoCopyRecords, LocalCopyStorage, S3CopyStorage
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.stream_progress import VISIBLE_AFTER, DynamoStreamBacklog, StorageProgress
from growthos_segments.services.copy import CopyService, StreamWatermark
from tests.integration.test_cold_start_clients import clients_built
from tests.integration.test_copy import _Context, deployed

__all__ = ["deployed"]  # the fixture this module shares with test_copy

OLD = datetime(2026, 11, 1, tzinfo=UTC)
"""When the tenants' copies were rebuilt from the tables (long before the writes)."""


def shard_batch(repos: Repositories, table: str) -> tuple[str, str, list[dict[str, Any]]]:
    """The stream's ARN, its one shard and every record of it, as Lambda delivers them."""
    settings = repos.settings
    arn = repos.client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    reader = StreamReader(aws.client("dynamodbstreams", settings), arn, settings.region)
    (shard,) = reader.shards()
    found, _ = reader.read(reader.iterator(shard.shard_id, "TRIM_HORIZON"), 1000)
    return arn, shard.shard_id, found


def made_at(record: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(record["dynamodb"]["ApproximateCreationDateTime"], UTC)


def copier(
    repos: Repositories, storage: LocalCopyStorage | S3CopyStorage, tmp_path: Path,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> CopyService:
    """The copy service; ``clock`` is when a watermark is computed."""
    progress = StorageProgress(storage)
    backlog = DynamoStreamBacklog(repos.client, aws.client("dynamodbstreams", repos.settings),
                                  repos.settings.tables)
    return CopyService(DynamoCopyRecords(repos.settings.tables), ParquetCopy(storage, workdir=tmp_path / "w"),
                       progress=progress, watermark=StreamWatermark(progress, backlog, clock=clock))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    copy = ParquetCopy(LocalCopyStorage(tmp_path / "copy"), workdir=tmp_path / "w")
    for tenant in ("t1", "idle"):
        copy.rebuild(tenant, [], as_of=OLD)
    return tmp_path / "copy"


def test_a_lagging_shard_holds_the_watermark_back_and_an_idle_tenant_is_fresh(
    repos: Repositories, root: Path, tmp_path: Path
) -> None:
    repos.contacts.put({"tenant_id": "t1", "contact_id": "c1", "attributes": {"plan": "pro"}}, now=OLD)
    repos.events.append("t1", "c2", "order.completed", at=OLD, event_id="e1")
    tables = repos.settings.tables
    contacts_arn, contacts_shard, contacts = shard_batch(repos, tables.contacts)
    events_arn, events_shard, events = shard_batch(repos, tables.events)
    changed = made_at(contacts[0])  # the contact's change, on the shard that lags
    checks = [changed + timedelta(minutes=1)] * 2  # looked at a minute later, twice
    service = copier(repos, LocalCopyStorage(root), tmp_path, clock=lambda: checks.pop(0))
    assert service.apply_batch(events, stream=events_arn, shard_id=events_shard).failed == {}
    newest = max(Delta.parse(path.name).as_of for path in (root / deltas_prefix("t1")).rglob("*.parquet"))
    assert newest >= changed  # what the copy's as_of was: the newest delta, past the missing change

    mark = service.refresh_watermark()
    assert mark.at == changed.replace(microsecond=0) - timedelta(seconds=1)  # the contacts shard's record
    assert mark.shards == 2
    assert mark.requests == 10  # 2 DescribeTable, 2 DescribeStream, an iterator and 1 + 3 GetRecords
    assert stored_as_of(root, "t1") == max(OLD, mark.at) < changed

    assert service.apply_batch(contacts, stream=contacts_arn, shard_id=contacts_shard).failed == {}
    caught_up = service.refresh_watermark()  # a minute after the change: nothing left on either shard
    assert caught_up.at == changed + timedelta(minutes=1) - VISIBLE_AFTER
    assert stored_as_of(root, "t1") == caught_up.at
    assert stored_as_of(root, "idle") == caught_up.at  # no change at all: as fresh as the streams


def test_a_partly_failed_batch_records_the_records_before_the_first_failure(
    repos: Repositories, root: Path, tmp_path: Path
) -> None:
    for n in range(3):
        repos.contacts.put({"tenant_id": "t1", "contact_id": f"c{n}", "attributes": {}}, now=OLD)
    arn, shard_id, batch = shard_batch(repos, repos.settings.tables.contacts)
    unreadable = {**batch[1], "dynamodb": {**batch[1]["dynamodb"], "Keys": {"pk": {"S": "no-separator"}}}}
    service = copier(repos, LocalCopyStorage(root), tmp_path)
    result = service.apply_batch([batch[0], unreadable, batch[2]], stream=arn, shard_id=shard_id)
    assert list(result.failed) == [batch[1]["dynamodb"]["SequenceNumber"]]
    (recorded,) = StorageProgress(LocalCopyStorage(root)).recorded(arn).values()
    assert recorded.sequence == batch[0]["dynamodb"]["SequenceNumber"]  # not the third, applied after it
    mark = service.refresh_watermark()
    assert mark.at < made_at(batch[1])  # the failed record and everything after it are pending

    assert service.apply_batch([unreadable], stream=arn, shard_id=shard_id).failed  # fails again
    (still,) = StorageProgress(LocalCopyStorage(root)).recorded(arn).values()
    assert still.sequence == recorded.sequence


def test_a_batch_without_its_shard_records_no_progress(
    repos: Repositories, root: Path, tmp_path: Path
) -> None:
    repos.contacts.put({"tenant_id": "t1", "contact_id": "c1", "attributes": {}}, now=OLD)
    arn, _, batch = shard_batch(repos, repos.settings.tables.contacts)
    copier(repos, LocalCopyStorage(root), tmp_path).apply_batch(batch)
    assert StorageProgress(LocalCopyStorage(root)).recorded(arn) == {}


def test_progress_and_watermark_in_s3_reach_the_readers_cache(repos: Repositories, tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="copy-bucket")
    storage = S3CopyStorage(s3, "copy-bucket", "copy", cache=tmp_path / "cache")
    ParquetCopy(storage, workdir=tmp_path / "w").rebuild("t1", [], as_of=OLD)
    repos.contacts.put({"tenant_id": "t1", "contact_id": "c1", "attributes": {}}, now=OLD)
    arn, shard_id, batch = shard_batch(repos, repos.settings.tables.contacts)
    service = copier(repos, storage, tmp_path)
    service.apply_batch(batch, stream=arn, shard_id=shard_id)
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket="copy-bucket")["Contents"]}
    table = repos.settings.tables.contacts
    assert f"copy/_progress/{table}/{shard_id}.json" in keys
    mark = service.refresh_watermark()
    assert stored_as_of(storage.local_root("t1"), "t1") == mark.at
    s3.delete_object(Bucket="copy-bucket", Key=f"copy/{WATERMARK}")
    assert stored_as_of(storage.local_root("t1"), "t1") == OLD  # gone from S3, gone from the cache


def test_the_functions_record_progress_per_shard_and_store_the_watermark(
    repos: Repositories, deployed: Path
) -> None:
    written = datetime.now(UTC)
    repos.contacts.put({"tenant_id": "t1", "contact_id": "c1", "attributes": {}}, now=written)
    arn, shard_id, batch = shard_batch(repos, repos.settings.tables.contacts)
    window = {"start": "2026-11-29T04:00:00Z", "end": "2026-11-29T04:05:00Z"}
    event = {"Records": batch, "shardId": shard_id, "eventSourceARN": arn, "window": window, "state": {},
             "isFinalInvokeForWindow": False, "isWindowTerminatedEarly": False}
    assert copy_handler.handler(event, _Context()) == {"state": {}, "batchItemFailures": []}
    final = {**event, "Records": [], "isFinalInvokeForWindow": True}
    assert copy_handler.handler(final, _Context()) == {"state": {}, "batchItemFailures": []}
    progress = json.loads((deployed / "_progress" / repos.settings.tables.contacts / f"{shard_id}.json")
                          .read_text())
    assert progress["sequence"] == batch[-1]["dynamodb"]["SequenceNumber"]
    answer = copy_fold.handler({}, _Context())
    stored = json.loads((deployed / WATERMARK).read_text())
    assert answer["watermark"] == stored["at"]
    assert datetime.fromisoformat(stored["at"]) >= written - timedelta(seconds=1) - VISIBLE_AFTER
    assert stored_as_of(deployed, "t1") == datetime.fromisoformat(stored["at"])


def test_only_the_fold_function_builds_the_watermarks_clients(
    repos: Repositories, deployed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy function's containers never compute the watermark: building it there cost two
    clients at every cold start (``aws.client`` does not cache them)."""
    made = clients_built(monkeypatch)
    copy_handler.service()
    assert made == ["dynamodb"]  # the rebuild's source
    made.clear()
    copy_fold.service()
    assert sorted(made) == ["dynamodb", "dynamodb", "dynamodbstreams"]
