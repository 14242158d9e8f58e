"""The initial load stores exactly what backfills through the engine store.

Two deployments in one moto receive the same demo tenant (every template as a
segment: RFM, score bands, email and event windows). One is filled the slow,
reference way: the tenant context computed by the scheduler's refresher from
DynamoDB, then every contact evaluated against every segment by the engine
reading DynamoDB and writing each transition (what a backfill does, one
segment at a time). The other gets :class:`InitialLoad` from the documents in
memory.
Every stored item of the memberships, re-checks and counters tables (member
counters and the tenant context included) must be the same, ``seq`` aside: it
is the wall clock of each evaluation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from growthos_segments.devstack.demo_data import demo_segments, documents, generate, write
from growthos_segments.devstack.initial_load import InitialLoad
from growthos_segments.devstack.template import create_tables
from growthos_segments.handlers.wiring import build_service
from growthos_segments.infra.repos import Repositories, build_repositories
from growthos_segments.infra.repos.fields import PREFIX as FIELDS_PREFIX
from growthos_segments.infra.repos.fields import DynamoObservedFields
from growthos_segments.infra.settings import Settings
from growthos_segments.plugins import default_host
from growthos_segments.services.context import ContextRefresher
from growthos_segments.services.history import SizeRecorder
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


def _items(repos: Repositories) -> dict[str, list[dict[str, Any]]]:
    """Every stored item of the derived tables, minus what names the evaluation's ``seq``."""
    tables = repos.settings.tables
    found: dict[str, list[dict[str, Any]]] = {}
    for name in (tables.memberships, tables.rechecks, tables.counters):
        items = []
        for page in repos.client.get_paginator("scan").paginate(TableName=name):
            for item in page["Items"]:
                if item["sk"]["S"].startswith(FIELDS_PREFIX):  # observed fields: the load's own test
                    continue
                items.append({k: v for k, v in item.items() if k not in ("seq", "transition_id")})
        found[name.split("-", 1)[1]] = sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
    return found


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
    service.engine.evaluate_many(TENANT, [c["contact_id"] for c in data.contacts], only=segment_ids)
    SizeRecorder(reference.segments, reference.sizes).record(TENANT, NOW)  # the scheduler's first point

    loaded = InitialLoad(bulk, host).run(TENANT, documents(data), NOW)
    assert loaded is not None and loaded.contacts == 50 and loaded.segments == len(segment_ids)

    expected, found = _items(reference), _items(bulk)
    assert found == expected
    members = [i for i in expected["memberships"] if i["member"] == {"BOOL": True}]
    assert loaded.memberships == len(members) and loaded.rechecks == len(expected["rechecks"]) > 0
    filled = {i["segment_id"]["S"] for i in members}
    assert len(filled) >= len(segment_ids) // 2  # the comparison is not between two empty tenants
    assert {"champions", "hot_leads"} <= filled  # RFM tiers and score bands, with the tenant context
    contexts = [i for i in expected["counters"] if i["sk"]["S"] == "context"]
    assert len(contexts) == 1 and '"thresholds":{' in contexts[0]["context"]["S"]


def test_an_initial_load_fills_the_observed_fields(deployments: tuple[Repositories, Repositories]) -> None:
    _, bulk = deployments
    host = default_host()
    data = generate(TENANT, 20, now=NOW, seed=5)
    write(bulk, data, demo_segments(TENANT, host), now=NOW)
    docs = documents(data)
    assert InitialLoad(bulk, host).run(TENANT, docs, NOW) is not None
    catalog = DynamoObservedFields(bulk.client, bulk.settings.tables.counters).catalog(TENANT)
    paths = {a.path for a in catalog.attributes}
    assert {"attributes.plan", "attributes.custom.lead_score", "attributes.custom.customer_ltv"} <= paths
    assert catalog.events == Counter(e["name"] for d in docs for e in d["events"])
