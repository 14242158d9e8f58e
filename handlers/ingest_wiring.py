"""The composition root of bus ingestion: the ingestion service on the DynamoDB tables
(a forget also removes the contact's values from the observed fields' samples)."""

from __future__ import annotations

from growthos_segments.infra.repos import Repositories, build_repositories
from growthos_segments.infra.repos.fields import DynamoObservedFields
from growthos_segments.infra.repos.ingest import DynamoIngest
from growthos_segments.infra.settings import Settings
from growthos_segments.services.ingest import IngestService

__all__ = ["build_ingestion", "ingestion_on"]


def build_ingestion(settings: Settings) -> IngestService:
    """The service on the deployment ``settings`` names (the bus function's)."""
    return ingestion_on(build_repositories(settings))


def ingestion_on(repos: Repositories) -> IngestService:
    """The service on ``repos`` (no I/O to build): the bus function's and the HTTP routes'."""
    return IngestService(DynamoIngest(repos.contacts, repos.events), retention=repos.settings.event_retention,
                         fields=DynamoObservedFields(repos.client, repos.settings.tables.counters))
