"""Segments compose in SQL as SegmentSet composes them: references, pinned segments,
exclusions, contacts included or excluded by hand, static segments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from growthos_segments.core.host import PluginHost
from growthos_segments.core.segments import SegmentDefinition, SegmentSet
from tests.analytics.conftest import both_paths_of_set

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
UK = {"attribute": {"field": "country", "op": "in", "values": ["GB", "IE"]}}
VIP = {"tag": {"tags": ["vip"]}}
FREE = {"attribute": {"field": "plan", "op": "equals", "value": "free"}}

DOCS: list[dict[str, Any]] = [
    {"contact_id": "a", "attributes": {"country": "GB", "plan": "free"}, "tags": ["vip"]},
    {"contact_id": "b", "attributes": {"country": "GB", "plan": "pro"},
     "suppression": {"unsubscribed": True}},
    {"contact_id": "c", "attributes": {"country": "FR", "plan": "free"}},
    {"contact_id": 1, "attributes": {"country": "IE", "plan": "free"}},  # an id that is not text
    {"contact_id": "1", "attributes": {"country": "IE"}, "tags": ["vip"]},
    {"contact_id": "d"},
]

SETS: list[tuple[str, list[dict[str, Any]], str]] = [
    ("reference", [{"id": "uk", "rule": UK}, {"id": "s", "rule": {"and": [{"segment": {"id": "uk"}}, FREE]}}],
     "sql"),
    ("not a reference", [{"id": "uk", "rule": UK}, {"id": "s", "rule": {"!": {"segment": {"id": "uk"}}}}],
     "sql"),
    ("chain", [{"id": "uk", "rule": UK}, {"id": "m", "rule": {"or": [{"segment": {"id": "uk"}}, VIP]}},
               {"id": "s", "rule": {"and": [{"segment": {"id": "m"}}, {"!": FREE}]}}], "sql"),
    ("exclusion", [{"id": "vip", "rule": VIP}, {"id": "s", "rule": UK, "exclude_segments": ["vip"]}], "sql"),
    ("pinned", [{"id": "ok", "type": "pinned", "rule": {"!": {"suppression": {"flag": "unsubscribed"}}}},
                {"id": "s", "rule": UK}], "sql"),
    ("picks", [{"id": "s", "rule": UK, "include_contacts": ["c", "zz"], "exclude_contacts": ["a", "1"]}],
     "sql"),
    ("picks of a referenced segment", [
        {"id": "uk", "rule": UK, "include_contacts": ["d"], "exclude_contacts": ["b"]},
        {"id": "s", "rule": {"or": [{"segment": {"id": "uk"}}, VIP]}, "exclude_contacts": ["1"]}], "sql"),
    ("static", [{"id": "s", "type": "static", "include_contacts": ["a", "1", "d", "nobody"]}], "sql"),
    ("static referenced", [{"id": "st", "type": "static", "include_contacts": ["c"]},
                           {"id": "s", "rule": {"or": [{"segment": {"id": "st"}}, VIP]}}], "sql"),
    ("picks that are not text", [{"id": "s", "rule": UK, "include_contacts": [1]}], "per-contact"),
]


@pytest.mark.parametrize(("definitions", "path"), [pytest.param(d, p, id=name) for name, d, p in SETS])
def test_segments_compose_alike(
    con: Any, host: PluginHost, definitions: list[dict[str, Any]], path: str
) -> None:
    segments = SegmentSet(host, [SegmentDefinition.from_json(d) for d in definitions])
    expected, got = both_paths_of_set(con, host, segments, "s", DOCS, NOW)
    assert set(got.members) == expected
    assert got.path == path, got.reason
