"""The tenant context computed by SQL equals the ``tenant_context`` hook's, key for key.

The ``rfm`` namespace is one query over the tenant's orders (nearest-rank quintiles in
SQL); these tests hold it to :func:`compute_rfm_context` on the same documents, at the
edges and on random order histories, and check that the engine reads no contact
document to get it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import duckdb
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from growthos_segments.analytics import engine
from growthos_segments.analytics.context import tenant_context
from growthos_segments.analytics.documents import load_documents
from growthos_segments.core.host import PluginHost
from growthos_segments.core.segments import SegmentDefinition, SegmentSet
from growthos_segments.core.timeutil import to_iso
from growthos_segments.kit import ConditionType, ContactView, Reads, Result, hookimpl
from growthos_segments.kit.params import ParamsModel
from growthos_segments.plugins import BUILTIN_PLUGINS, rfm
from growthos_segments.plugins.rfm import PERIOD, compute_rfm_context
from growthos_segments.plugins.rfm_sql import CONTEXT_FORM

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
_US = timedelta(microseconds=1)
_DAY = timedelta(days=1)
_TENANTS = count()


def _order(at: datetime, amount: Any = 10) -> dict[str, Any]:
    return {"name": "order.completed", "at": to_iso(at), "properties": {"amount": amount}}


def _customers(*histories: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"contact_id": f"c{i}", "events": events} for i, events in enumerate(histories)]


def _loaded(con: duckdb.DuckDBPyConnection, docs: list[dict[str, Any]]) -> str:
    tenant = f"ctx{next(_TENANTS)}"
    load_documents(con, [{**doc, "tenant_id": tenant} for doc in docs])
    return tenant


def _no_documents() -> Iterator[Mapping[str, Any]]:
    raise AssertionError("the context was to come from SQL, without reading any document")


def _sql_context(con: duckdb.DuckDBPyConnection, host: PluginHost, docs: list[dict[str, Any]],
                 now: datetime = NOW) -> dict[str, Any]:
    return tenant_context(con, host, _loaded(con, docs), now, _no_documents)


CASES: dict[str, list[dict[str, Any]]] = {
    "no contacts": [],
    "no customers": [{"contact_id": "a"}, {"contact_id": "b", "events": [
        {"name": "email.opened", "at": to_iso(NOW - _DAY)}, _order(NOW - PERIOD)]}],
    "one customer": _customers([_order(NOW - 3 * _DAY, 42.5)]),
    "two customers": _customers([_order(NOW - _DAY, 10)],
                                [_order(NOW - 2 * _DAY, 20), _order(NOW - _DAY, 5)]),
    "three customers": _customers(*([_order(NOW - d * _DAY, d)] for d in (1, 2, 3))),
    "four customers": _customers(*([_order(NOW - d * _DAY, 10 * d)] * d for d in (4, 1, 3, 2))),
    "five customers": _customers(*([_order(NOW - d * _DAY, 10 * d)] for d in (5, 4, 3, 2, 1))),
    "ties": _customers(*([_order(NOW - 2 * _DAY, 7)] for _ in range(7)), [_order(NOW - _DAY, 1)]),
    "amount kinds": _customers(
        [_order(NOW - _DAY, "120")], [_order(NOW - _DAY, None)], [_order(NOW - _DAY, True)],
        [{"name": "order.completed", "at": to_iso(NOW - _DAY)}], [_order(NOW - _DAY, -35.75)],
        [_order(NOW - _DAY, 2**53 + 1), _order(NOW - 2 * _DAY, 10**20)], [_order(NOW - _DAY, -0.0)],
        [{"name": "order.completed", "at": to_iso(NOW - _DAY), "properties": ["amount", 3]}]),
    "period edges": _customers(
        [_order(NOW - PERIOD, 100)], [_order(NOW - PERIOD + _US, 100)], [_order(NOW, 5)],
        [_order(NOW - PERIOD - _DAY, 1000), _order(NOW - _DAY, 1)]),
    "future orders": _customers([_order(NOW + _US, 900)], [_order(NOW - _DAY, 3), _order(NOW + _DAY, 900)]),
    "float sums": _customers([_order(NOW - 2 * _DAY, a) for a in (0.1, 0.7, 0.2)],
                             [_order(NOW - d * _DAY, a) for d, a in ((3, 0.1), (2, 0.2), (1, 0.3))],
                             [_order(NOW - 400 * _DAY, 0.1), _order(NOW - _DAY, 0.2)]),
    "recency to the microsecond": _customers(*([_order(NOW - d * _DAY - k * _US)] for d in (1, 7)
                                               for k in (0, 1, 999_999))),
}


@pytest.mark.parametrize("docs", [pytest.param(docs, id=name) for name, docs in CASES.items()])
def test_the_rfm_context_by_sql_is_the_hooks(con: Any, host: PluginHost, docs: list[dict[str, Any]]) -> None:
    got = _sql_context(con, host, docs)
    assert got == host.tenant_context("any", docs, NOW)
    expected = compute_rfm_context(docs, NOW)
    assert got["rfm"] == expected
    def kinds(context: Mapping[str, Any]) -> dict[str, list[type]]:
        return {key: [type(x) for x in values] for key, values in (context["thresholds"] or {}).items()}

    assert kinds(got["rfm"]) == kinds(expected)


def test_nearest_rank_is_the_one_the_plugin_picks(con: Any, host: PluginHost) -> None:
    """Seven customers who ordered 1..7 times: the 20/40/60/80th nearest ranks are
    ceil(7k/5) = 2, 3, 5, 6 (not, say, the rank floor((n - 1) * q) + 1 = 2, 3, 4, 5)."""
    docs = _customers(*([_order(NOW - (i + 1) * _DAY)] * n for i, n in enumerate(range(1, 8))))
    thresholds = _sql_context(con, host, docs)["rfm"]["thresholds"]
    assert thresholds["frequency"] == [2, 3, 5, 6]
    assert thresholds["recency_days"] == [2.0, 3.0, 5.0, 6.0]


amounts = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: round(x, 2)),
    st.integers(-1000, 10**6), st.sampled_from([0.1, 0.2, 0.7, -0.0, "12", None, True, 2**53 + 1]),
)
offsets = st.one_of(
    st.integers(-30 * 86_400_000_000, 400 * 86_400_000_000),
    st.sampled_from([0, 1, -1, 365 * 86_400_000_000, 365 * 86_400_000_000 - 1, 365 * 86_400_000_000 + 1]),
)
"""Microseconds before now (negative: after now, a future order)."""
histories = st.lists(st.lists(st.tuples(offsets, amounts), max_size=5), max_size=12)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(histories=histories, shift=st.integers(-10**12, 10**12))
def test_random_order_histories_give_the_hooks_context(
    con: Any, host: PluginHost, histories: list[list[tuple[int, Any]]], shift: int
) -> None:
    now = NOW + shift * _US
    docs = _customers(*([_order(now - offset * _US, amount) for offset, amount in orders]
                        for orders in histories))
    assert _sql_context(con, host, docs, now)["rfm"] == compute_rfm_context(docs, now)


class _Visits:
    """An outside plugin's context, computed per contact: how many contacts it saw."""

    @staticmethod
    @hookimpl
    def tenant_context(tenant_id: str, contacts: Any, now: datetime) -> Mapping[str, Any]:
        return {"visits": {"contacts": sum(1 for _ in contacts)}}


def test_a_plugin_without_a_sql_form_is_still_asked_contact_by_contact(con: Any) -> None:
    host = PluginHost([rfm, _Visits()], load_entry_points=False)
    docs = CASES["five customers"] + [{"contact_id": "x"}]
    reads: list[int] = []

    def documents() -> list[dict[str, Any]]:
        reads.append(1)
        return docs

    got = tenant_context(con, host, _loaded(con, docs), NOW, documents)
    assert got == {"rfm": compute_rfm_context(docs, NOW), "visits": {"contacts": 6}}
    assert reads == [1]
    assert tenant_context(con, PluginHost([rfm], load_entry_points=False), _loaded(con, docs), NOW,
                          _no_documents) == {"rfm": compute_rfm_context(docs, NOW)}


class _PickedParams(ParamsModel):
    id: str


def _picked(p: _PickedParams) -> Callable[[ContactView, datetime], Result]:
    return lambda view, now: (view.doc.get("contact_id") == p.id, None)


class _Picked:
    """A condition type without a SQL form (as an outside plugin may ship)."""

    @staticmethod
    @hookimpl
    def register_condition_types(register: Callable[..., None]) -> None:
        register(ConditionType(name="picked", label="picked", description="test", category="test",
                               params=_PickedParams, compile=_picked, reads=lambda p: Reads()))


def test_the_engine_computes_the_context_once_by_sql_for_both_paths(
    con: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rule reading the context, answered by SQL with a contact left to the per-contact
    path, and one answered per contact: both from the SQL context, no document listed for it."""
    host = PluginHost((*BUILTIN_PLUGINS, _Picked()), load_entry_points=False)
    kinds = ({**doc, "contact_id": f"k{doc['contact_id']}"} for doc in CASES["amount kinds"])
    docs = [*CASES["five customers"], *kinds,
            {"contact_id": "d", "attributes": {"v": "2026-11-25 10:00:00Z"},
             "events": [_order(NOW - _DAY, 60)]}]
    context = {"rfm": compute_rfm_context(docs, NOW)}
    listed: list[str] = []
    real = engine._documents_with_ids

    def counted(con: Any, tenant_id: str, only: list[str] | None) -> Iterator[tuple[str, dict[str, Any]]]:
        listed.append("all" if only is None else ",".join(only))
        return real(con, tenant_id, only)

    monkeypatch.setattr(engine, "_documents_with_ids", counted)
    window = {"field": "v", "op": "within_last", "amount": 7, "unit": "days", "tz": "Europe/London"}
    rules = {
        "sql": {"and": [{"rfm_tier": {"tier": ["at_risk", "cant_lose_them"]}},
                        {"or": [{"attribute": window},
                                {"rfm_score": {"dimension": "frequency", "min": 5}}]}]},
        "per-contact": {"or": [{"rfm_score": {"dimension": "recency", "max": 1}}, {"picked": {"id": "kc0"}}]},
    }
    members = {"sql": {"d", "kc5"}, "per-contact": {"c0", "c1", "c2", "kc0"}}
    for path, rule in rules.items():
        segments = SegmentSet(host, [SegmentDefinition("rule", rule)])
        evaluate = segments.segments["rule"].evaluate
        expected = {d["contact_id"] for d in docs if evaluate(segments.view(d, context=context), NOW)[0]}
        tenant = _loaded(con, docs)
        listed.clear()
        got = engine.answer(con, host, segments, "rule", tenant, NOW)
        assert (got.path, set(got.members)) == (path, expected)
        assert expected == members[path]
        assert listed == (["d"] if path == "sql" else ["all"])


def test_the_context_query_reads_one_tenant_and_transpiles_for_athena() -> None:
    sql = CONTEXT_FORM.query.sql(dialect="duckdb")
    assert sql.count("tenant_id = $tenant") == 2  # the events, and the contacts they must belong to
    trino = sqlglot.transpile(sql, read="duckdb", write="trino")[0]
    assert sqlglot.parse_one(trino, read="trino") is not None


def test_thresholds_enter_the_query_as_parameters_not_text(con: Any, host: PluginHost) -> None:
    from growthos_segments.analytics.compiler import compile_rule
    from growthos_segments.core.rules import parse_rule

    node = parse_rule({"rfm_tier": {"tier": "champions", "if_stale": "no_match"}}, host)
    query = compile_rule(node)
    context = {"rfm": {**compute_rfm_context(CASES["five customers"], NOW),
                       "computed_at": "2026-11-28T00:00:00Z"}}
    bound = query.parameters("t", NOW, context)
    assert bound["rfm_monetary_4"] == 40.0 and bound["rfm_frequency_1"] == 1.0
    assert bound["rfm_recency_1"] == 86_400_000_000  # one day, in microseconds
    assert bound["rfm_stale_at"] == datetime(2026, 12, 5, tzinfo=UTC)
    assert "40.0" not in query.sql
    assert set(query.parameters("t", NOW).values()) == {"t", NOW, None}  # no context: nothing matches


def test_the_context_from_the_parquet_copy_is_the_hooks(host: PluginHost, tmp_path: Any) -> None:
    """The same query over the copy's views (files per tenant, another tenant beside it)."""
    from growthos_segments.analytics.parquet import open_tenant, write_tenant

    docs = [*CASES["float sums"], *CASES["period edges"], *CASES["amount kinds"]]
    docs = [{**doc, "contact_id": f"{i}-{doc['contact_id']}"} for i, doc in enumerate(docs)]
    write_tenant(tmp_path, "mine", docs)
    write_tenant(tmp_path, "other", CASES["five customers"])
    con = duckdb.connect()
    open_tenant(con, tmp_path, "mine")
    assert tenant_context(con, host, "mine", NOW, _no_documents) == {"rfm": compute_rfm_context(docs, NOW)}
