"""The audience API's composition root: the service and its adapters, built once per container.

Built on the first request that needs storage (the catalog routes never do),
from the process's settings; tests build their own with :func:`build_service`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from growthos_segments.core.host import PluginHost
from growthos_segments.handlers.api_http import app
from growthos_segments.infra import aws
from growthos_segments.infra.idempotency import PowertoolsIdempotency
from growthos_segments.infra.repos import Repositories, build_repositories
from growthos_segments.infra.repos.audience import AudienceLookupRepository
from growthos_segments.infra.repos.samples import SampleReader
from growthos_segments.infra.settings import Settings, current_settings
from growthos_segments.plugins import default_host
from growthos_segments.services.audience import Audience, IdempotentCreates
from growthos_segments.services.backfill import start_backfill
from growthos_segments.services.context import TenantContexts
from growthos_segments.services.estimate import Estimator
from growthos_segments.services.evaluation import TenantSegmentCache

__all__ = ["HOST", "Service", "build_service", "creates", "service"]

HOST: PluginHost = default_host()
"""Built once per container: plugin discovery is pluggy's job at cold start only."""


@dataclass(frozen=True)
class Service:
    repos: Repositories
    audience: Audience
    creates: IdempotentCreates
    idempotency: PowertoolsIdempotency


def _queue_backfill(settings: Settings) -> Callable[[str, str, int], str] | None:
    """Every save queues its backfill when the deployment has a backfill queue."""
    if not settings.backfill_queue_url:
        return None

    def start(tenant_id: str, segment_id: str, version: int) -> str:
        start_backfill(settings, tenant_id, segment_id, version)
        return "queued"

    return start


def build_service(
    repos: Repositories,
    *,
    host: PluginHost = HOST,
    clock: Callable[[], datetime] | None = None,
    start_backfill: Callable[[str, str, int], str] | None = None,
) -> Service:
    settings = repos.settings
    contexts = TenantContexts(repos)
    samples = SampleReader(repos.client, settings.tables, repos.contacts)
    optional: dict[str, Any] = {} if clock is None else {"clock": clock}
    audience = Audience(
        host=host, segments=repos.segments, memberships=repos.memberships, views=repos.views,
        snapshots=repos.snapshots, lookups=AudienceLookupRepository(repos.client, settings.tables),
        contexts=contexts, compiled=TenantSegmentCache(repos.segments, host, contexts),
        estimator=Estimator(samples), start_backfill=start_backfill, **optional,
    )
    client = aws.client("dynamodb", settings)
    repos.requests.attach(client)
    idempotency = PowertoolsIdempotency(settings.tables.idempotency, client)
    return Service(repos, audience, IdempotentCreates(audience, idempotency), idempotency)


@cache
def service() -> Service:
    settings = current_settings()
    return build_service(build_repositories(settings), start_backfill=_queue_backfill(settings))


def creates() -> IdempotentCreates:
    """The idempotent creates, told how long this invocation has left (Powertools
    expires an in-progress record when the Lambda times out)."""
    built = service()
    built.idempotency.register_lambda_context(app.lambda_context)
    return built.creates
