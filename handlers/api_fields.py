"""Routes of field help: the attribute paths and event names the caller's tenant has had.

The same per-container :class:`~growthos_segments.services.fields.FieldsService`
answers ``GET /fields`` and gives ``POST /rules/validate`` its warnings, so a
tenant's catalog costs one read per container per minute, not one per request.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from growthos_segments.core.api_models import FieldsOut
from growthos_segments.core.ports import FieldCatalog
from growthos_segments.handlers import api_wiring
from growthos_segments.handlers.api_http import app, current_tenant
from growthos_segments.handlers.api_openapi import responses
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.repos.fields import DynamoObservedFields
from growthos_segments.services.fields import FieldsService

logger = Logger(service="growthos-segments-api")
_built: list[tuple[Repositories, FieldsService]] = []


def fields_service() -> FieldsService:
    """The service over the API's current repositories (one per container)."""
    repos = api_wiring.service().repos
    if not _built or _built[0][0] is not repos:
        store = DynamoObservedFields(repos.client, repos.settings.tables.counters)
        _built[:] = [(repos, FieldsService(store))]
    return _built[0][1]


def advisory_fields(tenant_id: str) -> FieldCatalog:
    """The catalog validation warns from; unreadable, it is empty (no warnings), because
    warnings are advice and a rule's validity never depended on storage."""
    try:
        return fields_service().catalog(tenant_id)
    except (BotoCoreError, ClientError) as error:
        logger.warning("observed fields unreadable, validating without warnings", extra={"error": str(error)})
        return FieldCatalog()


@app.get("/fields", summary="Attribute paths (types, samples) and event names (counts) the tenant has had",
         responses=responses())
def fields() -> FieldsOut:
    return FieldsOut.model_validate(fields_service().catalog(current_tenant()).to_json())
