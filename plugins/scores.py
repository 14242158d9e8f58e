"""Score conditions: any named score (lead, nps, engagement, ...) compared or banded.

Scores live under ``scores.<name>`` in the contact document. They do not
change with time on their own, so ``recheck_at`` is always ``None``; a new
score value is a data change that re-evaluates the contact.

Missing data: a score that is absent, null, a boolean, a string (even
``"82"``) or not finite is *unknown*, and an unknown score matches no
comparison and no band. (``{"!": {"score": ...}}`` therefore matches it; to
exclude unknown scores write the comparison positively.)

Bands are named lower bounds: a score is in the band with the highest lower
bound it reaches, so the defaults ``hot 80 / warm 50 / cold 0`` put 79.5 in
warm, 100 and above in hot, and negative scores in no band. A condition may
carry its own ``bands`` instead, e.g. ``{"champion": 90, "fan": 60, "idle":
0}``, and must then ask for one of them; a band the default bands do not
define never matches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Self

from pydantic import Field, model_validator

from growthos_segments.kit import ConditionType, ContactView, Predicate, Reads, Result, hookimpl
from growthos_segments.kit.numbers import NumberFields, as_number, number_test
from growthos_segments.kit.params import Number, ParamsModel, one_or_many
from growthos_segments.kit.wording import describe_number

if TYPE_CHECKING:
    from growthos_segments.kit.sql import SqlForm

CATEGORY = "scores"
DEFAULT_BANDS: Mapping[str, float] = {"hot": 80, "warm": 50, "cold": 0}
"""Lower bounds of the default bands: hot 80-100, warm 50-79, cold 0-49."""

_NAME_PATTERN = r"^[A-Za-z0-9_\-]{1,64}$"
ScoreName = Annotated[str, Field(pattern=_NAME_PATTERN, examples=["lead", "nps"])]
BandName = Annotated[str, Field(pattern=_NAME_PATTERN, examples=["hot", "warm"])]
"""Band names: the same alphabet as score names (checked in one_or_many for ``band``)."""
Bands = Annotated[dict[BandName, Number], Field(min_length=1, max_length=20)]

_FALSE: Result = (False, None)
_TRUE: Result = (True, None)


# --------------------------------------------------------------------------- score


class _ScoreTarget(ParamsModel):
    # A base listed last so that its fields come first in the schema and normal form.
    name: ScoreName = Field(description="The score, read from scores.<name>.")


class ScoreParams(NumberFields, _ScoreTarget):
    """Compare a named score; several bounds make a range (all must hold)."""


def _compile_score(p: ScoreParams) -> Predicate:
    name = p.name
    test = number_test(p)

    def score(view: ContactView, now: datetime) -> Result:
        value = as_number(view.scores.get(name))
        return _TRUE if value is not None and test(value) else _FALSE

    return score


_BOUNDS = (("gte", ">="), ("gt", ">"), ("lte", "<="), ("lt", "<"), ("eq", "="))


def _sql_score(p: ScoreParams) -> SqlForm | None:
    # kit.sql (and sqlglot) load on the analytical path only: no function's cold start pays for them.
    from sqlglot import exp

    from growthos_segments.kit.sql import SqlForm, double_compare, json_at

    value = json_at(("scores", p.name))
    tests = [double_compare(value, op, getattr(p, key)) for key, op in _BOUNDS if getattr(p, key) is not None]
    if any(test is None for test in tests):
        return None
    return SqlForm(exp.and_(*tests))


SCORE = ConditionType(
    name="score",
    label="Score",
    description=(
        "Compare any named score (lead, nps, engagement, ...) with gte / gt / lte / lt / eq; "
        "several bounds form a range. An unknown (missing or non-numeric) score never matches."
    ),
    category=CATEGORY,
    params=ScoreParams,
    compile=_compile_score,
    reads=lambda p: Reads(attributes=frozenset({f"scores.{p.name}"})),
    describe=lambda p: f"score {p.name} {describe_number(p)}",
    bulk_compile=_sql_score,
    examples=(
        {"name": "nps", "gte": 9},
        {"name": "lead", "gte": 50, "lt": 80},
        {"name": "engagement", "gt": 70},
    ),
)


# --------------------------------------------------------------------------- score_band


class ScoreBandParams(ParamsModel):
    """The score falls in a named band (hot / warm / cold by default)."""

    band: one_or_many("band", pattern=_NAME_PATTERN, max_items=20) = Field(  # type: ignore[valid-type]
        description="The band, or any of several bands.")
    name: ScoreName = Field(default="lead", description="The score, read from scores.<name>.")
    bands: Bands | None = Field(
        default=None,
        description=(
            "Band lower bounds for this condition, e.g. {\"champion\": 90, \"fan\": 60, "
            "\"idle\": 0}. Default: hot 80 / warm 50 / cold 0."
        ),
    )

    @model_validator(mode="after")
    def _known_band(self) -> Self:
        if self.bands is not None:
            unknown = sorted(set(_as_list(self.band)) - set(self.bands))
            if unknown:
                raise ValueError(f"band {unknown[0]!r} is not one of the given bands "
                                 f"{sorted(self.bands)}")
        return self


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def band_of(value: float, bands: Mapping[str, Any]) -> str | None:
    """The band with the highest lower bound that ``value`` reaches."""
    best: str | None = None
    best_floor = None
    for band, floor in bands.items():
        number = as_number(floor)
        if number is None or value < number:
            continue
        if best_floor is None or number > best_floor:
            best, best_floor = band, number
    return best


def _compile_band(p: ScoreBandParams) -> Predicate:
    name = p.name
    wanted = frozenset(_as_list(p.band))
    bands: Mapping[str, float] = dict(p.bands) if p.bands is not None else DEFAULT_BANDS

    def score_band(view: ContactView, now: datetime) -> Result:
        value = as_number(view.scores.get(name))
        if value is None:
            return _FALSE
        return _TRUE if band_of(value, bands) in wanted else _FALSE

    return score_band


def _sql_band(p: ScoreBandParams) -> SqlForm:
    """In band w: reaches w's floor and no floor of a band that would win over w
    (a higher floor, or the same floor listed earlier: :func:`band_of` keeps the first)."""
    from sqlglot import exp

    from growthos_segments.kit.sql import SqlForm, double_compare, json_at

    value = json_at(("scores", p.name))
    bands = list((dict(p.bands) if p.bands is not None else DEFAULT_BANDS).items())
    wanted = set(_as_list(p.band))
    options: list[exp.Expression] = []
    for index, (band, floor) in enumerate(bands):
        if band not in wanted:
            continue
        reached = double_compare(value, ">=", float(floor))
        beaten = [double_compare(value, ">=", float(other)) for position, (_, other) in enumerate(bands)
                  if float(other) > float(floor) or (float(other) == float(floor) and position < index)]
        options.append(exp.and_(reached, *(exp.not_(exp.paren(b)) for b in beaten if b is not None)))
    if not options:
        return SqlForm(exp.false())
    # Every option needs its floor reached, which only a JSON number can: no kind test.
    return SqlForm(exp.or_(*options))


SCORE_BAND = ConditionType(
    name="score_band",
    label="Score band",
    description=(
        "A named score is in a named band: by default hot (80+), warm (50-79.99), cold "
        "(0-49.99), or the bands the condition defines. An unknown score never matches."
    ),
    category=CATEGORY,
    params=ScoreBandParams,
    compile=_compile_band,
    reads=lambda p: Reads(attributes=frozenset({f"scores.{p.name}"})),
    describe=lambda p: f"score {p.name} in band {' or '.join(_as_list(p.band))}",
    bulk_compile=_sql_band,
    examples=(
        {"band": "hot"},
        {"band": ["warm", "hot"], "name": "lead"},
        {"band": "champion", "name": "engagement", "bands": {"champion": 90, "fan": 60, "idle": 0}},
    ),
)

CONDITION_TYPES: tuple[ConditionType[Any], ...] = (SCORE, SCORE_BAND)


@hookimpl
def register_condition_types(register: Callable[..., None]) -> None:
    register(*CONDITION_TYPES)
