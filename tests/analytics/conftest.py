"""One DuckDB connection per test module; each case loads its contacts under its own tenant."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from itertools import count
from typing import Any

import duckdb
import pytest

from growthos_segments.analytics.documents import connect, load_documents
from growthos_segments.analytics.engine import answer
from growthos_segments.core.host import PluginHost
from growthos_segments.core.ports_analytics import ExactAnswer
from growthos_segments.core.segments import SegmentDefinition, SegmentSet
from growthos_segments.plugins import default_host

_TENANTS = count()


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return default_host()


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect()
    yield connection
    connection.close()


def both_paths(
    con: duckdb.DuckDBPyConnection, host: PluginHost, rule: Any, docs: list[dict[str, Any]], now: datetime,
    context: Mapping[str, Any] | None = None,
) -> tuple[set[str], ExactAnswer]:
    """(per-contact members, the analytical engine's answer) for ``docs`` loaded under a fresh tenant."""
    segments = SegmentSet(host, [SegmentDefinition("rule", rule)])
    return both_paths_of_set(con, host, segments, "rule", docs, now, context)


def both_paths_of_set(
    con: duckdb.DuckDBPyConnection, host: PluginHost, segments: SegmentSet, segment_id: str,
    docs: list[dict[str, Any]], now: datetime, context: Mapping[str, Any] | None = None,
) -> tuple[set[str], ExactAnswer]:
    """The same for one segment of a set: per contact as ``segments evaluate`` decides it,
    document by document, and by the engine. ``context`` is the tenant context both
    paths read (rules reading none need none)."""
    tenant = f"t{next(_TENANTS)}"
    load_documents(con, [{**doc, "tenant_id": tenant} for doc in docs])
    evaluate = segments.segments[segment_id].evaluate
    expected = {str(doc["contact_id"]) for doc in docs
                if evaluate(segments.view(doc, context=context), now)[0]}
    return expected, answer(con, host, segments, segment_id, tenant, now, context=context)


def both_paths_loaded(
    con: duckdb.DuckDBPyConnection, host: PluginHost, rule: Any, docs: list[dict[str, Any]], tenant: str,
    now: datetime,
) -> tuple[set[str], ExactAnswer]:
    """The same for ``docs`` a module already loaded under ``tenant`` (its table's population)."""
    segments = SegmentSet(host, [SegmentDefinition("rule", rule)])
    evaluate = segments.segments["rule"].evaluate
    expected = {str(doc["contact_id"]) for doc in docs if evaluate(segments.view(doc), now)[0]}
    return expected, answer(con, host, segments, "rule", tenant, now)


def selects_from(query: Any, table: str) -> list[Any]:
    """The SELECTs of a compiled query (a sqlglot tree) that read ``table`` directly."""
    from sqlglot import exp

    return [select for select in query.find_all(exp.Select)
            if isinstance(source := select.args.get("from_"), exp.From)
            and isinstance(source.this, exp.Table) and source.this.name == table]
