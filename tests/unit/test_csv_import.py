"""CSV imports: column targets, type inference, bad rows with their lines, file-level errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from growthos_segments.infra.memory import MemoryContacts, MemoryIngest
from growthos_segments.services.csv_import import (
    CsvImportError,
    CsvLimits,
    PreviewStore,
    import_rows,
    parse_csv,
)
from growthos_segments.services.ingest import IngestService


def parse(text: str, **options):
    return parse_csv(text.encode(), **options)


def kinds(parsed) -> dict[str, str]:
    return {c.header: c.kind for c in parsed.columns}


def bad(parsed) -> list[str]:
    return [str(b) for b in parsed.bad]


def test_columns_go_to_profile_custom_tags_lists_scores_and_suppression() -> None:
    parsed = parse("contact_id,email,plan,company,attributes.region,custom.seats,tags,lists,score.lead,"
                   "scores.nps,suppression.unsubscribed,suppression.status\n"
                   "c1,a@b.co,pro,Acme,emea,5,vip;beta,newsletter,82,9.5,no,ok\n")
    assert bad(parsed) == []
    assert [row.item for row in parsed.rows] == [{
        "contact_id": "c1",
        "attributes": {"email": "a@b.co", "plan": "pro", "region": "emea"},
        "custom": {"company": "Acme", "seats": 5},
        "tags": {"add": ["vip", "beta"]},
        "lists": {"add": ["newsletter"]},
        "scores": {"lead": 82, "nps": 9.5},
        "suppression": {"unsubscribed": False, "status": "ok"},
    }]
    targets = {c.header: c.to_json()["target"] for c in parsed.columns}
    assert targets["company"] == "attributes.custom.company"
    assert targets["score.lead"] == "scores.lead" and targets["tags"] == "tags"


@pytest.mark.parametrize(("cells", "kind"), [
    (["1", "-20", "3"], "number"),
    (["1.5", "2", "1e3"], "number"),
    (["007", "12"], "text"),  # leading zeros: postcodes and ids stay text
    (["1,234", "5"], "text"),
    (["nan", "1"], "text"),
    (["1e400"], "text"),  # beyond DynamoDB's range
    (["yes", "No", "TRUE", "false"], "boolean"),
    (["1", "0"], "number"),
    (["2026-04-03", "2025-12-31"], "date"),
    (["2026-04-03T09:30:00Z", "2026-04-03 10:00:00+02:00", "2026-04-04"], "datetime"),
    (["2026-02-30"], "text"),
    (["03/04/2026", "2026-04-03"], "text"),
    (["x", "y"], "text"),
])
def test_inferred_kind_is_the_narrowest_every_cell_fits(cells: list[str], kind: str) -> None:
    text = "contact_id,v\n" + "".join(f'c{i},"{cell}"\n' for i, cell in enumerate(cells))
    parsed = parse(text)
    assert kinds(parsed)["v"] == kind
    assert bad(parsed) == []


def test_inferred_values_are_converted_and_empty_cells_set_nothing() -> None:
    parsed = parse("contact_id,n,b,d\nc1,3,yes,2026-04-03\nc2,,,\nc3,2.5,no,\n")
    assert [row.item.get("custom") for row in parsed.rows] == [
        {"n": 3, "b": True, "d": "2026-04-03"}, None, {"n": 2.5, "b": False},
    ]


def test_a_near_miss_leaves_the_column_text_and_says_where() -> None:
    parsed = parse("contact_id,nps\nc1,9\nc2,7\nc3,abc\n")
    column = parsed.columns[1]
    assert column.kind == "text"
    assert column.note == 'line 4: "abc" is not a number, so the column is text'


def test_a_column_of_short_separated_values_is_inferred_multi_select_with_a_note() -> None:
    parsed = parse("contact_id,interests,notes,plan\n"
                   "c1,automation; crm,\"Called twice; wants a demo of the reporting module next week\",pro\n"
                   "c2,crm,short,free\nc3,seo;,,pro\n")
    assert kinds(parsed) == {"contact_id": "text", "interests": "multi", "notes": "text", "plan": "text"}
    assert parsed.columns[1].note == ('line 2: "automation; crm" holds ";", so the column is a list of '
                                      "values; add :text to its header to keep it as text")
    assert [row.item["custom"]["interests"] for row in parsed.rows] == [
        ["automation", "crm"], ["crm"], ["seo"]]
    assert parse("contact_id,tags2\nc1,a|b\n", separator="|").columns[1].kind == "multi"
    assert parse("contact_id,interests:text\nc1,a;b\n").rows[0].item["custom"] == {"interests": "a;b"}


def test_a_locale_date_is_kept_as_text_with_a_note() -> None:
    parsed = parse("contact_id,renewal\nc1,03/04/2026\n")
    assert parsed.columns[1].kind == "text"
    assert "day/month date, which is ambiguous" in (parsed.columns[1].note or "")
    assert parsed.rows[0].item["custom"] == {"renewal": "03/04/2026"}


def test_forced_kinds_by_header_suffix_or_option_and_bad_cells_by_line() -> None:
    text = "contact_id,interests:multi,age,score.lead\nc1,a; b;;a,31,10\nc2,c,old,x\n"
    parsed = parse(text, types={"age": "number"})
    assert kinds(parsed) == {"contact_id": "text", "interests": "multi", "age": "number",
                             "score.lead": "number"}
    assert parsed.rows[0].item["custom"] == {"interests": ["a", "b"], "age": 31}
    assert bad(parsed) == ['line 3, column "age": "old" is not a number',
                           'line 3, column "score.lead": "x" is not a number']


def test_separator_option_and_phone_numbers_stay_text() -> None:
    parsed = parse("contact_id,phone,tags\nc1,0044 20 7946,vip|beta\n", separator="|")
    assert parsed.rows[0].item["attributes"] == {"phone": "0044 20 7946"}
    assert parsed.rows[0].item["tags"] == {"add": ["vip", "beta"]}


def test_list_option_puts_every_row_on_the_list_once() -> None:
    parsed = parse("contact_id,lists\nc1,webinar\nc2,\nc3,webinar;spring\n", list_name="spring")
    assert [row.item["lists"] for row in parsed.rows] == [
        {"add": ["webinar", "spring"]}, {"add": ["spring"]}, {"add": ["webinar", "spring"]},
    ]


def test_lines_are_physical_with_quoted_newlines_crlf_and_a_bom() -> None:
    text = ('\ufeffcontact_id,note,n:number\r\n'
            'c1,"two\r\nlines",1\r\n'
            'c2,"three\nphysical\nlines",2\r\n'
            'c3,ok,bad\r\n')
    parsed = parse(text)
    assert parsed.columns[0].header == "contact_id"
    assert [row.line for row in parsed.rows] == [2, 4]
    assert parsed.rows[0].item["custom"]["note"] == "two\r\nlines"
    assert bad(parsed) == ['line 7, column "n": "bad" is not a number']


def test_ragged_rows_missing_and_duplicate_ids_are_bad_rows_and_the_others_import() -> None:
    parsed = parse("contact_id,a,b\nc1,1,2\nc2,1\nc3,1,2,3\nc4,1,2,,\n,1,2\nc1,5,6\n\nc5,1,2\n")
    assert [row.item["contact_id"] for row in parsed.rows] == ["c1", "c4", "c5"]
    assert bad(parsed) == [
        "line 3: 2 cells, but the header has 3 columns",
        "line 4: 4 cells, but the header has 3 columns",
        'line 6, column "contact_id": empty; every row names its contact',
        'line 7, column "contact_id": "c1" is also on line 2 (one row per contact)',
    ]
    assert parsed.rows_read == 7


def test_over_long_cells_and_rows_are_bad_rows() -> None:
    limits = CsvLimits(max_cell_chars=5, max_row_chars=12)
    parsed = parse("contact_id,a,b\nc1,123456,x\nc2345,12345,12345\nc3,1,2\n", limits=limits)
    assert bad(parsed) == ['line 2, column "a": 6 characters; the limit is 5',
                           "line 3: the row is longer than 12 characters"]
    assert [row.item["contact_id"] for row in parsed.rows] == ["c3"]


@pytest.mark.parametrize(("data", "message"), [
    (b"", "line 1: the file is empty: the first line must be the header"),
    (b"\n\n", "line 1: the file is empty: the first line must be the header"),
    (b"email,plan\na@b.co,pro\n", 'line 1: the header has no "contact_id" column'),
    (b"contact_id,plan,plan\n", 'line 1: column "plan" appears twice in the header'),
    (b"contact_id,score.lead,scores.lead\n", 'line 1: columns "score.lead" and "scores.lead" both set'),
    (b"contact_id,Lead Source\n", 'line 1: column "Lead Source": a field name takes letters, digits'),
    (b"contact_id,,plan\n", "line 1: column 2 has no name in the header"),
    (b"contact_id,tags:number\n", 'column "tags" is always multi, not number'),
    (b"contact_id,age:color\n", 'line 1: column "age:color": a field name takes letters'),
    (b"contact_id,a\nc1,ok\nc2,\xff\n", "line 3: not UTF-8 (byte offset 22)"),
    (b'contact_id,a\nc1,"open\nc2,x\n', "line 2: not valid CSV: unexpected end of data"),
])
def test_file_level_problems_are_one_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(CsvImportError) as caught:
        parse_csv(data)
    assert str(caught.value).startswith(message)


def test_header_only_imports_nothing() -> None:
    parsed = parse("contact_id,plan\r\n")
    assert parsed.rows == [] and parsed.bad == [] and kinds(parsed)["plan"] == "text"


def test_bounds_and_options_are_checked() -> None:
    with pytest.raises(CsvImportError, match="limit is 10"):
        parse_csv(b"contact_id,a\nc1,xxxxxxx\n", limits=CsvLimits(max_bytes=10))
    with pytest.raises(CsvImportError, match="3 columns; the limit is 2"):
        parse("contact_id,a,b\n", limits=CsvLimits(max_columns=2))
    with pytest.raises(CsvImportError, match="line 4: more than 2 rows"):
        parse("contact_id\nc1\nc2\nc3\n", limits=CsvLimits(max_rows=2))
    with pytest.raises(CsvImportError, match='type is given for column "nope"'):
        parse("contact_id\n", types={"nope": "number"})
    with pytest.raises(CsvImportError, match='unknown type "color"'):
        parse("contact_id,a\n", types={"a": "color"})
    with pytest.raises(CsvImportError, match="separator ',' cannot be a comma"):
        parse("contact_id\n", separator=",")
    with pytest.raises(CsvImportError, match="list name is empty"):
        parse("contact_id\n", list_name=" ")


# --------------------------------------------------------------------------- the import

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class CountingStore(MemoryIngest):
    """The memory store, counting the profile writes an import makes."""

    def __init__(self) -> None:
        super().__init__(MemoryContacts())
        self.writes = 0

    def write_profile(self, tenant_id, old, new, *, now) -> bool:
        self.writes += 1
        return super().write_profile(tenant_id, old, new, now=now)


def service(store) -> IngestService:
    return IngestService(store, retention=timedelta(days=400))


def run(store, text: str, *, dry_run: bool = False, tenant: str = "t1", **options):
    ingest = service(PreviewStore(store) if dry_run else store)
    return import_rows(parse(text, **options), tenant, ingest, now=NOW, dry_run=dry_run)


CSV = "contact_id,email,nps,tags\nc1,a@b.co,9,vip\nc2,b@b.co,,\nc3,c@b.co,7,beta;vip\n"


def test_an_import_writes_every_row_and_a_second_one_changes_nothing() -> None:
    store = CountingStore()
    first = run(store, CSV, list_name="spring")
    assert first.counts == {"created": 3, "updated": 0, "unchanged": 0} and first.bad == []
    assert first.summary() == "imported 3 of 3 rows (3 created, 0 updated, 0 unchanged); 0 bad rows"
    profile = store.profiles("t1", ["c3"])["c3"]
    assert profile["attributes"]["custom"] == {"nps": 7}
    assert profile["tags"] == ["beta", "vip"] and profile["lists"] == ["spring"]
    writes = store.writes
    second = run(store, CSV, list_name="spring")
    assert second.counts == {"created": 0, "updated": 0, "unchanged": 3}
    assert store.writes == writes  # idempotent: nothing written the second time
    assert store.profiles("t2", ["c1"]) == {}  # another tenant untouched


def test_tags_and_lists_are_added_to_what_other_modules_set() -> None:
    store = CountingStore()
    service(store).upsert_contacts("t1", [{"contact_id": "c1", "tags": ["trial"], "lists": ["newsletter"],
                                           "custom": {"seats": 3}}], now=NOW)
    report = run(store, "contact_id,tags\nc1,vip\n", list_name="spring")
    assert report.counts["updated"] == 1
    profile = store.profiles("t1", ["c1"])["c1"]
    assert profile["tags"] == ["trial", "vip"] and profile["lists"] == ["newsletter", "spring"]
    assert profile["attributes"]["custom"] == {"seats": 3}  # not in the file: kept


def test_a_dry_run_reports_what_would_change_and_writes_nothing() -> None:
    store = CountingStore()
    run(store, "contact_id,email\nc1,a@b.co\nc2,b@b.co\n")
    writes = store.writes
    report = run(store, "contact_id,email,n:number\nc1,a@b.co,\nc2,new@b.co,\nc3,c@b.co,\nc4,,x\n",
                 dry_run=True)
    assert report.counts == {"created": 1, "updated": 1, "unchanged": 1}
    assert [str(b) for b in report.bad] == ['line 5, column "n": "x" is not a number']
    assert report.summary().startswith("would import 3 of 4 rows (1 created, 1 updated, 1 unchanged)")
    assert store.writes == writes
    stored = store.profiles("t1", ["c2", "c3"])
    assert list(stored) == ["c2"] and stored["c2"]["attributes"]["email"] == "b@b.co"


def test_rows_the_ingestion_service_refuses_are_bad_rows_with_their_line_and_column() -> None:
    store = CountingStore()
    bad_id = "x" * 300
    report = run(store, f"contact_id,email\nc1,a@b.co\n{bad_id},b@b.co\nc3,c@b.co\n")
    assert report.counts["created"] == 2
    assert [(b.line, b.column) for b in report.bad] == [(3, "contact_id")]
    assert set(store.profiles("t1", ["c1", "c3"])) == {"c1", "c3"}


def test_batches_of_a_hundred_with_progress() -> None:
    store = CountingStore()
    rows = "".join(f"c{i},{i}\n" for i in range(250))
    seen: list[tuple[int, int]] = []
    parsed = parse("contact_id,n\n" + rows)
    report = import_rows(parsed, "t1", service(store), now=NOW, progress=lambda d, t: seen.append((d, t)))
    assert report.counts["created"] == 250
    assert seen == [(100, 250), (200, 250), (250, 250)]
