"""Geo radius: the contact lives within (or beyond) N km of a point.

Condition type (category ``contact``)::

    {"geo_radius": {"latitude": 52.52, "longitude": 13.405, "radius_km": 50}}
    {"geo_radius": {"latitude": 40.7128, "longitude": -74.006, "radius_km": 100, "inside": false}}
    {"geo_radius": {"latitude": 48.8566, "longitude": 2.3522, "radius_km": 25,
                    "latitude_field": "location.lat", "longitude_field": "location.lon"}}

The contact's coordinates are two numbers in decimal degrees under ``attributes``
(``latitude`` and ``longitude`` unless ``latitude_field`` / ``longitude_field``
name other paths). A contact whose latitude is not a JSON number from -90 to 90,
or whose longitude is not one from -180 to 180 (missing, null, text, a boolean),
has no known place: it matches neither ``inside: true`` nor ``inside: false``,
so "outside the radius" never sweeps in contacts nobody has located.

Distance is great-circle distance on a sphere of the mean Earth radius
(:data:`EARTH_RADIUS_KM`, IUGG's R1 = 6,371.0088 km) by the haversine formula:
``a = sin²(Δφ/2) + cos φ1 · cos φ2 · sin²(Δλ/2)``, ``d = 2R · asin(√a)``. Since
``d`` grows with ``a``, ``d ≤ r`` is tested as ``a ≤ sin²(r / 2R)`` with that
bound computed once per rule: the predicate needs no ``asin`` (no domain error
where rounding pushes ``a`` past 1) and the SQL form compares the same ``a``,
computed with the same constants in the same order. Within the radius includes
its edge (``d = r``). The two engines' ``sin`` and ``cos`` may differ in the last
bit, so the SQL form leaves the rows whose ``a`` lies within :data:`EDGE_EPSILON`
(relative) of the bound undecided, and the per-contact path decides them: both
paths give the same answer at the edge. The answer depends on the profile only:
``recheck_at`` is always ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, PlainValidator, StrictBool, WithJsonSchema

from growthos_segments.core.values import plain_number
from growthos_segments.kit import ConditionType, ContactView, Predicate, Reads, Result, hookimpl
from growthos_segments.kit.params import ParamsModel
from growthos_segments.plugins.attributes import AttributePath, attribute_getter

if TYPE_CHECKING:
    from growthos_segments.kit.sql import SqlForm

__all__ = [
    "DEGREE", "EARTH_RADIUS_KM", "EDGE_EPSILON", "GEO_RADIUS", "MAX_RADIUS_KM",
    "Centre", "bound", "haversine_a",
]

EARTH_RADIUS_KM = 6371.0088
"""The mean Earth radius (IUGG R1), in km."""
MAX_RADIUS_KM = math.pi * EARTH_RADIUS_KM
"""Half the circumference: every point of the sphere is within this distance."""
MIN_RADIUS_KM = 0.001
"""One metre: below it the bound ``sin²(r / 2R)`` loses its meaning to rounding."""
DEGREE = math.pi / 180
"""Radians per degree; both paths multiply by this one double."""
EDGE_EPSILON = 1e-12
"""Relative distance from the bound within which the SQL form leaves a row undecided: ``a`` is
a sum of non-negative products of a few ``sin`` / ``cos`` results, so two engines whose
functions differ by a few units in the last place differ by ~1e-15 relative, far inside this."""

def _number_in(low: float, high: float, description: str) -> Any:
    """A JSON number from ``low`` to ``high``, validated by hand so that a wrong one gets one
    error at the field (a pydantic int | float union would report one per member)."""

    def check(value: Any) -> float:
        if type(value) not in (int, float) or not math.isfinite(value):
            raise ValueError(f"must be a number from {low:g} to {high:g}")
        if not low <= value <= high:
            raise ValueError(f"{value!r} is outside {low:g} to {high:g}")
        return float(value)

    schema = {"type": "number", "minimum": low, "maximum": high, "description": description}
    return Annotated[float, PlainValidator(check), WithJsonSchema(schema)]


Latitude = _number_in(-90, 90, "decimal degrees, -90 (south) to 90 (north)")
Longitude = _number_in(-180, 180, "decimal degrees, -180 (west) to 180 (east)")
Radius = _number_in(MIN_RADIUS_KM, MAX_RADIUS_KM,
                    f"great-circle distance in km, from {MIN_RADIUS_KM} to half the Earth's "
                    f"circumference ({MAX_RADIUS_KM:.4f})")


class GeoRadiusParams(ParamsModel):
    """Within (or beyond) ``radius_km`` of the point (``latitude``, ``longitude``)."""

    latitude: Latitude
    longitude: Longitude
    radius_km: Radius
    inside: StrictBool = Field(
        default=True, description="true: within the radius (its edge included); false: beyond it")
    latitude_field: AttributePath = "latitude"
    longitude_field: AttributePath = "longitude"


def _degrees(value: Any, limit: int) -> float | None:
    """A coordinate as the per-contact path reads it: a JSON number (or DynamoDB's
    ``Decimal``) within ±``limit``; an integer is range-checked before conversion, so a
    huge one cannot overflow."""
    kind = type(value)
    if kind is Decimal:
        value = plain_number(value)
        kind = type(value)
    if kind is int:
        return float(value) if -limit <= value <= limit else None
    if kind is float:
        return value if -limit <= value <= limit else None
    return None


@dataclass(frozen=True, slots=True)
class Centre:
    """The point in radians (``phi``, ``lam``) and ``cos phi``: computed once per rule, and
    written into the SQL form as these very doubles."""

    phi: float
    lam: float
    cos_phi: float

    @classmethod
    def of(cls, latitude: float, longitude: float) -> Centre:
        phi = latitude * DEGREE
        return cls(phi, longitude * DEGREE, math.cos(phi))


_sin, _cos = math.sin, math.cos


def haversine_a(lat: float, lon: float, centre: Centre) -> float:
    """The haversine ``a`` between (lat, lon) in degrees and ``centre``; the SQL form
    (:func:`growthos_segments.kit.sql_geo.radius_form`) spells exactly these operations
    in this order."""
    phi = lat * DEGREE
    s1 = _sin((phi - centre.phi) / 2)
    s2 = _sin((lon * DEGREE - centre.lam) / 2)
    return s1 * s1 + centre.cos_phi * _cos(phi) * s2 * s2


def bound(radius_km: float) -> float:
    """``sin²(r / 2R)``: the haversine ``a`` of a point exactly ``radius_km`` away."""
    half = math.sin(radius_km / (2 * EARTH_RADIUS_KM))
    return half * half


def _compile(params: GeoRadiusParams) -> Predicate:
    centre = Centre.of(params.latitude, params.longitude)
    limit = bound(params.radius_km)
    inside = params.inside
    get_lat = attribute_getter(params.latitude_field)
    get_lon = attribute_getter(params.longitude_field)

    def geo_radius(view: ContactView, now: datetime) -> Result:
        lat, lon = get_lat(view), get_lon(view)
        # Two floats in range is the common case: the general reading only for the rest.
        if not (type(lat) is float and type(lon) is float and -90 <= lat <= 90 and -180 <= lon <= 180):
            lat, lon = _degrees(lat, 90), _degrees(lon, 180)
            if lat is None or lon is None:
                return False, None
        return (haversine_a(lat, lon, centre) <= limit) is inside, None

    return geo_radius


def _reads(params: GeoRadiusParams) -> Reads:
    return Reads(attributes=frozenset(
        {f"attributes.{params.latitude_field}", f"attributes.{params.longitude_field}"}))


def _describe(params: GeoRadiusParams) -> str:
    where = "within" if params.inside else "more than"
    to = "of" if params.inside else "from"
    return (f"is {where} {params.radius_km:g} km {to} ({params.latitude:g}, {params.longitude:g}) "
            f"by {params.latitude_field} / {params.longitude_field}")


def _sql(params: GeoRadiusParams) -> SqlForm:
    # kit.sql_geo (and sqlglot) load on the analytical path only.
    from growthos_segments.kit.sql_geo import radius_form

    centre = Centre.of(params.latitude, params.longitude)
    return radius_form(
        ("attributes", *params.latitude_field.split(".")),
        ("attributes", *params.longitude_field.split(".")),
        phi=centre.phi, lam=centre.lam, cos_phi=centre.cos_phi, degree=DEGREE,
        limit=bound(params.radius_km), inside=params.inside, epsilon=EDGE_EPSILON,
    )


GEO_RADIUS = ConditionType(
    name="geo_radius",
    label="Within a distance of a place",
    description=(
        "The contact's latitude / longitude lies within (or beyond) a great-circle distance in km "
        "of a point; contacts without valid coordinates match neither."
    ),
    category="contact",
    params=GeoRadiusParams,
    compile=_compile,
    reads=_reads,
    describe=_describe,
    bulk_compile=_sql,
    examples=(
        {"latitude": 52.52, "longitude": 13.405, "radius_km": 50},
        {"latitude": 40.7128, "longitude": -74.006, "radius_km": 100, "inside": False},
        {"latitude": 48.8566, "longitude": 2.3522, "radius_km": 25,
         "latitude_field": "location.lat", "longitude_field": "location.lon"},
    ),
)


@hookimpl
def register_condition_types(register: Callable[..., None]) -> None:
    register(GEO_RADIUS)
