"""A tenant's context (what conditions read as ``view.context``) computed by the analytical engine.

The ``tenant_context`` hook computes it contact by contact, which at millions of
contacts means every contact document in a Python loop (the RFM thresholds). A
plugin that also gives its namespaces as SQL (hook ``tenant_context_sql``, a
:class:`growthos_segments.kit.sql.ContextForm` per namespace) gets them from one
query each over the tenant's copy instead. Plugins without a SQL form (an outside
plugin's, say) are still asked through their ``tenant_context`` hook, with the
tenant's documents, which are read only when such a plugin is installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import duckdb
from sqlglot import exp

from growthos_segments.core.host import DuplicateNameError, PluginHost
from growthos_segments.kit.sql import ContextForm

__all__ = ["run_context_form", "tenant_context"]


def tenant_context(
    con: duckdb.DuckDBPyConnection,
    host: PluginHost,
    tenant_id: str,
    now: datetime,
    documents: Callable[[], Iterable[Mapping[str, Any]]],
) -> dict[str, Any]:
    """The tenant's whole context at ``now``, as ``host.tenant_context`` merges it:
    namespaces with a SQL form by their query over ``con``'s ``contacts`` and ``events``,
    the other plugins' hooks over ``documents()`` (called only if there are any)."""
    merged: dict[str, Any] = {}
    by_sql: list[object] = []
    for hook in host.manager.hook.tenant_context_sql.get_hookimpls():
        forms = hook.function()
        if not forms:
            continue
        by_sql.append(hook.plugin)
        for namespace, form in forms.items():
            _claim(merged, namespace, run_context_form(con, form, tenant_id, now))
    rest = host.manager.subset_hook_caller("tenant_context", remove_plugins=by_sql)
    if rest.get_hookimpls():
        contacts = list(documents())
        for part in rest(tenant_id=tenant_id, contacts=contacts, now=now):
            for namespace, data in dict(part or {}).items():
                _claim(merged, namespace, data)
    return merged


def run_context_form(con: duckdb.DuckDBPyConnection, form: ContextForm, tenant_id: str, now: datetime) -> Any:
    """One namespace's data: its query for ``tenant_id`` at ``now``, shaped."""
    names = {p.name for p in form.query.find_all(exp.Placeholder)}
    values = {"tenant": tenant_id, "now": now}
    row = con.execute(form.query.sql(dialect="duckdb"), {name: values[name] for name in names}).fetchone()
    assert row is not None  # an aggregate query without GROUP BY returns one row
    return form.shape(row, now)


def _claim(merged: dict[str, Any], namespace: str, data: Any) -> None:
    if namespace in merged:
        raise DuplicateNameError(f"tenant context namespace {namespace!r} is claimed twice")
    merged[namespace] = data
