"""The copy kept current: deltas from stream batches, merged on read, folded into base files.

Layout (beside the base files of :mod:`growthos_segments.analytics.parquet`)::

    <root>/tenant_id=<T>/contacts/*.parquet            base: contact_id, doc, updated_at, ...
    <root>/tenant_id=<T>/events/*.parquet              base: contact_id, name, at, properties, event_id
    <root>/tenant_id=<T>/copy.json                     {"as_of": ...} when this module wrote the base
    <root>/deltas/tenant_id=<T>/contacts/<batch>.parquet   contact_id, doc, updated_at, deleted, position
    <root>/deltas/tenant_id=<T>/events/<batch>.parquet     contact_id, name, at, properties, event_id,
                                                           deleted, position

A stream batch becomes, for each tenant it touches, one contacts delta and one
events delta (a side with no rows is not written). ``<batch>`` is
``<first position>-<last position>-<as_of µs>``: the records' stream positions
make a retried batch overwrite its own files, and ``as_of`` (the newest record's
creation time) says when a fold may take the delta in. Deltas live
outside the tenant's base folder, so swapping the base in whole never drops a
delta written meanwhile, and a scan of every tenant's base never reads one.

Merge on read (:func:`merge_deltas`): ``contacts`` is the base row of each
contact unless a delta holds that contact, in which case the delta row with the
latest stream position is the contact (dropped when it is a removal);
``events`` is the base events whose key (contact, time, event id) no delta
holds, plus, for each key in the deltas, its latest row unless it is a removal
(an event's TTL expiring). A base event without an id (a document loaded
without one) is never superseded: no stream record can name it.

Folding (:meth:`ParquetCopy.compact`) writes base + settled deltas as new base
files in bounded memory (DuckDB streams the query to Parquet, spilling to disk
past its memory limit) and swaps them in whole, then deletes the deltas it
folded, oldest first. It folds only deltas whose newest record is older than
:data:`SETTLE`, which exceeds the copy function's ``MaximumRecordAgeInSeconds``
in ``template.yaml``: no retry of the stream can write those records again, so
no delta written after the fold can hold a state older than the new base. A
delta written during the fold is not in the list it read, so it stays and
overrides the base as every delta does. Folds never run two at once: only the
copy's fold function calls :meth:`ParquetCopy.compact`, and ``template.yaml``
reserves it one concurrent execution (two folds of a tenant at once could each
delete deltas the other's new base lacks).

How fresh a tenant's copy is (:func:`stored_as_of`): the later of the instant
its base was rebuilt from the tables (``copy.json``, which a fold leaves as it
was) and the streams' watermark (``<root>/_watermark.json``, written by the fold
function: ``services/copy.py``). Not the newest delta: the records of a tenant
come through every shard of both streams, and one shard can lag behind another,
so a delta newer than T does not mean every change before T is in the copy.

Everything here writes Parquet with DuckDB (``COPY ... TO``), never pyarrow,
because the copy function runs it inside Lambda, whose layer has no pyarrow.
"""

from __future__ import annotations

import json
import re
import tempfile
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from growthos_segments.analytics.fields import choose_fields, field_selects, path_of
from growthos_segments.analytics.parquet import (
    CONTACTS,
    EVENT_ROW_GROUP,
    EVENTS,
    EVENTS_ORDER_BY,
    DocumentError,
    _json,
    _split,
    _well_formed,
    tenant_folder,
)
from growthos_segments.core.ports_copy import WATERMARK, CopyChange, CopyStorage, CopyWritten
from growthos_segments.core.timeutil import parse_instant, to_iso
from growthos_segments.kit.sql import json_at

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "ATHENA_DATABASE",
    "DELTAS",
    "MANIFEST",
    "SETTLE",
    "Delta",
    "ParquetCopy",
    "athena_views",
    "batch_name",
    "deltas_prefix",
    "merge_deltas",
    "stored_as_of",
]

DELTAS = "deltas"
MERGED = "merged with the copy's deltas"
"""The comment :func:`merge_deltas` leaves on the views it merged."""
MANIFEST = "copy.json"
SETTLE = timedelta(seconds=150)
"""A delta is folded once its newest record is this old: longer than the copy
function's ``MaximumRecordAgeInSeconds`` (120 s), after which Lambda no longer retries
a record, so nothing can write those records again."""
BATCH_ROWS = 50_000
"""Documents a rebuild holds in memory before writing them as one file pair."""
PARQUET = "(FORMAT parquet, COMPRESSION zstd)"
"""How every file of the copy is written (as ``write_tenant`` writes its)."""
_EVENT_PARQUET = f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {EVENT_ROW_GROUP})"
"""How base events files are written (with :data:`~growthos_segments.analytics.parquet.EVENTS_ORDER_BY`)."""
MEMORY_LIMIT = "1GB"
"""DuckDB's memory for a fold (the fold function has 2 GB); past it, its operators spill to a
temporary folder."""
POSITION_WIDTH = 40
"""Stream positions are decimal numbers of up to 40 digits; zero-padded, text order is theirs."""

_BATCH_RE = re.compile(r"(?P<first>[0-9]{1,40})-(?P<last>[0-9]{1,40})-(?P<as_of>[0-9]{1,20})\Z")

Columns = tuple[tuple[str, str], ...]
_CONTACT_DELTA: Columns = (("contact_id", "VARCHAR"), ("doc", "VARCHAR"), ("updated_at", "TIMESTAMPTZ"),
                           ("deleted", "BOOLEAN"), ("position", "VARCHAR"))
_EVENT_DELTA: Columns = (("contact_id", "VARCHAR"), ("name", "VARCHAR"), ("at", "TIMESTAMPTZ"),
                         ("properties", "VARCHAR"), ("event_id", "VARCHAR"), ("deleted", "BOOLEAN"),
                         ("position", "VARCHAR"))
_CONTACT_BASE: Columns = (("contact_id", "VARCHAR"), ("doc", "JSON"), ("updated_at", "TIMESTAMPTZ"))
_EVENT_BASE: Columns = (("contact_id", "VARCHAR"), ("name", "VARCHAR"), ("at", "TIMESTAMPTZ"),
                        ("properties", "JSON"), ("event_id", "VARCHAR"))


def deltas_prefix(tenant_id: str) -> str:
    """``deltas/tenant_id=<T>``: where a tenant's deltas live, relative to the copy's root."""
    return f"{DELTAS}/{tenant_folder('.', tenant_id).name}"


def batch_name(first: str, last: str, as_of: datetime) -> str:
    """The delta name of a batch whose records sit at ``first``..``last`` and whose newest
    record was made at ``as_of``."""
    micros = int(as_of.timestamp()) * 1_000_000 + as_of.microsecond
    name = f"{first.zfill(POSITION_WIDTH)}-{last.zfill(POSITION_WIDTH)}-{micros}"
    if _BATCH_RE.match(name) is None:
        raise ValueError(f"stream positions must be decimal numbers, got {first!r} and {last!r}")
    return name


@dataclass(frozen=True, slots=True)
class Delta:
    """One delta file, as its name describes it."""

    path: str
    as_of: datetime

    @classmethod
    def parse(cls, path: str) -> Delta | None:
        found = _BATCH_RE.match(path.rsplit("/", 1)[-1].removesuffix(".parquet"))
        if found is None:
            return None
        micros = int(found["as_of"])
        seconds, rest = divmod(micros, 1_000_000)
        return cls(path, datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest))


def _connect(temp: Path | None = None) -> duckdb.DuckDBPyConnection:
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")  # a constant
    # Rows of a file in any order (no reader relies on it): a COPY then streams from every
    # thread instead of holding row groups back to keep their order. (Keeping the order,
    # with 512 MB, a fold of 1M contacts ran out of memory.)
    con.execute("SET preserve_insertion_order = false")
    if temp is not None:
        con.execute(f"SET temp_directory = {exp.Literal.string(str(temp)).sql('duckdb')}")
    return con


def _text(value: Any) -> str:
    return exp.Literal.string(str(value)).sql("duckdb")


def _files(paths: Sequence[Path | str]) -> str:
    """A DuckDB list literal of file paths (each quoted by sqlglot)."""
    return "[" + ", ".join(_text(path) for path in paths) + "]"


def _rows(columns: Columns) -> dict[str, list[Any]]:
    return {name: [] for name, _ in columns}


def _write(
    con: duckdb.DuckDBPyConnection, columns: Columns, rows: Mapping[str, list[Any]], target: Path,
    extra: Sequence[exp.Expression] = (), *, base_events: bool = False,
) -> None:
    """``rows`` (column -> values, one list per column) as one Parquet file at ``target``,
    with the ``extra`` columns computed from them: the values go in as query parameters,
    one list per column. A ``base_events`` file is sorted as every base events file is."""
    selects = ", ".join(f"unnest(${name}::{kind}[]) AS {_name(name)}" for name, kind in columns)  # constants
    more = "".join(f", {select.sql('duckdb')}" for select in extra)
    order, options = (f" {EVENTS_ORDER_BY}", _EVENT_PARQUET) if base_events else ("", PARQUET)
    target.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"COPY (SELECT *{more} FROM (SELECT {selects}){order}) TO {_text(target)} {options}",
                {name: rows[name] for name, _ in columns})


def _contact_rows(tenant_id: str, changes: Sequence[CopyChange]) -> dict[str, list[Any]]:
    latest: dict[str, CopyChange] = {}
    for change in changes:
        if change.kind == "contact":
            known = latest.get(change.contact_id)
            if known is None or known.position <= change.position:
                latest[change.contact_id] = change
    rows = _rows(_CONTACT_DELTA)
    for contact_id, change in latest.items():
        doc = None
        if not change.deleted:
            profile = {key: value for key, value in change.document.items() if key != "events"}
            own = profile.get("tenant_id")
            if own is not None and own != tenant_id:
                raise DocumentError(f"contact {contact_id!r} belongs to tenant {own!r}, not {tenant_id!r}")
            doc = _json(profile, f"contact {contact_id!r}")
        rows["contact_id"].append(contact_id)
        rows["doc"].append(doc)
        rows["updated_at"].append(change.updated_at)
        rows["deleted"].append(change.deleted)
        rows["position"].append(change.position.zfill(POSITION_WIDTH))
    return rows


def _event_rows(changes: Sequence[CopyChange]) -> tuple[dict[str, list[Any]], int]:
    latest: dict[tuple[str, datetime, str | None], tuple[CopyChange, dict[str, Any]]] = {}
    skipped = 0
    for change in changes:
        if change.kind != "event":
            continue
        raw = change.document
        event_id = raw.get("event_id")
        event_id = str(event_id) if type(event_id) is str or type(event_id) is int else None
        if change.deleted:
            at = parse_instant(raw.get("at"))
            if at is None or event_id is None:
                raise DocumentError(f"removed event of contact {change.contact_id!r} has no time and id")
            row: dict[str, Any] = {"name": None, "at": at, "properties": None, "event_id": event_id}
        else:
            event = _well_formed(raw)
            if event is None:
                skipped += 1
                continue
            where = f"contact {change.contact_id!r}: event {event.name}"
            properties = _json(event.properties, where) if event.properties else None
            row = {"name": event.name, "at": event.at, "properties": properties, "event_id": event_id}
        key = (change.contact_id, row["at"], event_id)
        known = latest.get(key)
        if known is None or known[0].position <= change.position:
            latest[key] = (change, row)
    rows = _rows(_EVENT_DELTA)
    for (contact_id, _, _), (change, row) in latest.items():
        rows["contact_id"].append(contact_id)
        for name in ("name", "at", "properties", "event_id"):
            rows[name].append(row[name])
        rows["deleted"].append(change.deleted)
        rows["position"].append(change.position.zfill(POSITION_WIDTH))
    return rows, skipped


def _delta_columns(columns: Sequence[str], own: Mapping[str, str]) -> str:
    """The delta side of a merge in the view's ``columns``: ``own`` maps a column to its
    expression over the delta row ``d``, a field column (:mod:`growthos_segments.analytics.fields`:
    the JSON value at its path, for every row) is extracted from ``d.doc``, and any other
    column deltas do not hold is NULL."""
    selects = []
    for column in columns:
        if column in own:
            value = own[column]
        elif path_of(column) is not None:
            value = json_at(path_of(column) or (), exp.column("doc", table="d")).sql("duckdb")
        else:
            value = "NULL"
        selects.append(f"{value} AS {_name(column)}")
    return ", ".join(selects)


def _name(column: str) -> str:
    return exp.to_identifier(column, quoted=True).sql("duckdb")


CONTACT_KEY = ("contact_id",)
EVENT_KEY = ("contact_id", "at", "event_id")
"""What identifies a row: a contact; an event by its DynamoDB key (contact, time, id)."""


def _merge(base: str, deltas: str, columns: Sequence[str], key: Sequence[str], own: Mapping[str, str]) -> str:
    """The merge-on-read ``SELECT`` (DuckDB's dialect) of ``base`` and ``deltas`` (relations)
    in ``columns``: the base rows no delta holds a key of, then each key's latest delta row
    unless it is a removal. ``own`` maps a column to its expression over the delta row ``d``."""
    partition = ", ".join(_name(column) for column in key)
    on = " AND ".join(f"d.{_name(column)} = b.{_name(column)}" for column in key)
    keep = ", ".join(f"b.{_name(column)}" for column in columns)
    return (
        f"WITH d AS (SELECT * FROM {deltas} "
        f"QUALIFY row_number() OVER (PARTITION BY {partition} ORDER BY position DESC) = 1) "
        f"SELECT {keep} FROM {base} AS b ANTI JOIN d ON {on} "
        f"UNION ALL SELECT {_delta_columns(columns, own)} FROM d WHERE NOT d.deleted"
    )


def _merged_contacts(base: str, deltas: Sequence[Path], columns: Sequence[str]) -> str:
    own = {"contact_id": "d.contact_id", "doc": "d.doc::JSON", "updated_at": "d.updated_at"}
    return _merge(base, f"read_parquet({_files(deltas)})", columns, CONTACT_KEY, own)


def _merged_events(base: str, deltas: Sequence[Path], columns: Sequence[str]) -> str:
    own = {"contact_id": "d.contact_id", "name": "d.name", "at": 'd."at"', "properties": "d.properties::JSON",
           "event_id": "d.event_id"}
    return _merge(base, f"read_parquet({_files(deltas)})", columns, EVENT_KEY, own)


ATHENA_DATABASE = "growthos_segments_copy"
"""The Glue database of a stack named ``growthos-...`` (``AnalyticsDatabase`` in template.yaml)."""


def athena_views(database: str = ATHENA_DATABASE) -> dict[str, exp.Expression]:
    """``contacts_current`` and ``events_current``: the merge on read of the Glue tables of
    template.yaml (base and deltas of every tenant), as views to create in Athena.

    The same expressions in DuckDB's dialect run over the same files (the tests do), and
    in Trino's they are what Athena runs; a query names its tenant
    (``WHERE tenant_id = '...'``), which the tables' injected partitions require.
    """
    import sqlglot

    schema = exp.to_identifier(database, quoted=True).sql("duckdb")
    views = {}
    for view, base, deltas, columns, key in (
        ("contacts_current", "contacts", "contact_deltas", ("tenant_id", *(n for n, _ in _CONTACT_BASE)),
         ("tenant_id", *CONTACT_KEY)),
        ("events_current", "events", "event_deltas", ("tenant_id", *(n for n, _ in _EVENT_BASE)),
         ("tenant_id", *EVENT_KEY)),
    ):
        merged = _merge(f"{schema}.{base}", f"{schema}.{deltas}", columns, key,
                        {column: f"d.{_name(column)}" for column in columns})
        views[view] = sqlglot.parse_one(f"CREATE OR REPLACE VIEW {schema}.{view} AS {merged}", read="duckdb")
    return views


def stored_as_of(root: str | Path, tenant_id: str) -> datetime | None:
    """The instant before which every change of the tenant is in its copy under a local
    ``root``: the later of its base's rebuild and the streams' watermark. ``None``: neither
    is known yet, or the base has no manifest (written from documents, not kept from the
    streams, so the watermark says nothing about it)."""
    folder = tenant_folder(root, tenant_id)
    if not (folder / MANIFEST).is_file():
        return None
    stamps = [stamp for stamp in (_manifest_as_of(folder), _stored_instant(Path(root) / WATERMARK, "at"))
              if stamp is not None]
    return max(stamps, default=None)


def merge_deltas(con: duckdb.DuckDBPyConnection, root: str | Path, tenant_id: str) -> None:
    """Make the open tenant's ``contacts`` and ``events`` views the merge of their base
    and the tenant's deltas under ``root`` (see the module docstring), and record the
    copy's freshness in the table ``copy_state`` (``tenant_id``, ``as_of``).

    A copy kept from the streams (its base has a manifest) always gets a row, with a NULL
    ``as_of`` while its freshness is unknown.

    :func:`growthos_segments.analytics.parquet.open_tenant` calls it last; the views keep
    their columns. Without deltas the views are left as they are, and views merged
    already are not merged twice (a second call is harmless).
    """
    folder = Path(root) / deltas_prefix(tenant_id)
    tenant = _text(tenant_id)
    as_of = stored_as_of(root, tenant_id)  # before the deltas are listed: it vouches for earlier ones
    con.execute("CREATE OR REPLACE TEMP TABLE copy_state (tenant_id VARCHAR, as_of TIMESTAMPTZ)")
    if (tenant_folder(root, tenant_id) / MANIFEST).is_file():  # kept from the streams: as_of, or NULL
        con.execute("INSERT INTO copy_state VALUES ($tenant, $as_of)", {"tenant": tenant_id, "as_of": as_of})
    contacts = sorted((folder / CONTACTS).glob("*.parquet"))
    events = sorted((folder / EVENTS).glob("*.parquet"))
    for view, files in ((CONTACTS, contacts), (EVENTS, events)):
        state = con.execute("SELECT comment FROM duckdb_views() WHERE view_name = $view AND NOT internal",
                            {"view": view}).fetchall()
        if not files or state == [(MERGED,)]:
            continue
        columns = [row[0] for row in con.execute(f"DESCRIBE {view}").fetchall()]  # view: a constant
        con.execute(f"DROP VIEW IF EXISTS {view}_base")  # an earlier merge's, whose view was replaced since
        con.execute(f"ALTER VIEW {view} RENAME TO {view}_base")
        merge = _merged_contacts if view == CONTACTS else _merged_events
        merged = merge(f"{view}_base", files, columns)
        select = ", ".join(f"{tenant}::VARCHAR AS tenant_id" if column == "tenant_id" else _name(column)
                           for column in columns)
        con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT {select} FROM ({merged})")
        con.execute(f"COMMENT ON VIEW {view} IS {_text(MERGED)}")


class ParquetCopy:
    """:class:`growthos_segments.core.ports_copy.AnalyticsCopy` as Parquet files in ``storage``."""

    def __init__(self, storage: CopyStorage, *, workdir: Path | None = None) -> None:
        self._storage = storage
        self._workdir = workdir
        self._writer: duckdb.DuckDBPyConnection | None = None
        """The connection deltas are written with, opened once (a function's container keeps it)."""
        self._based: set[str] = set()
        """Tenants known to have base files."""

    def _scratch(self) -> tempfile.TemporaryDirectory[str]:
        if self._workdir is not None:
            self._workdir.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryDirectory(prefix="copy-", dir=self._workdir)

    def apply(self, tenant_id: str, changes: Sequence[CopyChange], *, as_of: datetime) -> CopyWritten:
        prefix = deltas_prefix(tenant_id)
        if not changes:
            return CopyWritten(tenant_id, 0, 0, 0)
        positions = sorted(change.position.zfill(POSITION_WIDTH) for change in changes)
        batch = batch_name(positions[0], positions[-1], as_of)
        strangers = sorted({c.tenant_id for c in changes} - {tenant_id})
        if strangers:
            raise ValueError(f"changes of tenants {strangers} in a batch of {tenant_id!r}")
        contacts = _contact_rows(tenant_id, changes)
        events, skipped = _event_rows(changes)
        self._ensure_base(tenant_id)
        if self._writer is None:
            self._writer = _connect()
        with self._scratch() as scratch:
            for table, columns, rows in ((CONTACTS, _CONTACT_DELTA, contacts),
                                         (EVENTS, _EVENT_DELTA, events)):
                if rows["contact_id"]:
                    local = Path(scratch) / table / f"{batch}.parquet"
                    _write(self._writer, columns, rows, local)
                    self._storage.put(f"{prefix}/{table}/{batch}.parquet", local)
        return CopyWritten(tenant_id, len(contacts["contact_id"]), len(events["contact_id"]), skipped)

    def _deltas(self, tenant_id: str) -> list[Delta]:
        found = (Delta.parse(path) for path in self._storage.listing(deltas_prefix(tenant_id) + "/"))
        return [delta for delta in found if delta is not None]

    def pending(self, tenant_id: str) -> int:
        return len(self._deltas(tenant_id))

    def backlog(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for path in self._storage.listing(DELTAS + "/"):
            folder = path.split("/")[1] if path.count("/") >= 3 else ""
            if folder.startswith("tenant_id=") and Delta.parse(path) is not None:
                tenant = folder.removeprefix("tenant_id=")
                counts[tenant] = counts.get(tenant, 0) + 1
        return counts

    def as_of(self, tenant_id: str) -> datetime | None:
        return stored_as_of(self._storage.local_root(tenant_id), tenant_id)

    def compact(self, tenant_id: str, *, now: datetime) -> int:
        settled = [delta for delta in self._deltas(tenant_id) if delta.as_of <= now - SETTLE]
        if not settled:
            return 0
        root = self._storage.local_root(tenant_id)  # after listing: see the module docstring
        base = tenant_folder(root, tenant_id)
        local = {delta.path: root / delta.path for delta in settled}
        as_of = _manifest_as_of(base)  # the rebuild's: a delta's newest record vouches for no other shard
        with self._scratch() as scratch:
            staging = Path(scratch) / "base"
            con = _connect(Path(scratch) / "spill")
            try:
                generation = uuid.uuid4().hex[:12]
                name = f"part-{generation}-00000.parquet"
                for table in (CONTACTS, EVENTS):
                    files = [path for key, path in local.items() if f"/{table}/" in key]
                    source = f"read_parquet({_text(base / table / '*.parquet')})"
                    columns = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
                    query = f"SELECT * FROM {source}"
                    if files:
                        merge = _merged_contacts if table == CONTACTS else _merged_events
                        query = merge(source, files, columns)
                    (staging / table).mkdir(parents=True)
                    selected = ", ".join(_name(column) for column in columns)
                    # Events sorted as every base events file is (parquet.EVENTS_ORDER): a query's
                    # names and lookback then skip whole row groups (their min/max statistics).
                    events = table == EVENTS
                    order, options = (f" {EVENTS_ORDER_BY}", _EVENT_PARQUET) if events else ("", PARQUET)
                    con.execute(f"COPY (SELECT {selected} FROM ({query}){order}) TO "
                                f"{_text(staging / table / name)} {options}")
            finally:
                con.close()
            _write_manifest(staging, as_of)
            self._storage.replace_folder(tenant_folder(".", tenant_id).name, staging)
        self._storage.remove(sorted((delta.path for delta in settled), key=_oldest_first))
        return len(settled)

    def rebuild(self, tenant_id: str, documents: Iterable[Mapping[str, Any]], *, as_of: datetime) -> int:
        before = [delta.path for delta in self._deltas(tenant_id)]
        written = self._write_base(tenant_id, documents, as_of)
        self._storage.remove(sorted(before, key=_oldest_first))
        return written

    def _ensure_base(self, tenant_id: str) -> None:
        """Give a tenant that has no base files yet (one created after the copy was built) an
        empty base, so its copy opens like any other: its deltas are all it holds."""
        if tenant_id in self._based:
            return
        if not self._storage.listing(tenant_folder(".", tenant_id).name + "/"):
            self._write_base(tenant_id, [], None)
        self._based.add(tenant_id)

    def _write_base(
        self, tenant_id: str, documents: Iterable[Mapping[str, Any]], as_of: datetime | None
    ) -> int:
        """Replace the tenant's base files by these documents; returns how many."""
        written = 0
        with self._scratch() as scratch:
            staging = Path(scratch) / "base"
            con = _connect()
            contacts, events = _rows(_CONTACT_BASE), _rows(_EVENT_BASE)
            parts, generation = 0, uuid.uuid4().hex[:12]

            paths: tuple[tuple[str, ...], ...] | None = None

            def flush() -> None:
                nonlocal parts, paths
                if paths is None:  # the first batch is the sample the field columns are chosen from
                    paths = choose_fields(json.loads(doc) for doc in contacts["doc"])
                name = f"part-{generation}-{parts:05d}.parquet"
                _write(con, _CONTACT_BASE, contacts, staging / CONTACTS / name, field_selects(paths))
                _write(con, _EVENT_BASE, events, staging / EVENTS / name, base_events=True)
                parts += 1
                for rows in (contacts, events):
                    for values in rows.values():
                        values.clear()

            try:
                for number, stored in enumerate(documents, start=1):
                    doc = dict(stored)
                    updated_at = parse_instant(doc.pop("updated_at", None))  # not part of what rules read
                    row, event_rows, _ = _split(doc, tenant_id, f"document {number}")
                    row["updated_at"] = updated_at
                    for name in contacts:
                        contacts[name].append(row[name])
                    for event in event_rows:
                        for name in events:
                            events[name].append(event[name])
                    written += 1
                    if len(contacts["contact_id"]) + len(events["contact_id"]) >= BATCH_ROWS:
                        flush()
                if contacts["contact_id"] or parts == 0:
                    flush()
            finally:
                con.close()
            _write_manifest(staging, as_of)
            self._storage.replace_folder(tenant_folder(".", tenant_id).name, staging)
        return written


def _oldest_first(path: str) -> str:
    """Deltas are removed in stream order, so a fold cut short leaves only newer ones behind."""
    return path.rsplit("/", 1)[-1]


def _manifest_as_of(folder: Path) -> datetime | None:
    return _stored_instant(folder / MANIFEST, "as_of")


def _stored_instant(path: Path, key: str) -> datetime | None:
    """The instant at ``key`` of a small JSON file (``None``: no file, or no instant there)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return parse_instant(json.loads(text).get(key))


def _write_manifest(staging: Path, as_of: datetime | None) -> None:
    files = sorted(str(path.relative_to(staging)) for path in staging.rglob("*.parquet"))
    stamp = to_iso(as_of, "microseconds") if as_of is not None else None
    text = json.dumps({"as_of": stamp, "files": files}, indent=1)
    (staging / MANIFEST).write_text(text + "\n", encoding="utf-8")

