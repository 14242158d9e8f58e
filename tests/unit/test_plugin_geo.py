"""The geo_radius condition per contact: distances checked against an independent formula,
the radius edge to a fraction of a millimetre, the poles and the antimeridian, coordinates
that are missing or not numbers in range, and params errors located by JSON pointer."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from growthos_segments.core.errors import RuleValidationError
from growthos_segments.core.host import PluginHost
from growthos_segments.core.rules import parse_rule
from growthos_segments.core.view import ContactView
from growthos_segments.plugins import attributes, geo

HOST = PluginHost([attributes, geo], load_entry_points=False)
NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
R = 6371.0088
NANO_DEGREE = 1e-9
"""About 0.1 mm: far beyond rounding, far inside any distance a test cares about."""


def run(params: dict[str, Any], attrs: Any) -> tuple[bool, datetime | None]:
    condition = HOST.condition_types["geo_radius"]
    predicate = condition.compile(condition.params.model_validate(params))
    return predicate(ContactView({"attributes": attrs}), NOW)


def cosine_law_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance by the spherical law of cosines: a formula independent of the
    haversine one (accurate to well under a metre at hundreds of km)."""
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    cos_c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return R * math.acos(max(-1.0, min(1.0, cos_c)))


@pytest.mark.parametrize(("a", "b"), [
    ((51.5074, -0.1278), (48.8566, 2.3522)),   # London - Paris, ~344 km
    ((52.52, 13.405), (48.1351, 11.582)),      # Berlin - Munich, ~504 km
    ((40.7128, -74.006), (-33.8688, 151.2093)),  # New York - Sydney, ~16,000 km
])
def test_the_radius_is_great_circle_km_on_the_mean_earth_radius(
    a: tuple[float, float], b: tuple[float, float]
) -> None:
    distance = cosine_law_km(*a, *b)
    centre = {"latitude": a[0], "longitude": a[1]}
    contact = {"latitude": b[0], "longitude": b[1]}
    assert run({**centre, "radius_km": distance + 0.001}, contact) == (True, None)
    assert run({**centre, "radius_km": distance - 0.001}, contact) == (False, None)
    assert run({**centre, "radius_km": distance - 0.001, "inside": False}, contact) == (True, None)


EDGE_CASES = [
    # Due north along a meridian: the distance is exactly R * dphi.
    ((52.52, 13.405), R * math.radians(0.5), (53.02 - NANO_DEGREE, 13.405), True),
    ((52.52, 13.405), R * math.radians(0.5), (53.02 + NANO_DEGREE, 13.405), False),
    # Along the equator across the antimeridian: 179.9 E to 179.9 W is 0.2 degrees.
    ((0.0, 179.9), R * math.radians(0.2), (0.0, -179.9 - NANO_DEGREE), True),
    ((0.0, 179.9), R * math.radians(0.2), (0.0, -179.9 + NANO_DEGREE), False),
    # Over the north pole: 89.9 N on opposite meridians are 0.2 degrees apart.
    ((89.9, 10.0), R * math.radians(0.2), (89.9 + NANO_DEGREE, -170.0), True),
    ((89.9, 10.0), R * math.radians(0.2), (89.9 - NANO_DEGREE, -170.0), False),
    # And over the south pole.
    ((-89.9, 0.0), R * math.radians(0.2), (-89.9 - NANO_DEGREE, 180.0), True),
    ((-89.9, 0.0), R * math.radians(0.2), (-89.9 + NANO_DEGREE, 180.0), False),
]


@pytest.mark.parametrize(("centre", "radius", "contact", "inside"), EDGE_CASES)
def test_the_edge_is_decided_to_a_fraction_of_a_millimetre(
    centre: tuple[float, float], radius: float, contact: tuple[float, float], inside: bool
) -> None:
    params = {"latitude": centre[0], "longitude": centre[1], "radius_km": radius}
    where = {"latitude": contact[0], "longitude": contact[1]}
    assert run(params, where) == (inside, None)
    assert run({**params, "inside": False}, where) == (not inside, None)


def test_the_edge_itself_is_inside() -> None:
    # The centre itself at the smallest radius, and a contact exactly on its bound's point.
    assert run({"latitude": 10, "longitude": 20, "radius_km": 0.001}, {"latitude": 10, "longitude": 20}) \
        == (True, None)
    everywhere = {"latitude": 10, "longitude": 20, "radius_km": math.pi * R}
    assert run(everywhere, {"latitude": -10, "longitude": -160}) == (True, None)  # the antipode
    assert geo.haversine_a(-10, -160, geo.Centre.of(10, 20)) <= geo.bound(math.pi * R)


@pytest.mark.parametrize("contact", [
    {},
    {"latitude": 52.5},
    {"latitude": None, "longitude": 13.4},
    {"latitude": "52.5", "longitude": "13.4"},
    {"latitude": True, "longitude": 13.4},
    {"latitude": 90.0001, "longitude": 13.4},
    {"latitude": 52.5, "longitude": -180.5},
    {"latitude": 2**70, "longitude": 13.4},
    {"latitude": [52.5], "longitude": 13.4},
    {"latitude": {"v": 52.5}, "longitude": 13.4},
], ids=repr)
def test_a_contact_without_valid_coordinates_is_neither_inside_nor_outside(contact: dict[str, Any]) -> None:
    params = {"latitude": 52.52, "longitude": 13.405, "radius_km": 20_000}
    assert run(params, contact) == (False, None)
    assert run({**params, "inside": False}, contact) == (False, None)


def test_attributes_that_are_not_an_object_match_nothing() -> None:
    assert run({"latitude": 0, "longitude": 0, "radius_km": 20_000, "inside": False}, ["x"]) == (False, None)


def test_coordinates_from_dynamodb_decimals_and_other_paths() -> None:
    berlin = {"latitude": 52.52, "longitude": 13.405, "radius_km": 10}
    assert run(berlin, {"latitude": Decimal("52.53"), "longitude": Decimal("13.41")}) == (True, None)
    located = {**berlin, "latitude_field": "location.lat", "longitude_field": "location.lon"}
    assert run(located, {"location": {"lat": 52.53, "lon": 13.41}}) == (True, None)
    assert run(located, {"latitude": 52.53, "longitude": 13.41}) == (False, None)
    assert run(berlin, {"latitude": 90, "longitude": 180}) == (False, None)  # the bounds are valid


def test_reads_and_wording() -> None:
    condition = HOST.condition_types["geo_radius"]
    params = condition.params.model_validate(
        {"latitude": 52.52, "longitude": 13.405, "radius_km": 50, "longitude_field": "loc.lon"})
    assert condition.reads(params).attributes == {"attributes.latitude", "attributes.loc.lon"}
    assert condition.reads(params).lookback is None
    assert condition.describe is not None
    assert condition.describe(params) == "is within 50 km of (52.52, 13.405) by latitude / loc.lon"


@pytest.mark.parametrize(("params", "where"), [
    ({"latitude": 90.5, "longitude": 0, "radius_km": 5}, "/geo_radius/latitude"),
    ({"latitude": 0, "longitude": -181, "radius_km": 5}, "/geo_radius/longitude"),
    ({"latitude": 0, "longitude": 0, "radius_km": 0}, "/geo_radius/radius_km"),
    ({"latitude": 0, "longitude": 0, "radius_km": 20_016}, "/geo_radius/radius_km"),
    ({"latitude": 0, "longitude": 0, "radius_km": True}, "/geo_radius/radius_km"),
    ({"latitude": "52", "longitude": 0, "radius_km": 5}, "/geo_radius/latitude"),
    ({"latitude": 0, "longitude": 0, "radius_km": 5, "inside": "no"}, "/geo_radius/inside"),
    ({"latitude": 0, "longitude": 0, "radius_km": 5, "latitude_field": "attributes.lat"},
     "/geo_radius/latitude_field"),
    ({"latitude": 0, "longitude": 0, "radius_km": 5, "centre": "Berlin"}, "/geo_radius/centre"),
    ({"longitude": 0, "radius_km": 5}, "/geo_radius/latitude"),
])
def test_bad_params_are_located(params: dict[str, Any], where: str) -> None:
    with pytest.raises(RuleValidationError) as caught:
        parse_rule({"geo_radius": params}, HOST)
    assert [e.path for e in caught.value.errors] == [where]


def test_the_berlin_template_finds_the_berlin_demo_contacts() -> None:
    from growthos_segments.devstack.demo_data import generate
    from growthos_segments.plugins import default_host

    host = default_host(load_entry_points=False)
    condition = host.condition_types["geo_radius"]
    rule = host.templates["within_50_km_of_berlin"].rule["geo_radius"]
    predicate = condition.compile(condition.params.model_validate(rule))
    contacts = generate("demo", 400, now=NOW).contacts
    members = {c["contact_id"] for c in contacts if predicate(ContactView(c), NOW)[0]}
    berliners = {c["contact_id"] for c in contacts if c["attributes"]["city"] == "Berlin"}
    assert members == berliners  # the nearest other demo city, Hamburg, is 255 km away
    assert 0 < len(members) < len(contacts)
