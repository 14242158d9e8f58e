"""Tenant A can never read or overwrite tenant B, through any repository.

Both tenants use the *same* contact and segment ids on purpose: only the
tenant-first keys keep them apart.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from growthos_segments.core.ports import CursorError, Resolution, SegmentRecord
from growthos_segments.infra.keys import InvalidKeyError
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.repos.usages import SegmentUsageRepository
from tests.integration.conftest import NOW


def _seed_tenant(repos: Repositories, tenant: str, plan: str) -> None:
    repos.contacts.put({"tenant_id": tenant, "contact_id": "c1", "attributes": {"plan": plan}}, now=NOW)
    repos.events.append(tenant, "c1", f"{tenant}.event", at=NOW - timedelta(hours=1), event_id="e1")
    repos.segments.save(
        SegmentRecord(tenant_id=tenant, segment_id="seg1", name=f"{tenant} segment", rule={"plan": plan}),
        now=NOW,
    )
    repos.memberships.enter(tenant, "seg1", "c1", seq=1, at=NOW)
    SegmentUsageRepository(repos.models).register(tenant, "seg1", "campaign:c1", by=f"{tenant}-app", now=NOW)
    repos.memberships.enter(tenant, "seg1", "c2", seq=1, at=NOW)
    repos.rechecks.schedule(tenant, "seg1", "c1", recheck_at=NOW, seq=1)
    repos.sizes.record(tenant, {"seg1": len(tenant)}, at=NOW, resolutions=list(Resolution))


def test_same_ids_in_two_tenants_never_mix(repos: Repositories) -> None:
    _seed_tenant(repos, "alpha", "free")
    _seed_tenant(repos, "beta", "pro")
    for tenant, plan in (("alpha", "free"), ("beta", "pro")):
        view = repos.views.load_view(tenant, "c1", now=NOW, lookback=timedelta(days=1))
        assert view is not None and view["tenant_id"] == tenant
        assert view["attributes"]["plan"] == plan
        assert [e["name"] for e in view["events"]] == [f"{tenant}.event"]
        segment = repos.segments.get(tenant, "seg1")
        assert segment is not None and segment.rule == {"plan": plan} and segment.version == 1
        assert repos.memberships.count(tenant, "seg1") == 2
        assert [r.tenant_id for r in repos.memberships.segments_of(tenant, "c1")] == [tenant]
        assert [r.tenant_id for r in repos.rechecks.for_contact(tenant, "c1")] == [tenant]
        assert repos.sizes.counts(tenant, ["seg1"]) == {"seg1": 2}
        users = SegmentUsageRepository(repos.models).users(tenant, "seg1")
        assert [(u.user, u.registered_by) for u in users] == [("campaign:c1", f"{tenant}-app")]
        for resolution in Resolution:
            points = repos.sizes.history(tenant, "seg1", resolution, since=NOW - timedelta(days=1))
            assert [p.count for p in points] == [len(tenant)]


def test_writes_of_one_tenant_do_not_touch_the_other(repos: Repositories) -> None:
    _seed_tenant(repos, "alpha", "free")
    _seed_tenant(repos, "beta", "pro")
    # beta exits c1, archives its segment, patches its contact, clears its recheck
    repos.memberships.exit("beta", "seg1", "c1", seq=2, at=NOW)
    beta_seg = repos.segments.get("beta", "seg1")
    assert beta_seg is not None
    repos.segments.save(replace(beta_seg, status="archived"), now=NOW)
    repos.contacts.patch("beta", "c1", attributes={"plan": "gone"})
    repos.rechecks.schedule("beta", "seg1", "c1", recheck_at=None, seq=2)
    repos.contacts.delete("beta", "c1")

    alpha_view = repos.views.load_view("alpha", "c1", now=NOW, lookback=timedelta(days=1))
    assert alpha_view is not None and alpha_view["attributes"]["plan"] == "free"
    assert repos.memberships.get("alpha", "seg1", "c1").member  # type: ignore[union-attr]
    assert repos.memberships.count("alpha", "seg1") == 2
    assert [s.segment_id for s in repos.segments.active_segments("alpha")] == ["seg1"]
    assert repos.segments.revision("alpha") == 1
    assert len(repos.rechecks.for_contact("alpha", "c1")) == 1
    # and beta really did change
    assert repos.memberships.count("beta", "seg1") == 1
    assert repos.segments.active_segments("beta") == ()


def test_a_stale_guard_in_one_tenant_does_not_block_the_other(repos: Repositories) -> None:
    assert repos.memberships.enter("alpha", "seg1", "c1", seq=100, at=NOW).applied
    assert repos.memberships.enter("beta", "seg1", "c1", seq=1, at=NOW).applied


def test_cursors_cannot_be_replayed_across_tenants(repos: Repositories) -> None:
    _seed_tenant(repos, "alpha", "free")
    _seed_tenant(repos, "beta", "pro")
    alpha_cursor = repos.memberships.members("alpha", "seg1", limit=1).cursor
    assert alpha_cursor is not None
    with pytest.raises(CursorError):
        repos.memberships.members("beta", "seg1", cursor=alpha_cursor)


def test_forged_cursor_pointing_at_another_tenant_is_refused(repos: Repositories) -> None:
    forged_key = {"pk": {"S": "alpha#seg1"}, "sk": {"S": "c1"}}
    forged = base64.urlsafe_b64encode(json.dumps(forged_key).encode()).decode().rstrip("=")
    with pytest.raises(CursorError):
        repos.memberships.members("beta", "seg1", cursor=forged)


@pytest.mark.parametrize("tenant", ["alpha#seg1", "alpha#", "", "al pha"])
def test_ids_that_would_reach_into_another_tenants_keys_are_refused(repos: Repositories, tenant: str) -> None:
    with pytest.raises(InvalidKeyError):
        repos.memberships.count(tenant, "seg1")
    with pytest.raises(InvalidKeyError):
        repos.views.load_view(tenant, "c1", now=NOW, lookback=None)
    with pytest.raises(InvalidKeyError):
        repos.segments.list_segments(tenant)


def _every_item(repos: Repositories) -> list[tuple[str, dict[str, Any]]]:
    items: list[tuple[str, dict[str, Any]]] = []
    for table in repos.settings.tables.as_dict().values():
        paginator = repos.client.get_paginator("scan")
        for page in paginator.paginate(TableName=table):
            items += [(table, item) for item in page["Items"]]
    return items


KEY_ATTRIBUTES = ("pk", "tenant_shard", "contact_key", "due_pk", "catalog_tenant")


def test_every_stored_key_starts_with_its_tenant(repos: Repositories) -> None:
    """Checked on the items actually written, table keys and index keys alike."""
    _seed_tenant(repos, "alpha", "free")
    _seed_tenant(repos, "beta", "pro")
    repos.memberships.exit("beta", "seg1", "c1", seq=5, at=NOW)
    items = _every_item(repos)
    assert len(items) >= 18  # every item type of both tenants
    checked = 0
    for table, item in items:
        tenant = item["pk"]["S"].split("#", 1)[0]
        assert tenant in {"alpha", "beta"}, (table, item["pk"])
        for name in KEY_ATTRIBUTES:
            if name in item:
                value = item[name]["S"]
                assert value == tenant or value.startswith(tenant + "#"), (table, name, value)
                checked += 1
        if "tenant_id" in item:
            assert item["tenant_id"]["S"] == tenant
    assert checked > len(items)
