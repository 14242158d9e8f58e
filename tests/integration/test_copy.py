"""The copy kept from real (moto) DynamoDB streams holds what the per-contact path reads.

Contacts and events are written through the repositories other modules use; the
two tables' stream records go through the copy service as Lambda would deliver
them, and the copy's views are compared with the contact views the stream
evaluator loads (``ContactViews.load_view``), contact by contact: the same
profile document, the same events. The same holds for a rebuild from the tables,
and for the copy kept in S3 (moto's) and read through the local cache.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest

from growthos_segments.analytics.deltas import ParquetCopy, deltas_prefix, merge_deltas, stored_as_of
from growthos_segments.analytics.parquet import open_tenant
from growthos_segments.core.timeutil import parse_instant, to_iso
from growthos_segments.devstack import cli
from growthos_segments.devstack.pump import StreamReader
from growthos_segments.handlers import copy as copy_handler
from growthos_segments.handlers import copy_fold
from growthos_segments.infra import aws
from growthos_segments.infra.analytics_copy import (
    DynamoCopyRecords,
    DynamoCopySource,
    LocalCopyStorage,
    S3CopyStorage,
    copy_storage,
)
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.settings import Settings, SettingsError, current_settings
from growthos_segments.services.copy import CopyService

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def records(repos: Repositories, table: str) -> list[dict[str, Any]]:
    settings = repos.settings
    arn = repos.client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    reader = StreamReader(aws.client("dynamodbstreams", settings), arn, settings.region)
    (shard,) = reader.shards()
    found, _ = reader.read(reader.iterator(shard.shard_id, "TRIM_HORIZON"), 1000)
    return found


def stream_batches(repos: Repositories) -> list[list[dict[str, Any]]]:
    tables = repos.settings.tables
    return [records(repos, tables.contacts), records(repos, tables.events)]


def write_changes(repos: Repositories) -> None:
    contacts, events = repos.contacts, repos.events
    contacts.put({"tenant_id": "t1", "contact_id": "c1", "attributes": {"plan": "free", "city": "Oslo"},
                  "tags": ["vip"], "scores": {"nps": 3}}, now=NOW)
    contacts.patch("t1", "c1", scores={"nps": 9}, custom={"ltv": 12.5}, now=NOW + timedelta(minutes=1))
    contacts.put({"tenant_id": "t1", "contact_id": "c2", "attributes": {"plan": "pro"}}, now=NOW)
    contacts.put({"tenant_id": "t1", "contact_id": "gone", "attributes": {}}, now=NOW)
    contacts.delete("t1", "gone")
    contacts.put({"tenant_id": "t2", "contact_id": "c1", "attributes": {"plan": "team"}}, now=NOW)
    events.append("t1", "c1", "email.opened", at=NOW - timedelta(days=2), properties={"campaign": "q4"},
                  event_id="e1")
    events.append("t1", "c1", "order.completed", at=NOW - timedelta(days=1), properties={"total": 40},
                  event_id="e2")
    events.append("t1", "c2", "email.opened", at=NOW - timedelta(hours=3), event_id="e3")
    events.append("t2", "c1", "email.opened", at=NOW - timedelta(hours=3), event_id="e4")


def event_row(name: str, at: datetime | None, properties: Any) -> tuple[str, str, str]:
    assert at is not None
    return name, to_iso(at, "microseconds"), json.dumps(properties, sort_keys=True)


def per_contact(repos: Repositories, tenant_id: str, contact_ids: list[str]) -> dict[str, Any]:
    """The documents the stream evaluator evaluates: profile and every event, as loaded."""
    out = {}
    for contact_id in contact_ids:
        doc = repos.views.load_view(tenant_id, contact_id, now=NOW, lookback=timedelta.max)
        if doc is not None:
            events = doc.pop("events")
            out[contact_id] = (doc, sorted(event_row(e["name"], parse_instant(e["at"]), e["properties"])
                                           for e in events))
    return out


def from_copy(root: Path, tenant_id: str) -> dict[str, Any]:
    con = duckdb.connect()
    open_tenant(con, root, tenant_id)
    merge_deltas(con, root, tenant_id)
    out = {}
    for contact_id, doc in con.execute("SELECT contact_id, doc::VARCHAR FROM contacts").fetchall():
        rows = con.execute('SELECT name, "at", properties::VARCHAR FROM events WHERE contact_id = $c',
                           {"c": contact_id}).fetchall()
        out[contact_id] = (json.loads(doc), sorted(event_row(name, at, json.loads(p or "{}"))
                                                   for name, at, p in rows))
    return out


def service(repos: Repositories, root: Path, tmp_path: Path) -> CopyService:
    copy = ParquetCopy(LocalCopyStorage(root), workdir=tmp_path / "work")
    source = DynamoCopySource(repos.client, repos.settings.tables)
    return CopyService(DynamoCopyRecords(repos.settings.tables), copy, source, clock=lambda: NOW)


@pytest.fixture
def empty_copy(tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    for tenant in ("t1", "t2"):  # an existing tenant's copy before the changes: no contacts yet
        ParquetCopy(LocalCopyStorage(root), workdir=tmp_path / "w").rebuild(
            tenant, [], as_of=NOW - timedelta(days=9))
    return root


def test_stream_batches_make_the_copy_of_what_the_evaluator_loads(
    repos: Repositories, empty_copy: Path, tmp_path: Path
) -> None:
    write_changes(repos)
    copier = service(repos, empty_copy, tmp_path)
    for batch in stream_batches(repos):
        result = copier.apply_batch(batch)
        assert result.failed == {}
    for tenant, ids in (("t1", ["c1", "c2", "gone"]), ("t2", ["c1"])):
        assert from_copy(empty_copy, tenant) == per_contact(repos, tenant, ids)
    assert set(from_copy(empty_copy, "t1")) == {"c1", "c2"}
    assert stored_as_of(empty_copy, "t1") == NOW - timedelta(days=9)  # deltas vouch for no other shard
    folder = empty_copy / deltas_prefix("t2")  # t2's deltas hold t2's rows only
    owners = duckdb.execute(f"SELECT DISTINCT doc->>'tenant_id' FROM '{folder}/contacts/*.parquet'")
    owners = owners.fetchall()
    events = duckdb.execute(f"SELECT event_id FROM '{folder}/events/*.parquet'").fetchall()
    assert (owners, events) == ([("t2",)], [("e4",)])


def test_a_retried_batch_and_an_unreadable_record(
    repos: Repositories, empty_copy: Path, tmp_path: Path
) -> None:
    write_changes(repos)
    copier = service(repos, empty_copy, tmp_path)
    contacts, events = stream_batches(repos)
    poison = {**contacts[0], "dynamodb": {**contacts[0]["dynamodb"], "Keys": {"pk": {"S": "no-separator"}},
                                          "SequenceNumber": "1"}}
    result = copier.apply_batch([poison, *contacts])
    assert list(result.failed) == ["1"]
    copier.apply_batch(contacts)  # delivered again: the same delta, replaced
    copier.apply_batch(events[1:])  # a bisected retry: another name, the same rows once
    copier.apply_batch(events)
    assert from_copy(empty_copy, "t1") == per_contact(repos, "t1", ["c1", "c2"])


def test_a_rebuild_from_the_tables_is_the_same_copy(repos: Repositories, tmp_path: Path) -> None:
    write_changes(repos)
    root = tmp_path / "rebuilt"
    copier = service(repos, root, tmp_path)
    assert copier.rebuild("t1") == 2
    assert from_copy(root, "t1") == per_contact(repos, "t1", ["c1", "c2"])
    assert stored_as_of(root, "t1") == NOW


def test_the_copy_in_s3_reads_through_a_cache_that_fetches_only_what_changed(
    repos: Repositories, tmp_path: Path
) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="copy-bucket")
    storage = S3CopyStorage(s3, "copy-bucket", "copy", cache=tmp_path / "cache")
    copy = ParquetCopy(storage, workdir=tmp_path / "work")
    copier = CopyService(DynamoCopyRecords(repos.settings.tables), copy,
                         DynamoCopySource(repos.client, repos.settings.tables), clock=lambda: NOW)
    copier.rebuild("t1")
    write_changes(repos)
    for batch in stream_batches(repos):
        copier.apply_batch(batch)
    root = storage.local_root("t1")
    assert from_copy(root, "t1") == per_contact(repos, "t1", ["c1", "c2"])
    fetched = storage.downloads
    storage.local_root("t1")
    assert storage.downloads == fetched  # nothing changed: nothing fetched again
    assert copy.compact("t1", now=datetime.now(UTC) + timedelta(days=1)) == 2
    assert copy.pending("t1") == 0
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="copy-bucket")["Contents"]]
    mine = sorted(key.split("/")[2] for key in keys if key.startswith("copy/tenant_id=t1/"))
    assert mine == ["contacts", "copy.json", "events"]  # one generation: the folded one
    assert not any(key.startswith("copy/deltas/tenant_id=t1/") for key in keys)
    assert from_copy(storage.local_root("t1"), "t1") == per_contact(repos, "t1", ["c1", "c2"])
    cached = tmp_path / "cache" / "copy-bucket" / "copy" / deltas_prefix("t1")
    assert not list(cached.rglob("*.parquet"))  # the folded deltas left the cache too


def test_the_storage_is_the_one_analytics_copy_names(tmp_path: Path) -> None:
    local = copy_storage(Settings.local("x", analytics_copy=str(tmp_path)))
    assert isinstance(local, LocalCopyStorage) and local.root == tmp_path
    remote = copy_storage(Settings.local("x", analytics_copy="s3://bucket/some/prefix"), cache=tmp_path)
    assert isinstance(remote, S3CopyStorage)
    with pytest.raises(SettingsError, match="ANALYTICS_COPY"):
        copy_storage(Settings.local("x"))
    with pytest.raises(SettingsError, match="no bucket"):
        copy_storage(Settings.local("x", analytics_copy="s3:///prefix"))


class _Context:
    function_name = "CopyFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:CopyFunction"
    memory_limit_in_mb = 2048
    aws_request_id = "1"
    log_group_name = "group"
    log_stream_name = "stream"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def deployed(repos: Repositories, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The functions' environment (tables, ``ANALYTICS_COPY``) as Lambda gives it; the copy's folder."""
    for name, value in repos.settings.table_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ANALYTICS_COPY", str(tmp_path / "copy"))
    current_settings.cache_clear()
    copy_handler.service.cache_clear()
    copy_fold.service.cache_clear()
    yield tmp_path / "copy"
    current_settings.cache_clear()
    copy_handler.service.cache_clear()
    copy_fold.service.cache_clear()


def test_the_handler_reports_the_records_it_could_not_copy(repos: Repositories, deployed: Path) -> None:
    write_changes(repos)
    contacts, _ = stream_batches(repos)
    poison = {**contacts[0], "dynamodb": {**contacts[0]["dynamodb"], "Keys": {}, "SequenceNumber": "7"}}
    answer = copy_handler.handler({"Records": [*contacts, poison]}, _Context())
    assert answer == {"state": {}, "batchItemFailures": [{"itemIdentifier": "7"}]}
    assert copy_handler.handler({"Records": []}, _Context()) == {"state": {}, "batchItemFailures": []}
    assert (deployed / deltas_prefix("t1") / "contacts").is_dir()


def test_segments_copy_rebuild_writes_a_tenants_copy_from_the_tables(
    repos: Repositories, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in repos.settings.table_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ANALYTICS_COPY", raising=False)
    write_changes(repos)
    root = tmp_path / "cli-copy"
    assert cli.main(["copy", "rebuild", "--tenant", "t1", "--copy", str(root), "--deployed"]) == 0
    assert capsys.readouterr().out == f"tenant t1: 2 contacts copied into {root}\n"
    assert from_copy(root, "t1") == per_contact(repos, "t1", ["c1", "c2"])
    assert cli.main(["copy", "rebuild", "--tenant", "t1", "--deployed"]) == 1
    assert cli.main(["copy", "rebuild", "--tenant", "no#such", "--copy", str(root), "--deployed"]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and all(line.startswith("segments: ") for line in errors), errors
    assert "--copy FOLDER" in errors[0] and "no#such" in errors[1]


GLUE_TYPES = {"VARCHAR": "string", "JSON": "string", "TIMESTAMP WITH TIME ZONE": "timestamp",
              "BOOLEAN": "boolean"}
"""How Athena reads each DuckDB column type the copy writes (JSON is text in Parquet). Field
columns (``field:...``, extracted copies of ``doc`` for speed) are DuckDB's business only."""


def test_the_glue_tables_describe_the_files_the_copy_writes(repos: Repositories, tmp_path: Path) -> None:
    from growthos_segments.devstack.template import load_template

    write_changes(repos)
    root = tmp_path / "copy"
    copier = service(repos, root, tmp_path)
    copier.rebuild("t1")
    for batch in stream_batches(repos):
        copier.apply_batch(batch)
    deltas = deltas_prefix("t1")
    written = {"contacts": "tenant_id=t1/contacts", "events": "tenant_id=t1/events",
               "contact_deltas": f"{deltas}/contacts", "event_deltas": f"{deltas}/events"}
    resources = load_template()["Resources"]
    glue = {r["Properties"]["TableInput"]["Name"]: r["Properties"]["TableInput"]
            for r in resources.values() if r["Type"] == "AWS::Glue::Table"}
    assert set(glue) == set(written)
    for name, folder in written.items():
        files = f"read_parquet('{root}/{folder}/*.parquet', hive_partitioning = false)"
        described = duckdb.execute(f"DESCRIBE SELECT * FROM {files}").fetchall()
        kinds = [(column, kind) for column, kind, *_ in described if not column.startswith("field:")]
        columns = [(column["Name"], column["Type"]) for column in glue[name]["StorageDescriptor"]["Columns"]]
        assert columns == [(column, GLUE_TYPES[kind]) for column, kind in kinds], name
        location = glue[name]["Parameters"]["storage.location.template"]["Fn::Sub"]
        assert location == "s3://${AnalyticsBucket}/copy/" + folder.replace("=t1", "=${!tenant_id}") + "/"
        assert glue[name]["PartitionKeys"] == [{"Name": "tenant_id", "Type": "string"}]
        assert glue[name]["Parameters"]["projection.tenant_id.type"] == "injected"  # a query names its tenant


def test_segments_copy_athena_views_prints_trino_statements(capsys: pytest.CaptureFixture[str]) -> None:
    import sqlglot

    assert cli.main(["copy", "athena-views", "--database", "prod_segments_copy"]) == 0
    statements = [text for text in capsys.readouterr().out.split(";\n") if text.strip()]
    parsed = [sqlglot.parse_one(text, read="trino") for text in statements]
    assert [tree.this.sql("trino") for tree in parsed] == [
        '"prod_segments_copy".contacts_current', '"prod_segments_copy".events_current']


def test_the_fold_takes_the_tenants_with_most_deltas_first_while_time_lasts(
    repos: Repositories, empty_copy: Path, tmp_path: Path
) -> None:
    write_changes(repos)
    copy = ParquetCopy(LocalCopyStorage(empty_copy), workdir=tmp_path / "work")
    later = datetime.now(UTC) + timedelta(days=1)  # every delta settled
    folder = CopyService(DynamoCopyRecords(repos.settings.tables), copy, fold_after=1, clock=lambda: later)
    for batch in stream_batches(repos):
        folder.apply_batch(batch)
    assert copy.backlog() == {"t1": 2, "t2": 2}  # a contacts and an events delta each
    before = from_copy(empty_copy, "t1"), from_copy(empty_copy, "t2")
    asked: list[bool] = []

    def out_of_time() -> bool:
        asked.append(True)
        return len(asked) > 1

    assert folder.fold_due(out_of_time=out_of_time) == {"t2": 2}  # ties go by name, the last first
    assert copy.backlog() == {"t1": 2}
    assert folder.fold_due() == {"t1": 2}
    assert copy.backlog() == {}
    assert (from_copy(empty_copy, "t1"), from_copy(empty_copy, "t2")) == before


def test_the_fold_handler_folds_what_is_due(repos: Repositories, deployed: Path) -> None:
    answer = copy_fold.handler({}, _Context())
    assert answer["folded"] == {}  # nothing to fold
    assert answer["watermark"] is not None and (deployed / "_watermark.json").is_file()


def test_an_expired_event_and_a_removed_contact_read_from_their_keys(repos: Repositories) -> None:
    tables = repos.settings.tables
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/{}/stream/2026"
    expired = {"eventName": "REMOVE", "eventSourceARN": arn.format(tables.events),
               "dynamodb": {"Keys": {"pk": {"S": "t1#c1"}, "sk": {"S": "2026-11-20T12:00:00.000000Z#e1"}},
                            "SequenceNumber": "11", "ApproximateCreationDateTime": 1795000000}}
    removed = {"eventName": "REMOVE", "eventSourceARN": arn.format(tables.contacts),
               "dynamodb": {"Keys": {"pk": {"S": "t1#c2"}}, "OldImage": {"contact_id": {"S": "c2"}},
                            "SequenceNumber": "12"}}
    changes, poison = DynamoCopyRecords(tables).copy_changes([expired, removed])
    assert poison == {}
    (_, event), (_, contact) = changes
    assert (event.kind, event.deleted, dict(event.document)) == (
        "event", True, {"at": "2026-11-20T12:00:00.000000Z", "event_id": "e1"})
    assert event.changed_at == datetime.fromtimestamp(1795000000, UTC)
    assert (contact.kind, contact.contact_id, contact.deleted) == ("contact", "c2", True)
    assert contact.changed_at is None  # no creation time in the record: the batch's clock stands in


def test_a_fold_cut_short_in_s3_leaves_the_old_base_readable(repos: Repositories, tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="cut-bucket")
    storage = S3CopyStorage(s3, "cut-bucket", "", cache=tmp_path / "cache")
    source = DynamoCopySource(repos.client, repos.settings.tables)
    copy = ParquetCopy(storage, workdir=tmp_path / "w")
    copier = CopyService(DynamoCopyRecords(repos.settings.tables), copy, source, clock=lambda: NOW)
    write_changes(repos)
    copier.rebuild("t1")
    before = from_copy(storage.local_root("t1"), "t1")
    # A new generation uploaded without its manifest (the fold stopped before the switch):
    staged = tmp_path / "staged"
    ParquetCopy(LocalCopyStorage(staged), workdir=tmp_path / "w2").rebuild("t1", [], as_of=NOW)
    for path in sorted((staged / "tenant_id=t1").rglob("*.parquet")):
        storage.put(f"tenant_id=t1/{path.relative_to(staged / 'tenant_id=t1').as_posix()}", path)
    assert from_copy(storage.local_root("t1"), "t1") == before  # the manifest still names the old files
    cached = sorted(p.name for p in (tmp_path / "cache" / "cut-bucket" / "tenant_id=t1").rglob("*.parquet"))
    assert len(cached) == 2  # the stray generation was not fetched
    copier.rebuild("t1")  # the next swap removes the strays
    listed = s3.list_objects_v2(Bucket="cut-bucket", Prefix="tenant_id=t1/")["Contents"]
    names = [item["Key"] for item in listed]
    assert len(names) == 3 and from_copy(storage.local_root("t1"), "t1") == before
