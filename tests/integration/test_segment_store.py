"""Versioned segments, optimistic concurrency and the per-tenant active cache."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from growthos_segments.core.ports import SegmentRecord, SegmentStore, SegmentVersionConflict
from growthos_segments.infra import keys
from growthos_segments.infra.repos import Repositories, SegmentRepository
from tests.integration.conftest import NOW

RULE = {
    "and": [
        {"email": {"action": "opened", "min_count": 3, "within": "30d"}},
        {"in": ["premium", {"var": "tags"}]},
        {"!": {"==": [{"var": "scores.nps"}, 1.5]}},
        {"attribute": {"path": "suppression.unsubscribed", "op": "eq", "value": False}},
        {"or": []},
    ]
}


def _segment(segment_id: str = "seg1", **changes: object) -> SegmentRecord:
    base = SegmentRecord(
        tenant_id="t1",
        segment_id=segment_id,
        name="Engaged premium",
        description="opened 3+ emails in 30 days",
        rule=RULE,
        exclude_segments=("churned",),
        include_contacts=("c1",),
        exclude_contacts=("c9",),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_store_satisfies_the_port(repos: Repositories) -> None:
    assert isinstance(repos.segments, SegmentStore)


def test_each_save_is_a_new_version_with_history(repos: Repositories) -> None:
    v1 = repos.segments.save(_segment(), now=NOW)
    assert (v1.version, v1.created_at, v1.updated_at) == (1, "2026-11-22T12:00:00Z", "2026-11-22T12:00:00Z")
    v2 = repos.segments.save(replace(v1, name="Renamed"), now=NOW + timedelta(hours=1))
    assert v2.version == 2 and v2.created_at == v1.created_at and v2.updated_at == "2026-11-22T13:00:00Z"

    assert repos.segments.get("t1", "seg1") == v2
    assert repos.segments.get("t1", "seg1", version=1) == v1
    assert repos.segments.get("t1", "seg1", version=3) is None
    assert [s.version for s in repos.segments.versions("t1", "seg1")] == [2, 1]


def test_round_trip_keeps_every_field_and_json_types(repos: Repositories) -> None:
    saved = repos.segments.save(_segment(type="pinned"), now=NOW)
    loaded = repos.segments.get("t1", "seg1")
    assert loaded == saved
    assert loaded is not None and loaded.rule == RULE
    nested = loaded.rule["and"]
    assert nested[0]["email"]["min_count"] == 3 and type(nested[0]["email"]["min_count"]) is int
    assert nested[2]["!"]["=="][1] == 1.5
    assert nested[3]["attribute"]["value"] is False
    assert loaded.to_json()["exclude_segments"] == ["churned"]


def test_rule_is_stored_as_a_map_not_a_json_string(repos: Repositories) -> None:
    repos.segments.save(_segment(), now=NOW)
    raw = repos.client.get_item(
        TableName=repos.settings.tables.segments,
        Key={"pk": {"S": "t1"}, "sk": {"S": keys.segment_head_sk("seg1")}},
    )["Item"]
    assert "M" in raw["rule"]
    assert set(raw["rule"]["M"]) == {"and"}
    assert raw["version"] == {"N": "1"}


def test_a_stale_editor_gets_a_conflict_and_nothing_is_written(repos: Repositories) -> None:
    v1 = repos.segments.save(_segment(), now=NOW)
    repos.segments.save(replace(v1, name="editor A"), now=NOW)
    with pytest.raises(SegmentVersionConflict) as caught:
        repos.segments.save(replace(v1, name="editor B"), now=NOW)
    assert (caught.value.expected, caught.value.current) == (1, 2)
    assert repos.segments.get("t1", "seg1").name == "editor A"  # type: ignore[union-attr]
    assert len(repos.segments.versions("t1", "seg1")) == 2


def test_creating_an_existing_segment_conflicts(repos: Repositories) -> None:
    repos.segments.save(_segment(), now=NOW)
    with pytest.raises(SegmentVersionConflict):
        repos.segments.save(_segment(name="duplicate"), now=NOW)


def test_the_transaction_itself_refuses_a_lost_race(repos: Repositories) -> None:
    """Both editors passed the read check; only the transaction's condition decides."""
    v1 = repos.segments.save(_segment(), now=NOW)
    winner = repos.segments.save(replace(v1, name="winner"), now=NOW)
    stale_head = repos.segments.get
    repos.segments.get = lambda *a, **k: v1  # type: ignore[method-assign]  # the loser read before the win
    try:
        with pytest.raises(SegmentVersionConflict):
            repos.segments.save(replace(v1, name="loser"), now=NOW)
    finally:
        repos.segments.get = stale_head  # type: ignore[method-assign]
    assert repos.segments.get("t1", "seg1") == winner
    assert [s.name for s in repos.segments.versions("t1", "seg1")] == ["winner", "Engaged premium"]
    assert repos.segments.revision("t1") == 2


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "dynamic"},
        {"status": "deleted"},
        {"segment_id": "has#hash"},
        {"tenant_id": "t1#x"},
        {"exclude_segments": ("a#b",)},
        {"version": -1},
    ],
)
def test_invalid_definitions_are_refused_before_any_write(
    repos: Repositories, bad: dict[str, object]
) -> None:
    with pytest.raises(ValueError):
        repos.segments.save(_segment(**bad), now=NOW)
    assert repos.requests.total == 0


def test_oversized_definitions_are_refused(repos: Repositories) -> None:
    huge = tuple(f"contact-{i:06d}" for i in range(30_000))
    with pytest.raises(ValueError, match="larger than"):
        repos.segments.save(_segment(include_contacts=huge), now=NOW)


def test_list_active_and_archived(repos: Repositories) -> None:
    repos.segments.save(_segment("a"), now=NOW)
    b = repos.segments.save(_segment("b"), now=NOW)
    repos.segments.save(replace(b, status="archived"), now=NOW)
    assert [s.segment_id for s in repos.segments.list_segments("t1")] == ["a"]
    assert [s.segment_id for s in repos.segments.list_segments("t1", include_archived=True)] == ["a", "b"]
    assert [s.segment_id for s in repos.segments.active_segments("t1")] == ["a"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_active_cache_costs_one_small_read_and_refreshes_on_change(repos: Repositories) -> None:
    clock = FakeClock()
    store = SegmentRepository(repos.models, cache_seconds=5.0, clock=clock)
    store.save(_segment("a"), now=NOW)
    repos.requests.reset()

    with repos.requests.measure() as first:
        assert [s.segment_id for s in store.active_segments("t1")] == ["a"]
    assert dict(first.by_operation) == {"GetItem": 1, "Query": 1}

    clock.now += 1  # inside the staleness window: no request at all
    with repos.requests.measure() as cached:
        store.active_segments("t1")
    assert cached.total == 0

    clock.now += 10  # window passed, nothing changed: one GetItem of the revision
    with repos.requests.measure() as checked:
        store.active_segments("t1")
    assert dict(checked.by_operation) == {"GetItem": 1}

    # Another process (its own repository) saves: the revision check notices.
    repos.segments.save(_segment("b"), now=NOW)
    clock.now += 10
    with repos.requests.measure() as refreshed:
        assert [s.segment_id for s in store.active_segments("t1")] == ["a", "b"]
    assert dict(refreshed.by_operation) == {"GetItem": 1, "Query": 1}


def test_own_saves_invalidate_the_cache_at_once(repos: Repositories) -> None:
    clock = FakeClock()
    store = SegmentRepository(repos.models, cache_seconds=60.0, clock=clock)
    a = store.save(_segment("a"), now=NOW)
    assert len(store.active_segments("t1")) == 1
    store.save(replace(a, status="archived"), now=NOW)
    assert store.active_segments("t1") == ()


def test_revision_counts_saves(repos: Repositories) -> None:
    assert repos.segments.revision("t1") == 0
    a = repos.segments.save(_segment("a"), now=NOW)
    repos.segments.save(_segment("b"), now=NOW)
    repos.segments.save(replace(a, name="x"), now=NOW)
    assert repos.segments.revision("t1") == 3


def test_tenants_lists_each_tenant_once(repos: Repositories) -> None:
    repos.segments.save(_segment("a"), now=NOW)
    repos.segments.save(_segment("b"), now=NOW)
    repos.segments.save(_segment("a", tenant_id="t2"), now=NOW)
    assert sorted(repos.segments.tenants()) == ["t1", "t2"]
