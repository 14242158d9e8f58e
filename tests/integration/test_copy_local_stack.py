"""The local stack keeps the analytical copy as AWS would: its CopyFunction on the two streams.

A contact written through the normal write path (the repositories other modules
use) reaches the copy through the stream pump and the template's CopyFunction:
the tenant's views show it. The copy function records its progress per shard (the
stack passes ``shardId`` as Lambda does with tumbling windows), and once the fold
function has computed the watermark, the copy's freshness is past the write.
Each tenant's files hold that tenant's rows only.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from growthos_segments.analytics.deltas import deltas_prefix, merge_deltas, stored_as_of
from growthos_segments.analytics.engine import copy_as_of
from growthos_segments.analytics.parquet import open_copy, open_tenant
from growthos_segments.devstack.stack import LocalStack, Options
from growthos_segments.infra.stream_progress import VISIBLE_AFTER

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    saved = dict(os.environ)
    options = Options(port=0, moto_port=0, prefix="copystack", tenants=(("demo", 30), ("acme", 10)),
                      poll_interval=0.05)
    running = LocalStack(options, emit=lambda line: None)
    try:
        running.start()
        yield running
    finally:
        assert running.stop()
        os.environ.clear()
        os.environ.update(saved)


def plan_of(root: Path, tenant_id: str, contact_id: str) -> str | None:
    con = duckdb.connect()
    open_tenant(con, root, tenant_id)
    merge_deltas(con, root, tenant_id)
    found = con.execute("SELECT doc FROM contacts WHERE contact_id = $c", {"c": contact_id}).fetchall()
    return json.loads(found[0][0])["attributes"].get("plan") if found else None


def test_the_seeded_tenants_have_a_copy_at_ready(stack: LocalStack) -> None:
    assert stack.copied == {"demo": 30, "acme": 10}
    con = duckdb.connect()
    open_tenant(con, stack.analytics_copy, "demo")
    assert con.execute("SELECT count(*) FROM contacts").fetchall() == [(30,)]


def test_a_contact_written_through_the_stack_reaches_the_copy(stack: LocalStack) -> None:
    from growthos_segments.infra.repos import build_repositories

    assert stack.settings is not None
    root = stack.analytics_copy
    seeded = stored_as_of(root, "demo")
    assert seeded is not None
    repos = build_repositories(stack.settings)
    written = datetime.now(UTC)
    repos.contacts.put({"tenant_id": "demo", "contact_id": "copied-1", "attributes": {"plan": "enterprise"}},
                       now=written)
    deadline = time.monotonic() + 60
    while plan_of(root, "demo", "copied-1") is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert plan_of(root, "demo", "copied-1") == "enterprise"
    progress = [path.parent.name for path in (root / "_progress").rglob("*.json")]
    assert progress == [stack.settings.tables.contacts]  # the shard of the write, named by shardId
    while datetime.now(UTC) <= written + VISIBLE_AFTER:  # a look from then on vouches for the write
        time.sleep(0.1)
    folded = stack.functions["CopyFoldFunction"].invoke({})
    assert folded.ok, folded.error
    con = open_copy(root, "demo")
    assert con is not None
    try:
        fresh = copy_as_of(con, "demo")  # what an exact answer says it is as of
    finally:
        con.close()
    assert fresh is not None and fresh >= written
    assert plan_of(root, "acme", "copied-1") is None
    for path in (root / deltas_prefix("acme")).rglob("*.parquet"):  # acme's deltas: acme's rows only
        owners = duckdb.execute(f"SELECT DISTINCT doc->>'tenant_id' FROM '{path}' WHERE doc IS NOT NULL")
        assert {row[0] for row in owners.fetchall()} <= {"acme"}
