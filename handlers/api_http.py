"""The audience API's resolver: one Powertools REST resolver every route module registers on.

API Gateway hands a REST API the request path as it was sent, percent-encoded,
so ``%2F`` inside an id stays inside one path segment while routing; each route
parameter is decoded once it is matched (``/contacts/a%2Fb/segments`` is
contact ``a/b``). Bodies are decoded strictly (see :func:`read_json`).
"""

from __future__ import annotations

import json
import sys
from re import Match
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from growthos_segments.handlers.api_cors import CORS
from growthos_segments.infra.keys import InvalidKeyError, check_tenant_id
from growthos_segments.services.audience import ApiError

__all__ = ["ArrayBody", "app", "current_tenant", "json_response", "model_response", "read_json", "tenant_of"]


def _strict_int(text: str) -> int:
    limit = sys.get_int_max_str_digits()
    if len(text.lstrip("-")) > limit:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits (at most {limit} can be read)")
    return int(text)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


class ArrayBody(ValueError):
    """The body is a JSON array (answered 400 by ``growthos_segments.handlers.api_errors``)."""


def read_json(text: str) -> Any:
    """The resolver's body decoder: what ``json.loads`` refuses with a bare ``ValueError``
    (an over-long integer) or accepts beyond JSON (``NaN``, ``Infinity``) becomes the
    ``JSONDecodeError`` the resolver answers with a 400, instead of escaping as a 500.
    A top-level array is refused here too: every body of this API is an object, and the
    resolver would otherwise validate an array's first item as the body."""
    try:
        value = json.loads(text, parse_int=_strict_int, parse_constant=_not_json)
    except json.JSONDecodeError:
        raise
    except ValueError as exc:
        raise json.JSONDecodeError(str(exc), text, 0) from None
    if isinstance(value, list):
        raise ArrayBody("the body is a JSON array")
    return value


class _Resolver(APIGatewayRestResolver):
    def _convert_matches_into_route_keys(self, match: Match[str]) -> dict[str, str]:
        return {name: unquote(value) for name, value in match.groupdict().items()}


app = _Resolver(enable_validation=True, json_body_deserializer=read_json, cors=CORS)


def tenant_of(event: Any) -> str | None:
    """The tenant the authorizer named for this event, ``None`` if it named none (or no valid one)."""
    context = event.get("requestContext") if isinstance(event, dict) else None
    authorizer = context.get("authorizer") if isinstance(context, dict) else None
    tenant = authorizer.get("tenant_id") if isinstance(authorizer, dict) else None
    try:
        return check_tenant_id(tenant)
    except InvalidKeyError:
        return None


def current_tenant() -> str:
    """The caller's tenant (the entry point already refused events without one)."""
    tenant = tenant_of(app.current_event.raw_event)
    if tenant is None:
        raise ApiError("no tenant in the authorizer context")
    return tenant


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        headers=headers,
    )


def model_response(status: int, model: Any) -> Response[Any]:
    """A model (or its dump, as idempotency replays it) with a status; the resolver
    validates it against the route's return annotation and serializes it."""
    payload = model if isinstance(model, dict) else model.model_dump(mode="json")
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=payload)
