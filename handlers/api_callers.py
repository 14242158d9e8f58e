"""Who calls: the key's identity the authorizer passed, and the team scope of every segment
route. A segment the caller's teams do not see is answered as one that does not exist, on
every route that names one, before the route runs (the routes of other resources need
not know about teams)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from growthos_segments.core.ports_usage import Caller
from growthos_segments.handlers import api_wiring
from growthos_segments.handlers.api_http import app, current_tenant

__all__ = ["current_caller"]


def current_caller() -> Caller:
    """The caller's tenant, key name and teams. A context without ``caller`` or ``teams``
    (a verdict cached before keys had names) is an unnamed key of the whole tenant."""
    authorizer = app.current_event.raw_event["requestContext"].get("authorizer") or {}
    name, teams = authorizer.get("caller"), authorizer.get("teams")
    return Caller(
        tenant_id=current_tenant(),
        name=name if isinstance(name, str) and name else None,
        teams=frozenset(t for t in teams.split(",") if t) if isinstance(teams, str) else frozenset(),
    )


def segment_scope(resolver: ApiGatewayResolver, next_middleware: NextMiddleware) -> Response[Any]:
    segment_id = resolver.context.get("_route_args", {}).get("segment_id")
    if segment_id is not None:
        api_wiring.service().audience.require_visible(current_caller(), segment_id)
    return next_middleware(resolver)


app.use(middlewares=[segment_scope])
