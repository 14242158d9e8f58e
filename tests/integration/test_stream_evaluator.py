"""The stream evaluator on moto: one evaluation per contact per batch, only the
affected segments, writes only for real transitions, order-proof."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.evaluation import build_service
from infra.repos import Repositories
from tests.integration.conftest import NOW
from tests.support.realtime import Bus, Clock, Realtime, Streams

PRO = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}
OPENED = {"email": {"action": "opened", "within": "30d"}}


@pytest.fixture
def rt(repos: Repositories) -> Iterator[Realtime]:
    clock = Clock(NOW)
    service = build_service(repos.settings, repos=repos, clock=clock)
    yield Realtime(repos, service, clock, Streams(repos.settings, repos.client), Bus(repos.settings))


def test_a_profile_change_enters_and_exits_with_exact_counts(rt: Realtime) -> None:
    rt.save("pro", PRO)
    rt.contact("c1", attributes={"plan": "pro"})
    assert rt.flush() == [("ENTER", "t1", "pro", "c1")]
    assert rt.members("pro") == ["c1"] and rt.count("pro") == 1
    rt.repos.contacts.patch("t1", "c1", attributes={"plan": "free"})
    assert rt.flush() == [("EXIT", "t1", "pro", "c1")]
    assert rt.members("pro") == [] and rt.count("pro") == 0
