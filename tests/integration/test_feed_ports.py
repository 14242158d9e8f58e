"""The transition feed answers the same on DynamoDB (moto) and in memory: newest first,
paged, polled with ``after``, once per transition, 30 days, one tenant's segment only."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from growthos_segments.core.ports import FEED_KEEP, CursorError, Transition, TransitionFeed
from growthos_segments.infra.memory import MemoryTransitionFeed
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.repos.feed import DynamoTransitionFeed

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["dynamodb", "memory"])
def feed(request: pytest.FixtureRequest) -> Iterator[TransitionFeed]:
    if request.param == "memory":
        yield MemoryTransitionFeed()
    else:
        repos: Repositories = request.getfixturevalue("repos")
        yield DynamoTransitionFeed(repos.client, repos.settings.tables.counters)


def transition(i: int, *, tenant: str = "t1", segment: str = "pro", minutes_ago: float | None = None,
               kind: str = "enter") -> Transition:
    at = NOW - timedelta(minutes=100 - i if minutes_ago is None else minutes_ago)
    return Transition(tenant_id=tenant, segment_id=segment, contact_id=f"c{i}", kind=kind,  # type: ignore[arg-type]
                      at=at, segment_version=2, transition_id=f"{tenant}#{segment}#c{i}#{i}#{kind}")


def read_all(feed: TransitionFeed, *, limit: int, after: str | None = None,
             tenant: str = "t1", segment: str = "pro") -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = feed.recent(tenant, segment, now=NOW, limit=limit, cursor=cursor, after=after)
        assert len(page.items) <= limit
        seen += [t.contact_id for t in page.items]
        if (cursor := page.cursor) is None:
            return seen


def test_newest_first_page_by_page(feed: TransitionFeed) -> None:
    feed.record([transition(i) for i in (3, 0, 4, 1, 2)])
    first = feed.recent("t1", "pro", now=NOW, limit=2)
    assert [t.contact_id for t in first.items] == ["c4", "c3"] and first.cursor
    assert first.items[0] == transition(4)  # every field comes back as recorded
    assert read_all(feed, limit=2) == ["c4", "c3", "c2", "c1", "c0"]
    assert read_all(feed, limit=100) == ["c4", "c3", "c2", "c1", "c0"]


def test_a_transition_recorded_again_is_listed_once(feed: TransitionFeed) -> None:
    feed.record([transition(0), transition(1)])
    feed.record([transition(1), transition(1), transition(2)])  # a retried batch, a duplicate record
    assert read_all(feed, limit=10) == ["c2", "c1", "c0"]
    feed.record([transition(1, kind="exit")])  # the same contact's exit is another transition
    assert read_all(feed, limit=10) == ["c2", "c1", "c1", "c0"]


def test_polling_after_the_newest_mark_returns_only_what_is_new(feed: TransitionFeed) -> None:
    feed.record([transition(0), transition(1)])
    first = feed.recent("t1", "pro", now=NOW, limit=10)
    assert first.newest is not None
    assert feed.recent("t1", "pro", now=NOW, limit=10, after=first.newest).items == []
    same_instant = replace(transition(1), contact_id="c9", transition_id="t1#pro#c9#1#enter")
    feed.record([transition(2), transition(3), same_instant])
    assert read_all(feed, limit=1, after=first.newest) == ["c3", "c2", "c9"]  # paged, down to the mark only
    newest = feed.recent("t1", "pro", now=NOW, limit=1).newest
    empty = feed.recent("t1", "pro", now=NOW, limit=10, after=newest)
    assert empty.items == [] and empty.newest is None


def test_only_the_kept_window_is_read(feed: TransitionFeed) -> None:
    old = FEED_KEEP.total_seconds() / 60
    feed.record([transition(0, minutes_ago=old + 1), transition(1, minutes_ago=old - 1), transition(2)])
    assert read_all(feed, limit=10) == ["c2", "c1"]
    later = feed.recent("t1", "pro", now=NOW + timedelta(minutes=2), limit=10)
    assert [t.contact_id for t in later.items] == ["c2"]


def test_a_feed_is_one_tenants_segment(feed: TransitionFeed) -> None:
    feed.record([transition(0), transition(1, tenant="t2"), transition(2, segment="vip")])
    assert read_all(feed, limit=10) == ["c0"]
    assert read_all(feed, limit=10, tenant="t2") == ["c1"]
    assert read_all(feed, limit=10, segment="vip") == ["c2"]
    feed.record([transition(3), transition(4)])
    page = feed.recent("t1", "pro", now=NOW, limit=1)
    assert page.cursor and page.newest
    for token in (page.cursor, page.newest):
        for tenant, segment in (("t2", "pro"), ("t1", "vip")):
            with pytest.raises(CursorError):
                feed.recent(tenant, segment, now=NOW, limit=1, cursor=token)
            with pytest.raises(CursorError):
                feed.recent(tenant, segment, now=NOW, limit=1, after=token)
    for forged in ("!!", "e30", "bm90IGpzb24"):
        with pytest.raises(CursorError):
            feed.recent("t1", "pro", now=NOW, limit=1, cursor=forged)
