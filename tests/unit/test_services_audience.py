"""The audience service on the in-memory ports: what each route means, without AWS.

The API's route tests (``tests/integration/test_api_*``) run the same service
behind API Gateway events on moto; here the service alone, so a failure points
at the service and not at the resolver or an adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from growthos_segments.core.api_models import EstimateIn, SegmentCreate, SegmentUpdate, SnapshotIn
from growthos_segments.core.ports import BackfillJob, SegmentRecord
from growthos_segments.infra.memory import MemoryBackend
from growthos_segments.infra.memory_audience import (
    MemoryAudienceLookups,
    MemoryContactSamples,
    MemoryIdempotency,
    MemorySegmentSizes,
    MemorySnapshots,
)
from growthos_segments.plugins import default_host
from growthos_segments.services.audience import (
    ApiError,
    Audience,
    Conflict,
    IdempotentCreates,
    NotFound,
    Unprocessable,
)
from growthos_segments.services.catalog import SegmentCatalog
from growthos_segments.services.estimate import Estimator

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
HOST = default_host()
PRO = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}
OPENED = {"email": {"action": "opened", "within": "30d"}}


@dataclass
class World:
    backend: MemoryBackend
    audience: Audience

    def contact(self, contact_id: str, tenant: str = "t1", **profile: Any) -> None:
        self.backend.contacts.put({"tenant_id": tenant, "contact_id": contact_id, **profile})

    def errors(self, error: ApiError) -> list[tuple[str, str, str]]:
        return [(e["location"], e["path"], e["message"]) for e in error.errors]


def build(backend: MemoryBackend) -> Audience:
    return Audience(
        host=HOST, segments=backend.segments, memberships=backend.memberships, views=backend.contacts,
        snapshots=MemorySnapshots(page_ids=2),
        lookups=MemoryAudienceLookups(backend.segments, backend.memberships, backend.contacts),
        contexts=backend.contexts, catalog=SegmentCatalog(backend.segments, HOST, backend.contexts),
        estimator=Estimator(MemoryContactSamples(backend.contacts, backend.contacts)),
        sizes=MemorySegmentSizes(backend.memberships), progress=backend.progress,
        backfills=backend.backfills, segment_cache_seconds=5.0, clock=lambda: NOW,
        usages=backend.usages, publisher=backend.publisher,
    )


@pytest.fixture
def world() -> World:
    backend = MemoryBackend()
    return World(backend, build(backend))


def seed(world: World) -> None:
    """c0, c3 on pro; c1 bounced; c2 unsubscribed; c4 without email; c0..c2 opened an email lately."""
    for i in range(5):
        events = [{"name": "email.opened", "at": (NOW - timedelta(days=5 + i)).isoformat()}] if i < 3 else []
        world.contact(
            f"c{i}",
            attributes={"plan": "pro" if i % 3 == 0 else "free",
                        **({"email": f"c{i}@x.io"} if i != 4 else {})},
            suppression={"bounced": i == 1, "unsubscribed": i == 2},
            events=events,
        )


def create(world: World, segment_id: str, rule: Any, **fields: Any) -> Any:
    body = SegmentCreate(id=segment_id, name=segment_id, rule=rule, **fields)
    return world.audience.create_segment("t1", body)


# --- saving -------------------------------------------------------------------------------


def test_every_save_queues_its_backfill_after_the_segment_cache_window(world: World) -> None:
    first = create(world, "pro", PRO)
    assert (first.version, first.backfill) == (1, "queued")
    update = SegmentUpdate(name="Pro", rule={"!": PRO}, version=1)
    assert world.audience.update_segment("t1", "pro", update).version == 2
    assert world.backend.backfills.jobs == [BackfillJob("t1", "pro", 1), BackfillJob("t1", "pro", 2)]
    assert world.backend.backfills.delays == [6, 6]  # 5 s of cache, one more, whole seconds


def test_without_a_queue_a_save_says_no_backfill(world: World) -> None:
    audience = build(world.backend)
    audience.backfills = None
    assert audience.create_segment("t1", SegmentCreate(id="pro", name="p", rule=PRO)).backfill == "none"
    assert world.backend.backfills.jobs == []


def test_a_reference_to_an_unknown_segment_is_located_in_the_body(world: World) -> None:
    create(world, "pro_users", PRO)
    with pytest.raises(Unprocessable) as refused:
        create(world, "both", {"and": [OPENED, {"segment": {"id": "pro_user"}}]}, exclude_segments=["nope"])
    assert world.errors(refused.value) == [
        ("body", "/rule/and/1/segment/id", "unknown segment 'pro_user'"),
        ("body", "/exclude_segments/0", "unknown segment 'nope'"),
    ]
    assert refused.value.errors[0]["suggestion"] == "did you mean 'pro_users'?"
    assert world.backend.segments.get("t1", "both") is None


def test_a_stale_version_and_an_existing_id_are_conflicts(world: World) -> None:
    create(world, "pro", PRO)
    with pytest.raises(Conflict) as stale:
        world.audience.update_segment("t1", "pro", SegmentUpdate(name="x", rule=PRO, version=7))
    assert world.errors(stale.value) == [("body", "/version", "current version is 1")]
    with pytest.raises(Conflict) as taken:
        create(world, "pro", PRO)
    assert world.errors(taken.value)[0][:2] == ("body", "/id")


def test_archiving_is_refused_while_another_segment_references_it(world: World) -> None:
    create(world, "pro", PRO)
    create(world, "engaged_pro", {"and": [OPENED, {"segment": {"id": "pro"}}]})
    with pytest.raises(Conflict) as refused:
        world.audience.archive_segment("t1", "pro", None)
    assert world.errors(refused.value) == [("path", "/segment_id", "referenced by segment 'engaged_pro'")]
    world.audience.archive_segment("t1", "engaged_pro", 1)
    assert world.audience.archive_segment("t1", "pro", 1).status == "archived"


def test_another_tenants_segment_is_not_found(world: World) -> None:
    create(world, "pro", PRO)
    with pytest.raises(NotFound):
        world.audience.get_segment("t2", "pro")
    assert world.audience.list_segments("t2").segments == []


# --- membership -----------------------------------------------------------------------------


def test_the_membership_check_answers_member_non_member_and_not_found(world: World) -> None:
    seed(world)
    create(world, "pro", PRO)
    world.backend.memberships.enter("t1", "pro", "c0", seq=1, at=NOW, segment_version=1)
    world.backend.memberships.enter("t1", "pro", "c3", seq=1, at=NOW, segment_version=1)
    world.backend.memberships.exit("t1", "pro", "c3", seq=2, at=NOW, segment_version=1)
    member = world.audience.membership("t1", "pro", "c0")
    assert (member.member, member.entered_at, member.segment_version) == (True, "2026-11-22T12:00:00Z", 1)
    left = world.audience.membership("t1", "pro", "c3")
    assert (left.member, left.exited_at) == (False, "2026-11-22T12:00:00Z")
    never = world.audience.membership("t1", "pro", "c1")
    assert (never.member, never.exited_at, never.segment_version) == (False, None, None)
    for segment_id, contact_id, missing in (("pro", "c9", "/contact_id"), ("nope", "c0", "/segment_id"),
                                            ("pro", "a#b", "/contact_id"), ("-bad", "c0", "/segment_id")):
        with pytest.raises(NotFound) as absent:
            world.audience.membership("t1", segment_id, contact_id)
        assert world.errors(absent.value)[0][1] == missing
    world.audience.archive_segment("t1", "pro", None)
    with pytest.raises(Conflict):
        world.audience.membership("t1", "pro", "c0")


def test_counts_members_and_a_contacts_segments(world: World) -> None:
    seed(world)
    create(world, "pro", PRO)
    for contact_id in ("c0", "c3"):
        world.backend.memberships.enter("t1", "pro", contact_id, seq=1, at=NOW, segment_version=1)
    assert world.audience.count("t1", "pro").count == 2
    assert world.audience.members("t1", "pro", limit=10, cursor=None).members == ["c0", "c3"]
    segments = world.audience.contact_segments("t1", "c0").segments
    assert [(s.segment_id, s.name) for s in segments] == [("pro", "pro")]
    with pytest.raises(NotFound):
        world.audience.contact_segments("t1", "c9")


def test_explain_evaluates_now_through_references_beside_the_stored_state(world: World) -> None:
    seed(world)
    create(world, "pro", PRO)
    create(world, "engaged_pro", {"and": [OPENED, {"segment": {"id": "pro"}}]})
    explained = world.audience.explain("t1", "engaged_pro", "c0")
    assert (explained.match, explained.version, explained.evaluated_at) == (True, 1, "2026-11-22T12:00:00Z")
    assert explained.recheck_at == "2026-12-17T12:00:00Z"  # the open 5 days ago leaves the 30-day window
    assert explained.stored.member is False  # nothing has evaluated it into storage
    assert world.audience.explain("t1", "engaged_pro", "c3").match is False  # pro, but no recent open


# --- estimates and snapshots ----------------------------------------------------------------


def test_an_estimate_reads_through_the_segments_the_rule_references(world: World) -> None:
    seed(world)
    create(world, "pro", PRO)
    result = world.audience.estimate("t1", EstimateIn(rule={"and": [OPENED, {"segment": {"id": "pro"}}]}))
    assert (result.exact, result.estimate, result.sample_size) == (True, 1, 5)
    assert result.population_source == "exact"
    assert result.reads["attributes"] == ["attributes.plan"] and result.reads["segments"] == ["pro"]
    assert result.reads["events"] == ["email.opened"]


def test_a_snapshot_freezes_members_with_their_suppression_state(world: World) -> None:
    seed(world)
    create(world, "everyone", {"!": {"attribute": {"field": "plan", "op": "equals", "value": "none"}}})
    for i in range(5):
        world.backend.memberships.enter("t1", "everyone", f"c{i}", seq=1, at=NOW, segment_version=1)
    taken = world.audience.create_snapshot("t1", "everyone", SnapshotIn(label="send"))
    assert taken.counts == {"all": 5, "addressable": 2, "bounced": 1, "unsubscribed": 1, "spam": 0,
                            "no_email": 1}
    first = world.audience.snapshot_contacts("t1", "everyone", taken.snapshot_id, category="all", cursor=None)
    assert first.contacts == ["c0", "c1"] and first.cursor is not None  # two ids per page here
    with pytest.raises(Unprocessable) as refused:
        world.audience.snapshot_contacts("t1", "everyone", taken.snapshot_id, category="bounce", cursor=None)
    assert refused.value.errors[0]["suggestion"] == "did you mean 'bounced'?"


# --- idempotent creates ---------------------------------------------------------------------


def test_an_idempotency_key_replays_the_first_create_and_refuses_another_body(world: World) -> None:
    creates = IdempotentCreates(world.audience, MemoryIdempotency())
    body = SegmentCreate(id="pro", name="pro", rule=PRO)
    first = creates.create_segment("t1", "k1", body)
    assert creates.create_segment("t1", "k1", body) == first
    assert len(world.backend.backfills.jobs) == 1  # the replay saved nothing
    with pytest.raises(Unprocessable) as other:
        creates.create_segment("t1", "k1", SegmentCreate(id="pro2", name="pro", rule=PRO))
    assert world.errors(other.value)[0][:2] == ("header", "/Idempotency-Key")
    assert creates.create_segment("t2", "k1", body)["id"] == "pro"  # another tenant's key is its own


def test_a_repeat_while_the_first_create_runs_is_a_conflict(world: World) -> None:
    creates = IdempotentCreates(world.audience, MemoryIdempotency())
    body = SegmentCreate(id="pro", name="pro", rule=PRO)

    class Reentrant:
        def send(self, jobs: Any, *, delay_seconds: int = 0) -> None:
            creates.create_segment("t1", "k1", body)

    world.audience.backfills = Reentrant()
    with pytest.raises(Conflict) as running:
        creates.create_segment("t1", "k1", body)
    assert "still in progress" in running.value.message


def test_saved_records_keep_what_the_request_said(world: World) -> None:
    create(world, "vips", None, type="static", include_contacts=["c1", "c2"])
    stored = world.backend.segments.get("t1", "vips")
    assert isinstance(stored, SegmentRecord)
    assert (stored.type, dict(stored.rule), stored.include_contacts) == ("static", {}, ("c1", "c2"))


def test_per_condition_estimates_size_each_top_level_condition_alone(world: World) -> None:
    for i in range(240):
        world.contact(f"c{i}", attributes={"plan": "pro" if i % 3 == 0 else "free", "email": f"c{i}@x.io"},
                      events=[{"name": "email.opened", "at": (NOW - timedelta(days=2)).isoformat()}]
                      if i % 2 == 0 else [])
    world.audience.estimator = Estimator(
        MemoryContactSamples(world.backend.contacts, world.backend.contacts), target=60, exact_limit=50
    )
    for operator in ("and", "or"):
        rule = {operator: [PRO, OPENED]}
        result = world.audience.estimate("t1", EstimateIn(rule=rule, per_condition=True))
        assert not result.exact and result.per_condition is not None
        assert [c.path for c in result.per_condition] == [f"/rule/{operator}/0", f"/rule/{operator}/1"]
        for condition, child in zip(result.per_condition, (PRO, OPENED), strict=True):
            alone = world.audience.estimate("t1", EstimateIn(rule=child))
            assert (condition.estimate, condition.low, condition.high, condition.matches) == (
                alone.estimate, alone.low, alone.high, alone.matches)
    single = world.audience.estimate("t1", EstimateIn(rule=PRO, per_condition=True))
    assert [(c.path, c.estimate) for c in single.per_condition or []] == [("/rule", single.estimate)]
    assert world.audience.estimate("t1", EstimateIn(rule=PRO)).per_condition is None
