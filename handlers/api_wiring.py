"""The audience API's composition root: the service and its adapters, built once per container.

Built on the first request that needs storage (the catalog routes never do),
from the process's settings; tests build their own with :func:`build_service`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, partial

from growthos_segments.core.host import PluginHost
from growthos_segments.core.ports import BackfillQueue
from growthos_segments.handlers.api_http import app
from growthos_segments.infra import aws, publisher
from growthos_segments.infra.idempotency import PowertoolsIdempotency
from growthos_segments.infra.queue import SqsBackfillQueue
from growthos_segments.infra.repos import Repositories, build_repositories, usages
from growthos_segments.infra.repos.audience import AudienceLookupRepository
from growthos_segments.infra.repos.contexts import DynamoTenantContexts
from growthos_segments.infra.repos.samples import SampleReader
from growthos_segments.infra.settings import current_settings
from growthos_segments.plugins import default_host
from growthos_segments.services.audience import Audience, IdempotentCreates
from growthos_segments.services.catalog import SegmentCatalog
from growthos_segments.services.estimate import Estimator

__all__ = ["HOST", "Service", "build_service", "creates", "service"]

HOST: PluginHost = default_host()
"""Built once per container: plugin discovery is pluggy's job at cold start only."""
WALL_CLOCK: Callable[[], datetime] = partial(datetime.now, UTC)


@dataclass(frozen=True)
class Service:
    repos: Repositories
    audience: Audience
    creates: IdempotentCreates
    idempotency: PowertoolsIdempotency


def build_service(
    repos: Repositories,
    *,
    host: PluginHost = HOST,
    clock: Callable[[], datetime] = WALL_CLOCK,
    backfills: BackfillQueue | None = None,
) -> Service:
    """The API's service on the deployment ``repos`` was built for (``backfills``: where
    saves queue their backfills; none by default). The users of a segment are told on the
    deployment's bus that it changed."""
    settings = repos.settings
    contexts = DynamoTenantContexts(repos.client, settings.tables.counters)
    audience = Audience(
        host=host, segments=repos.segments, memberships=repos.memberships, views=repos.views,
        snapshots=repos.snapshots, lookups=AudienceLookupRepository(repos.client, settings.tables),
        contexts=contexts, catalog=SegmentCatalog(repos.segments, host, contexts), sizes=repos.sizes,
        estimator=Estimator(SampleReader(repos.client, settings.tables, repos.contacts)), backfills=backfills,
        segment_cache_seconds=settings.segment_cache_seconds, progress=repos.progress, clock=clock,
        usages=usages.SegmentUsageRepository(repos.models), publisher=publisher.bus_publisher(settings),
    )
    client = aws.client("dynamodb", settings)
    repos.requests.attach(client)
    idempotency = PowertoolsIdempotency(settings.tables.idempotency, client)
    return Service(repos, audience, IdempotentCreates(audience, idempotency), idempotency)


@cache
def service() -> Service:
    settings, url = current_settings(), current_settings().backfill_queue_url
    return build_service(build_repositories(settings),
                         backfills=SqsBackfillQueue(aws.client("sqs", settings), url) if url else None)


def creates() -> IdempotentCreates:
    """The idempotent creates, told how long this invocation has left (Powertools
    expires an in-progress record when the Lambda times out)."""
    built = service()
    built.idempotency.register_lambda_context(app.lambda_context)
    return built.creates
