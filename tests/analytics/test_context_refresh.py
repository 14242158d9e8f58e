"""The scheduler's tenant context computed over the analytical copy, or by a scan when the copy is stale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from growthos_segments.analytics.contexts import CopyContexts
from growthos_segments.analytics.parquet import write_tenant
from growthos_segments.services.context import ContextRefresher
from tests.support.memory import memory_realtime

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _tenant(copy_updated: datetime, root: Path) -> tuple[Any, CopyContexts]:
    """Six customers with 1 to 6 orders, in the real-time stores and in a copy under ``root``."""
    rt = memory_realtime(NOW)
    rt.save("champions", {"rfm_tier": {"tier": "champions"}})
    docs = []
    for n in range(6):
        rt.contact(f"c{n}")
        events = []
        for k in range(n + 1):
            ago = timedelta(days=10 - n + 5 * k)
            rt.event(f"c{n}", "order.completed", ago=ago, amount=10 * (n + 1))
            events.append({"name": "order.completed", "at": (NOW - ago).isoformat(),
                           "properties": {"amount": 10 * (n + 1)}})
        docs.append({"contact_id": f"c{n}", "updated_at": copy_updated.isoformat(), "events": events})
    write_tenant(root, "t1", docs)
    return rt, CopyContexts(rt.service.host, lambda tenant_id: root)


def test_a_fresh_copy_computes_the_context_without_reading_a_contact_from_the_tables(tmp_path: Path) -> None:
    rt, copy = _tenant(NOW - timedelta(minutes=1), tmp_path)
    scanned = ContextRefresher(rt.service)
    assert scanned("t1", NOW) and scanned.last_source == "scan" and scanned.last_pass.contacts == 6
    by_scan = rt.memory.contexts.get("t1").context  # type: ignore[union-attr]
    rt.memory.contexts.put("t1", {}, NOW - timedelta(days=2))  # stale again
    refresher = ContextRefresher(rt.service, copy=copy)
    assert refresher("t1", NOW)
    assert refresher.last_source == "copy" and refresher.last_pass.contacts == 0
    assert rt.memory.contexts.get("t1").context == by_scan  # type: ignore[union-attr]
    assert by_scan["rfm"]["customers"] == 6


def test_a_copy_further_behind_than_the_allowed_lag_is_not_used(tmp_path: Path) -> None:
    rt, copy = _tenant(NOW - timedelta(hours=2), tmp_path)
    refresher = ContextRefresher(rt.service, copy=copy, copy_max_lag=timedelta(minutes=15))
    assert refresher("t1", NOW)
    assert refresher.last_source == "scan" and refresher.last_pass.contacts == 6


def test_a_tenant_without_a_copy_is_scanned(tmp_path: Path) -> None:
    rt, _ = _tenant(NOW, tmp_path)
    refresher = ContextRefresher(rt.service, copy=CopyContexts(rt.service.host, lambda tenant_id: None))
    assert refresher("t1", NOW) and refresher.last_source == "scan"
