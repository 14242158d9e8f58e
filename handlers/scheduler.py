"""Scheduler: every minute, re-evaluate the (segment, contact) pairs whose time has come.

``recheck_at`` is stored for members and non-members alike, indexed by the
minute it falls due (rounded up), so this run reads only what is due — one
Query per tenant shard — and never scans contacts. After the due pairs, it
recomputes stale tenant contexts (RFM thresholds) and queues a backfill of the
segments that read them when they changed.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger

from growthos_segments.infra import aws
from growthos_segments.infra.settings import current_settings
from growthos_segments.services.backfill import BackfillJob, BackfillQueue
from growthos_segments.services.context import ContextRefresher
from growthos_segments.services.evaluation import Scheduler, build_service

__all__ = ["handler"]

logger = Logger(service="growthos-segments-scheduler")


@cache
def scheduler() -> Scheduler:
    """Built on a container's first run and kept (compiled segments live here)."""
    config = current_settings()
    service = build_service(config)
    queue_url = config.backfill_queue_url
    queue = BackfillQueue(aws.client("sqs", config), queue_url) if queue_url else None

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
    reserve = current_settings().scheduler_reserve_seconds
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
