"""geo_radius and search through both paths: the per-contact evaluator against the SQL engine.

Geo: contacts on each radius's edge (the exact point, the doubles either side of it, a
nano-degree either side), near the poles and across the antimeridian, and coordinates
of every wrong kind. The rows within the edge epsilon are the SQL form's undecided
ones, and the per-contact path decides them: that is how both agree at the edge.

Search: texts with accents, ß / ẞ, ligatures, Greek sigmas, Turkish dotted I, the
Kelvin sign, CJK, characters that fold to several (ĳ, …), in strings and lists, and
values that are not text. Every character of the folding repertoire is folded by the
SQL form exactly as the plugin folds it; any other character leaves its row undecided.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from growthos_segments.core.host import PluginHost
from growthos_segments.kit.sql_text import folded
from growthos_segments.plugins.geo import EARTH_RADIUS_KM
from growthos_segments.plugins.search import REPERTOIRE, fold, folding_table
from tests.analytics.conftest import both_paths
from tests.analytics.strategies import rule_trees

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
NANO = 1e-9


def _radius(degrees: float) -> float:
    return EARTH_RADIUS_KM * math.radians(degrees)


CIRCLES: list[tuple[float, float, float]] = [
    (52.52, 13.405, 50.0),
    (52.52, 13.405, _radius(0.5)),     # its edge due north is 53.02
    (0.0, 179.9, _radius(0.2)),        # its edge due east is -179.9 (across the antimeridian)
    (89.9, 10.0, _radius(0.2)),        # its edge over the pole is 89.9 on meridian -170
    (-45.0, -70.0, 2500.0),
    (10.0, 20.0, math.pi * EARTH_RADIUS_KM),  # everywhere
]
EDGES: list[tuple[float, float]] = [(53.02, 13.405), (0.0, -179.9), (89.9, -170.0)]
"""Points exactly on the edges of CIRCLES[1:4] (as far as the doubles go)."""


def _around(lat: float, lon: float) -> list[tuple[float, float]]:
    """The point, the doubles next to its latitude and longitude, and a nano-degree either side."""
    out = [(lat, lon)]
    for step in (math.nextafter(lat, 90) - lat, math.nextafter(lat, -90) - lat, NANO, -NANO):
        if -90 <= lat + step <= 90:
            out.append((lat + step, lon))
    for step in (math.nextafter(lon, 180) - lon, math.nextafter(lon, -180) - lon, NANO, -NANO):
        if -180 <= lon + step <= 180:
            out.append((lat, lon + step))
    return out


NOT_COORDINATES: list[Any] = ["MISSING", None, "52.5", True, False, 91, -180.5, 2**70, [52.5], {"v": 1}, ""]


def _geo_population() -> list[dict[str, Any]]:
    rng = random.Random(31)
    points = [p for edge in EDGES for p in _around(*edge)]
    points += [(90.0, 0.0), (-90.0, 180.0), (0.0, -180.0), (0.0, 180.0), (52.52, 13.405), (-10.0, -160.0)]
    points += [(rng.uniform(-90, 90), rng.uniform(-180, 180)) for _ in range(40)]
    points += [(52.52 + rng.gauss(0, 0.5), 13.405 + rng.gauss(0, 0.8)) for _ in range(30)]
    points += [(90 - abs(rng.gauss(0, 0.2)), rng.uniform(-180, 180)) for _ in range(10)]
    docs = [{"contact_id": f"p{i}", "attributes": {"latitude": lat, "longitude": lon}}
            for i, (lat, lon) in enumerate(points)]
    docs += [{"contact_id": f"i{i}", "attributes": {"latitude": 52, "longitude": 13}} for i in range(2)]
    for i, bad in enumerate(NOT_COORDINATES):
        attrs: dict[str, Any] = {"longitude": 13.4}
        if bad != "MISSING":
            attrs["latitude"] = bad
        docs.append({"contact_id": f"bad{i}", "attributes": attrs})
        docs.append({"contact_id": f"badlon{i}", "attributes": {"latitude": 52.5} | (
            {} if bad == "MISSING" else {"longitude": bad})})
    docs.append({"contact_id": "nested", "attributes": {"location": {"lat": 52.6, "lon": 13.5}}})
    docs.append({"contact_id": "not-an-object", "attributes": ["latitude"]})
    return docs


GEO_POPULATION = _geo_population()


def _geo_rules() -> list[dict[str, Any]]:
    rules = []
    for lat, lon, radius in CIRCLES:
        for inside in (True, False):
            rules.append({"geo_radius": {"latitude": lat, "longitude": lon, "radius_km": radius,
                                         "inside": inside}})
    rules.append({"geo_radius": {"latitude": 52.52, "longitude": 13.405, "radius_km": 20,
                                 "latitude_field": "location.lat", "longitude_field": "location.lon"}})
    return rules


def test_geo_rows_on_the_edge_are_decided_per_contact_and_the_others_in_sql(
    con: Any, host: PluginHost
) -> None:
    rule = {"geo_radius": {"latitude": 52.52, "longitude": 13.405, "radius_km": _radius(0.5)}}
    on_edge = [{"contact_id": f"e{i}", "attributes": {"latitude": lat, "longitude": 13.405}}
               for i, lat in enumerate([53.02, math.nextafter(53.02, 90), math.nextafter(53.02, 0)])]
    expected, got = both_paths(con, host, rule, on_edge, NOW)
    assert (got.path, set(got.members), got.decided_per_contact) == ("sql", expected, 3)
    near = [{"contact_id": "in", "attributes": {"latitude": 53.02 - NANO, "longitude": 13.405}},
            {"contact_id": "out", "attributes": {"latitude": 53.02 + NANO, "longitude": 13.405}}]
    expected, got = both_paths(con, host, rule, near, NOW)
    assert (set(got.members), expected, got.decided_per_contact) == ({"in"}, {"in"}, 0)


# --------------------------------------------------------------------------- search

TEXTS: list[Any] = [
    "José García", "JOSE", "jose", "Émile Zola", "Hauptstraße", "HAUPTSTRASSE", "GROẞ",
    "\ufb01nance", "finance", "ΟΔΥΣΣΕΥΣ", "οδυσσευς", "İstanbul", "\u212aelvin", "Kelvin",
    "東京 acme", "Ĳssel", "ijssel", "wait…", "Nguyễn", "Zoe\u0308", "O'Brien", "100%_done",
    "ada@acme.io", "Acme Labs", "ACME", "a\u00a0b", "", " ", "ǅemal",
]
OTHER_VALUES: list[Any] = [None, 42, True, {"x": "acme"}, ["acme", 7, None], ["José"], []]
FIELDS = ("first_name", "last_name", "email", "company")


def _search_population() -> list[dict[str, Any]]:
    rng = random.Random(5)
    docs: list[dict[str, Any]] = []
    for i in range(120):
        attrs: dict[str, Any] = {}
        for field in FIELDS:
            if rng.random() < 0.6:
                attrs[field] = rng.choice(TEXTS) if rng.random() < 0.85 else rng.choice(OTHER_VALUES)
        if rng.random() < 0.5:
            attrs["custom"] = {"company": rng.choice(TEXTS),
                               "notes": rng.sample(TEXTS, rng.randrange(0, 3)) + rng.sample([1, None], 1)}
            # fields of any name: texts, lists, and values not searched (numbers, maps...)
            for name in rng.sample(["industry", "tier", "x-1", "Owner_Name"], rng.randrange(0, 3)):
                attrs["custom"][name] = rng.choice([rng.choice(TEXTS), rng.choice(OTHER_VALUES),
                                                    {"city": rng.choice(TEXTS)}, 1234])
        elif rng.random() < 0.2:
            attrs["custom"] = rng.choice([["acme"], "José", 7, None])  # not a map of fields
        docs.append({"contact_id": f"s{i}", "attributes": attrs})
    docs += [{"contact_id": f"t{i}", "attributes": {"first_name": text}} for i, text in enumerate(TEXTS)]
    docs.append({"contact_id": "not-an-object", "attributes": "José"})
    return docs


SEARCH_POPULATION = _search_population()
QUERIES = ["jose", "JOSÉ garcia", "strasse", "groß", "finance", "fi", "\u03c3", "\u03c2", "istanbul", "i",
           "kelvin", "k", "acme", "acme ada", "ijssel", "ij", "…", "...", "'", "%_", "東京", "nguyen",
           "zoe", "a b", "dz", "ǆ"]


def _search_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [{"search": {"q": q}} for q in QUERIES]
    rules += [{"search": {"q": q, "fields": ["custom.notes", "first_name"]}} for q in ("acme", "jose", "1")]
    rules += [{"search": {"q": q, "fields": ["custom.notes", "first_name"], "custom_fields": False}}
              for q in ("acme", "jose", "1234")]
    rules += [{"search": {"q": q, "fields": ["custom.x-1.city"]}} for q in ("acme", "jose")]
    return rules


CASES = [pytest.param(rule, GEO_POPULATION, id=repr(rule)) for rule in _geo_rules()] + [
    pytest.param(rule, SEARCH_POPULATION, id=repr(rule)) for rule in _search_rules()]


@pytest.mark.parametrize(("rule", "population"), CASES)
def test_both_paths_agree(
    con: Any, host: PluginHost, rule: dict[str, Any], population: list[dict[str, Any]]
) -> None:
    expected, got = both_paths(con, host, rule, population, NOW)
    assert got.path == "sql", got.reason
    assert set(got.members) == expected


def test_search_finds_what_a_marketer_expects(con: Any, host: PluginHost) -> None:
    docs = [{"contact_id": f"t{i}", "attributes": {"first_name": text}} for i, text in enumerate(TEXTS)]
    expected, got = both_paths(con, host, {"search": {"q": "jose"}}, docs, NOW)
    assert expected == set(got.members) == {"t0", "t1", "t2"}
    expected, got = both_paths(con, host, {"search": {"q": "STRASSE"}}, docs, NOW)
    assert expected == set(got.members) == {"t4", "t5"}
    expected, got = both_paths(con, host, {"search": {"q": "ΣΣ"}}, docs, NOW)
    assert expected == set(got.members) == {"t9", "t10"}
    # Only rows holding a character outside the repertoire (東, the Kelvin sign, ﬁ, ĳ, …, ǅ)
    # went to the per-contact path.
    assert got.decided_per_contact == 6


def test_every_custom_field_is_searched_on_both_paths(con: Any, host: PluginHost) -> None:
    docs = [{"contact_id": f"c{i}", "attributes": {"custom": custom}} for i, custom in enumerate([
        {"industry": "Robótica"},                          # a field of any name
        {"tags": [5, "ROBOTICA fan"]},                      # a list's string items
        {"address": {"city": "Robotica"}},                  # a nested map: not searched
        {"robotica": True, "seats": 1234},                  # keys, booleans, numbers: not searched
        ["Robotica"],                                       # custom not a map of fields
    ])]
    for q, expected_members in [("robotica", {"c0", "c1"}), ("1234", set()), ("true", set())]:
        expected, got = both_paths(con, host, {"search": {"q": q}}, docs, NOW)
        assert (got.path, expected, set(got.members)) == ("sql", expected_members, expected_members)
    expected, got = both_paths(con, host, {"search": {"q": "robotica", "custom_fields": False}}, docs, NOW)
    assert expected == set(got.members) == set()


def test_the_sql_folding_is_the_plugins_for_every_character_of_the_repertoire() -> None:
    table, ranges = folding_table()
    chars = [chr(c) for c in range(0x20, 0x7F)]
    chars += [chr(c) for low, high in REPERTOIRE for c in range(low, high + 1)]
    expression = folded(exp.column("t"), table).sql("duckdb")
    con = duckdb.connect()
    con.execute("CREATE TABLE chars (t VARCHAR)")
    con.executemany("INSERT INTO chars VALUES (?)", [[c] for c in chars])
    got = dict(con.execute(f"SELECT t, {expression} FROM chars").fetchall())
    foldable = {chr(c) for low, high in ranges for c in range(low, high + 1)} | set(chars[:95])
    assert {c: got[c] for c in chars if c in foldable} == {c: fold(c) for c in chars if c in foldable}
    assert len(foldable & set(chars)) > 1300
    assert set(chars) - foldable == {c for c in chars if len(fold(c)) > 1} - {"ß", "ẞ"}


# --------------------------------------------------------------------------- property

COORDINATES = st.one_of(
    st.sampled_from([p for edge in EDGES for p in _around(*edge)]),
    st.tuples(st.floats(-90, 90), st.floats(-180, 180)),
)
geo_leaves = st.builds(
    lambda circle, inside: {"geo_radius": {"latitude": circle[0], "longitude": circle[1],
                                           "radius_km": circle[2], "inside": inside}},
    st.sampled_from(CIRCLES), st.booleans())
search_leaves = st.builds(lambda q: {"search": {"q": q}}, st.sampled_from(QUERIES))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rule=rule_trees(st.one_of(geo_leaves, search_leaves), max_leaves=4),
    places=st.lists(st.one_of(COORDINATES, st.just(None)), min_size=1, max_size=12),
    names=st.lists(st.lists(st.sampled_from(TEXTS), max_size=3).map(" ".join), min_size=12, max_size=12),
    customs=st.lists(st.dictionaries(st.sampled_from(["industry", "notes", "a_b"]), st.one_of(
        st.sampled_from(TEXTS + OTHER_VALUES), st.lists(st.sampled_from([*TEXTS, 1]), max_size=2))),
        min_size=12, max_size=12),
)
def test_random_rules_agree_on_random_contacts(
    con: Any, host: PluginHost, rule: Any, places: list[Any], names: list[str], customs: list[dict[str, Any]]
) -> None:
    docs = []
    for i, place in enumerate(places):
        attrs: dict[str, Any] = {"first_name": names[i], "custom": customs[i]}
        if place is not None:
            attrs |= {"latitude": place[0], "longitude": place[1]}
        docs.append({"contact_id": f"h{i}", "attributes": attrs})
    expected, got = both_paths(con, host, rule, docs, NOW)
    assert (got.path, set(got.members)) == ("sql", expected)


def test_the_largest_search_fits_in_an_athena_query(host: PluginHost) -> None:
    """Ten words over twenty fields and every custom field: the Trino text stays under
    Athena's query size (fields outside ``custom``, which the custom fields' search would
    not leave out as already searched)."""
    from growthos_segments.analytics.compiler import compile_segment
    from growthos_segments.core.segments import SegmentDefinition, SegmentSet

    params = {"q": " ".join("abcdefghij"), "fields": [f"f{i}" for i in range(20)]}
    segments = SegmentSet(host, [SegmentDefinition("rule", {"search": params})])
    text = compile_segment(segments, "rule", {}).transpile("trino")
    athena_query_bytes = 262_144  # Athena's longest query string (its service quotas)
    assert len(text.encode()) < athena_query_bytes / 1.5
