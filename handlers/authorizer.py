"""API Gateway REQUEST authorizer: an API key names exactly one tenant, a name and its teams.

The audience API never trusts a tenant id from the request: this function maps
the caller's API key to its identity and API Gateway passes ``{"tenant_id": ...,
"caller": <key name>, "teams": <team>,<team>...}`` to the API function as
``requestContext.authorizer`` (context values must be strings, so the teams are
one comma-separated string, empty for a key of the whole tenant). A missing or unknown key
raises ``Unauthorized`` (API Gateway's convention for a 401); a known key gets
an Allow policy for every route of the stage it called, so the result can be
cached per key (``ReauthorizeEvery``) without authorizing one route and
replaying it for another.

The keys are the deployment's ``API_KEYS``
(:class:`growthos_segments.infra.settings.ApiKeys`: plain or SHA-256-hashed
keys, compared as digests), read once per container with the rest of the
settings. Settings that do not parse refuse every request, and the reason is
logged, never echoed to callers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)

from growthos_segments.infra.settings import KeyIdentity, SettingsError, current_settings

__all__ = ["API_KEY_HEADER", "handler", "key_from_headers"]

API_KEY_HEADER = "x-api-key"
"""Where callers put their key: the authorizer's identity source in ``template.yaml``.
No other header is read. API Gateway caches a verdict under the identity source's
value, so a key taken from another header would let a request with the same
``x-api-key`` (even an empty one) reuse a verdict it never earned."""

logger = Logger(service="growthos-segments-authorizer")


def key_from_headers(headers: Mapping[str, str] | None) -> str | None:
    """The presented key: the ``x-api-key`` header (any case), or ``None`` if it is empty."""
    lowered = {str(k).lower(): v for k, v in (headers or {}).items() if isinstance(v, str)}
    return lowered.get(API_KEY_HEADER, "").strip() or None


def _identity_for(api_key: str | None) -> KeyIdentity | None:
    try:
        keys = current_settings().api_keys
    except SettingsError as exc:
        logger.error("authorizer misconfigured; refusing every request", extra={"error": str(exc)})
        return None
    return keys.identity_for(api_key) if api_key else None


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = APIGatewayAuthorizerRequestEvent(event)
    api_key = key_from_headers(request.headers)
    identity = _identity_for(api_key)
    if identity is None:
        logger.info("request refused", extra={"key_present": api_key is not None})
        raise Exception("Unauthorized")  # API Gateway turns exactly this message into a 401
    teams = ",".join(sorted(identity.teams))
    context = {"tenant_id": identity.tenant_id, "caller": identity.name, "teams": teams}
    response = APIGatewayAuthorizerResponse.from_route_arn(
        request.method_arn, principal_id=f"tenant:{identity.tenant_id}", context=context
    )
    response.allow_all_routes()  # every method and path of the called stage
    return response.asdict()
