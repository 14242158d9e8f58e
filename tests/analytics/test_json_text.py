"""Tests of an extracted JSON value that read its text instead of parsing it: equality with
a plain string or a boolean compares the text (``kit.sql._json_text``), exact only if
DuckDB writes every such value in one spelling whatever spelling the stored document
used; a score comparison casts the text to a double (``kit.sql.double_compare``), exact
only if a number's text casts to the double its JSON value does and no other kind's
text casts at all. These tests hold both."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pytest

from growthos_segments.kit.sql import PLAIN_TEXT, double_compare, json_at, scalar_equals

PRINTABLE = [chr(code) for code in range(0x20, 0x7F)]
PLAIN = [character for character in PRINTABLE if PLAIN_TEXT.match(character)]


def _spellings(text: str) -> list[str]:
    """The string as JSON: as is, every character as a \\u escape, and with escaped slashes."""
    return [json.dumps(text), '"' + "".join(f"\\u{ord(c):04x}" for c in text) + '"',
            json.dumps(text).replace("/", "\\/")]


def test_the_plain_characters_are_the_printable_ones_no_writer_escapes() -> None:
    assert set(PRINTABLE) - set(PLAIN) == set('"\\/<>&\'`[]{}|')


@pytest.mark.parametrize("text", ["".join(PLAIN), "pro", "", " GB ", "a-b_c.d@e"])
def test_a_plain_string_is_extracted_as_itself_between_quotes(text: str) -> None:
    con = duckdb.connect()
    for spelling in _spellings(text):
        doc = '{"a": {"k": ' + spelling + "}}"
        (extracted,) = con.execute("SELECT CAST(json_extract(?::JSON, '$.\"a\".\"k\"') AS VARCHAR)",
                                   [doc]).fetchone()  # type: ignore[misc]
        assert extracted == f'"{text}"', spelling


@pytest.mark.parametrize("target", ["pro", "PRO", "", "a b", True, False])
def test_the_text_comparison_answers_as_the_kind_and_value_comparison(target: str | bool) -> None:
    """Every kind of stored value, in several spellings, compared with the target both ways."""
    stored: list[Any] = ["pro", "PRO", "pro ", "", "a b", True, False, 1, 0, None, ["pro"], {"k": "pro"},
                         "true", "\\u0070ro", "pr\\/o"]
    spelled = [json.dumps(value) for value in stored] + ['"\\u0070ro"', '"\\u0050RO"', '"a\\u0020b"',
                                                        " true", '""', "false "]
    con = duckdb.connect()
    con.execute("CREATE TABLE c (doc JSON)")
    con.executemany("INSERT INTO c VALUES (?)", [['{"x": ' + text + "}"] for text in spelled])
    value = json_at(("x",))
    by_text = scalar_equals(value, target)
    assert by_text is not None and "json_type" not in by_text.sql("duckdb").lower()
    if isinstance(target, bool):
        kind, expected = "BOOLEAN", "true" if target else "false"
    else:
        kind, expected = "VARCHAR", target
    by_kind = f"json_type({value.sql('duckdb')}) = '{kind}' AND {value.sql('duckdb')} ->> '$' = ?"
    rows = con.execute(f"SELECT doc, coalesce({by_text.sql('duckdb')}, FALSE), coalesce({by_kind}, FALSE) "
                       "FROM c", [expected]).fetchall()
    assert any(text_says for _, text_says, _ in rows)
    for doc, text_says, kind_says in rows:
        assert text_says == kind_says, doc


NUMBER_SPELLINGS = ["80", "80.0", "8e1", "8E+1", "79.99999999999999", "80.00000000000001", "-0", "0",
                    "123456789012345678901234567890", "18446744073709551615", "18446744073709551616",
                    "-9223372036854775809", "1e400", "-1e400", "1.5e-320", "NaN", "Infinity", "-Infinity"]
OTHER_KINDS = ['"80"', '"8e1"', "true", "false", "null", "[80]", '{"v": 80}', '""']


@pytest.mark.parametrize("op", [">=", ">", "<", "<=", "="])
def test_a_score_compares_as_the_kind_test_and_the_json_cast_do(op: str) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE c (doc JSON)")
    con.executemany("INSERT INTO c VALUES (?)",
                    [['{"x": ' + text + "}"] for text in NUMBER_SPELLINGS + OTHER_KINDS] + [["{}"]])
    value = json_at(("x",))
    by_text = double_compare(value, op, 80)
    assert by_text is not None and "json_type" not in by_text.sql("duckdb").lower()
    sql = value.sql("duckdb")
    by_kind = f"json_type({sql}) IN ('BIGINT', 'UBIGINT', 'DOUBLE') AND TRY_CAST({sql} AS DOUBLE) {op} 80.0"
    rows = con.execute(f"SELECT doc, {by_text.sql('duckdb')}, coalesce({by_kind}, FALSE) FROM c").fetchall()
    assert any(text_says for _, text_says, _ in rows) and not all(text_says for _, text_says, _ in rows)
    for doc, text_says, kind_says in rows:
        assert text_says == kind_says, doc


def test_a_json_column_compared_with_a_string_compares_its_text() -> None:
    """The compiler compares a stored field column (JSON typed) with ``'"pro"'`` bare, which
    must mean the same as comparing ``CAST(column AS VARCHAR)``: text, no normalising."""
    con = duckdb.connect()
    con.execute("CREATE TABLE c (v JSON)")
    stored = ['"pro"', '"\\u0070ro"', ' "pro"', '"PRO"', "true", " true", "1", '["pro"]', '{"a":1}',
              '{"a": 1}']
    con.executemany("INSERT INTO c VALUES (?)", [[text] for text in stored])
    for literal in ['"pro"', "true", '{"a":1}']:
        rows = con.execute("SELECT v::VARCHAR, v = ?, v IN (?, '\"zz\"'), CAST(v AS VARCHAR) = ? FROM c",
                           [literal, literal, literal]).fetchall()
        assert [r[0] for r in rows if r[1]] == [literal]
        assert all(bare == within == cast for _, bare, within, cast in rows)
