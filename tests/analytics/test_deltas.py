"""Deltas merged on read, folded into base files and rebuilt: always the copy of the final documents.

Each case starts from base files written by ``write_tenant`` (the documents before),
applies changes as the copy function would, and compares the merged views with
base files written by ``write_tenant`` from the documents after: the two writers
share no code for the merge, so a wrong merge, fold or rebuild shows as a difference.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot

from growthos_segments.analytics.deltas import (
    ATHENA_DATABASE,
    SETTLE,
    ParquetCopy,
    athena_views,
    batch_name,
    deltas_prefix,
    merge_deltas,
    stored_as_of,
)
from growthos_segments.analytics.engine import answer
from growthos_segments.analytics.fields import field_columns
from growthos_segments.analytics.parquet import open_tenant, write_tenant
from growthos_segments.core.ports_copy import CopyChange, Watermark
from growthos_segments.core.segments import SegmentDefinition, SegmentSet
from growthos_segments.infra.analytics_copy import LocalCopyStorage
from growthos_segments.infra.stream_progress import StorageProgress
from growthos_segments.plugins import default_host

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def contact(
    contact_id: str, plan: str, *events: dict[str, Any], tags: tuple[str, ...] = ()
) -> dict[str, Any]:
    return {"tenant_id": "acme", "contact_id": contact_id, "attributes": {"plan": plan, "custom": {}},
            "tags": list(tags), "lists": [], "suppression": {}, "scores": {}, "events": list(events)}


def event(name: str, day: int, event_id: str, **properties: Any) -> dict[str, Any]:
    return {"name": name, "at": f"2026-11-{day:02d}T09:00:00.000001Z", "properties": properties,
            "event_id": event_id}


def profile_change(doc: dict[str, Any], position: int, *, changed_at: datetime = T0) -> CopyChange:
    body = {key: value for key, value in doc.items() if key != "events"}
    return CopyChange("acme", doc["contact_id"], "contact", str(position), changed_at, False, body,
                      updated_at=changed_at)


def removal(contact_id: str, position: int) -> CopyChange:
    return CopyChange("acme", contact_id, "contact", str(position), T0, True, {})


def event_change(contact_id: str, raw: dict[str, Any], position: int, *, deleted: bool = False) -> CopyChange:
    document = {"at": raw["at"], "event_id": raw["event_id"]} if deleted else raw
    return CopyChange("acme", contact_id, "event", str(position), T0, deleted, document)


def rows(con: duckdb.DuckDBPyConnection) -> tuple[list[Any], list[Any]]:
    contacts = con.execute("SELECT tenant_id, contact_id, doc::VARCHAR FROM contacts "
                           "ORDER BY contact_id").fetchall()
    # A removed contact's events stay stored (DynamoDB keeps them too); no query reads them.
    events = con.execute('SELECT tenant_id, contact_id, name, "at", properties::VARCHAR, event_id '
                         "FROM events WHERE contact_id IN (SELECT contact_id FROM contacts) "
                         'ORDER BY contact_id, "at", event_id').fetchall()
    return contacts, events


def merged(root: Path, tenant: str = "acme") -> tuple[list[Any], list[Any]]:
    """The views a query sees: ``open_tenant`` merges the deltas."""
    con = duckdb.connect()
    open_tenant(con, root, tenant)
    return rows(con)


def expected(tmp_path: Path, docs: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    return expected_of(tmp_path, "acme", docs)


def expected_of(tmp_path: Path, tenant: str, docs: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    """The views of a copy written whole from ``docs`` (another writer than the one tested)."""
    root = tmp_path / "expected"
    write_tenant(root, tenant, docs)
    con = duckdb.connect()
    open_tenant(con, root, tenant)
    return rows(con)


BEFORE = [
    contact("c1", "free", event("email.opened", 3, "e1")),
    contact("c2", "pro", event("order.completed", 4, "e2", total=20)),
    contact("c4", "free", event("email.opened", 5, "e4"), event("email.opened", 6, "e5")),
]


@pytest.fixture
def copy(tmp_path: Path) -> tuple[ParquetCopy, Path]:
    root = tmp_path / "copy"
    write_tenant(root, "acme", BEFORE)
    return ParquetCopy(LocalCopyStorage(root), workdir=tmp_path / "work"), root


def test_the_merged_views_are_the_copy_of_the_documents_after_the_changes(
    copy: tuple[ParquetCopy, Path], tmp_path: Path
) -> None:
    store, root = copy
    c1 = contact("c1", "pro", event("email.opened", 3, "e1"), event("email.clicked", 7, "e6", url="x"),
                 tags=("vip",))
    c3 = contact("c3", "free", event("product.viewed", 8, "e7"))
    store.apply("acme", as_of=T0, changes=[
        profile_change(contact("c1", "team"), 10),
        profile_change(c1, 11),                                     # the later of two in one batch wins
        removal("c2", 12),
        profile_change(c3, 13),
        event_change("c1", event("email.clicked", 7, "e6", url="x"), 14),
        event_change("c1", event("email.opened", 3, "e1"), 15),     # already in the base: once
        event_change("c3", event("product.viewed", 8, "e7"), 16),
        event_change("c4", event("email.opened", 5, "e4"), 17, deleted=True),  # its TTL expired
        event_change("c4", {"name": "x", "at": "soon", "event_id": "bad"}, 18),  # malformed
    ])
    after = [c1, c3, contact("c4", "free", event("email.opened", 6, "e5"))]
    assert merged(root) == expected(tmp_path, after)


def test_a_retried_batch_replaces_its_delta_and_positions_order_the_batches(
    copy: tuple[ParquetCopy, Path], tmp_path: Path
) -> None:
    store, root = copy
    store.apply("acme", [profile_change(contact("c1", "team"), 30)], as_of=T0)
    for _ in range(2):  # an earlier batch delivered after the later one, and retried
        store.apply("acme", as_of=T0, changes=[
            profile_change(contact("c1", "pro"), 20),
            event_change("c1", event("email.clicked", 9, "e9"), 21),
        ])
    assert store.pending("acme") == 3
    c1 = contact("c1", "team", event("email.opened", 3, "e1"), event("email.clicked", 9, "e9"))
    assert merged(root) == expected(tmp_path, [c1, *BEFORE[1:]])


def test_folding_keeps_the_views_and_leaves_unsettled_deltas(
    copy: tuple[ParquetCopy, Path], tmp_path: Path
) -> None:
    store, root = copy
    old, recent = NOW - SETTLE - timedelta(seconds=1), NOW - SETTLE + timedelta(seconds=1)
    store.apply("acme", as_of=old, changes=[
        removal("c2", 40), event_change("c4", event("email.opened", 5, "e4"), 41, deleted=True)])
    store.apply("acme", as_of=recent, changes=
                [profile_change(contact("c1", "team"), 50, changed_at=recent)])
    before = merged(root)
    assert store.compact("acme", now=NOW) == 2  # the old batch's two files
    assert store.pending("acme") == 1  # the recent one: a retry could still write its records again
    assert merged(root) == before
    base = json.loads((root / "tenant_id=acme" / "copy.json").read_text())
    assert base["as_of"] is None  # a delta's newest record vouches for no other stream shard
    assert stored_as_of(root, "acme") is None  # nothing does yet: no rebuild, no watermark
    assert store.compact("acme", now=NOW) == 0
    assert store.compact("acme", now=NOW + SETTLE) == 1
    assert store.pending("acme") == 0
    assert merged(root) == before
    assert merged(root) == expected(tmp_path, [contact("c1", "team", event("email.opened", 3, "e1")),
                                               contact("c4", "free", event("email.opened", 6, "e5"))])


class _WritesDuringSwap(LocalCopyStorage):
    """A delta arrives while the fold swaps its new base in."""

    def __init__(self, root: Path, arrive: Any) -> None:
        super().__init__(root)
        self.arrive = arrive

    def replace_folder(self, prefix: str, staging: Path) -> None:
        self.arrive()
        super().replace_folder(prefix, staging)


def test_a_delta_written_during_a_fold_stays_and_wins(copy: tuple[ParquetCopy, Path], tmp_path: Path) -> None:
    store, root = copy
    old = NOW - SETTLE * 2
    store.apply("acme", as_of=old, changes=[profile_change(contact("c1", "pro"), 40)])
    arriving = ParquetCopy(LocalCopyStorage(root), workdir=tmp_path / "other")
    def arrive() -> None:
        arriving.apply("acme", as_of=NOW, changes=[profile_change(contact("c1", "team"), 60)])

    folding = ParquetCopy(_WritesDuringSwap(root, arrive), workdir=tmp_path / "w2")
    assert folding.compact("acme", now=NOW) == 1
    assert store.pending("acme") == 1
    contacts, _ = merged(root)
    assert [json.loads(doc)["attributes"]["plan"] for _, cid, doc in contacts if cid == "c1"] == ["team"]


def test_a_rebuild_replaces_the_base_and_the_deltas_it_read(
    copy: tuple[ParquetCopy, Path], tmp_path: Path
) -> None:
    store, root = copy
    store.apply("acme", as_of=T0, changes=[profile_change(contact("c1", "pro"), 40)])
    stored = [{**contact("c9", "team", event("order.completed", 2, "e90", total=5)),
               "updated_at": "2026-11-02T00:00:00Z"}]
    assert store.rebuild("acme", stored, as_of=NOW) == 1
    assert store.pending("acme") == 0
    after = [contact("c9", "team", event("order.completed", 2, "e90", total=5))]
    assert merged(root) == expected(tmp_path, after)
    assert stored_as_of(root, "acme") == NOW
    con = duckdb.connect()
    open_tenant(con, root, "acme")
    assert con.execute("SELECT updated_at FROM contacts").fetchall() == [(datetime(2026, 11, 2, tzinfo=UTC),)]
    assert set(field_columns(con).values()) >= {"field:attributes.plan", "field:tags"}  # as write_tenant's


def test_the_engine_answers_over_the_merged_copy_as_of_the_watermark(
    copy: tuple[ParquetCopy, Path]
) -> None:
    store, root = copy
    store.rebuild("acme", BEFORE, as_of=T0)
    stamp = datetime(2026, 11, 19, 8, 30, 0, 250_000, tzinfo=UTC)
    StorageProgress(LocalCopyStorage(root)).save(Watermark(stamp, stamp, 2, 6))
    store.apply("acme", as_of=stamp + timedelta(hours=1), changes=[
        profile_change(contact("c4", "pro"), 70),
        event_change("c4", event("order.completed", 18, "e71", total=9), 71),
    ])
    host = default_host()
    rule = {"and": [{"attribute": {"field": "plan", "op": "equals", "value": "pro"}},
                    {"event": {"name": "order.completed", "within": "30d"}}]}
    segments = SegmentSet(host, [SegmentDefinition("rule", rule)])
    con = duckdb.connect()
    open_tenant(con, root, "acme")
    merge_deltas(con, root, "acme")  # again: views merged already are left as they are
    got = answer(con, host, segments, "rule", "acme", NOW)
    assert (got.path, got.members) == ("sql", ("c2", "c4"))
    assert got.as_of == stamp


def test_a_batch_holds_one_tenant_and_deltas_stay_in_its_folder(copy: tuple[ParquetCopy, Path]) -> None:
    store, root = copy
    stranger = CopyChange("other", "c1", "contact", "80", T0, False, {"contact_id": "c1"})
    with pytest.raises(ValueError, match="other"):
        store.apply("acme", as_of=T0, changes=[stranger])
    store.apply("other", as_of=T0, changes=[
        CopyChange("other", "c1", "contact", "81", T0, False, {"tenant_id": "other", "contact_id": "c1"})])
    written = [path.relative_to(root).as_posix() for path in sorted(root.rglob("*.parquet"))
               if "deltas" in path.parts]
    assert written == [f"{deltas_prefix('other')}/contacts/{batch_name('81', '81', T0)}.parquet"]


def test_the_athena_views_merge_as_the_duckdb_views_do(copy: tuple[ParquetCopy, Path]) -> None:
    store, root = copy
    other = {**contact("c1", "team", event("email.opened", 2, "o1")), "tenant_id": "other"}
    write_tenant(root, "other", [other])
    store.apply("acme", as_of=T0, changes=[
        profile_change(contact("c1", "pro"), 90), removal("c2", 91),
        event_change("c4", event("email.opened", 5, "e4"), 92, deleted=True),
        event_change("c1", event("order.completed", 9, "e93", total=3), 93)])
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f'CREATE SCHEMA "{ATHENA_DATABASE}"')
    glue = (("contacts", "tenant_id=*/contacts"), ("events", "tenant_id=*/events"),
            ("contact_deltas", "deltas/tenant_id=*/contacts"), ("event_deltas", "deltas/tenant_id=*/events"))
    for table, files in glue:  # the Glue tables of template.yaml, as DuckDB reads the same files
        con.execute(f'CREATE VIEW "{ATHENA_DATABASE}".{table} AS SELECT * EXCLUDE (tenant_id), tenant_id '
                    f"FROM read_parquet('{root}/{files}/*.parquet', hive_partitioning = true, "
                    f"union_by_name = true)")
    views = athena_views()
    for view in views.values():
        con.execute(view.sql("duckdb"))  # the DuckDB twin of what Athena runs
        sqlglot.parse_one(view.sql("trino"), read="trino")  # and what Athena runs is Trino SQL
    for tenant in ("acme", "other"):
        direct = duckdb.connect()
        open_tenant(direct, root, tenant)
        merge_deltas(direct, root, tenant)
        for name, columns in (("contacts", "tenant_id, contact_id, doc::VARCHAR, updated_at"),
                              ("events", 'tenant_id, contact_id, name, "at", properties::VARCHAR, event_id')):
            query = f"SELECT {columns} FROM {{}} WHERE tenant_id = '{tenant}' ORDER BY ALL"
            athena = con.execute(query.format(f'"{ATHENA_DATABASE}".{name}_current')).fetchall()
            assert athena == direct.execute(query.format(name)).fetchall(), (tenant, name)


def test_a_tenant_first_seen_on_the_stream_gets_an_empty_base_under_its_deltas(tmp_path: Path) -> None:
    root = tmp_path / "copy"
    store = ParquetCopy(LocalCopyStorage(root), workdir=tmp_path / "work")
    newcomer = {**contact("n1", "pro", event("email.opened", 4, "n-e1")), "tenant_id": "fresh"}
    change = CopyChange("fresh", "n1", "contact", "5", T0, False,
                        {k: v for k, v in newcomer.items() if k != "events"}, updated_at=T0)
    raw = newcomer["events"][0]
    store.apply("fresh", [change, CopyChange("fresh", "n1", "event", "6", T0, False, raw)], as_of=T0)
    assert merged(root, "fresh") == expected_of(tmp_path, "fresh", [newcomer])
    assert store.compact("fresh", now=T0 + SETTLE) == 2
    assert merged(root, "fresh") == expected_of(tmp_path, "fresh", [newcomer])
    assert stored_as_of(root, "fresh") is None  # never rebuilt, and no watermark yet
    StorageProgress(LocalCopyStorage(root)).save(Watermark(T0, T0, 2, 6))
    assert stored_as_of(root, "fresh") == T0


def test_a_delta_written_during_a_rebuild_stays(copy: tuple[ParquetCopy, Path], tmp_path: Path) -> None:
    store, root = copy
    store.apply("acme", as_of=T0, changes=[profile_change(contact("c1", "pro"), 40)])  # read by the rebuild
    arriving = ParquetCopy(LocalCopyStorage(root), workdir=tmp_path / "other")

    def arrive() -> None:
        arriving.apply("acme", as_of=NOW, changes=[profile_change(contact("c1", "team"), 60)])

    rebuilding = ParquetCopy(_WritesDuringSwap(root, arrive), workdir=tmp_path / "w2")
    rebuilding.rebuild("acme", [contact("c1", "free")], as_of=T0)
    assert store.pending("acme") == 1
    contacts, _ = merged(root)
    assert [json.loads(doc)["attributes"]["plan"] for _, _, doc in contacts] == ["team"]
