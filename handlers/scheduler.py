"""Scheduler: every minute, re-evaluate the (segment, contact) pairs whose time has come.

``recheck_at`` is stored for members and non-members alike, indexed by the
minute it falls due (rounded up), so this run reads only what is due — one
Query per tenant shard — and never scans contacts. After the due pairs, it
recomputes stale tenant contexts (RFM thresholds) and queues a backfill of the
segments that read them when they changed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger

from growthos_segments.infra import aws
from growthos_segments.infra.settings import Settings, SettingsError
from growthos_segments.services.backfill import BackfillJob, BackfillQueue
from growthos_segments.services.context import ContextRefresher
from growthos_segments.services.evaluation import Scheduler, build_service

__all__ = ["SchedulerSettings", "handler"]

logger = Logger(service="growthos-segments-scheduler")


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    base: Settings
    context_max_age: timedelta = timedelta(hours=24)
    """Tenant contexts older than this are recomputed (CONTEXT_REFRESH_HOURS)."""
    reserve_seconds: float = 5.0
    """Stop this long before the function's time-out; the rest is due next minute."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SchedulerSettings:
        env = os.environ if env is None else env
        raw = env.get("CONTEXT_REFRESH_HOURS") or "24"
        try:
            hours = float(raw)
        except ValueError:
            raise SettingsError(f"CONTEXT_REFRESH_HOURS must be a number, got {raw!r}") from None
        return cls(Settings.from_env(env), context_max_age=timedelta(hours=hours))


@cache
def settings() -> SchedulerSettings:
    return SchedulerSettings.from_env()


@cache
def scheduler() -> Scheduler:
    """Built on a container's first run and kept (compiled segments live here)."""
    config = settings()
    service = build_service(config.base)
    queue_url = config.base.backfill_queue_url
    queue = BackfillQueue(aws.client("sqs", config.base), queue_url) if queue_url else None

    def backfill_readers(tenant_id: str, segment_ids: list[str]) -> None:
        if queue is None:
            logger.warning("tenant context changed but no backfill queue is configured",
                           extra={"tenant_id": tenant_id})
            return
        versions = service.segments.for_tenant(tenant_id).versions
        queue.send([BackfillJob(tenant_id, sid, versions[sid]) for sid in segment_ids if sid in versions])

    refresher = ContextRefresher(service, max_age=config.context_max_age, on_changed=backfill_readers)
    return Scheduler(service, context_refresher=refresher)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    getter = getattr(context, "get_remaining_time_in_millis", None)
    reserve = settings().reserve_seconds
    report = scheduler().run(remaining=(lambda: getter() / 1000) if getter else None, reserve=reserve)
    summary = {
        "now": report.now.isoformat(),
        "tenants": report.tenants,
        "due": report.due,
        "contacts": report.contacts,
        "entered": report.entered,
        "exited": report.exited,
        "failures": report.failures,
        "complete": report.complete,
        "contexts_refreshed": report.contexts_refreshed,
    }
    logger.info("scheduled re-checks done", extra=summary)
    return summary
