"""Backfill candidates from the analytical copy: one DuckDB query names whom to evaluate.

:class:`CopyCandidates` implements :class:`growthos_segments.core.ports_candidates.CandidateSource`
over the Parquet copy (:func:`growthos_segments.analytics.parquet.open_tenant`). For
each segment asked about, the contacts it returns are the union of:

- **the SQL answer at** ``now``: the segment compiled by
  :func:`growthos_segments.analytics.compiler.compile_segment` (references inlined,
  manual picks and exclusions as the per-contact path composes them), its members
  and the rows the query leaves undecided;
- **the contacts whose answer can change with time alone** after ``now``. A
  condition whose SQL form does not read the instant (``kit.sql.NOW``) answers
  the same at every instant on the same data (its form is exact: the parity
  tests hold it to the per-contact answer at every instant), so it never moves
  by itself. A condition whose form reads the instant sees the instant only
  through what it declares it reads (:class:`growthos_segments.core.contract.Reads`):
  events of its prefixes no older than its lookback, values at its document
  paths. A contact with no such event since ``now - lookback`` (future-dated
  events included) and no value at such a path sees the same nothing at every
  later instant, so that condition's answer cannot change for it either. The
  contacts with such an event or value are therefore a superset of those whose
  answer (and re-check) time can move: conservative, never short. A plain
  JsonLogic node counts as reading the instant (its reads may be ``*``: every
  contact).

Conditions are read through references (a referenced segment's conditions count
for the segment that references it). A segment without an exact SQL form raises
:class:`~growthos_segments.core.ports_candidates.NoCandidates`: the backfill then
evaluates every contact.

``as_of`` is the copy's instant as the engine reports it
(:func:`growthos_segments.analytics.engine.answer`): the instant up to which the
stream's changes are applied when the copy stores one, else the newest
``updated_at`` of the tenant's contacts (a copy written from documents). A
segment reading the tenant context (RFM thresholds) is asked in the context the
backfill's engine evaluates in, which the backfill passes: the query binds the
values its conditions derive from it, so both decide with the same thresholds.

Where the copy lives is a callable ``tenant_id -> root folder | None``: the copy
storage's ``local_root`` (``growthos_segments.infra.analytics_copy``: a local
folder, or the S3 prefix synchronised to ``/tmp``), wired in
``growthos_segments.handlers.wiring.build_backfill``. The views are the base
files merged with the stream's deltas
(:func:`growthos_segments.analytics.deltas.merge_deltas`).

duckdb is imported inside the methods, so the module imports where the Lambda
layer lacks it; the compiler (and sqlglot) only when a backfill asks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from growthos_segments.core.contract import Reads
from growthos_segments.core.dependencies import DependencyIndex
from growthos_segments.core.expressions import expression_reads
from growthos_segments.core.ports_candidates import CandidateSet, NoCandidates
from growthos_segments.core.rules import Condition, Expr, iter_nodes
from growthos_segments.core.segments import SegmentSet
from growthos_segments.core.timeutil import as_utc

if TYPE_CHECKING:
    import duckdb
    from sqlglot import exp

__all__ = ["CopyCandidates", "candidate_query", "time_reads"]

RootOf = Callable[[str], Path | None]
"""Where a tenant's copy is: the folder holding ``tenant_id=<tenant>/``, or ``None``."""


class CopyCandidates:
    """:class:`~growthos_segments.core.ports_candidates.CandidateSource` over the Parquet copy."""

    def __init__(self, root_of: RootOf) -> None:
        self.root_of = root_of

    def _open(self, tenant_id: str) -> duckdb.DuckDBPyConnection | None:
        """A connection with the tenant's views, or ``None`` when it has no copy."""
        from growthos_segments.analytics.parquet import open_copy

        return open_copy(self.root_of(tenant_id), tenant_id)

    def as_of(self, tenant_id: str) -> datetime | None:
        con = self._open(tenant_id)
        if con is None:
            return None
        try:
            return _as_of(con, tenant_id)
        finally:
            con.close()

    def candidates(
        self, tenant_id: str, segments: SegmentSet, segment_ids: Sequence[str], now: datetime,
        context: Mapping[str, Any] | None = None,
    ) -> CandidateSet | None:
        from growthos_segments.analytics.compiler import NoSqlForm
        from growthos_segments.analytics.fields import field_columns

        con = self._open(tenant_id)
        if con is None:
            return None
        try:
            as_of = _as_of(con, tenant_id)
            if as_of is None:  # an empty copy names nobody, and is as old as anything
                return None
            try:
                query, values = candidate_query(segments, segment_ids, as_utc(now), field_columns(con),
                                                context)
            except NoSqlForm as exc:
                raise NoCandidates(str(exc)) from None
            cursor = con.execute(query.sql(dialect="duckdb"), {**values, "tenant": tenant_id})
            ids: set[str] = set()
            while rows := cursor.fetchmany(100_000):
                ids.update(contact_id for (contact_id,) in rows)
            return CandidateSet(frozenset(ids), as_of)
        finally:
            con.close()


def _as_of(con: duckdb.DuckDBPyConnection, tenant_id: str) -> datetime | None:
    from growthos_segments.analytics.engine import copy_as_of

    stamp = copy_as_of(con, tenant_id)
    return None if stamp is None else as_utc(stamp)


def candidate_query(
    segments: SegmentSet, segment_ids: Sequence[str], now: datetime, columns: Mapping[str, str] | None = None,
    context: Mapping[str, Any] | None = None,
) -> tuple[exp.Expression, dict[str, Any]]:
    """One query of ``contact_id`` (the union over ``segment_ids``) and the values it binds
    besides ``tenant``; ``columns`` are the copy's field columns (as the compiler takes
    them), ``context`` the tenant context the conditions read. Raises ``NoSqlForm``."""
    from sqlglot import exp

    from growthos_segments.analytics.compiler import compile_segment, tenant_is

    parts: list[exp.Select] = []
    values: dict[str, Any] = {"now": now}
    index = DependencyIndex.of(segments)
    for segment_id in segment_ids:
        compiled = compile_segment(segments, segment_id, columns)
        values.update((name, value) for name, value in compiled.parameters("", now, context).items()
                      if name != "tenant")
        parts.append(exp.select("contact_id").from_(compiled.query.subquery(f"s{len(parts)}")))
        moving = _moving(time_reads(segments, segment_id, index), columns or {})
        if moving is not None:
            parts.append(
                exp.select("contact_id").from_("contacts")
                .where(exp.and_(tenant_is(), exp.paren(moving)))
            )
    query: exp.Expression = parts[0]
    for part in parts[1:]:
        query = exp.union(query, part, distinct=True)
    used = {p.name for p in query.find_all(exp.Placeholder)}
    return query, {name: value for name, value in values.items() if name in used}


def time_reads(segments: SegmentSet, segment_id: str, index: DependencyIndex | None = None) -> list[Reads]:
    """The declared reads of each condition of the segment (through what it references)
    whose answer can depend on the instant: its SQL form reads ``now``, or it is a
    plain JsonLogic node."""
    found: list[Reads] = []
    for sid in (index or DependencyIndex.of(segments)).requirements([segment_id]):
        effective = segments.segments[sid].effective
        for _, node in iter_nodes(effective) if effective is not None else ():
            if isinstance(node, Expr):
                found.append(expression_reads(node.logic))
            elif isinstance(node, Condition) and _reads_now(node):
                found.append(node.reads)
    return found


def _reads_now(node: Condition) -> bool:
    from sqlglot import exp

    bulk = node.condition_type.bulk_compile
    form = bulk(node.params) if bulk is not None else None
    if form is None:  # compile_segment refused this node already; say "moves" to be safe
        return True
    parts: Iterable[exp.Expression | None] = (form.predicate, form.undecided, *form.aggregates.values())
    return any(
        placeholder.name == "now"
        for part in parts if part is not None
        for placeholder in part.find_all(exp.Placeholder)
    )


def _moving(reads: Sequence[Reads], columns: Mapping[str, str]) -> exp.Expression | None:
    """Contacts (a predicate over ``contacts``) with something these reads see at or after
    ``now``: an event of a read prefix within the lookback (the rows the compiler's
    one pass reads for them: :func:`growthos_segments.analytics.compiler.event_rows`),
    or a value at a read path (read from its field column when the copy has one)."""
    from sqlglot import exp

    from growthos_segments.analytics.compiler import event_rows, tenant_is
    from growthos_segments.kit.sql import json_at

    tests: list[exp.Expression] = []
    windows: list[exp.Expression] = []
    for read in reads:
        for path in sorted(read.attributes):
            keys = path.split(".")
            try:
                value = json_at(keys, root=exp.column("doc"))
            except ValueError:  # "*" (a JsonLogic node reading anything) or an unusual key
                return exp.true()
            stored = columns.get(value.expressions[1].name)
            if stored is not None:
                value = exp.column(stored, quoted=True)
            tests.append(exp.not_(exp.Is(this=value, expression=exp.null())))
        if read.events:
            rows = event_rows(read)
            windows.append(exp.true() if rows is None else exp.paren(rows))
    if windows:
        events = exp.select("contact_id").from_("events").where(
            exp.and_(tenant_is(), exp.paren(exp.or_(*windows))))
        tests.append(exp.In(this=exp.column("contact_id"), query=events.subquery()))
    return exp.or_(*tests) if tests else None
