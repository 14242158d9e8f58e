"""The initial load stores exactly what backfills through the engine store.

Two deployments in one moto receive the same demo tenant (every template as a
segment: RFM, score bands, email and event windows). One is filled the slow,
reference way: the tenant context computed by the scheduler's refresher from
DynamoDB, then every contact evaluated against every segment by the engine
reading DynamoDB and writing each transition (what a backfill does, one
segment at a time). The other gets :class:`InitialLoad` from the documents in
memory.
Memberships, member counters, re-checks and the stored context must agree
(``seq`` aside: it is the wall clock of each evaluation).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.ports import MembershipRecord
from infra.backfill import InitialLoad
from infra.context import ContextRefresher
from infra.demo_data import demo_segments, documents, generate, write
from infra.evaluation import build_service
from infra.repos import Repositories, build_repositories, create_tables
from infra.settings import Settings
from plugins import default_host
from tests.integration.conftest import NOW

TENANT = "t1"


@pytest.fixture
def deployments(mock_aws_session: None) -> Iterator[tuple[Repositories, Repositories]]:
    pair = []
    for prefix in ("reference", "bulk"):
        settings = Settings.local(prefix, segment_cache_seconds=3600)
        repos = build_repositories(settings)
        create_tables(settings, repos.client)
        pair.append(repos)
    yield pair[0], pair[1]


def _stored(repos: Repositories, segment_ids: list[str], contact_ids: list[str]) -> dict[str, object]:
    members = {sid: sorted(repos.memberships.members(TENANT, sid, limit=1000).items) for sid in segment_ids}
    counts = {sid: repos.memberships.count(TENANT, sid) for sid in segment_ids}

    def comparable(record: MembershipRecord) -> tuple[object, ...]:
        return (record.segment_id, record.member, record.changed_at, record.entered_at, record.exited_at,
                record.segment_version)

    rows = {cid: sorted(comparable(r) for r in repos.memberships.segments_of(TENANT, cid))
            for cid in contact_ids}
    rechecks = {cid: sorted((r.segment_id, r.recheck_at) for r in repos.rechecks.for_contact(TENANT, cid))
                for cid in contact_ids}
    return {"members": members, "counts": counts, "rows": rows, "rechecks": rechecks}


def test_an_initial_load_stores_what_backfills_through_the_engine_store(
    deployments: tuple[Repositories, Repositories],
) -> None:
    reference, bulk = deployments
    host = default_host()
    data = generate(TENANT, 50, now=NOW, seed=3)
    segment_ids = [s.segment_id for s in demo_segments(TENANT, host)]
    for repos in (reference, bulk):
        write(repos, data, demo_segments(TENANT, host), now=NOW)

    service = build_service(reference.settings, repos=reference, host=host, clock=lambda: NOW)
    assert ContextRefresher(service)(TENANT, NOW)
    contact_ids = [c["contact_id"] for c in data.contacts]
    service.engine.evaluate_many(TENANT, contact_ids, only=segment_ids)

    loaded = InitialLoad(bulk, host).run(TENANT, documents(data), NOW)
    assert loaded is not None and loaded.contacts == 50 and loaded.segments == len(segment_ids)

    expected = _stored(reference, segment_ids, contact_ids)
    found = _stored(bulk, segment_ids, contact_ids)
    assert found == expected
    assert loaded.memberships == sum(expected["counts"].values())  # type: ignore[attr-defined]
    filled = [sid for sid, n in expected["counts"].items() if n]  # type: ignore[attr-defined]
    assert len(filled) >= len(segment_ids) // 2  # the comparison is not between two empty tenants
    assert {"champions", "hot_leads"} <= set(filled)
    ref_context = service.contexts.get(TENANT)
    bulk_context = build_service(bulk.settings, repos=bulk, host=host).contexts.get(TENANT)
    assert ref_context is not None and bulk_context is not None
    assert bulk_context == ref_context
