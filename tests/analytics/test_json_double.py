"""Number tests cast a JSON number to a double from the JSON value itself (``kit.sql._as_double``).

That is exact only because DuckDB gives, for every number kind, the double its
text casts to: held here on the spellings and ranges where a difference would
show (beyond 64 bits, beyond a double's range, subnormals, more digits than a
double holds), so a DuckDB upgrade that changes either cast fails here first.
"""

from __future__ import annotations

import math

import duckdb
import pytest

NUMBERS = ["80", "80.0", "-0", "0", "1e3", "1E+3", "1.5e10", "0.1", "2.5", "-2.5e-3",
           "123456789012345678901234567890", "18446744073709551615", "18446744073709551616",
           "-9223372036854775809", "9007199254740993", "1e400", "-1e400", "1e-400", "4.9e-324",
           "3.141592653589793238462643383279", "12345678901234567890123456789012345678901234567890e-30"]


@pytest.mark.parametrize("text", NUMBERS)
def test_a_json_number_casts_to_the_double_its_text_casts_to(text: str) -> None:
    from_json, from_text, kind = duckdb.connect().execute(
        "SELECT TRY_CAST(j AS DOUBLE), TRY_CAST(json_extract_string(j, '$') AS DOUBLE), json_type(j) "
        "FROM (SELECT ?::JSON AS j)", [text]).fetchone()
    assert kind in ("BIGINT", "UBIGINT", "DOUBLE")
    assert from_json == from_text or (math.isnan(from_json) and math.isnan(from_text))
    assert from_json == float(text)  # and both are Python's reading of the number
