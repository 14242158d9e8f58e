"""DynamoDB repositories behind the ports in :mod:`growthos_segments.core.ports`.

``build_repositories(settings)`` wires one botocore client (with the moto
endpoint fix and a request counter) into every model, so callers get a
coherent set and ``repos.requests`` reports what any operation cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from growthos_segments.infra import aws
from growthos_segments.infra.aws import RequestCounter
from growthos_segments.infra.models import Models, build_models
from growthos_segments.infra.repos.contacts import ContactRepository, ContactViews, EventRepository
from growthos_segments.infra.repos.history import DynamoSegmentSizes
from growthos_segments.infra.repos.memberships import MembershipRepository
from growthos_segments.infra.repos.progress import ProgressStore
from growthos_segments.infra.repos.rechecks import RecheckRepository
from growthos_segments.infra.repos.segments import SegmentRepository
from growthos_segments.infra.repos.snapshots import SnapshotRepository
from growthos_segments.infra.settings import Settings

__all__ = [
    "ContactRepository",
    "ContactViews",
    "EventRepository",
    "MembershipRepository",
    "RecheckRepository",
    "Repositories",
    "SegmentRepository",
    "SnapshotRepository",
    "build_repositories",
]


@dataclass(frozen=True, slots=True)
class Repositories:
    settings: Settings
    client: Any
    """The botocore DynamoDB client every repository shares."""
    models: Models
    requests: RequestCounter
    contacts: ContactRepository
    events: EventRepository
    views: ContactViews
    segments: SegmentRepository
    memberships: MembershipRepository
    rechecks: RecheckRepository
    snapshots: SnapshotRepository
    sizes: DynamoSegmentSizes
    progress: ProgressStore


def build_repositories(settings: Settings, *, dynamodb_client: Any = None) -> Repositories:
    """Every repository for one deployment, sharing one client and request counter."""
    client = dynamodb_client or aws.client("dynamodb", settings, parameter_validation=False)
    requests = RequestCounter()
    requests.attach(client)
    models = build_models(settings, client)
    return Repositories(
        settings=settings,
        client=client,
        models=models,
        requests=requests,
        contacts=ContactRepository(models),
        events=EventRepository(models, settings),
        views=ContactViews(models, requests),
        segments=SegmentRepository(models, cache_seconds=settings.segment_cache_seconds),
        memberships=MembershipRepository(models, settings),
        rechecks=RecheckRepository(models),
        snapshots=SnapshotRepository(models),
        sizes=DynamoSegmentSizes(client, settings.tables.counters),
        progress=ProgressStore(client, settings.tables.counters),
    )

