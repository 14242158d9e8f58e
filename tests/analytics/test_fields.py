"""Field columns: the JSON value at a path, extracted beside ``doc``; the compiler reads them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlglot import exp

from growthos_segments.analytics.compiler import compile_rule
from growthos_segments.analytics.documents import connect, load_documents
from growthos_segments.analytics.fields import MAX_FIELDS, choose_fields, column_name, field_columns
from growthos_segments.core.rules import parse_rule
from growthos_segments.plugins import default_host

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def _differing(con: object, literal: str, column: str) -> list[tuple[str]]:
    quoted = exp.to_identifier(column, quoted=True).sql("duckdb")
    return con.execute(  # type: ignore[attr-defined,no-any-return]
        f"SELECT contact_id FROM contacts WHERE {quoted} IS DISTINCT FROM json_extract(doc, $path)",
        {"path": literal}).fetchall()


def test_choose_fields_ranks_leaves_by_how_many_documents_have_them_and_skips_maps() -> None:
    docs = [{"attributes": {"plan": "a", "custom": {"x": 1}}, "tags": ["t"]},
            {"attributes": {"plan": "b", "custom": 5}},
            {"attributes": {"plan": "c"}, "odd key!": 1, "deep": {"a": {"b": {"c": {"d": 1}}}}}]
    # attributes.custom is a map in one document; deep.a.b.c is still a map at the deepest level
    assert choose_fields(docs) == (("attributes", "plan"), ("attributes", "custom", "x"), ("tags",))
    assert choose_fields(docs, limit=1) == (("attributes", "plan"),)
    many = [{f"k{i}": i for i in range(MAX_FIELDS + 10)}]
    assert len(choose_fields(many)) == MAX_FIELDS


def test_tables_gain_columns_for_new_paths_and_fill_them_for_rows_already_loaded() -> None:
    con = connect()
    load_documents(con, [{"contact_id": "a", "tenant_id": "t1", "attributes": {"plan": "pro"}}])
    load_documents(con, [{"contact_id": "b", "tenant_id": "t2", "attributes": {"plan": 1, "seats": 4}},
                         {"contact_id": "c", "tenant_id": "t2",
                          "attributes": {"seats": "many", "m": {"x": 1}}}])
    fields = field_columns(con)
    assert {column_name(("attributes", "plan")), column_name(("attributes", "seats"))} <= set(fields.values())
    for literal, column in fields.items():
        assert _differing(con, literal, column) == [], column


def test_the_compiled_query_reads_a_field_column_instead_of_parsing_the_document() -> None:
    con = connect()
    docs = [{"contact_id": f"c{i}", "tenant_id": "t", "attributes": {"plan": plan, "country": country}}
            for i, (plan, country) in enumerate([("pro", "GB"), ("pro", "FR"), ("Pro", "GB"), (None, "GB")])]
    docs.append({"contact_id": "bare", "tenant_id": "t"})
    load_documents(con, docs)
    rule = parse_rule({"and": [{"attribute": {"field": "plan", "op": "equals", "value": "pro"}},
                               {"attribute": {"field": "country", "op": "in", "values": ["GB", "IE"]}}]},
                      default_host())
    with_columns = compile_rule(rule, None, field_columns(con))
    from_doc = compile_rule(rule)
    assert "json_extract(doc" not in with_columns.sql.lower()
    assert '"field:attributes.plan"' in with_columns.sql
    assert "json_extract(doc" in from_doc.sql.lower()
    answers = [sorted(con.execute(query.sql, query.parameters("t", NOW)).fetchall())
               for query in (with_columns, from_doc)]
    assert answers[0] == answers[1] == [("c0", True)]
