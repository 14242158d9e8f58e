"""The analytical copy on disk: a tenant's contacts and events as Parquet, and DuckDB over them.

The layout is hive-partitioned by tenant, so a query opened on one tenant reads
that tenant's folder and nothing else::

    <root>/tenant_id=<tenant>/contacts/*.parquet   contact_id, doc (JSON), updated_at, "field:..." (JSON)
    <root>/tenant_id=<tenant>/events/*.parquet     contact_id, name, at, properties (JSON), event_id

The files hold no ``tenant_id`` column: the folder names it, as Athena and Glue
require of a partition key (they refuse a partition key that is also a column),
and :func:`open_tenant` adds it back to the ``contacts`` and ``events`` views.

``doc`` is the contact document as ``segments evaluate`` reads it, without its
``events``; each event becomes a row when the contact view would keep it
(:meth:`growthos_segments.core.view.ContactView.events` decides, so a malformed
event is skipped here exactly as the evaluator skips it), with its time in UTC at
microsecond precision. The ``field:`` columns hold the JSON value at the
tenant's most common document paths, extracted from ``doc`` when each file is
written (:mod:`growthos_segments.analytics.fields`: chosen from the first batch,
the same in every file of one copy), so profile rules need not parse whole
documents. Writing streams: documents are taken from the iterable in
batches of a bounded number of rows, each batch becomes one file, so memory does
not grow with the tenant.

Every base events file is sorted by name, then time (:data:`EVENTS_ORDER`), in
row groups of at most :data:`EVENT_ROW_GROUP` rows. A rule reads a few event names
over a lookback, so the min/max statistics of a large file's row groups (the
generator's, a fold's) let DuckDB skip those of other names and older times: at
4M contacts the nested benchmark rule's scan reads 103 MB instead of 220 MB. No
reader relies on the order for its answer.

duckdb and pyarrow (the ``analytics`` extra) are imported inside the functions:
the module itself imports where the Lambda layer lacks them.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from growthos_segments.analytics.fields import choose_fields, field_selects, path_of
from growthos_segments.core.ids import TENANT_ID_RE
from growthos_segments.core.rules import load_json
from growthos_segments.core.timeutil import parse_instant, to_iso
from growthos_segments.core.values import plain
from growthos_segments.core.view import ContactView, Event

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

__all__ = [
    "CONTACTS",
    "EVENTS",
    "EVENTS_ORDER",
    "EVENTS_ORDER_BY",
    "EVENT_ROW_GROUP",
    "BatchWritten",
    "DocumentError",
    "WriteReport",
    "contact_schema",
    "event_schema",
    "open_copy",
    "open_tenant",
    "read_documents",
    "read_jsonl",
    "replacing",
    "tenant_folder",
    "write_tenant",
]

CONTACTS = "contacts"
EVENTS = "events"
BATCH_ROWS = 100_000
"""Rows (contacts plus events) a batch holds before it is written as one file pair."""
EVENTS_ORDER = ("name", "at")
"""The order of the rows of every base events file (see the module docstring)."""
EVENT_ROW_GROUP = 122_880
"""Rows per row group of a base events file (DuckDB's default, stated so that every
writer uses it): at 4M contacts, row groups of 30,720 rows made no benchmark rule cheaper."""
EVENTS_ORDER_BY = "ORDER BY " + ", ".join(f'"{column}"' for column in EVENTS_ORDER)
"""The ``ORDER BY`` of a DuckDB query copying base events (``ROW_GROUP_SIZE``: :data:`EVENT_ROW_GROUP`)."""


class DocumentError(ValueError):
    """A contact document that cannot go into the copy; the message says which and why."""


def contact_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([
        pa.field("contact_id", pa.string(), nullable=False),
        pa.field("doc", pa.json_(pa.string()), nullable=False),
        pa.field("updated_at", pa.timestamp("us", tz="UTC")),
    ])


def event_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([
        pa.field("contact_id", pa.string(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("properties", pa.json_(pa.string())),
        pa.field("event_id", pa.string()),
    ])


def tenant_folder(root: str | Path, tenant_id: str) -> Path:
    """``<root>/tenant_id=<tenant>``; the tenant id must be one the engine can store."""
    if not isinstance(tenant_id, str) or TENANT_ID_RE.match(tenant_id) is None:
        raise DocumentError(f"tenant id {tenant_id!r} is not a valid tenant id")
    return Path(root) / f"tenant_id={tenant_id}"


@dataclass(frozen=True, slots=True)
class BatchWritten:
    """One file pair as written: how many rows each holds."""

    contacts: int
    events: int


@dataclass(slots=True)
class WriteReport:
    """What :func:`write_tenant` wrote: totals, per-batch rows, events skipped as malformed."""

    tenant_id: str
    folder: Path
    contacts: int = 0
    events: int = 0
    skipped_events: int = 0
    batches: list[BatchWritten] = field(default_factory=list)
    fields: tuple[tuple[str, ...], ...] = ()
    """The paths given a field column (:mod:`growthos_segments.analytics.fields`)."""


def _json(value: Any, where: str) -> str:
    try:
        return json.dumps(plain(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        raise DocumentError(f"{where}: holds NaN or an infinity, which JSON cannot carry") from None


def _well_formed(raw: Any) -> Event | None:
    """The event as the contact view reads it, or ``None`` where the view skips it.

    One view per event keeps the event's own id beside it; the view's rule (name,
    time, its range) is the one every condition sees, so the copy never holds an
    event the per-contact path would not count.
    """
    parsed = ContactView({"events": (raw,)}).events()
    return parsed[0] if parsed else None


def _split(doc: Any, tenant_id: str, where: str) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """A document as one contact row and its well-formed event rows (plus how many were skipped)."""
    if not isinstance(doc, Mapping):
        raise DocumentError(f"{where}: expected a contact object, got {type(doc).__name__}")
    contact_id = doc.get("contact_id")
    if type(contact_id) is int:
        contact_id = str(contact_id)
    if not isinstance(contact_id, str) or not contact_id:
        raise DocumentError(f"{where}: contact has no 'contact_id'")
    own = doc.get("tenant_id")
    if own is not None and own != tenant_id:
        raise DocumentError(f"{where}: contact {contact_id!r} belongs to tenant {own!r}, not {tenant_id!r}")
    profile = {key: value for key, value in doc.items() if key != "events"}
    events, skipped = [], 0
    raws = doc.get("events")
    for raw in raws if isinstance(raws, list | tuple) else ():
        event = _well_formed(raw)
        if event is None:
            skipped += 1
            continue
        event_id = raw.get("event_id")
        properties = _json(event.properties, f"{where}: event {event.name}") if event.properties else None
        events.append({
            "contact_id": contact_id,
            "name": event.name,
            "at": event.at,
            "properties": properties,
            "event_id": str(event_id) if type(event_id) is str or type(event_id) is int else None,
        })
    row = {
        "contact_id": contact_id,
        "doc": _json(profile, f"{where}: contact {contact_id!r}"),
        "updated_at": parse_instant(doc.get("updated_at")),
    }
    return row, events, skipped


def write_tenant(
    root: str | Path,
    tenant_id: str,
    documents: Iterable[Any],
    *,
    batch_rows: int = BATCH_ROWS,
) -> WriteReport:
    """Replace a tenant's copy with these contact documents (each with its ``events``).

    A batch is written once it holds ``batch_rows`` rows (contacts plus events;
    a contact's events stay in its batch), so at most one batch is in memory. The
    copy is swapped in whole (:func:`replacing`). A document of another tenant
    (``tenant_id`` set and different) is an error.
    """
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    report = WriteReport(tenant_id, tenant_folder(root, tenant_id))
    contacts: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    schemas = contact_schema(), event_schema()
    paths: tuple[tuple[str, ...], ...] | None = None
    con = duckdb.connect()
    with con, replacing(root, tenant_id) as staging:

        def flush() -> None:
            nonlocal paths
            if paths is None:  # the first batch is the sample the field columns are chosen from
                paths = choose_fields(json.loads(row["doc"]) for row in contacts)
            name = f"part-{len(report.batches):05d}.parquet"
            _write_contacts(con, pa.Table.from_pylist(contacts, schema=schemas[0]), paths,
                            staging / CONTACTS / name)
            pq.write_table(pa.Table.from_pylist(events, schema=schemas[1]).sort_by(
                [(column, "ascending") for column in EVENTS_ORDER]),
                staging / EVENTS / name, row_group_size=EVENT_ROW_GROUP)
            report.batches.append(BatchWritten(len(contacts), len(events)))
            contacts.clear()
            events.clear()

        for number, doc in enumerate(documents, start=1):
            row, rows, skipped = _split(doc, tenant_id, f"document {number}")
            contacts.append(row)
            events.extend(rows)
            report.contacts += 1
            report.events += len(rows)
            report.skipped_events += skipped
            if len(contacts) + len(events) >= batch_rows:
                flush()
        if contacts or not report.batches:  # an empty tenant still gets (empty) files to open
            flush()
    report.fields = paths or ()
    return report


def _write_contacts(
    con: duckdb.DuckDBPyConnection, rows: pa.Table, paths: Iterable[tuple[str, ...]], target: Path
) -> None:
    """One contacts file: the rows as they are, plus the field columns extracted from ``doc``."""
    from sqlglot import exp

    con.register("_contacts", rows)
    try:
        query = exp.select("*", *field_selects(paths)).from_("_contacts")
        con.execute(f"COPY ({query.sql('duckdb')}) TO {exp.Literal.string(str(target)).sql('duckdb')} "
                    "(FORMAT parquet, COMPRESSION zstd)")
    finally:
        con.unregister("_contacts")


@contextmanager
def replacing(root: str | Path, tenant_id: str) -> Iterator[Path]:
    """A staging folder (with ``contacts/`` and ``events/``) that replaces the tenant's copy on success.

    The new copy is written beside the old one and swapped in whole: a query sees
    the old copy or the new one, and a failure leaves the old one as it was. The
    staging name does not start with ``tenant_id=``, so a scan of every tenant
    never reads a copy being written.
    """
    folder = tenant_folder(root, tenant_id)
    staging = Path(root) / f".writing-{tenant_id}-{uuid.uuid4().hex}"
    (staging / CONTACTS).mkdir(parents=True)
    (staging / EVENTS).mkdir()
    try:
        yield staging
        retired = Path(root) / f".retired-{tenant_id}-{uuid.uuid4().hex}"
        if folder.exists():
            folder.rename(retired)
        staging.rename(folder)
        shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Contact documents from a JSONL file, one line in memory at a time."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                doc = load_json(line)
            except ValueError as exc:  # json.JSONDecodeError is one
                raise DocumentError(f"{path}:{number}: invalid JSON: {exc}") from None
            if not isinstance(doc, dict):
                raise DocumentError(f"{path}:{number}: expected a contact object, got {type(doc).__name__}")
            yield doc


def _scan(folder: Path, table: str) -> str:
    """``read_parquet('<folder>/<table>/*.parquet')`` with the path quoted by sqlglot."""
    from sqlglot import exp

    pattern = exp.Literal.string(str(folder / table / "*.parquet"))
    return exp.func("read_parquet", pattern).sql("duckdb")


def open_tenant(con: duckdb.DuckDBPyConnection, root: str | Path, tenant_id: str) -> None:
    """Create the views ``contacts`` and ``events`` of the contract over one tenant's folder.

    Only that folder is read, so nothing another tenant wrote can reach a query
    on this connection. The session's time zone is set to UTC, so event times
    come back as they were written, and DuckDB's progress bar is off (it would
    write to the caller's terminal). The tenant's deltas, the changes the streams
    brought since its base files were written, are merged into both views
    (:func:`growthos_segments.analytics.deltas.merge_deltas`), which also records
    how fresh the copy is in ``copy_state``.
    """
    from sqlglot import exp

    folder = tenant_folder(root, tenant_id)
    if not (folder / CONTACTS).is_dir() or not (folder / EVENTS).is_dir():
        raise FileNotFoundError(f"no analytical copy of tenant {tenant_id!r} under {root}")
    tenant = exp.Literal.string(tenant_id).sql("duckdb")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    columns = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {_scan(folder, CONTACTS)}").fetchall()]
    fields = "".join(
        f", {quoted}::JSON AS {quoted}"
        for quoted in (exp.to_identifier(name, quoted=True).sql("duckdb")
                       for name in columns if path_of(name) is not None)
    )
    con.execute(
        f"CREATE OR REPLACE VIEW {CONTACTS} AS SELECT {tenant}::VARCHAR AS tenant_id, contact_id, "
        f"doc::JSON AS doc, updated_at{fields} FROM {_scan(folder, CONTACTS)}"
    )
    con.execute(
        f"CREATE OR REPLACE VIEW {EVENTS} AS SELECT {tenant}::VARCHAR AS tenant_id, contact_id, name, "
        f"\"at\", properties::JSON AS properties, event_id FROM {_scan(folder, EVENTS)}"
    )
    from growthos_segments.analytics.deltas import merge_deltas  # it builds on this module

    merge_deltas(con, root, tenant_id)


def open_copy(root: str | Path | None, tenant_id: str) -> duckdb.DuckDBPyConnection | None:
    """A fresh in-memory DuckDB with the tenant's views (:func:`open_tenant`), spilling to
    the temporary folder (/tmp, the one writable folder of a Lambda function); ``None``
    when the tenant has no copy under ``root`` (or no root). The caller closes it."""
    import tempfile

    import duckdb

    if root is None:
        return None
    con = duckdb.connect(config={"temp_directory": str(Path(tempfile.gettempdir()) / "duckdb")})
    try:
        open_tenant(con, root, tenant_id)
    except (FileNotFoundError, DocumentError):
        con.close()
        return None
    return con


def read_documents(con: duckdb.DuckDBPyConnection, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Contact documents back from the open tenant's views, each with its events oldest first.

    This is the per-contact engine's input rebuilt from the copy (event times as
    ISO text in UTC, to the microsecond), for the evaluator's side of a
    comparison. Contacts come in ``contact_id`` order; ``limit`` takes the first ones.
    """
    limited = "" if limit is None else f" LIMIT {int(limit)}"
    cursor = con.execute(
        f"WITH picked AS (SELECT contact_id, doc FROM {CONTACTS} ORDER BY contact_id{limited}) "
        f"SELECT p.contact_id, p.doc, list({{'name': e.name, 'at': e.\"at\", 'properties': e.properties}} "
        f"ORDER BY e.\"at\", e.event_id) FILTER (WHERE e.name IS NOT NULL) "
        f"FROM picked p LEFT JOIN {EVENTS} e USING (contact_id) GROUP BY p.contact_id, p.doc "
        f"ORDER BY p.contact_id"
    )
    while rows := cursor.fetchmany(10_000):
        for _contact_id, doc_text, rows_of_events in rows:
            doc = json.loads(doc_text)
            doc["events"] = [_event_doc(e) for e in rows_of_events or ()]
            yield doc


def _event_doc(row: Mapping[str, Any]) -> dict[str, Any]:
    at: datetime = row["at"]
    properties = row["properties"]
    return {
        "name": row["name"],
        "at": to_iso(at, "microseconds"),
        "properties": json.loads(properties) if properties is not None else {},
    }
