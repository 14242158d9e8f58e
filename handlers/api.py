"""The audience API (API Gateway REST proxy): the Lambda entry point.

A newcomer finds the API in these modules, each small:

- ``api_http``: the one Powertools resolver, strict JSON bodies, the caller's tenant;
- ``api_catalog``, ``api_segments``, ``api_management``, ``api_membership``, ``api_snapshots``,
  ``api_history``: the routes, one module per resource; each parses its request (pydantic models of
  :mod:`growthos_segments.core.api_models`, validated by the resolver), calls one
  method of :class:`growthos_segments.services.audience.Audience` and shapes the
  response;
- ``api_ingest``: other modules' contacts and events, and forgetting a contact
  (:class:`growthos_segments.services.ingest.IngestService`);
- ``api_imports``: CSV imports (an upload address, a queued job, its report;
  :class:`growthos_segments.services.csv_import_jobs.ImportJobs`);
- ``api_exact``: exact counts of draft rules and the impact of an edit, from the analytical
  copy (:class:`growthos_segments.services.exact.ExactCounts`);
- ``api_callers``: the caller's key name and teams, and the team scope of every segment route;
- ``api_gateway`` and ``api_errors``: every refusal in the one error shape (and
  why each status), before and inside the resolver;
- ``api_openapi``: the OpenAPI document, generated from the same models;
- ``api_wiring``: the service and its adapters, built once per container.

The tenant comes only from the authorizer's context
(``requestContext.authorizer.tenant_id``), never from the path, query or body,
so one tenant's key can never name another tenant; an event without one is a
401 before anything else is looked at. The refusals API Gateway makes before
this function runs (a missing or unknown key, ``/``) have the same shape
through the ``GatewayResponses`` of ``template.yaml``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from growthos_segments.handlers import (
    api_catalog,
    api_errors,
    api_exact,
    api_feed,
    api_fields,
    api_history,
    api_imports,
    api_ingest,
    api_management,
    api_membership,
    api_segments,
    api_snapshots,
)
from growthos_segments.handlers.api_cors import cors_headers
from growthos_segments.handlers.api_gateway import refuse_before_resolving
from growthos_segments.handlers.api_http import app
from growthos_segments.handlers.api_openapi import openapi_document

__all__ = ["app", "handler", "openapi_document"]

ROUTES = (
    api_catalog, api_fields, api_segments, api_management, api_membership, api_snapshots, api_history,
    api_feed, api_exact, api_ingest, api_imports, api_errors,
)
"""Importing these modules registers the routes and error handlers on ``app``."""

logger = Logger(service="growthos-segments-api")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    refused = refuse_before_resolving(event)
    if refused is not None:
        refused["multiValueHeaders"].update({k: [v] for k, v in cors_headers(event).items()})
        return refused
    return app.resolve(event, context)


if __name__ == "__main__":  # python -m growthos_segments.handlers.api > openapi.json
    print(openapi_document(), end="")
