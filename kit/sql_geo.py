"""The SQL form of a great-circle radius test (the ``geo_radius`` condition's ``bulk_compile``).

It computes the haversine ``a`` of the contact's coordinates with the operations of
the per-contact predicate, in the same order, on the same doubles (each constant is
written as a cast of its shortest round-trip text, which reads back as exactly that
double; a bare decimal literal could be read as a DECIMAL and rounded twice).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from growthos_segments.kit.sql import SqlForm, is_kind, json_at

__all__ = ["radius_form"]

_DOUBLE = exp.DataType.build("DOUBLE")


def _double(number: float) -> exp.Expression:
    return exp.cast(exp.Literal.string(repr(float(number))), _DOUBLE.copy())


def _degrees(keys: Sequence[str], limit: int) -> tuple[exp.Expression, exp.Expression]:
    """(the JSON number at ``keys`` as a double, "it is a number within ±limit")."""
    value = json_at(keys)
    as_double = exp.TryCast(this=value.copy(), to=_DOUBLE.copy())
    valid = exp.and_(
        is_kind(value, "BIGINT", "UBIGINT", "DOUBLE"),
        exp.Between(this=as_double.copy(), low=_double(-limit), high=_double(limit)),
    )
    return as_double, valid


def _half_sine(difference: exp.Expression) -> exp.Expression:
    return exp.Sin(this=exp.Div(this=exp.paren(difference), expression=_double(2.0)))


def radius_form(
    latitude: Sequence[str],
    longitude: Sequence[str],
    *,
    phi: float,
    lam: float,
    cos_phi: float,
    degree: float,
    limit: float,
    inside: bool,
    epsilon: float,
) -> SqlForm:
    """``a <= limit`` (``inside``) or ``a > limit`` for the contact at the JSON paths
    ``latitude`` / ``longitude`` (numbers within ±90 / ±180; anything else: no match),
    against the centre (``phi``, ``lam``) in radians with ``cos_phi``; rows whose ``a`` is
    within ``epsilon * limit`` of ``limit`` are undecided."""
    lat, lat_valid = _degrees(latitude, 90)
    lon, lon_valid = _degrees(longitude, 180)
    contact_phi = exp.Mul(this=lat, expression=_double(degree))
    s1 = _half_sine(exp.Sub(this=contact_phi.copy(), expression=_double(phi)))
    s2 = _half_sine(exp.Sub(this=exp.Mul(this=lon, expression=_double(degree)), expression=_double(lam)))
    north = exp.Mul(this=s1, expression=s1.copy())
    # ((cos_phi * cos(contact_phi)) * s2) * s2: the per-contact path's left-to-right order
    east = exp.Mul(this=exp.Mul(this=exp.Mul(this=_double(cos_phi), expression=exp.Cos(this=contact_phi)),
                                expression=s2), expression=s2.copy())
    a = exp.paren(exp.Add(this=north, expression=east))
    valid = exp.and_(lat_valid, lon_valid)
    compared: exp.Expression = (exp.LTE if inside else exp.GT)(this=a, expression=_double(limit))
    near = exp.LTE(this=exp.Abs(this=exp.Sub(this=a.copy(), expression=_double(limit))),
                   expression=_double(epsilon * limit))
    return SqlForm(exp.and_(valid, compared), undecided=exp.and_(valid.copy(), near))
