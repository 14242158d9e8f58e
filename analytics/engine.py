"""Answer a segment for a whole tenant: one SQL query when the rule has an exact SQL form,
else every contact through the per-contact evaluator; the answer says which.

Both paths read the same two tables (written by
:mod:`growthos_segments.analytics.documents`, or the Parquet copy's views), so
the per-contact path evaluates exactly the documents the query would have read:
each contact's document with its events put back. It is the reference the SQL
path is held to (tests/analytics), the answer for rules SQL cannot give exactly
yet, and, on the SQL path, the judge of the few contacts the query leaves
undecided (``ExactAnswer.decided_per_contact``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import duckdb

from growthos_segments.analytics.compiler import CompiledQuery, Measure, NoSqlForm, compile_segment
from growthos_segments.analytics.context import tenant_context
from growthos_segments.analytics.fields import field_columns
from growthos_segments.core.host import PluginHost
from growthos_segments.core.ports_analytics import ExactAnswer
from growthos_segments.core.segments import SegmentSet
from growthos_segments.core.timeutil import to_iso

__all__ = ["answer", "answer_json", "copy_as_of", "documents", "probe"]


def answer_json(found: ExactAnswer) -> dict[str, Any]:
    """An answer as ``segments count`` prints it (without member ids)."""
    out: dict[str, Any] = {"count": len(found.members), "path": found.path, "as_of": to_iso(found.as_of)}
    if found.reason is not None:
        out["reason"] = found.reason
    if found.decided_per_contact:
        out["decided_per_contact"] = found.decided_per_contact
    return out


def answer(
    con: duckdb.DuckDBPyConnection,
    host: PluginHost,
    segments: SegmentSet,
    segment_id: str,
    tenant_id: str,
    now: datetime,
    context: Mapping[str, Any] | None = None,
) -> ExactAnswer:
    """Members of ``segment_id`` (of ``segments``) among ``tenant_id``'s contacts at ``now``.

    A rule reading the tenant context (RFM thresholds) reads ``context`` (the stored
    one, say) when given, else the context computed as of ``now`` by SQL where plugins
    give it in SQL (:mod:`growthos_segments.analytics.context`); either way the query
    and every contact decided one by one read the same context."""
    stamp = copy_as_of(con, tenant_id)
    if context is None and segments.segments[segment_id].reads.context:
        context = tenant_context(con, host, tenant_id, now, lambda: documents(con, tenant_id))
    try:
        query = compile_segment(segments, segment_id, field_columns(con), probe(con, tenant_id, now, context))
    except NoSqlForm as exc:
        reason = str(exc)
    else:
        parameters = query.parameters(tenant_id, now, context)
        if query.decided:  # every row a member, already in order (a VARCHAR sorts by code point)
            members = [row[0] for row in con.execute(query.members_sql(), parameters).fetchall()]
            return ExactAnswer(tuple(members), "sql", stamp, decided_per_contact=0)
        rows = con.execute(query.sql, parameters).fetchall()
        undecided = sorted({contact_id for contact_id, member in rows if member is None})
        members = [contact_id for contact_id, member in rows if member]
        if undecided:
            members += _per_contact(con, segments, segment_id, tenant_id, now, context, undecided)
        return ExactAnswer(tuple(sorted(members)), "sql", stamp, decided_per_contact=len(undecided))
    members = _per_contact(con, segments, segment_id, tenant_id, now, context, None)
    return ExactAnswer(tuple(sorted(members)), "per-contact", stamp, reason)


def probe(
    con: duckdb.DuckDBPyConnection, tenant_id: str, now: datetime, context: Mapping[str, Any] | None = None
) -> Measure:
    """How the compiler's probes run here (:data:`~growthos_segments.analytics.compiler.Measure`):
    on this connection, bound as the rule's query is."""

    def measure(query: CompiledQuery) -> tuple[int, ...]:
        return tuple(con.execute(query.sql, query.parameters(tenant_id, now, context)).fetchone() or ())

    return measure


def _per_contact(
    con: duckdb.DuckDBPyConnection, segments: SegmentSet, segment_id: str,
    tenant_id: str, now: datetime, context: Mapping[str, Any] | None, only: list[str] | None,
) -> list[str]:
    """The members among the tenant's contacts (or ``only`` these ids), one by one."""
    compiled = segments.segments[segment_id]
    members = []
    for contact_id, doc in _documents_with_ids(con, tenant_id, only):
        if compiled.evaluate(segments.view(doc, context=context), now)[0]:
            members.append(contact_id)
    return members


def copy_as_of(con: duckdb.DuckDBPyConnection, tenant_id: str) -> datetime | None:
    """How fresh the copy is: for a copy kept from the streams, the instant before which
    every change is in it, as the copy stores it (``copy_state``, from
    :func:`growthos_segments.analytics.deltas.merge_deltas`; ``None`` while unknown), else
    the newest ``updated_at`` of the tenant's contacts (a copy written from documents)."""
    stored = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'copy_state'").fetchone()
    if stored and stored[0]:
        found = con.execute("SELECT count(*), max(as_of) FROM copy_state WHERE tenant_id = $tenant",
                            {"tenant": tenant_id}).fetchone()
        if found and found[0]:
            return found[1]
    newest = con.execute("SELECT max(updated_at) FROM contacts WHERE tenant_id = $tenant",
                         {"tenant": tenant_id}).fetchone()
    return newest[0] if newest else None


def documents(con: duckdb.DuckDBPyConnection, tenant_id: str) -> Iterator[dict[str, Any]]:
    """The tenant's contact documents as the per-contact engine reads them (events put back)."""
    for _, doc in _documents_with_ids(con, tenant_id, None):
        yield doc


def _documents_with_ids(
    con: duckdb.DuckDBPyConnection, tenant_id: str, only: list[str] | None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each contact's document with its events back in (``at`` as ISO text)."""
    parameters: dict[str, Any] = {"tenant": tenant_id}
    picked = ""
    if only is not None:
        parameters["only"] = only
        picked = " AND list_contains($only, c.contact_id)"
    cursor = con.execute(
        "SELECT c.contact_id, c.doc, e.events FROM contacts AS c LEFT JOIN ("
        "  SELECT contact_id,"
        "    list({'name': name, 'at': \"at\", 'properties': properties} ORDER BY \"at\") AS events"
        "  FROM events WHERE tenant_id = $tenant GROUP BY contact_id) AS e ON e.contact_id = c.contact_id"
        " WHERE c.tenant_id = $tenant" + picked,  # picked: one of two constant texts
        parameters,
    )
    while rows := cursor.fetchmany(10_000):
        for contact_id, text, events in rows:
            doc = json.loads(text)
            doc["events"] = [
                {"name": e["name"], "at": to_iso(e["at"]),
                 "properties": None if e["properties"] is None else json.loads(e["properties"])}
                for e in events or ()
            ]
            yield contact_id, doc
