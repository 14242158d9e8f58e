"""The composition root of the real-time functions: ports on AWS, services on top.

Each handler builds its service here once per container: the DynamoDB,
EventBridge and SQS adapters of ``infra`` bundled as
:class:`~growthos_segments.core.ports.RealtimePorts`, the built-in and installed
plugins, and the services of ``services``. Tests, benchmarks and the local
stack build the same thing from their own settings and tables.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from growthos_segments.core.host import PluginHost
from growthos_segments.core.ports import EventPublisher, RealtimePorts
from growthos_segments.infra import aws
from growthos_segments.infra.publisher import EventBridgePublisher
from growthos_segments.infra.queue import SqsBackfillQueue
from growthos_segments.infra.repos import Repositories, build_repositories
from growthos_segments.infra.repos.contexts import DynamoTenantContexts, SampleScanner
from growthos_segments.infra.repos.fields import DynamoObservedFields
from growthos_segments.infra.repos.memberships import ConflictRetrying
from growthos_segments.infra.repos.pairs import DynamoPairStates
from growthos_segments.infra.repos.progress import ProgressStore
from growthos_segments.infra.settings import Settings
from growthos_segments.infra.streams import DynamoStreamRecords
from growthos_segments.plugins import default_host
from growthos_segments.services.realtime import EvaluationService, evaluation_service

__all__ = ["build_service", "dynamodb_ports"]


class _OnFirstUse:
    """A boto3 client built when first called: of the functions sharing this composition,
    only some publish to EventBridge or queue backfills (the stream and backfill workers
    never publish, the stream never queues), and each client built at a cold start that
    is never called costs the start its time."""

    def __init__(self, service: str, settings: Settings) -> None:
        self._service = service
        self._settings = settings

    @cached_property
    def _client(self) -> Any:
        return aws.client(self._service, self._settings)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def dynamodb_ports(repos: Repositories, *, publisher: EventPublisher | None = None) -> RealtimePorts:
    """Every real-time port on the deployment ``repos`` was built for (the EventBridge and SQS
    clients built on their first call)."""
    settings = repos.settings
    if publisher is None:
        publisher = EventBridgePublisher(
            _OnFirstUse("events", settings), settings.event_bus_name, source=settings.event_source
        )
    queue_url = settings.backfill_queue_url
    return RealtimePorts(
        segments=repos.segments,
        views=repos.views,
        pair_states=DynamoPairStates(repos.client, settings.tables),
        memberships=ConflictRetrying(repos.memberships),
        rechecks=repos.rechecks,
        contexts=DynamoTenantContexts(repos.client, settings.tables.counters),
        scanner=SampleScanner(repos.client, settings.tables),
        contacts=repos.contacts,
        progress=ProgressStore(repos.client, settings.tables.counters),
        publisher=publisher,
        records=DynamoStreamRecords(settings.tables),
        backfills=SqsBackfillQueue(_OnFirstUse("sqs", settings), queue_url) if queue_url else None,
        fields=DynamoObservedFields(repos.client, settings.tables.counters),
    )


def build_service(
    settings: Settings,
    *,
    host: PluginHost | None = None,
    repos: Repositories | None = None,
    publisher: EventPublisher | None = None,
    **options: Any,
) -> EvaluationService:
    """The engine for one deployment (``host`` defaults to the installed plugins;
    ``options`` are :func:`~growthos_segments.services.realtime.evaluation_service`'s:
    clock, seqs, verify, confirm_unchanged, context_seconds)."""
    ports = dynamodb_ports(repos or build_repositories(settings), publisher=publisher)
    return evaluation_service(ports, default_host() if host is None else host, **options)
