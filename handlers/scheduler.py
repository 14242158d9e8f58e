"""Scheduler: every minute, re-evaluate the (segment, contact) pairs whose time has come.

``recheck_at`` is stored for members and non-members alike, indexed by the
minute it falls due (rounded up), so this run reads only what is due — one
Query per tenant shard — and never scans contacts. After the due pairs, it
recomputes stale tenant contexts (RFM thresholds: over the analytical copy when
the deployment has a fresh one) and queues a backfill of the segments that read
them when they changed
(:class:`growthos_segments.services.context.ContextRefresher`). On its first
run in each hour it also records every segment's size for the history route.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger

from growthos_segments.handlers.copy_wiring import copy_contexts
from growthos_segments.handlers.invocation import time_left
from growthos_segments.handlers.wiring import build_service
from growthos_segments.infra.repos import build_repositories
from growthos_segments.infra.settings import current_settings
from growthos_segments.services.context import ContextRefresher
from growthos_segments.services.history import SizeRecorder
from growthos_segments.services.scheduler import Scheduler

__all__ = ["handler"]

logger = Logger(service="growthos-segments-scheduler")


@cache
def scheduler() -> Scheduler:
    """Built on a container's first run and kept (compiled segments live here)."""
    settings = current_settings()
    repos = build_repositories(settings)
    service = build_service(settings, repos=repos)
    backfills = service.ports.backfills
    refresher = ContextRefresher(service, max_age=settings.context_max_age, backfills=backfills,
                                 copy=copy_contexts(settings, service.host))
    return Scheduler(service, context_refresher=refresher, sizes=SizeRecorder(repos.segments, repos.sizes))


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    reserve = current_settings().scheduler_reserve_seconds
    report = scheduler().run(remaining=time_left(context), reserve=reserve)
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
        "sizes_recorded": report.sizes_recorded,
    }
    logger.info("scheduled re-checks done", extra=summary)
    return summary
