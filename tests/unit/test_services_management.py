"""Segment management on the in-memory ports: who created and edited a segment, which
modules use it (and the confirmation and notification a change of a used segment needs),
and duplicates."""

from __future__ import annotations

import pytest

from growthos_segments.core.api_models import SegmentCreate, SegmentDuplicate, SegmentUpdate
from growthos_segments.core.ports import BackfillJob
from growthos_segments.core.ports_usage import Caller
from growthos_segments.infra.memory import MemoryBackend
from growthos_segments.services.audience import Conflict, NotFound, Unprocessable
from tests.unit.test_services_audience import OPENED, PRO, World, build

ANA = Caller("t1", "ana")
BOB = Caller("t1", "bob")
CAMPAIGNS = Caller("t1", "campaigns-module")


@pytest.fixture
def world() -> World:
    backend = MemoryBackend()
    return World(backend, build(backend))


def test_every_version_names_its_creator_and_its_editor(world: World) -> None:
    created = world.audience.create_segment(ANA, SegmentCreate(id="pro", name="pro", rule=PRO))
    assert (created.created_by, created.updated_by) == ("ana", "ana")
    edited = world.audience.update_segment(BOB, "pro", SegmentUpdate(version=1, name="pro!", rule=PRO))
    assert (edited.created_by, edited.updated_by) == ("ana", "bob")
    archived = world.audience.archive_segment(CAMPAIGNS, "pro", 2)
    assert (archived.created_by, archived.updated_by) == ("ana", "campaigns-module")
    history = world.backend.segments.versions("t1", "pro")
    assert [(r.version, r.created_by, r.updated_by) for r in history] == [
        (3, "ana", "campaigns-module"), (2, "ana", "bob"), (1, "ana", "ana")]
    assert world.audience.get_segment("t1", "pro").updated_by == "campaigns-module"


def test_changing_or_archiving_a_segment_in_use_needs_confirmation_and_tells_its_users(world: World) -> None:
    world.audience.create_segment(ANA, SegmentCreate(id="pro", name="pro", rule=PRO))
    world.audience.register_usage(CAMPAIGNS, "pro", "campaign:spring")
    world.audience.register_usage(CAMPAIGNS, "pro", "journey:onboarding")
    got = world.audience.get_segment(ANA, "pro")
    assert [(u.user, u.registered_by) for u in got.used_by or []] == [
        ("campaign:spring", "campaigns-module"), ("journey:onboarding", "campaigns-module")]
    change = SegmentUpdate(version=1, name="pro", rule=OPENED)
    with pytest.raises(Conflict) as refused:
        world.audience.update_segment(BOB, "pro", change)
    assert [(e["location"], e["path"], e["message"]) for e in refused.value.errors] == [
        ("query", "/confirm", "in use by campaign:spring"),
        ("query", "/confirm", "in use by journey:onboarding"),
    ]
    assert world.backend.segments.get("t1", "pro").version == 1  # type: ignore[union-attr]
    assert world.backend.publisher.events == []
    changed = world.audience.update_segment(BOB, "pro", change, confirm=True)
    assert changed.version == 2 and changed.notified is True
    with pytest.raises(Conflict):
        world.audience.archive_segment(BOB, "pro", 2)
    world.backend.publisher.refuse = lambda event: True  # the bus is down: the archive stands, and says so
    archived = world.audience.archive_segment(BOB, "pro", 2, confirm=True)
    assert archived.status == "archived" and archived.notified is False
    (event,) = world.backend.publisher.events
    assert event.detail_type == "Segment Changed" and event.idempotency_id == "t1#pro#2"
    assert dict(event.detail) == {
        "tenant_id": "t1", "segment_id": "pro", "version": 2, "name": "pro", "status": "active",
        "changed_by": "bob", "changed_at": changed.updated_at,
        "users": ["campaign:spring", "journey:onboarding"],
    }


def test_a_segment_nobody_uses_changes_without_confirmation_or_notification(world: World) -> None:
    world.audience.create_segment(ANA, SegmentCreate(id="pro", name="pro", rule=PRO))
    world.audience.register_usage(CAMPAIGNS, "pro", "campaign:spring")
    assert world.audience.remove_usage(CAMPAIGNS, "pro", "campaign:spring").users == []
    assert world.audience.remove_usage(CAMPAIGNS, "pro", "campaign:spring").users == []  # idempotent
    changed = world.audience.update_segment(BOB, "pro", SegmentUpdate(version=1, name="pro", rule=OPENED))
    assert changed.notified is None and world.backend.publisher.events == []
    assert world.audience.get_segment(ANA, "pro").used_by == []


def test_usages_are_per_tenant_and_only_of_active_segments(world: World) -> None:
    world.audience.create_segment(ANA, SegmentCreate(id="pro", name="pro", rule=PRO))
    world.audience.register_usage(CAMPAIGNS, "pro", "campaign:spring")
    with pytest.raises(NotFound):
        world.audience.segment_users(Caller("t2", "x"), "pro")
    with pytest.raises(NotFound):
        world.audience.register_usage(CAMPAIGNS, "pro", "bad/user")
    world.audience.create_segment(Caller("t2"), SegmentCreate(id="pro", name="pro", rule=PRO))
    assert world.audience.segment_users("t2", "pro").users == []
    world.audience.remove_usage(CAMPAIGNS, "pro", "campaign:spring")
    world.audience.archive_segment(ANA, "pro", None)
    with pytest.raises(Conflict):
        world.audience.register_usage(CAMPAIGNS, "pro", "campaign:autumn")


def test_a_duplicate_is_a_deep_copy_saved_and_backfilled_as_a_new_segment(world: World) -> None:
    world.audience.create_segment(ANA, SegmentCreate(id="base", name="base", rule=PRO))
    world.audience.create_segment(ANA, SegmentCreate(
        id="pro", name="Pro", description="d", rule={"and": [OPENED, {"segment": {"id": "base"}}]},
        exclude_segments=["base"], include_contacts=["c1"], exclude_contacts=["c2"], teams=["growth"]))
    world.audience.register_usage(CAMPAIGNS, "pro", "campaign:spring")
    copy = world.audience.duplicate_segment(BOB, "pro", SegmentDuplicate())
    assert copy.id != "pro" and copy.name == "Pro (copy)" and copy.version == 1 and copy.backfill == "queued"
    original = world.audience.get_segment(ANA, "pro")
    same = ("description", "type", "rule", "exclude_segments", "include_contacts", "exclude_contacts",
            "teams")
    assert {k: getattr(copy, k) for k in same} == {k: getattr(original, k) for k in same}
    assert (copy.created_by, copy.updated_by) == ("bob", "bob")
    assert world.audience.segment_users(BOB, copy.id).users == []  # the campaign targets the original only
    assert world.backend.backfills.jobs[-1] == BackfillJob("t1", copy.id, 1)
    named = world.audience.duplicate_segment(BOB, "pro", SegmentDuplicate(id="pro2", name="Pro, again"))
    assert (named.id, named.name) == ("pro2", "Pro, again")
    with pytest.raises(Conflict):  # the id is taken
        world.audience.duplicate_segment(BOB, "pro", SegmentDuplicate(id="pro2"))
    static = world.audience.create_segment(ANA, SegmentCreate(id="vip", name="vip", type="static",
                                                              include_contacts=["c1"]))
    assert world.audience.duplicate_segment(ANA, static.id, SegmentDuplicate()).include_contacts == ["c1"]


def test_team_scopes_hide_segments_and_bound_what_a_key_may_change(world: World) -> None:
    growth = Caller("t1", "growth-app", frozenset({"growth"}))
    sales = Caller("t1", "sales-app", frozenset({"sales"}))
    world.audience.create_segment(growth, SegmentCreate(id="g", name="g", rule=PRO, teams=["growth"]))
    with pytest.raises(NotFound):
        world.audience.get_segment(sales, "g")
    with pytest.raises(NotFound):
        world.audience.duplicate_segment(sales, "g", SegmentDuplicate())
    with pytest.raises(Unprocessable):
        world.audience.create_segment(sales, SegmentCreate(name="x", rule={"segment": {"id": "g"}}))
    with pytest.raises(Unprocessable):
        world.audience.create_segment(sales, SegmentCreate(name="x", rule=PRO, teams=["growth"]))
    assert [s.id for s in world.audience.list_segments(sales).segments] == []
    assert [s.id for s in world.audience.list_segments("t1").segments] == ["g"]  # a key of no team sees all
    # archiving a segment another team's segment references names no segment of that team
    world.audience.create_segment("t1", SegmentCreate(id="base", name="base", rule=PRO))
    on_base = SegmentCreate(id="on_base", name="x", rule={"segment": {"id": "base"}}, teams=["growth"])
    world.audience.create_segment(growth, on_base)
    with pytest.raises(Conflict) as refused:
        world.audience.archive_segment(sales, "base", None)
    assert [e["message"] for e in refused.value.errors] == ["referenced by a segment of another team"]
    # a save that says nothing of teams (a client older than them) keeps them
    kept = world.audience.update_segment("t1", "g", SegmentUpdate(version=1, name="g", rule=OPENED))
    assert kept.teams == ["growth"]
