"""The composition root of bus ingestion: the ingestion service on the DynamoDB tables
(a forget also removes the contact's values from the observed fields' samples)."""

from __future__ import annotations

from growthos_segments.infra.repos import build_repositories
from growthos_segments.infra.repos.fields import DynamoObservedFields
from growthos_segments.infra.repos.ingest import DynamoIngest
from growthos_segments.infra.settings import Settings
from growthos_segments.services.ingest import IngestService

__all__ = ["build_ingestion"]


def build_ingestion(settings: Settings) -> IngestService:
    """The service the HTTP routes call too, on the deployment ``settings`` names."""
    repos = build_repositories(settings)
    return IngestService(DynamoIngest(repos.contacts, repos.events), retention=settings.event_retention,
                         fields=DynamoObservedFields(repos.client, settings.tables.counters))
