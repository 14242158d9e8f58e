"""A rule tree to one SQL query of the member contact ids of one tenant.

The tree compiles as the per-contact compiler (:mod:`growthos_segments.core.compiler`)
walks it: each condition through its type's ``bulk_compile`` (a
:class:`growthos_segments.kit.sql.SqlForm`), ``and`` / ``or`` / ``!`` into the same
boolean operators. A condition's NULL (SQL's "unknown") is read as false before it
is combined, which is what the per-contact predicate answers, so ``!`` is an exact
negation. Behavioural aggregates become columns of ONE GROUP BY pass over the
tenant's events, LEFT JOINed so contacts without events stay in (with NULL there).
A rule whose every aggregate is a count it tests only for "at least one" or
"none" (``COALESCE(n, 0)`` ``>= 1``, ``> 0`` or ``<= 0``, as
:func:`growthos_segments.kit.sql_events.count_matches` and ``undecided_among``
write them) needs neither: each such test becomes a semi-join,
``c.contact_id IN (SELECT contact_id FROM events WHERE <its rows>)``, which DuckDB
answers with a hash set of ids instead of grouping the rows and joining the
groups. An unknown ``IN`` (a NULL among the ids) is read as false, so the test is
never unknown and its negation is exactly "no such event" (a contact without
events included). A rule with any other aggregate keeps the one pass for all of
them: semi-joins beside it cost more than the columns they save (twice the CPU
for the bench's "3 views in 48 h without an order" at 1M contacts).

What the query reads is narrowed by the profile, where the rule lets it:

- the contacts read is filtered by every profile test a member (or an undecided
  contact) must pass: a top-level profile conjunct (then TRUE in the membership), and
  the profile tests implied by the rest (both branches of an OR of AND groups, say);
- the events pass reads one scan per condition's declared rows (:func:`event_rows`),
  disjoint and put together with UNION ALL, so each skips the Parquet row groups of
  other names and older times on its own;
- each scan reads only the contacts for whom an aggregate it feeds can change the
  answer (:func:`_guards`: an AND whose profile conjunct is false is false whatever
  its other conjuncts are), and only contacts the filtered contacts read keeps;
  given a ``measure`` (the engine gives one), only where those are few enough for
  it to pay (:data:`NARROW_SHARE`, counted by a probe of the tenant's contacts).

For the bench's nested rule at 4M contacts that is a quarter of the contacts and
0.75M grouped event rows instead of all of them and 5.8M.

Segments compose as :class:`growthos_segments.core.segments.SegmentSet` evaluates
them: a segment is its effective rule (own rule AND pinned AND NOT exclusions),
with contacts excluded by hand out first and contacts included by hand in; a
reference is the referenced segment's predicate in place (the set is acyclic).

Where a form says SQL cannot decide a row exactly (``SqlForm.undecided``), the
condition is unknown (NULL) there and three-valued logic carries it through
``and`` / ``or`` / ``!``: the query returns members (``member`` true) and the
contacts whose answer the unknown decides (``member`` NULL), which the engine
evaluates per contact.

A node with no exact SQL form (a type without ``bulk_compile``, a form refused for
its params, a plain JsonLogic expression using an operator
:mod:`growthos_segments.analytics.jsonlogic` does not translate, manual picks that
are not all strings) raises :class:`NoSqlForm` naming it; the engine then answers
per contact.

The query reads the named parameters ``tenant`` and ``now`` (TIMESTAMPTZ), and those
conditions derive from the tenant context (:meth:`CompiledQuery.parameters`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlglot
from sqlglot import exp

from growthos_segments.analytics.trino import trino_sql
from growthos_segments.core.contract import Reads
from growthos_segments.core.rules import And, Condition, Expr, Node, Not, Or, SegmentRef
from growthos_segments.core.segments import SegmentSet
from growthos_segments.kit.sql import CONTACT_DOC, CONTEXT_BINDING, SqlForm, any_equal, false_if_null, json_at
from growthos_segments.kit.sql_events import ago

__all__ = ["CompiledQuery", "NoSqlForm", "compile_rule", "compile_segment", "event_rows", "tenant_is"]


def tenant_is() -> exp.Expression:
    """``tenant_id = $tenant``: every read of the copy is of one tenant."""
    return exp.EQ(this=exp.column("tenant_id"), expression=exp.Placeholder(this="tenant"))


class NoSqlForm(Exception):
    """The rule has a node SQL cannot answer exactly; ``path`` is its JSON pointer."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path or '/'}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """One SELECT of ``contact_id, member`` for the tenant and instant given as parameters:
    ``member`` is true for members, NULL for contacts only the per-contact path can decide."""

    query: exp.Select
    decided: bool = False
    """No row can be undecided (``member`` is never NULL): no condition of the rule has
    rows only the per-contact path decides."""

    @property
    def sql(self) -> str:
        """The DuckDB text (what :mod:`growthos_segments.analytics.engine` runs)."""
        return self.query.sql(dialect="duckdb")

    def members_sql(self, ordered: bool = True) -> str:
        """The DuckDB text of the member ids alone (in ascending order unless not
        ``ordered``), for a :attr:`decided` query (every row it returns is a member):
        fetching the ``member`` column too cost a fifth more for rule 1 of
        ``bench_analytics``, and DuckDB sorts 200,000 ids in a fraction of the 50-60 ms
        Python takes."""
        assert self.decided
        ids = exp.select("contact_id").from_(self.query.subquery("q"))
        return (ids.order_by("contact_id") if ordered else ids).sql(dialect="duckdb")

    def parameters(
        self, tenant_id: str, now: datetime, context: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The values to bind: the tenant, ``now`` when a condition reads it, and the values
        conditions derive from the tenant ``context`` (:func:`~growthos_segments.kit.sql.context_parameter`;
        without a context they bind what an empty one gives, as views without one read)."""
        values: dict[str, Any] = {"tenant": tenant_id, "now": now}
        out: dict[str, Any] = {}
        for holder in self.query.find_all(exp.Placeholder):
            bind = holder.meta.get(CONTEXT_BINDING)
            out[holder.name] = values[holder.name] if bind is None else bind(context or {})
        return out

    def transpile(self, dialect: str = "trino", values: Mapping[str, Any] | None = None) -> str:
        """The same query in another dialect. Trino's is the SQL Athena runs, with DuckDB's
        answer (:mod:`growthos_segments.analytics.trino`); with ``values`` (what
        :meth:`parameters` gives) its parameters are literals, as Athena runs it."""
        if dialect == "trino":
            return trino_sql(self.query, values)
        return sqlglot.transpile(self.sql, read="duckdb", write=dialect)[0]


Measure = Callable[["CompiledQuery"], Sequence[int]]
"""Runs a probe query (one row of counts; it reads the same parameters as the rule's
query) and returns that row: how the compiler learns, from the tenant's own contacts,
whether narrowing the events pass to some of them is worth its cost."""

PROBE_ROWS = 100_000
"""The contacts the probe deciding narrowing reads (the first the copy holds)."""

NARROW_SHARE = 0.35
"""The largest share of the tenant's contacts an events scan is narrowed to. Narrowing
costs a hash lookup per event row; it pays when it leaves most rows out of the
grouping. At 1M contacts (a country test AND 2 opens in 30 days) it took 0.57x the
time at 5 % of the contacts, about 1.0x at 30 % and 1.6x at all of them."""


def compile_rule(
    node: Node, segments: SegmentSet | None = None, fields: Mapping[str, str] | None = None,
    measure: Measure | None = None,
) -> CompiledQuery:
    """Compile a parsed rule (its references resolved in ``segments``); raises
    :class:`NoSqlForm` when a node has no exact SQL form.

    ``fields`` maps a JSON path literal to the ``contacts`` column holding that
    path's value (:func:`growthos_segments.analytics.fields.field_columns`); paths
    without one are read from ``doc``. Without it the query reads only ``doc``
    (the form Athena's fixed table schema runs). With ``measure``, an events scan is
    narrowed to some contacts only where they are at most :data:`NARROW_SHARE` of the
    tenant's; without it, wherever the rule allows."""
    walk = _Compiler(segments)
    return _query(walk.node(node, ""), walk, fields or {}, measure)


def compile_segment(
    segments: SegmentSet, segment_id: str, fields: Mapping[str, str] | None = None,
    measure: Measure | None = None,
) -> CompiledQuery:
    """Compile one segment of a set, manual picks and references included."""
    walk = _Compiler(segments)
    return _query(walk.segment(segment_id, ""), walk, fields or {}, measure)


def _query(
    predicate: exp.Expression, walk: _Compiler, columns: Mapping[str, str], measure: Measure | None
) -> CompiledQuery:
    aggregates = walk.aggregates
    semi = _semi_joins(predicate, aggregates) if aggregates else None
    if semi is not None:
        predicate, aggregates = semi, {}
    predicate, fields = _lift_fields(predicate, columns)
    predicate, filters = _profile_filters(predicate, fields)
    still_read = {column.name for column in predicate.find_all(exp.Column) if column.table == "c"}
    lifted = [exp.alias_(extract, name) for name, extract in fields.items() if name in still_read]
    read = (
        exp.select(exp.column("contact_id"), exp.column("tenant_id"), *lifted)
        .from_("contacts")
        .where(tenant_is())
    )
    for test in filters:
        read = read.where(test.copy())
    if not aggregates:
        query = exp.select(exp.column("contact_id", table="c")).from_(read.subquery("c"))
        return _outcome(query, predicate, None)
    events, where, restricted = _event_parts(walk.reads, _guards(predicate), (lifted, filters), measure)
    per_contact = (
        exp.select(exp.column("contact_id"),
                   *(exp.alias_(expression, name) for name, expression in aggregates.items()))
        .from_(events)
        .group_by(exp.column("contact_id"))
    )
    if where is not None:
        per_contact = per_contact.where(where)
    source = exp.to_table("c") if restricted else read.subquery("c")
    query = exp.select(exp.column("contact_id", table="c")).from_(source).join(
        per_contact.subquery("e"),
        on=exp.EQ(this=exp.column("contact_id", table="e"), expression=exp.column("contact_id", table="c")),
        join_type="left",
    )
    return _outcome(query, predicate, read if restricted else None)


def _outcome(query: exp.Select, predicate: exp.Expression, contacts: exp.Select | None) -> CompiledQuery:
    """``contact_id, member`` of the contacts not decided out; ``contacts`` is the contacts
    read, when the query reads it twice (as ``c``)."""
    decided = query.select(exp.alias_(exp.paren(predicate), "member"))
    outcome = (
        exp.select("contact_id", "member")
        .from_(decided.subquery("m"))
        .where(exp.not_(exp.Is(this=exp.column("member"), expression=exp.false())))
    )
    return CompiledQuery(outcome if contacts is None else outcome.with_("c", as_=contacts),
                         decided=predicate.find(exp.Null) is None)


def _event_parts(
    reads: list[tuple[Reads, list[str]]], guards: Mapping[str, exp.Expression | None],
    contacts: tuple[list[exp.Expression], list[exp.Expression]], measure: Measure | None,
) -> tuple[exp.Expression, exp.Expression | None, bool]:
    """The events the aggregates' one pass reads (a table or a subquery), the filter on
    that table (``None`` for the subquery) and whether it reads only the contacts of ``c``
    (the query's contacts read, then a CTE).

    Each condition declares the rows it reads (:func:`event_rows`); they are read as
    one scan per distinct set of rows, put together with UNION ALL, so that each scan
    filters on its own names and lookback, which DuckDB applies to the Parquet row
    groups (the events are sorted by name, then time). One scan filtered by the OR of
    them reads each name over the longest lookback of all: for the nested rule of
    ``bench_analytics`` at 4M contacts, 13.5M rows instead of 5.8M. The scans are
    disjoint: each leaves out the rows an earlier one whose names may overlap reads,
    so every event is read once, as by the single scan, and no aggregate changes.

    Each scan reads only the contacts for whom some aggregate it feeds can matter
    (:func:`_guards`): a contact outside them gets no rows from it, which changes
    only aggregates the member's answer does not depend on. When the contacts read
    is filtered, the events of the contacts it leaves out are not read either. For
    the nested rule at 4M, that groups 0.75M rows instead of 5.8M. With ``measure``,
    a scan is narrowed only to at most :data:`NARROW_SHARE` of the contacts
    (:func:`_worth_narrowing`).
    """
    conditions: list[tuple[Reads, exp.Expression | None, exp.Expression | None]] = []
    for declared, names in reads:
        conditions.append((declared, event_rows(declared), _either([guards.get(name) for name in names])))
    if any(rows is None for _, rows, _ in conditions):
        parts = [(Reads(events=frozenset({""})), None, _either([g for _, _, g in conditions]))]
    else:
        parts = []
        for declared, rows, guard in conditions:
            same = next((i for i, (_, r, _) in enumerate(parts) if r == rows), None)
            if same is None:
                parts.append((declared, rows, guard))
            else:
                kept_reads, kept_rows, kept_guard = parts[same]
                parts[same] = (kept_reads, kept_rows, _either([kept_guard, guard]))
    overlapping = [[j for j in range(len(parts)) if j != k and _may_overlap(declared, parts[j][0])]
                   for k, (declared, _, _) in enumerate(parts)]
    needed = [_either([guard] + [parts[j][2] for j in overlapping[k] if j > k])
              for k, (_, _, guard) in enumerate(parts)]
    lifted, filters = contacts
    narrowed = [bool(filters) or test is not None for test in needed]
    if measure is not None and any(narrowed):
        narrowed = _worth_narrowing(lifted, filters, needed, narrowed, measure)
    scans = []
    for k, (_, rows, _) in enumerate(parts):
        where: list[exp.Expression] = [tenant_is()]
        if rows is not None:
            where.append(exp.paren(rows.copy()))
        where += [exp.not_(false_if_null(parts[j][1].copy())) for j in overlapping[k]  # type: ignore[union-attr]
                  if j < k]
        if narrowed[k]:
            ids = exp.select(exp.column("contact_id")).from_("c")
            test = needed[k]
            if test is not None:
                ids = ids.where(test.copy())
            where.append(exp.In(this=exp.column("contact_id"), query=ids.subquery()))
        scans.append(exp.and_(*where))
    if len(scans) == 1:
        return exp.to_table("events"), scans[0], narrowed[0]
    union: exp.Expression = exp.select(exp.Star()).from_("events").where(scans[0])
    for scan in scans[1:]:
        union = exp.union(union, exp.select(exp.Star()).from_("events").where(scan), distinct=False)
    return union.subquery("ev"), None, any(narrowed)


def _worth_narrowing(
    lifted: list[exp.Expression], filters: list[exp.Expression], needed: list[exp.Expression | None],
    narrowed: list[bool], measure: Measure,
) -> list[bool]:
    """Which scans to narrow after all: those whose contacts (passing the contacts read's
    filters and the scan's guard) are at most :data:`NARROW_SHARE` of the first
    :data:`PROBE_ROWS` contacts of the tenant, counted by one probe. An estimate, so a
    tenant whose contacts are stored in an order that follows the profile may get the
    slower plan, never another answer; the probe costs a few milliseconds at any size."""
    counts: list[exp.Expression] = [exp.func("count", exp.Star())]
    for test, narrow in zip(needed, narrowed, strict=True):
        if narrow:
            tests = [f.copy() for f in filters] + ([] if test is None else [exp.paren(test.copy())])
            counts.append(exp.Filter(this=exp.func("count", exp.Star()),
                                     expression=exp.Where(this=exp.and_(*tests))))
    sample = (exp.select(exp.Star(), *(column.copy() for column in lifted)).from_("contacts")
              .where(tenant_is()).limit(PROBE_ROWS))
    row = list(measure(CompiledQuery(exp.select(*counts).from_(sample.subquery("c")))))
    total, shares = max(row[0] or 0, 1), iter(row[1:])
    return [narrow and next(shares) / total <= NARROW_SHARE for narrow in narrowed]


def _either(guards: list[exp.Expression | None]) -> exp.Expression | None:
    """Any of the guards (``None``, no guard, if one of them is none)."""
    if any(guard is None for guard in guards):
        return None
    return _any(guards)  # type: ignore[arg-type]


def _any(guards: list[exp.Expression]) -> exp.Expression:
    unique: list[exp.Expression] = []
    for guard in guards:
        if guard not in unique:
            unique.append(guard)
    return unique[0].copy() if len(unique) == 1 else exp.or_(*(exp.paren(g.copy()) for g in unique))


def _may_overlap(one: Reads, other: Reads) -> bool:
    """Whether two conditions' declared rows may share an event: unless both name their
    events and no name of one is a prefix of a name of the other (as
    :func:`event_rows` matches names: ``email`` reads ``email.opened``)."""
    if not one.events or not other.events or "" in one.events or "" in other.events:
        return True
    return any(a.rstrip(".").startswith(b.rstrip(".")) or b.rstrip(".").startswith(a.rstrip("."))
               for a in one.events for b in other.events)


def _is_profile_test(conjunct: exp.Expression) -> bool:
    """``COALESCE(test, FALSE)`` reading only the contacts read's columns (no events, no
    subquery): false, never unknown, wherever ``test`` is not true."""
    if not (isinstance(conjunct, exp.Coalesce) and conjunct.expressions == [exp.false()]):
        return False
    test = conjunct.this
    columns = list(test.find_all(exp.Column))
    return bool(columns) and all(c.table == "c" for c in columns) and test.find(
        exp.Select, exp.Subquery, exp.Lambda) is None


def _guards(predicate: exp.Expression) -> dict[str, exp.Expression | None]:
    """Per aggregate column (``e.<name>``), a test of the contact's profile outside which
    the predicate does not depend on that aggregate (``None``: no such test).

    An ``AND`` with a profile conjunct ``COALESCE(t, FALSE)`` is FALSE wherever ``t``
    is not true, whatever its other conjuncts are, and so is every expression that
    contains it as it would be if that ``AND`` were FALSE: an aggregate inside the
    other conjuncts matters only where ``t`` holds. A use's guard is the conjunction
    of such ``t`` of every ``AND`` around it; an aggregate's, any of its uses'."""
    found: dict[str, list[list[exp.Expression]]] = {}

    def visit(node: exp.Expression, context: list[exp.Expression]) -> None:
        if isinstance(node, exp.Column):
            if node.table == "e":
                found.setdefault(node.name, []).append(context)
            return
        if isinstance(node, exp.And):
            profile: list[exp.Expression] = []
            others: list[exp.Expression] = []
            for conjunct in node.flatten():
                (profile if _is_profile_test(conjunct) else others).append(conjunct)
            for conjunct in others:
                visit(conjunct, context + [test.this for test in profile])
            return
        for child in node.iter_expressions():
            visit(child, context)

    visit(predicate, [])
    return {name: None if any(not context for context in contexts)
            else _any([exp.and_(*(exp.paren(t.copy()) for t in context)) if len(context) > 1
                       else context[0] for context in contexts])
            for name, contexts in found.items()}


_EXISTENCE: Mapping[tuple[type[exp.Expression], str], bool] = {
    (exp.GTE, "1"): True, (exp.GT, "0"): True, (exp.LTE, "0"): False,
}
"""The tests of ``COALESCE(count, 0)`` that ask only whether a row exists: "at least one"
(true) or "none" (false)."""
_NO_ROWS = exp.Literal.number(0)


def _existence_test(node: exp.Expression) -> tuple[str, bool] | None:
    """``(aggregate, at least one?)`` when ``node`` is ``COALESCE(e.<aggregate>, 0) >= 1``,
    ``> 0`` or ``<= 0``; else ``None``."""
    if not isinstance(node, exp.GTE | exp.GT | exp.LTE):
        return None
    count, bound = node.this, node.expression
    if not (isinstance(count, exp.Coalesce) and isinstance(count.this, exp.Column) and count.this.table == "e"
            and count.expressions == [_NO_ROWS] and isinstance(bound, exp.Literal) and not bound.is_string):
        return None
    wanted = _EXISTENCE.get((type(node), bound.name))
    return None if wanted is None else (count.this.name, wanted)


def _semi_joins(predicate: exp.Expression, aggregates: Mapping[str, exp.Expression]) -> exp.Expression | None:
    """The predicate with each existence test a semi-join on its count's rows, when every
    aggregate is a count used only in such tests (see the module's docstring); else ``None``."""
    uses = Counter(column.name for column in predicate.find_all(exp.Column) if column.table == "e")
    tested = Counter(found[0] for node in predicate.find_all(exp.GTE, exp.GT, exp.LTE)
                     if (found := _existence_test(node)) is not None)
    if tested != uses or not all(isinstance(aggregates[name], exp.CountIf) for name in uses):
        return None

    def exists(node: exp.Expression) -> exp.Expression:
        found = _existence_test(node)
        if found is None:
            return node
        name, at_least_one = found
        rows = (exp.select(exp.column("contact_id")).from_("events")
                .where(exp.and_(tenant_is(),
                                exp.paren(aggregates[name].this.copy()))))
        hit = false_if_null(exp.In(this=exp.column("contact_id", table="c"), query=rows.subquery()))
        return hit if at_least_one else exp.not_(hit)

    return predicate.transform(exists)


def _profile_filters(
    predicate: exp.Expression, fields: Mapping[str, exp.Expression]
) -> tuple[exp.Expression, list[exp.Expression]]:
    """The profile tests a contact must pass to be a member or undecided, as filters on the
    contacts read, where DuckDB applies them during the scan; and the predicate left to
    compute for the contacts that pass them.

    A top-level conjunct ``COALESCE(test, FALSE)`` that reads only field columns is false
    for a contact whose ``test`` is not true, and then so is the whole conjunction
    (``FALSE AND NULL`` is ``FALSE``): the outer ``NOT member IS FALSE`` drops that
    contact anyway. Filtering it out first gives the same rows, and for every row that
    passes, the conjunct is true, so it becomes ``TRUE`` in the predicate. Computing a
    membership for every contact and filtering afterwards cost rule 1 of
    ``bench_analytics`` twice its hand-written SQL; testing the filters again in the
    membership of the rows that pass cost it about half as much again."""
    top = predicate.unnest()
    conjuncts = list(top.flatten()) if isinstance(top, exp.And) else [top]
    filters: list[exp.Expression] = []
    kept: list[exp.Expression] = []
    for conjunct in conjuncts:
        test = _field_test(conjunct, fields)
        if test is None:
            kept.append(conjunct)
            implied = _implied(conjunct, fields)
            if implied is not None:
                filters.append(implied)
        else:
            filters.append(test)
    if len(kept) == len(conjuncts):
        return predicate, filters
    return (exp.and_(*kept) if kept else exp.true()), filters


def _implied(node: exp.Expression, fields: Mapping[str, exp.Expression]) -> exp.Expression | None:
    """A test of field columns that ``node`` is FALSE wherever it is not true (``None``:
    none found), built from the profile conjuncts (:func:`_field_test`) inside it: an
    ``AND`` is false where one of them is; an ``OR`` where all of its parts are. The
    nested rule of ``bench_analytics`` (profile tests AND events, OR profile tests AND
    events) reads a quarter of the contacts so."""
    node = node.unnest()
    if isinstance(node, exp.And):
        tests = [test for part in node.flatten()
                 if (test := _field_test(part, fields) or _implied(part, fields)) is not None]
        return exp.and_(*(exp.paren(t) for t in tests)) if tests else None
    if isinstance(node, exp.Or):
        parts = [_field_test(part, fields) or _implied(part, fields) for part in node.flatten()]
        if any(test is None for test in parts):
            return None
        return exp.or_(*(exp.paren(t) for t in parts))  # type: ignore[arg-type]
    return None


def _field_test(conjunct: exp.Expression, fields: Mapping[str, exp.Expression]) -> exp.Expression | None:
    """``test`` on the stored field columns, when ``conjunct`` is a profile test
    (:func:`_is_profile_test`) reading only field columns; else ``None``."""
    if not _is_profile_test(conjunct):
        return None
    test = conjunct.this
    if not all(isinstance(fields.get(c.name), exp.Column) for c in test.find_all(exp.Column)):
        return None  # a path without a field column would be extracted from doc twice
    return test.transform(lambda node: fields[node.name].copy() if isinstance(node, exp.Column) else node)


def _lift_fields(
    predicate: exp.Expression, columns: Mapping[str, str]
) -> tuple[exp.Expression, dict[str, exp.Expression]]:
    """Each document path the predicate reads, as one column of the contacts subquery:
    the copy's field column for that path when it has one (the same JSON value,
    already extracted), else extracted from ``doc`` once per contact, not once per
    mention (a path tested by several conditions, or by the type check and the
    comparison of one)."""
    fields: dict[str, exp.Expression] = {}
    names: dict[str, str] = {}

    def lift(node: exp.Expression) -> exp.Expression:
        if (isinstance(node, exp.Anonymous) and node.name.lower() == "json_extract"
                and node.expressions[0] == CONTACT_DOC):
            key = node.sql(dialect="duckdb")
            if key not in names:
                names[key] = f"f{len(names)}"
                stored = columns.get(node.expressions[1].name)
                fields[names[key]] = (
                    exp.column(stored, quoted=True) if stored is not None
                    else exp.Anonymous(this="json_extract",
                                       expressions=[exp.column("doc"), node.expressions[1].copy()]))
            return exp.column(names[key], table="c")
        return node

    lifted = predicate.transform(lift)
    stored = {name for name, field in fields.items() if isinstance(field, exp.Column)}
    return lifted.transform(lambda node: _bare_text(node, stored)), fields


def _bare_text(node: exp.Expression, stored: set[str]) -> exp.Expression:
    """``c.f = 'text'`` (or ``IN``) for ``CAST(c.f AS VARCHAR) = 'text'`` where ``f`` is a
    stored field column (JSON typed).

    Both compare the value's stored text with the literal's (DuckDB compares a JSON value
    with a string as text: ``tests/analytics/test_json_text.py``), but only the bare column
    is a filter DuckDB pushes into the Parquet scan: rule 1 of ``bench_analytics`` at 1M
    takes about 12 ms so, and about 20 ms with the cast (and depends there on the order
    DuckDB gives the conjuncts)."""
    if not isinstance(node, exp.EQ | exp.In):
        return node
    cast, others = node.this, [node.expression] if isinstance(node, exp.EQ) else node.expressions
    if not (isinstance(cast, exp.Cast) and cast.to.is_type("varchar", "text")
            and isinstance(cast.this, exp.Column) and cast.this.table == "c" and cast.this.name in stored
            and others and all(isinstance(o, exp.Literal) and o.is_string for o in others)):
        return node
    bare = node.copy()
    bare.set("this", cast.this.copy())
    return bare


class _Compiler:
    """One query's walk: the aggregates it collects, the event rows they may read, and the
    segments references resolve in."""

    def __init__(self, segments: SegmentSet | None) -> None:
        self.segments = segments
        self.aggregates: dict[str, exp.Expression] = {}
        self.reads: list[tuple[Reads, list[str]]] = []
        """Per condition with aggregates: what it declares it reads, and its aggregate columns."""

    def node(self, node: Node, path: str) -> exp.Expression:
        if isinstance(node, And | Or):
            key = "and" if isinstance(node, And) else "or"
            parts = [self.node(child, f"{path}/{key}/{i}") for i, child in enumerate(node.children)]
            if not parts:  # an empty group: all() of nothing is true, any() of nothing false
                return exp.true() if key == "and" else exp.false()
            return exp.and_(*parts) if key == "and" else exp.or_(*parts)
        if isinstance(node, Not):
            return exp.not_(exp.paren(self.node(node.child, f"{path}/!")))
        if isinstance(node, Condition):
            return _condition(node, path, self.aggregates, self.reads)
        if isinstance(node, SegmentRef):
            return self.segment(node.segment_id, f"{path}/segment")
        assert isinstance(node, Expr)
        from growthos_segments.analytics.jsonlogic import expression_sql  # it imports NoSqlForm from here

        return expression_sql(node.logic, path)

    def segment(self, segment_id: str, path: str) -> exp.Expression:
        """As ``CompiledSegment.evaluate``: excluded by hand, else included by hand, else the rule."""
        compiled = self.segments.segments.get(segment_id) if self.segments is not None else None
        if compiled is None:
            raise NoSqlForm(path, f"segment {segment_id!r} is not in the set the rule was compiled with")
        rule = exp.false() if compiled.effective is None else exp.paren(self.node(compiled.effective, path))
        included = self._picked(compiled.definition.include_contacts, segment_id, path)
        excluded = self._picked(compiled.definition.exclude_contacts, segment_id, path)
        if included is not None:
            rule = exp.or_(included, rule)
        if excluded is not None:
            rule = exp.and_(exp.not_(excluded), exp.paren(rule))
        return exp.paren(rule)

    @staticmethod
    def _picked(contacts: frozenset[Any], segment_id: str, path: str) -> exp.Expression | None:
        """The contact document's ``contact_id`` is one of the picked ids (compared as strings)."""
        if not contacts:
            return None
        if any(type(contact) is not str for contact in contacts):
            raise NoSqlForm(path, f"segment {segment_id!r} picks contacts by ids that are not all strings")
        picked = any_equal(json_at(("contact_id",)), sorted(contacts))
        assert picked is not None  # string targets always have an exact form
        return false_if_null(picked)


def event_rows(reads: Reads) -> exp.Expression | None:
    """The event rows a condition declares it reads: names (as
    :meth:`growthos_segments.core.view.ContactView.events_named` matches a prefix)
    and lookback (``at >= now - lookback``; later rows, the future included, all
    stay). The stream's dependency index already relies on these declarations
    being complete, so the aggregates' one pass may skip every other row: at a
    tenant's scale that is most of them. ``None`` where nothing bounds it."""
    if not reads.events or "" in reads.events:
        names = None
    else:
        name = exp.column("name")
        tests: list[exp.Expression] = []
        for prefix in sorted(reads.events):
            starts = prefix if prefix.endswith(".") else prefix + "."
            under = exp.func("starts_with", name.copy(), exp.Literal.string(starts), dialect="duckdb")
            tests.append(under if prefix.endswith(".")
                         else exp.or_(exp.EQ(this=name.copy(), expression=exp.Literal.string(prefix)), under))
        names = exp.paren(exp.or_(*tests))
    since = None
    if reads.lookback is not None and reads.lookback != timedelta.max:
        since = exp.GTE(this=exp.column("at", quoted=True), expression=ago(reads.lookback))
    if names is None or since is None:
        return names if since is None else since
    return exp.and_(names, since)


def _condition(
    node: Condition, path: str, aggregates: dict[str, exp.Expression], reads: list[tuple[Reads, list[str]]]
) -> exp.Expression:
    where = f"{path}/{node.type}"
    bulk = node.condition_type.bulk_compile
    if bulk is None:
        raise NoSqlForm(where, f"condition type {node.type!r} has no SQL form")
    form = bulk(node.params)
    if form is None:
        raise NoSqlForm(where, f"condition type {node.type!r} has no exact SQL form for these params")
    if not isinstance(form, SqlForm):
        raise TypeError(f"{node.type}: bulk_compile returned {type(form).__name__}, not SqlForm")
    renamed: dict[str, str] = {}
    for name, expression in form.aggregates.items():
        column = f"a{len(aggregates)}"
        aggregates[column] = expression
        renamed[name] = column
    if renamed:
        reads.append((node.reads, list(renamed.values())))

    def rename(part: exp.Expression) -> exp.Expression:
        if isinstance(part, exp.Column) and not part.table and part.name in renamed:
            return exp.column(renamed[part.name], table="e")
        return part

    predicate = form.predicate.transform(rename) if renamed else form.predicate.copy()
    if form.undecided is None:
        return false_if_null(predicate)
    undecided = form.undecided.transform(rename) if renamed else form.undecided.copy()
    return exp.Case(ifs=[exp.If(this=false_if_null(undecided), true=exp.null())],
                    default=false_if_null(predicate))
