"""Every writer of base events files sorts them by name, then time, in row groups of at
most EVENT_ROW_GROUP rows, so a rule's names and lookback skip the other row groups."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb

from growthos_segments.analytics.deltas import SETTLE, ParquetCopy
from growthos_segments.analytics.generate import generate
from growthos_segments.analytics.parquet import EVENT_ROW_GROUP, write_tenant
from growthos_segments.infra.analytics_copy import LocalCopyStorage
from tests.analytics.test_deltas import NOW, T0, contact, event, event_change

# Time order and name order disagree, within a contact and across contacts.
DOCS = [
    contact("c1", "free", event("order.completed", 2, "e1"), event("email.opened", 8, "e2"),
            event("cart.added", 5, "e3")),
    contact("c2", "pro", event("email.opened", 1, "e4"), event("app.login", 9, "e5"),
            event("email.opened", 4, "e6")),
]


def _files(root: Path, tenant: str) -> list[Path]:
    return sorted((root / f"tenant_id={tenant}" / "events").glob("*.parquet"))


def _in_file_order(path: Path) -> list[tuple[Any, ...]]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con.execute('SELECT name, "at" FROM read_parquet(?)', [str(path)]).fetchall()


def _row_groups(path: Path) -> list[int]:
    con = duckdb.connect()
    query = "SELECT DISTINCT row_group_id, row_group_num_rows FROM parquet_metadata(?) ORDER BY 1"
    return [rows for _, rows in con.execute(query, [str(path)]).fetchall()]


def assert_sorted(root: Path, tenant: str, events: int) -> None:
    files = _files(root, tenant)
    rows = [_in_file_order(path) for path in files]
    assert sum(len(r) for r in rows) == events
    for path, written in zip(files, rows, strict=True):
        assert written == sorted(written), path
        assert max(_row_groups(path)) <= EVENT_ROW_GROUP


def test_the_generator_writes_events_by_name_then_time(tmp_path: Path) -> None:
    written = generate(tmp_path, 300, tenant_id="gen")
    assert_sorted(tmp_path, "gen", written.events)


def test_write_tenant_writes_events_by_name_then_time(tmp_path: Path) -> None:
    write_tenant(tmp_path, "acme", DOCS)
    assert_sorted(tmp_path, "acme", 6)


def test_a_rebuild_writes_events_by_name_then_time(tmp_path: Path) -> None:
    store = ParquetCopy(LocalCopyStorage(tmp_path / "copy"), workdir=tmp_path / "work")
    store.rebuild("acme", DOCS, as_of=NOW)
    assert_sorted(tmp_path / "copy", "acme", 6)


def test_a_fold_writes_events_by_name_then_time(tmp_path: Path) -> None:
    root = tmp_path / "copy"
    write_tenant(root, "acme", DOCS)
    store = ParquetCopy(LocalCopyStorage(root), workdir=tmp_path / "work")
    store.apply("acme", as_of=T0, changes=[event_change("c1", event("app.login", 3, "e7"), 10),
                                            event_change("c2", event("cart.added", 7, "e8"), 11)])
    assert store.compact("acme", now=T0 + SETTLE + timedelta(seconds=1)) == 1
    assert len(_files(root, "acme")) == 1
    assert_sorted(root, "acme", 8)
