"""A rule tree to one SQL query of the member contact ids of one tenant.

The tree compiles as the per-contact compiler (:mod:`growthos_segments.core.compiler`)
walks it: each condition through its type's ``bulk_compile`` (a
:class:`growthos_segments.kit.sql.SqlForm`), ``and`` / ``or`` / ``!`` into the same
boolean operators. A condition's NULL (SQL's "unknown") is read as false before it
is combined, which is what the per-contact predicate answers, so ``!`` is an exact
negation. Behavioural aggregates become columns of ONE GROUP BY pass over the
tenant's events, LEFT JOINed so contacts without events stay in (with NULL there).

A node with no exact SQL form (a type without ``bulk_compile``, a form refused for
its params, a segment reference or a plain JsonLogic expression for now) raises
:class:`NoSqlForm` naming it; the engine then answers per contact.

The query reads two named parameters: ``tenant`` and ``now`` (TIMESTAMPTZ).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlglot
from sqlglot import exp

from growthos_segments.core.rules import And, Condition, Expr, Node, Not, Or, SegmentRef
from growthos_segments.kit.sql import SqlForm, false_if_null

__all__ = ["CompiledQuery", "NoSqlForm", "compile_rule"]

_TENANT = exp.Placeholder(this="tenant")


class NoSqlForm(Exception):
    """The rule has a node SQL cannot answer exactly; ``path`` is its JSON pointer."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path or '/'}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """One SELECT of ``contact_id`` for the tenant and instant given as parameters."""

    query: exp.Select

    @property
    def sql(self) -> str:
        """The DuckDB text (what :mod:`growthos_segments.analytics.engine` runs)."""
        return self.query.sql(dialect="duckdb")

    def parameters(self, tenant_id: str, now: datetime) -> dict[str, Any]:
        """The values to bind: the tenant, and ``now`` when a condition reads it."""
        names = {p.name for p in self.query.find_all(exp.Placeholder)}
        values: dict[str, Any] = {"tenant": tenant_id, "now": now}
        return {name: values[name] for name in names}

    def transpile(self, dialect: str = "trino") -> str:
        """The same query in another dialect (Athena runs Trino's)."""
        return sqlglot.transpile(self.sql, read="duckdb", write=dialect)[0]


def compile_rule(node: Node) -> CompiledQuery:
    """Compile a parsed rule; raises :class:`NoSqlForm` when a node has no exact SQL form."""
    aggregates: dict[str, exp.Expression] = {}
    predicate = _compile(node, "", aggregates)
    contacts = exp.alias_(exp.to_table("contacts"), "c", table=True)
    query = exp.select(exp.column("contact_id", table="c")).from_(contacts)
    if aggregates:
        per_contact = (
            exp.select(exp.column("contact_id"),
                       *(exp.alias_(expression, name) for name, expression in aggregates.items()))
            .from_("events")
            .where(exp.EQ(this=exp.column("tenant_id"), expression=_TENANT.copy()))
            .group_by(exp.column("contact_id"))
        )
        query = query.join(
            per_contact.subquery("e"),
            on=exp.EQ(this=exp.column("contact_id", table="e"),
                      expression=exp.column("contact_id", table="c")),
            join_type="left",
        )
    query = query.where(exp.and_(
        exp.EQ(this=exp.column("tenant_id", table="c"), expression=_TENANT.copy()), exp.paren(predicate)))
    return CompiledQuery(query)


def _compile(node: Node, path: str, aggregates: dict[str, exp.Expression]) -> exp.Expression:
    if isinstance(node, And | Or):
        key = "and" if isinstance(node, And) else "or"
        parts = [_compile(child, f"{path}/{key}/{i}", aggregates) for i, child in enumerate(node.children)]
        if not parts:  # an empty group: all() of nothing is true, any() of nothing false
            return exp.true() if key == "and" else exp.false()
        return exp.and_(*parts) if key == "and" else exp.or_(*parts)
    if isinstance(node, Not):
        return exp.not_(exp.paren(_compile(node.child, f"{path}/!", aggregates)))
    if isinstance(node, Condition):
        return _condition(node, path, aggregates)
    if isinstance(node, SegmentRef):
        raise NoSqlForm(path, f"segment reference {node.segment_id!r} has no SQL form yet")
    assert isinstance(node, Expr)
    raise NoSqlForm(path, "plain JsonLogic expressions have no SQL form yet")


def _condition(node: Condition, path: str, aggregates: dict[str, exp.Expression]) -> exp.Expression:
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

    def rename(part: exp.Expression) -> exp.Expression:
        if isinstance(part, exp.Column) and not part.table and part.name in renamed:
            return exp.column(renamed[part.name], table="e")
        return part

    predicate = form.predicate.transform(rename) if renamed else form.predicate.copy()
    return false_if_null(predicate)
