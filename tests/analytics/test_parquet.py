"""The analytical copy's files: documents in, the same contacts and well-formed events out.

The per-contact view is the reference for what an event is: every comparison
below reads events through :class:`ContactView` on both sides, so an event the
evaluator skips must be missing from the copy and every other one must come back
with the same name, time (to the microsecond, in UTC) and properties.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlglot import exp

from growthos_segments.analytics.fields import column_name, field_columns
from growthos_segments.analytics.parquet import (
    DocumentError,
    open_tenant,
    read_documents,
    read_jsonl,
    write_tenant,
)
from growthos_segments.core.values import plain
from growthos_segments.core.view import ContactView

MALFORMED: list[Any] = [
    "not an event",
    {"name": "no.time"},
    {"name": 42, "at": "2026-11-01T10:00:00Z"},
    {"name": "bad.time", "at": "yesterday"},
    {"name": "too.old", "at": "1899-12-31T23:59:59Z"},
    {"name": "too.late", "at": "2200-01-01T00:00:00Z"},
    {"name": "flag.time", "at": True},
]
WELL_FORMED: list[dict[str, Any]] = [
    {"name": "email.opened", "at": "2026-11-20T09:14:00.123456+02:00",
     "properties": {"campaign_id": "cmp_q4", "device": "mobile"}, "event_id": "e1"},
    {"name": "order.completed", "at": "2026-11-21", "properties": {"amount": 12.5, "nested": {"a": [1, 2]}},
     "event_id": 7},
    {"name": "session.started", "at": 1_763_700_000.000001},
    {"name": "naive.time", "at": "2026-11-01T10:00:00.000001", "properties": ["not", "a", "map"]},
    {"name": "edge.first", "at": "1900-01-01T00:00:00Z", "properties": {}},
    {"name": "unicode.é", "at": datetime(2026, 11, 3, 4, 5, 6, 789, tzinfo=UTC),
     "properties": {"text": "Müller ✓", "flag": True, "none": None}},
]


def _doc(contact_id: str, events: list[Any], **extra: Any) -> dict[str, Any]:
    return {
        "contact_id": contact_id,
        "attributes": {"plan": "pro", "signup_date": "2026-10-02", "custom": {"seats": 3, "x": None}},
        "tags": ["vip"], "lists": [], "suppression": {"unsubscribed": False},
        "scores": {"lead": 82, "nps": 9.5},
        "events": events,
        **extra,
    }


def _canonical(doc: dict[str, Any]) -> list[tuple[str, datetime, Any]]:
    return sorted(((e.name, e.at, plain(e.properties)) for e in ContactView(doc).events()),
                  key=lambda e: (e[1], e[0]))


def _open(root: Path, tenant: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    open_tenant(con, root, tenant)
    return con


def test_round_trip_gives_back_the_contacts_and_exactly_the_events_the_view_keeps(tmp_path: Path) -> None:
    docs = [
        _doc("c1", [*WELL_FORMED, *MALFORMED], tenant_id="t1", updated_at="2026-11-22T08:00:00Z"),
        _doc("c2", []),
        {"contact_id": 3, "tags": {"b", "a"}, "anything": {"kept": "as is"}},
        _doc("c4", "not a list"),
    ]
    report = write_tenant(tmp_path, "t1", docs)
    assert (report.contacts, report.events, report.skipped_events) == (4, len(WELL_FORMED), len(MALFORMED))

    back = {doc["contact_id"]: doc for doc in read_documents(_open(tmp_path, "t1"))}
    assert sorted(back, key=str) == [3, "c1", "c2", "c4"]
    for doc in docs:
        again = back[doc["contact_id"]]
        assert {k: v for k, v in again.items() if k != "events"} == plain(
            {k: v for k, v in doc.items() if k != "events"})
        assert _canonical(again) == _canonical(doc)
    assert len(back["c1"]["events"]) == len(WELL_FORMED)


def test_event_rows_hold_utc_times_to_the_microsecond_and_the_event_ids(tmp_path: Path) -> None:
    write_tenant(tmp_path, "t1", [_doc("c1", WELL_FORMED[:3])])
    con = _open(tmp_path, "t1")
    rows = con.execute('SELECT name, "at", event_id, properties FROM events ORDER BY "at"').fetchall()
    assert [(name, at.astimezone(UTC), event_id) for name, at, event_id, _ in rows] == [
        ("session.started", datetime(2025, 11, 21, 4, 40, 0, 1, tzinfo=UTC), None),
        ("email.opened", datetime(2026, 11, 20, 7, 14, 0, 123456, tzinfo=UTC), "e1"),
        ("order.completed", datetime(2026, 11, 21, tzinfo=UTC), "7"),
    ]
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE events)").fetchall())
    assert types["at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["properties"] == "JSON"
    assert json.loads(rows[-1][3]) == {"amount": 12.5, "nested": {"a": [1, 2]}}
    contact_types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE contacts)").fetchall())
    fields = {name: kind for name, kind in contact_types.items() if name.startswith("field:")}
    assert {name: kind for name, kind in contact_types.items() if name not in fields} == {
        "tenant_id": "VARCHAR", "contact_id": "VARCHAR", "doc": "JSON",
        "updated_at": "TIMESTAMP WITH TIME ZONE"}
    assert fields and set(fields.values()) == {"JSON"}


def test_every_field_column_holds_exactly_the_json_value_at_its_path_in_every_file(tmp_path: Path) -> None:
    docs = [
        {"contact_id": "a", "attributes": {"plan": "pro", "seats": 3, "custom": {"x": [1, "y"]}}},
        {"contact_id": "b", "attributes": {"plan": None, "custom": "not a map"}},
        {"contact_id": "c", "attributes": [1, 2], "scores": {"lead": 2**64 + 5}},
        {"contact_id": "d"},
        # later batches: a path the first batch never had, a map where the sample saw a leaf
        {"contact_id": "e", "attributes": {"plan": {"nested": True}, "new": "late"}},
    ]
    report = write_tenant(tmp_path, "t1", docs, batch_rows=4)
    assert len(report.batches) == 2
    assert ("attributes", "plan") in report.fields and ("attributes", "new") not in report.fields
    assert ("attributes", "custom") not in report.fields  # a map in some document: read from doc
    con = _open(tmp_path, "t1")
    fields = field_columns(con)
    assert set(fields.values()) == {column_name(path) for path in report.fields}
    for literal, column in fields.items():
        quoted = exp.to_identifier(column, quoted=True).sql("duckdb")
        differing = con.execute(
            f"SELECT contact_id FROM contacts WHERE {quoted} IS DISTINCT FROM json_extract(doc, $path)",
            {"path": literal}).fetchall()
        assert differing == [], column


def test_a_tenants_folder_is_all_a_query_sees(tmp_path: Path) -> None:
    write_tenant(tmp_path, "t1", [_doc("same", WELL_FORMED[:1]), _doc("only1", [])])
    write_tenant(tmp_path, "t2", [_doc("same", WELL_FORMED[:2]), _doc("only2", WELL_FORMED)])
    for tenant, contacts, events in (("t1", ["only1", "same"], 1), ("t2", ["only2", "same"], 8)):
        con = _open(tmp_path, tenant)
        ids = con.execute("SELECT contact_id FROM contacts ORDER BY 1").fetchall()
        assert [r[0] for r in ids] == contacts
        assert con.execute("SELECT count(*) FROM events").fetchall() == [(events,)]
        assert con.execute(
            "SELECT DISTINCT tenant_id FROM "
            "(SELECT tenant_id FROM contacts UNION ALL SELECT tenant_id FROM events)"
        ).fetchall() == [(tenant,)]


def test_a_document_of_another_tenant_is_refused_and_the_old_copy_stays(tmp_path: Path) -> None:
    write_tenant(tmp_path, "t1", [_doc("old", [])])
    with pytest.raises(DocumentError, match=r"document 2: contact 'x' belongs to tenant 't2', not 't1'"):
        write_tenant(tmp_path, "t1", [_doc("new", []), _doc("x", [], tenant_id="t2")])
    assert _open(tmp_path, "t1").execute("SELECT contact_id FROM contacts").fetchall() == [("old",)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tenant_id=t1"]  # no staging folder left


def test_writing_again_replaces_the_tenants_copy(tmp_path: Path) -> None:
    write_tenant(tmp_path, "t1", [_doc("old", WELL_FORMED)])
    write_tenant(tmp_path, "t1", [_doc("new", [])])
    con = _open(tmp_path, "t1")
    assert con.execute("SELECT contact_id FROM contacts").fetchall() == [("new",)]
    assert con.execute("SELECT count(*) FROM events").fetchall() == [(0,)]


def test_writing_streams_in_batches_of_bounded_rows(tmp_path: Path) -> None:
    """Files appear while documents are still being read, each with at most one contact past the bound."""
    files_seen: list[int] = []

    def documents() -> Iterator[dict[str, Any]]:
        for number in range(100):
            files_seen.append(len(list(tmp_path.glob(".writing-*/contacts/*.parquet"))))
            yield _doc(f"c{number}", WELL_FORMED[: number % 4])  # 1 to 4 rows a contact

    report = write_tenant(tmp_path, "t1", documents(), batch_rows=20)
    rows = [batch.contacts + batch.events for batch in report.batches]
    assert max(rows) < 20 + 4
    assert sum(rows) == report.contacts + report.events == 100 + sum(n % 4 for n in range(100))
    assert len(report.batches) >= sum(rows) // (20 + 3)
    # The 60th document is read after the first batches are on disk: one batch at a time in memory.
    assert files_seen[60] >= 60 * 2 // 23
    assert len(list((tmp_path / "tenant_id=t1" / "contacts").glob("*.parquet"))) == len(report.batches)
    con = _open(tmp_path, "t1")
    assert con.execute("SELECT count(*) FROM contacts").fetchall() == [(100,)]


def test_an_empty_tenant_opens_with_empty_tables(tmp_path: Path) -> None:
    write_tenant(tmp_path, "t1", [])
    con = _open(tmp_path, "t1")
    counts = con.execute("SELECT (SELECT count(*) FROM contacts), (SELECT count(*) FROM events)")
    assert counts.fetchall() == [(0, 0)]


def test_a_root_with_quotes_in_its_path_is_read_as_a_path(tmp_path: Path) -> None:
    root = tmp_path / "it's a \"root\""
    write_tenant(root, "t1", [_doc("c1", WELL_FORMED[:1])])
    assert _open(root, "t1").execute("SELECT count(*) FROM events").fetchall() == [(1,)]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda root: open_tenant(duckdb.connect(), root, "nobody"),
         r"no analytical copy of tenant 'nobody'"),
        (lambda root: open_tenant(duckdb.connect(), root, "../up"), r"tenant id '../up' is not a valid"),
        (lambda root: write_tenant(root, "t1", [{"attributes": {}}]),
         r"document 1: contact has no 'contact_id'"),
        (lambda root: write_tenant(root, "t1", [["a list"]]),
         r"document 1: expected a contact object, got list"),
        (lambda root: write_tenant(root, "t1", [_doc("c1", [], scores={"lead": float("nan")})]),
         r"document 1: contact 'c1': holds NaN or an infinity"),
    ],
)
def test_bad_input_is_one_clear_error(tmp_path: Path, call: Any, message: str) -> None:
    with pytest.raises((DocumentError, FileNotFoundError), match=message):
        call(tmp_path)


def test_jsonl_documents_stream_with_line_numbers_in_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(json.dumps(_doc(f"c{n}", WELL_FORMED[:2])) for n in range(3)) + "\n\n")
    assert write_tenant(tmp_path / "copy", "t1", read_jsonl(good)).contacts == 3
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(_doc("c1", [])) + "\n{not json\n")
    with pytest.raises(DocumentError, match=r"bad.jsonl:2: invalid JSON"):
        list(read_jsonl(bad))
    bad.write_text("[1, 2]\n")
    with pytest.raises(DocumentError, match=r"bad.jsonl:1: expected a contact object, got list"):
        list(read_jsonl(bad))
