"""Contact documents (JSONL lines, Python dicts) into the two tables of the analytical copy.

The tables are the shared contract of the analytical path: ``contacts``
(``tenant_id``, ``contact_id``, ``doc`` JSON: the document without its events,
``updated_at``) and ``events`` (``tenant_id``, ``contact_id``, ``name``, ``at``,
``properties``, ``event_id``). Events are taken from the per-contact view
(:meth:`growthos_segments.core.view.ContactView.events`), so an event the
evaluator skips as malformed is never written: both paths see the same events.

A document the copy cannot hold as it is refuses to load, naming the contact:
NaN or an infinity (Python's JSON reader accepts them, JSON has none; the Parquet
copy refuses them too) and text with an unpaired surrogate (SQL text is UTF-8).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from growthos_segments.analytics.fields import (
    MAX_FIELDS,
    choose_fields,
    column_name,
    field_columns,
    field_selects,
    path_of,
)
from growthos_segments.core.values import plain
from growthos_segments.core.view import ContactView

__all__ = ["SCHEMA", "connect", "load_documents"]

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS contacts (tenant_id VARCHAR NOT NULL, contact_id VARCHAR NOT NULL, "
    "doc JSON NOT NULL, updated_at TIMESTAMPTZ)",
    "CREATE TABLE IF NOT EXISTS events (tenant_id VARCHAR NOT NULL, contact_id VARCHAR NOT NULL, "
    "name VARCHAR NOT NULL, \"at\" TIMESTAMPTZ NOT NULL, properties JSON, event_id VARCHAR)",
)
BATCH = 20_000
"""Documents per inserted batch: memory stays at one batch whatever the input."""


def connect(database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the two tables (created when missing); times in UTC."""
    con = duckdb.connect(database)
    con.execute("SET TimeZone = 'UTC'")
    for statement in SCHEMA:
        con.execute(statement)
    return con


def load_documents(
    con: duckdb.DuckDBPyConnection,
    docs: Iterable[Mapping[str, Any]],
    *,
    tenant_id: str | None = None,
    updated_at: datetime | None = None,
) -> int:
    """Insert contact documents; returns how many. A document's tenant is its own
    ``tenant_id`` (as text), else ``tenant_id`` given here, else ``""``.

    Raises ``ValueError`` naming the contact for a document the copy cannot hold
    (see the module docstring).
    """
    contacts: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    count = 0
    for doc in docs:
        tenant = str(doc["tenant_id"]) if doc.get("tenant_id") is not None else (tenant_id or "")
        contact = str(doc["contact_id"])
        body = {key: value for key, value in doc.items() if key != "events"}
        where = f"contact {contact!r}"
        contacts.append({"tenant_id": tenant, "contact_id": contact, "doc": _json(body, where),
                         "updated_at": updated_at})
        for event in ContactView(doc).events():
            events.append({"tenant_id": tenant, "contact_id": contact, "name": event.name, "at": event.at,
                           "properties": _json(event.properties, where), "event_id": None})
        count += 1
        if len(contacts) >= BATCH:
            _flush(con, contacts, events)
    _flush(con, contacts, events)
    return count


_CONTACTS = pa.schema([("tenant_id", pa.string()), ("contact_id", pa.string()), ("doc", pa.string()),
                       ("updated_at", pa.timestamp("us", tz="UTC"))])
_EVENTS = pa.schema([("tenant_id", pa.string()), ("contact_id", pa.string()), ("name", pa.string()),
                     ("at", pa.timestamp("us", tz="UTC")), ("properties", pa.string()),
                     ("event_id", pa.string())])


def _flush(
    con: duckdb.DuckDBPyConnection, contacts: list[dict[str, Any]], events: list[dict[str, Any]]
) -> None:
    paths = _add_fields(con, contacts) if contacts else []
    for table, rows, schema in (("contacts", contacts, _CONTACTS), ("events", events, _EVENTS)):
        if rows:
            batch = pa.Table.from_pylist(rows, schema=schema)
            con.register("_batch", batch)
            try:
                extracted = field_selects(paths) if table == "contacts" else []
                selects = ["*", *(select.sql("duckdb") for select in extracted)]
                # table: one of two constants; the selects are sqlglot's, over validated keys
                con.execute(f"INSERT INTO {table} BY NAME SELECT {', '.join(selects)} FROM _batch")
            finally:
                con.unregister("_batch")
            rows.clear()


def _add_fields(con: duckdb.DuckDBPyConnection, contacts: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """The field columns (:mod:`growthos_segments.analytics.fields`) to fill for this batch.

    Paths the batch's documents have that the table lacks get a column (up to the
    cap), filled for the rows already there, so every row keeps the contract
    ``column = json_extract(doc, path)``."""
    present = {path_of(name) for name in field_columns(con).values()}
    room = MAX_FIELDS - len(present)
    wanted = choose_fields(json.loads(row["doc"]) for row in contacts)
    for keys in [keys for keys in wanted if keys not in present][:max(room, 0)]:
        (select,) = field_selects([keys])
        column = exp.to_identifier(column_name(keys), quoted=True).sql("duckdb")
        con.execute(f"ALTER TABLE contacts ADD COLUMN {column} JSON")
        con.execute(f"UPDATE contacts SET {column} = {select.this.sql('duckdb')}")
        present.add(keys)
    return sorted(path for path in present if path is not None)


def _json(value: Any, where: str) -> str:
    try:
        text = json.dumps(plain(value), allow_nan=False, separators=(",", ":"), ensure_ascii=False)
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{where}: a string holds an unpaired surrogate (such as \\ud800), "
                         "which is not text the analytical copy can store") from None
    except ValueError:
        raise ValueError(f"{where}: holds NaN or an infinity, which JSON cannot carry") from None
    return text
