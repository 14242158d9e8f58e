"""Scenario tests for score comparisons and bands, including unknown scores."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from growthos_segments.core.host import PluginHost
from growthos_segments.core.view import ContactView
from growthos_segments.plugins import scores

HOST = PluginHost([scores], load_entry_points=False)
NOW = datetime(2026, 11, 22, tzinfo=UTC)


def run(name: str, params: dict[str, Any], contact_scores: Any,
        context: dict[str, Any] | None = None) -> tuple[bool, datetime | None]:
    condition = HOST.condition_types[name]
    predicate = condition.compile(condition.params.model_validate(params))
    return predicate(ContactView({"scores": contact_scores}, context=context), NOW)


@pytest.mark.parametrize(
    ("nps", "promoter"),
    [(9, True), (10, True), (9.0, True), (Decimal("9"), True), (8.99, False), (8, False)],
)
def test_promoters_are_nps_9_or_more(nps: Any, promoter: bool) -> None:
    assert run("score", {"name": "nps", "gte": 9}, {"nps": nps}) == (promoter, None)


@pytest.mark.parametrize("value", [None, "9", True, float("nan"), {"v": 9}])
def test_unknown_scores_match_no_comparison(value: Any) -> None:
    assert run("score", {"name": "nps", "gte": 0}, {"nps": value}) == (False, None)
    assert run("score", {"name": "nps", "lt": 100}, {"nps": value}) == (False, None)


def test_missing_score_and_missing_scores_object() -> None:
    assert run("score", {"name": "nps", "gte": 0}, {"lead": 5}) == (False, None)
    assert run("score", {"name": "nps", "gte": 0}, None) == (False, None)


def test_ranges_combine_bounds() -> None:
    warm = {"name": "lead", "gte": 50, "lt": 80}
    assert run("score", warm, {"lead": 50}) == (True, None)
    assert run("score", warm, {"lead": 79.9}) == (True, None)
    assert run("score", warm, {"lead": 80}) == (False, None)
    assert run("score", {"name": "nps", "lte": 6}, {"nps": 6}) == (True, None)
    assert run("score", {"name": "nps", "eq": 7}, {"nps": 7}) == (True, None)
    assert run("score", {"name": "nps", "gt": 7}, {"nps": 7}) == (False, None)


def test_score_params_are_strict() -> None:
    condition = HOST.condition_types["score"]
    with pytest.raises(ValueError):
        condition.params.model_validate({"name": "nps"})  # no bound
    with pytest.raises(ValueError):
        condition.params.model_validate({"name": "nps", "gte": True})  # a boolean is no number
    with pytest.raises(ValueError):
        condition.params.model_validate({"name": "nps", "gte": "9"})


@pytest.mark.parametrize(
    ("lead", "band"),
    [(100, "hot"), (80, "hot"), (150, "hot"), (79.5, "warm"), (50, "warm"), (49.99, "cold"),
     (0, "cold"), (-1, None)],
)
def test_default_bands(lead: float, band: str | None) -> None:
    for name in ("hot", "warm", "cold"):
        assert run("score_band", {"band": name}, {"lead": lead}) == (name == band, None)


def test_score_band_reads_the_score_and_no_tenant_context() -> None:
    # Nothing sets tenant bands, so a tenant-context refresh (RFM) must not re-evaluate
    # score-band segments: the condition declares and reads the score alone.
    condition = HOST.condition_types["score_band"]
    for params in ({"band": "hot"}, {"band": "fan", "bands": {"fan": 60, "idle": 0}}):
        reads = condition.reads(condition.params.model_validate(params))
        assert reads.attributes == frozenset({"scores.lead"})
        assert reads.context == frozenset()
    context = {"scores": {"bands": {"lead": {"hot": 90, "warm": 60, "cold": 0}}}}
    assert run("score_band", {"band": "hot"}, {"lead": 85}, context) == (True, None)


def test_a_band_the_default_bands_do_not_define_never_matches() -> None:
    assert run("score_band", {"band": "champion"}, {"lead": 99}) == (False, None)


def test_condition_bands_win_and_must_name_the_band() -> None:
    params = {"band": "fan", "name": "engagement", "bands": {"champion": 90, "fan": 60, "idle": 0}}
    context = {"scores": {"bands": {"*": {"fan": 0}}}}
    assert run("score_band", params, {"engagement": 59}, context) == (False, None)
    assert run("score_band", params, {"engagement": 60}, context) == (True, None)
    condition = HOST.condition_types["score_band"]
    with pytest.raises(ValueError, match="not one of the given bands"):
        condition.params.model_validate({"band": "hot", "bands": {"fan": 60}})


def test_any_of_several_bands_and_unknown_score() -> None:
    assert run("score_band", {"band": ["warm", "hot"]}, {"lead": 55}) == (True, None)
    assert run("score_band", {"band": ["warm", "hot"]}, {"lead": 20}) == (False, None)
    assert run("score_band", {"band": "cold"}, {}) == (False, None)


def test_reads_name_the_score() -> None:
    condition = HOST.condition_types["score"]
    reads = condition.reads(condition.params.model_validate({"name": "nps", "gte": 9}))
    assert reads.attributes == frozenset({"scores.nps"})
    assert reads.lookback is None


def test_catalog_examples_validate() -> None:
    for condition in scores.CONDITION_TYPES:
        for example in condition.examples:
            condition.params.model_validate(example)
