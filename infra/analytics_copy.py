"""The analytical copy's adapters: its files in a folder or in S3, and what DynamoDB gives it.

Storage (:class:`growthos_segments.core.ports_copy.CopyStorage`):

- :class:`LocalCopyStorage` keeps the copy in a folder (the local stack, tests,
  one machine). A file appears whole (written beside, then renamed), and a
  tenant's base folder is swapped by renames, as ``analytics/parquet.py`` does.
- :class:`S3CopyStorage` keeps it under ``s3://bucket/prefix`` on AWS. DuckDB's
  wheel has no S3 support (httpfs) and cannot install it without the internet,
  so reading a tenant synchronises its two prefixes into a local cache (``/tmp``
  in Lambda), downloading only objects whose ETag or size changed. S3 cannot
  rename a folder, so a new base is uploaded under new file names first, then
  its manifest (``copy.json``, which lists the base files), then the old files
  are deleted: a reader that goes by the manifest sees the old base or the new
  one. (Athena reads the folder, not the manifest: during those seconds it can
  see both generations.)

Reading DynamoDB for it:

- :class:`DynamoCopyRecords` turns contacts and events stream records into
  :class:`~growthos_segments.core.ports_copy.CopyChange` values, documents built
  exactly as the per-contact path builds its view (``sample_profile``, the
  function the tenant passes use, and the event fields the loader keeps).
- :class:`DynamoCopySource` reads a whole tenant back from the tables, a sample
  shard at a time through the ``by_sample`` indexes, for a rebuild.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import Any

from growthos_segments.core.ports_copy import WATERMARK, CopyChange
from growthos_segments.core.timeutil import parse_instant
from growthos_segments.infra import aws, keys
from growthos_segments.infra.repos._common import item_values, plain
from growthos_segments.infra.repos.samples import sample_profile
from growthos_segments.infra.settings import Settings, SettingsError, TableNames
from growthos_segments.infra.streams import record_id

__all__ = [
    "CACHE",
    "DynamoCopyRecords",
    "DynamoCopySource",
    "LocalCopyStorage",
    "S3CopyStorage",
    "copy_storage",
]

CACHE = Path("/tmp/analytics-copy")
"""Where :class:`S3CopyStorage` keeps its local mirror (Lambda's writable disk)."""
MANIFEST = "copy.json"
"""The base's list of files and freshness (``analytics/deltas.py`` writes it)."""
_HIDDEN = (".", "_")


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


class LocalCopyStorage:
    """The copy in a local folder (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def local_root(self, tenant_id: str) -> Path:
        keys.check_tenant_id(tenant_id)
        return self.root

    def listing(self, prefix: str) -> list[str]:
        start = self.root / prefix
        folder = start if start.is_dir() else start.parent
        if not folder.is_dir():
            return []
        found = (_relative(self.root, path) for path in folder.rglob("*")
                 if path.is_file() and not path.name.startswith(_HIDDEN))
        return sorted(path for path in found if path.startswith(prefix))

    def put(self, path: str, source: Path) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        shutil.copyfile(source, partial)
        os.replace(partial, target)

    def remove(self, paths: Sequence[str]) -> None:
        for path in paths:
            (self.root / path).unlink(missing_ok=True)

    def read(self, path: str) -> bytes | None:
        try:
            return (self.root / path).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, path: str, data: bytes) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        partial.write_bytes(data)
        os.replace(partial, target)

    def replace_folder(self, prefix: str, staging: Path) -> None:
        folder = self.root / prefix
        writing = self.root / f".writing-{uuid.uuid4().hex}"
        retired = self.root / f".retired-{uuid.uuid4().hex}"
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.copytree(staging, writing)
        try:
            if folder.exists():
                folder.rename(retired)
            writing.rename(folder)
        finally:
            shutil.rmtree(writing, ignore_errors=True)
            shutil.rmtree(retired, ignore_errors=True)


class S3CopyStorage:
    """The copy under ``s3://bucket/prefix``, read through a local cache (see the module docstring)."""

    def __init__(self, client: Any, bucket: str, prefix: str, cache: Path = CACHE) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._cache = cache / bucket / self._prefix
        self.downloads = 0
        """Objects fetched into the cache so far (tests and the bench count them)."""

    def _objects(self, prefix: str) -> dict[str, tuple[str, int]]:
        """``{path: (etag, size)}`` under ``prefix`` (paths relative to the copy's root)."""
        out: dict[str, tuple[str, int]] = {}
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=self._prefix + prefix)
        for page in pages:
            for item in page.get("Contents", ()):
                out[item["Key"][len(self._prefix):]] = (str(item["ETag"]), int(item["Size"]))
        return out

    def listing(self, prefix: str) -> list[str]:
        return sorted(self._objects(prefix))

    def put(self, path: str, source: Path) -> None:
        self._client.upload_file(str(source), self._bucket, self._prefix + path)

    def remove(self, paths: Sequence[str]) -> None:
        for start in range(0, len(paths), 1000):
            chunk = [{"Key": self._prefix + path} for path in paths[start:start + 1000]]
            self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": chunk, "Quiet": True})

    def read(self, path: str) -> bytes | None:
        try:
            answer = self._client.get_object(Bucket=self._bucket, Key=self._prefix + path)
        except self._client.exceptions.NoSuchKey:
            return None
        return bytes(answer["Body"].read())

    def write(self, path: str, data: bytes) -> None:
        self._client.put_object(Bucket=self._bucket, Key=self._prefix + path, Body=data)

    def replace_folder(self, prefix: str, staging: Path) -> None:
        before = set(self.listing(prefix + "/"))
        files = sorted(_relative(staging, path) for path in staging.rglob("*") if path.is_file())
        for name in sorted(files, key=lambda name: name == MANIFEST):  # the manifest last
            self.put(f"{prefix}/{name}", staging / name)
        self.remove(sorted(before - {f"{prefix}/{name}" for name in files}))

    def local_root(self, tenant_id: str) -> Path:
        """Synchronise the copy's watermark, then the tenant's base (the files its manifest
        lists, when it has one) and deltas into the cache, and return the cache's root.

        The watermark first: it vouches for the deltas written before it was, so the
        deltas listed after it include every one it vouches for."""
        base = f"tenant_id={keys.check_tenant_id(tenant_id)}"
        mark = self._objects(WATERMARK).get(WATERMARK)
        if mark is not None:
            self._fetch(WATERMARK, mark)
        else:
            (self._cache / WATERMARK).unlink(missing_ok=True)
        wanted = {**self._objects(base + "/"), **self._objects(f"deltas/{base}/")}
        manifest = f"{base}/{MANIFEST}"
        if manifest in wanted:
            self._fetch(manifest, wanted[manifest])
            listed = json.loads((self._cache / manifest).read_text(encoding="utf-8")).get("files") or []
            named = {f"{base}/{name}" for name in listed} | {manifest}
            wanted = {path: tag for path, tag in wanted.items()
                      if path in named or not path.startswith(base + "/")}
        for path, tag in wanted.items():
            self._fetch(path, tag)
        for folder in (self._cache / base, self._cache / "deltas" / base):
            stale = [path for path in (folder.rglob("*") if folder.is_dir() else ())
                     if path.is_file() and not path.name.startswith(_HIDDEN)
                     and _relative(self._cache, path) not in wanted]
            for path in stale:
                path.unlink()
                path.with_name(f".{path.name}.etag").unlink(missing_ok=True)
        return self._cache

    def _fetch(self, path: str, tag: tuple[str, int]) -> None:
        target = self._cache / path
        marker = target.with_name(f".{target.name}.etag")
        if target.is_file() and marker.is_file() and marker.read_text() == f"{tag[0]} {tag[1]}":
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        self._client.download_file(self._bucket, self._prefix + path, str(partial))
        os.replace(partial, target)
        marker.write_text(f"{tag[0]} {tag[1]}")
        self.downloads += 1


def copy_storage(settings: Settings, *, cache: Path = CACHE) -> LocalCopyStorage | S3CopyStorage:
    """The storage ``ANALYTICS_COPY`` names: ``s3://bucket/prefix``, or a local folder."""
    where = settings.analytics_copy
    if not where:
        raise SettingsError("ANALYTICS_COPY is required by the analytical copy (a folder or s3://bucket/prefix)")
    if where.startswith("s3://"):
        bucket, _, prefix = where.removeprefix("s3://").partition("/")
        if not bucket:
            raise SettingsError(f"ANALYTICS_COPY names no bucket: {where!r}")
        return S3CopyStorage(aws.client("s3", settings), bucket, prefix, cache)
    return LocalCopyStorage(where)


def _changed_at(body: Mapping[str, Any]) -> datetime | None:
    stamp = body.get("ApproximateCreationDateTime")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        return datetime.fromtimestamp(stamp, UTC)
    return None


class DynamoCopyRecords:
    """:class:`growthos_segments.core.ports_copy.CopyRecordReader` on DynamoDB Streams."""

    def __init__(self, tables: TableNames) -> None:
        self._tables = tables

    def record_id(self, record: Mapping[str, Any]) -> str:
        return record_id(record)

    def stream_position(self, record: Mapping[str, Any]) -> tuple[str, datetime | None]:
        body = record.get("dynamodb")
        body = body if isinstance(body, Mapping) else {}
        return str(body.get("SequenceNumber") or ""), _changed_at(body)

    def copy_changes(
        self, records: Sequence[Mapping[str, Any]]
    ) -> tuple[list[tuple[str, CopyChange]], dict[str, Exception]]:
        changes: list[tuple[str, CopyChange]] = []
        poison: dict[str, Exception] = {}
        for record in records:
            rid = record_id(record)
            try:
                changes.append((rid, self._change(record)))
            except (ValueError, TypeError, KeyError) as error:
                poison[rid] = error
        return changes, poison

    def _change(self, record: Mapping[str, Any]) -> CopyChange:
        body = record.get("dynamodb")
        if not isinstance(body, Mapping):
            raise ValueError("record has no dynamodb section")
        key = {name: value.get("S") if isinstance(value, Mapping) else None  # both keys are strings
               for name, value in (body.get("Keys") or {}).items()}
        tenant_id, contact_id = keys.split_contact_pk(key.get("pk"))
        position = str(body.get("SequenceNumber") or "")
        if not position.isdigit():
            raise ValueError(f"record has no sequence number: {position!r}")
        deleted = record.get("eventName") == "REMOVE"
        new = item_values(body.get("NewImage") or {})
        arn = str(record.get("eventSourceARN") or "")
        is_event = f":table/{self._tables.events}/" in arn or (
            f":table/{self._tables.contacts}/" not in arn and "sk" in key)
        common = {"tenant_id": tenant_id, "contact_id": contact_id, "position": position,
                  "changed_at": _changed_at(body), "deleted": deleted}
        if is_event:
            at, _, event_id = str(key.get("sk") or "").partition("#")
            if deleted:
                return CopyChange(kind="event", document={"at": at, "event_id": event_id}, **common)
            document = {**_event(new), "event_id": new.get("event_id") or event_id}
            return CopyChange(kind="event", document=document, **common)
        if deleted:
            return CopyChange(kind="contact", document={}, **common)
        return CopyChange(kind="contact", document=sample_profile(tenant_id, new),
                          updated_at=parse_instant(new.get("updated_at")), **common)


class DynamoCopySource:
    """:class:`growthos_segments.core.ports_copy.CopySource`: a tenant's contacts with all
    their stored events, a sample shard at a time (one page of each index in memory)."""

    def __init__(self, client: Any, tables: TableNames) -> None:
        self._client = client
        self._tables = tables
        self.requests = 0

    def documents(self, tenant_id: str) -> Iterator[dict[str, Any]]:
        for pk, _, _ in keys.sample_range(keys.check_tenant_id(tenant_id), 0, keys.SAMPLE_POSITIONS):
            events = groupby(self._query(self._tables.events, pk), key=_position)
            pending = next(events, None)
            for position, contacts in groupby(self._query(self._tables.contacts, pk), key=_position):
                found: dict[str, list[dict[str, Any]]] = {}
                while pending is not None and pending[0] <= position:
                    if pending[0] == position:  # one position, in time order: split it by contact
                        for item in pending[1]:
                            found.setdefault(str(item.get("contact_id")), []).append(_event(item))
                    pending = next(events, None)
                for item in contacts:
                    doc = sample_profile(tenant_id, item)
                    doc["updated_at"] = item.get("updated_at")
                    doc["events"] = found.get(str(doc["contact_id"]), [])
                    yield doc

    def _query(self, table: str, pk: str) -> Iterator[dict[str, Any]]:
        pages = self._client.get_paginator("query").paginate(
            TableName=table, IndexName="by_sample", KeyConditionExpression="sample_pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}})
        for page in pages:
            self.requests += 1
            for raw in page.get("Items", ()):
                yield item_values(raw)


def _position(item: Mapping[str, Any]) -> str:
    """The sample position both ``by_sample`` indexes sort a shard by."""
    return str(item.get("sample_sk", "")).partition("#")[0]


def _event(item: Mapping[str, Any]) -> dict[str, Any]:
    """An event item as the contact view loader keeps it, with its id."""
    return {"name": item.get("name"), "at": item.get("at"), "properties": plain(item.get("properties")) or {},
            "event_id": item.get("event_id")}
