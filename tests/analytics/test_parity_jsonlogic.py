"""Plain JsonLogic expressions through both paths: datalogic per contact and the SQL engine.

Every supported operator against every JSON kind a stored value can have (missing,
null, booleans, zero, integers at the edges of doubles and of 64 bits, strings that
are numbers, dates, durations or neither, unicode, arrays, objects, paths through
non-objects), in both operand orders; then random expressions of those operators
over random documents. Every case must be answered on the SQL path (a few contacts
may be decided per contact inside it) with exactly the evaluator's member set.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from growthos_segments.analytics.compiler import NoSqlForm, compile_rule
from growthos_segments.analytics.documents import load_documents
from growthos_segments.core.rules import parse_rule
from tests.analytics.conftest import both_paths, both_paths_loaded

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ABSENT: Any = object()

VALUES: list[Any] = [
    ABSENT, None, True, False, 0, 1, -1, -1.5, 0.5, 2.5, 1e20, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1,
    -(2**63), 9.223372036854776e18, 2**64, 2**70, -(2**63) - 1, 10**20 + 1,
    "", "0", "1", "-1.5", "+1", ".5", "5.", "1e3", "1E3", " 1", "1 ", "0x10",
    "1_0", "9007199254740993", "12345678901234567890",
    "1e400", "-1e400", "1e-400", "inf", "NaN", "abc", "b", "ABC", "vip", "xvipx", "pro", "true", "false",
    "null", "é", "ß", "z", "\u212a", "a\nb", "x'y", "2026-01-01", "2026-01-02", "2026-01-01T00:00:00Z",
    "2026-01-01T01:00:00+01:00", "2026-01-01T00:00:00.5Z", "2026-13-01T00:00:00Z", "1d", "2h", "10s", "3m",
    [], ["a"], ["vip"], ["vip", "pro"], [1], [1.0], ["1"], [True], [None], [["vip"]],
    ["2026-01-01T00:00:00Z"], {}, {"a": 1}, {"vip": 1},
]
"""Each value is stored as attributes.v (and within attributes.w.v) on its own contact.
Integers beyond 64 bits are read as doubles by both paths (the contact view gives them
to datalogic as doubles, which would otherwise refuse the whole document)."""


def _population() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {"contact_id": "bare"},
        {"contact_id": "attributes-text", "attributes": "vip"},
        {"contact_id": "attributes-list", "attributes": [{"v": 1}]},
        {"contact_id": "w-list", "attributes": {"w": [{"v": "vip"}], "v": 1}},
        {"contact_id": "w-text", "attributes": {"w": "v", "v": "x"}},
        {"contact_id": "numbered-key", "attributes": {"w": {"0": "vip"}, "v": 0}},
    ]
    for index, value in enumerate(VALUES):
        attributes = {} if value is ABSENT else {"v": value, "w": {"v": value}}
        docs.append({"contact_id": f"c{index}", "attributes": attributes, "tags": ["vip"]})
    return docs


POPULATION = _population()

V = {"var": "attributes.v"}
LITERALS: list[Any] = [0, 1, -1.5, 2**53 + 1, 2**63 - 1, 9.223372036854776e18, "9007199254740993",
                       "", "0", "1", "1e3", "abc", "vip", "é", "2026-01-01",
                       "2026-01-01T00:00:00Z", "1d", True, False, None]
COMPARISONS = ("==", "!=", "===", "!==", "<", "<=", ">", ">=")


def _cases() -> list[Any]:
    cases: list[Any] = []
    for op in COMPARISONS:
        for literal in LITERALS:
            cases.append(pytest.param({op: [V, literal]}, id=f"v {op} {literal!r}"))
            cases.append(pytest.param({op: [literal, V]}, id=f"{literal!r} {op} v"))
    for low, high in ((0, 10), (-1.5, 1), ("a", "w"), ("", "1"), ("2026-01-01", "2026-12-31")):
        cases.append(pytest.param({"<": [low, V, high]}, id=f"{low!r} < v < {high!r}"))
        cases.append(pytest.param({"<=": [low, V, high]}, id=f"{low!r} <= v <= {high!r}"))
    cases.append(pytest.param({"<": [0, V, 10, 20]}, id="chain of four"))
    for needle in ("vip", "", "a", "1", 1, True, None, "2026-01-01T01:00:00+01:00"):
        cases.append(pytest.param({"in": [needle, V]}, id=f"{needle!r} in v"))
    for hay in (["vip", "pro"], [1, 2.5], ["1", 1, True, None], [], ["2026-01-01T00:00:00Z"], "xvipx abc é",
                "", 5):
        cases.append(pytest.param({"in": [V, hay]}, id=f"v in {hay!r}"))
    truthiness = [V, {"var": ["attributes.v"]}, {"!": V}, {"!!": V}, {"!!": [V]}, {"!": [{"!": V}]},
                  {"var": "attributes.w.v"}, {"var": "attributes.v.w"}, {"var": "attributes.w.0"},
                  {"var": "attributes.0.v"}, {"var": "attributes-x"}]
    cases += [pytest.param(rule, id=f"truthy {rule}") for rule in truthiness]
    defaults = [{"==": [{"var": ["attributes.v", 5]}, 5]}, {"==": [{"var": ["attributes.v", None]}, 0]},
                {"!!": {"var": ["attributes.v.w", "x"]}}, {"<": [{"var": ["attributes.w.v", 0]}, 1]}]
    cases += [pytest.param(rule, id=f"default {rule}") for rule in defaults]
    missing = [{"missing": ["attributes.v"]}, {"missing": "attributes.v"},
               {"missing": [["attributes.v", "tags"]]},
               {"missing": ["attributes.v.w", "attributes.w.v"]}, {"!": {"missing": ["attributes.w"]}},
               {"missing_some": [1, ["attributes.v", "attributes.x"]]},
               {"missing_some": [2, ["attributes.v", "attributes.w", "tags"]]},
               {"missing_some": [0, ["attributes.v"]]}, {"missing_some": [3, ["attributes.v", "tags"]]}]
    cases += [pytest.param(rule, id=f"missing {rule}") for rule in missing]
    logic = [
        {"!!": {"and": [V, {"==": [V, 1]}]}}, {"!!": {"or": [{"==": [V, "abc"]}, {"<": [V, 1]}]}},
        {"!!": {"and": []}}, {"!!": {"or": [V]}},
        {"if": [V, {"==": [V, 1]}, {"==": [V, "abc"]}]}, {"if": [{"<": [V, 1]}, True]},
        {"if": [{"==": [V, "vip"]}, False, {"<": [V, "b"]}, True, {"missing": ["attributes.v"]}]},
        {"if": [V]}, {"if": []}, {"if": [{"==": [V, 1]}, V, "x"]},
        {"!!": {"and": [{"!=": [V, 1]}, {"in": ["vip", V]}]}},
        {"!!": {"or": [{"==": [V, 0]}, {"<": [V, "2026-01-02"]}]}},
        {"and": [{"==": [V, "vip"]}, {"attribute": {"field": "v", "op": "exists"}}]},
        {"or": [{"===": [V, True]}, {"!": {"in": [V, ["abc", "b"]]}}]},
        {"==": [1, 1]}, {"<": ["a", "b"]}, {"in": ["a", ["a"]]}, {"!!": [True]}, {"!!": 0}, {"!": "x"},
    ]
    cases += [pytest.param(rule, id=f"logic {rule}") for rule in logic]
    return cases


TABLE_TENANT = "jsonlogic-table"


@pytest.fixture(scope="module")
def population(con: Any) -> str:
    """The population loaded once, under its own tenant, for every case of the table."""
    load_documents(con, [{**doc, "tenant_id": TABLE_TENANT} for doc in POPULATION])
    return TABLE_TENANT


@pytest.mark.parametrize("rule", _cases())
def test_both_paths_agree_on_the_sql_path(con: Any, host: Any, population: str, rule: Any) -> None:
    expected, got = both_paths_loaded(con, host, rule, POPULATION, population, NOW)
    assert got.path == "sql", got.reason
    assert set(got.members) == expected


def test_values_only_datalogic_reads_exactly_are_decided_per_contact(con: Any, host: Any) -> None:
    docs = [{"contact_id": str(i), "attributes": {"v": v}} for i, v in enumerate(
        ["2026-01-01T01:00:00+01:00", "2026-01-01T00:00:00Z", "2026-01-01", "abc", 1])]
    expected, got = both_paths(con, host, {"==": [V, "2026-01-01T00:00:00Z"]}, docs, NOW)
    assert (got.path, set(got.members)) == ("sql", expected)
    assert expected == {"0", "1"}  # the same instant in another zone is equal for datalogic
    assert got.decided_per_contact == 2  # the other zone's spelling and the date alone
    numbered = [{"contact_id": "array", "attributes": {"w": ["vip"]}},
                {"contact_id": "object", "attributes": {"w": {"0": "vip"}}}]
    expected, got = both_paths(con, host, {"==": [{"var": "attributes.w.0"}, "vip"]}, numbered, NOW)
    assert (got.path, set(got.members), got.decided_per_contact) == ("sql", {"array", "object"}, 1)


@pytest.mark.parametrize(("logic", "pointer"), [
    ({"==": [{"+": [V, 1]}, 2]}, "/==/0"),
    ({"!!": {"map": [V, {"var": ""}]}}, "/!!/map"),
    ({"==": [{"var": "events.0.name"}, "x"]}, "/==/0/var"),
    ({"==": [{"var": {"cat": ["attributes.", "v"]}}, "x"]}, "/==/0/var"),
    ({"==": [V, {"var": "attributes.w"}]}, "/=="),
    ({"==": [{"var": "attributes.a b"}, 1]}, "/==/0/var"),
    ({"in": [V, ["a", ["b"]]]}, "/in/1"),
    ({"cat": ["a", V]}, "/cat"),
])
def test_untranslatable_parts_are_named(host: Any, logic: Any, pointer: str) -> None:
    with pytest.raises(NoSqlForm) as caught:
        compile_rule(parse_rule({"and": [{"tag": {"tags": ["x"]}}, logic]}, host))
    assert caught.value.path == "/and/1" + pointer


def test_the_query_transpiles_to_athena(host: Any) -> None:
    logic = {"if": [{"<": [0, V, "2026-01-01"]}, {"in": ["vip", {"var": "tags"}]},
                    {"missing": ["attributes.v"]}]}
    assert "REGEXP_LIKE" in compile_rule(parse_rule(logic, host)).transpile("trino")


# --------------------------------------------------------------------------- random expressions

PATHS = ("attributes.v", "attributes.w.v", "tags", "attributes.w")
stored = st.sampled_from(VALUES)
literal = st.sampled_from([*LITERALS, 2.5, "b", "2026-01-01T01:00:00+01:00"])
var = st.one_of(
    st.sampled_from(PATHS).map(lambda p: {"var": p}),
    st.tuples(st.sampled_from(PATHS), st.sampled_from([0, "x", None])).map(lambda t: {"var": list(t)}),
)


def _ordered(op: str, v: Any, lit: Any, var_first: bool) -> Any:
    return {op: [v, lit] if var_first else [lit, v]}


comparison = st.builds(_ordered, st.sampled_from(COMPARISONS), var, literal, st.booleans())
between = st.builds(lambda op, lo, v, hi: {op: [lo, v, hi]},
                    st.sampled_from(("<", "<=")), literal, var, literal)
membership = st.one_of(
    st.builds(lambda n, v: {"in": [n, v]}, literal, var),
    st.builds(lambda v, h: {"in": [v, h]}, var,
              st.one_of(st.lists(literal, max_size=3), st.sampled_from(["vip pro", ""]))),
)
absence = st.one_of(
    st.lists(st.sampled_from(PATHS), min_size=1, max_size=3).map(lambda ps: {"missing": ps}),
    st.builds(lambda n, ps: {"missing_some": [n, ps]}, st.integers(0, 3),
              st.lists(st.sampled_from(PATHS), min_size=1, max_size=3)),
)
leaves = st.one_of(comparison, between, membership, absence, var, literal)
expressions = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: {"and": xs}),
        st.lists(inner, max_size=3).map(lambda xs: {"or": xs}),
        inner.map(lambda x: {"!": x}),
        inner.map(lambda x: {"!!": [x]}),
        st.lists(inner, max_size=5).map(lambda xs: {"if": xs}),
    ),
    max_leaves=5,
)
contacts = st.lists(st.tuples(stored, stored, stored), min_size=1, max_size=6).map(lambda rows: [
    {"contact_id": f"c{i}", "attributes": {"v": v, "w": w if isinstance(w, dict) else {"v": w}}, "tags": t}
    for i, (v, w, t) in enumerate(rows)
])


def _drop_absent(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v is not ABSENT}
        return value

    return [clean(doc) for doc in docs]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(logic=expressions, docs=contacts)
def test_random_expressions_agree_on_both_paths(
    con: Any, host: Any, logic: Any, docs: list[dict[str, Any]]
) -> None:
    # `!!` wraps the expression so that `and`, `or` and `!` stay inside it (at the top they are the rule's).
    expected, got = both_paths(con, host, {"!!": [logic]}, _drop_absent(docs), NOW)
    assert got.path == "sql", got.reason
    assert set(got.members) == expected
