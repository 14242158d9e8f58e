"""API Gateway REQUEST authorizer: an API key names exactly one tenant.

The audience API never trusts a tenant id from the request: this function maps
the caller's API key to a tenant and API Gateway passes ``{"tenant_id": ...}``
to the API function as ``requestContext.authorizer``. A missing or unknown key
raises ``Unauthorized`` (API Gateway's convention for a 401); a known key gets
an Allow policy for every route of the stage it called, so the result can be
cached per key (``ReauthorizeEvery``) without authorizing one route and
replaying it for another.

Keys come from the ``API_KEYS`` environment variable, a comma-separated list of
``<key>=<tenant>`` or ``sha256:<hex digest of key>=<tenant>`` entries; the
hashed form keeps plaintext keys out of the function configuration. Lookups
compare SHA-256 digests, so the time taken does not depend on how much of a
key matched.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)

from growthos_segments.infra.keys import InvalidKeyError, check_tenant_id

__all__ = ["API_KEY_HEADER", "AuthorizerSettings", "ConfigError", "handler", "key_from_headers"]

API_KEY_HEADER = "x-api-key"
"""Where callers put their key: the authorizer's identity source in ``template.yaml``.
No other header is read. API Gateway caches a verdict under the identity source's
value, so a key taken from another header would let a request with the same
``x-api-key`` (even an empty one) reuse a verdict it never earned."""

logger = Logger(service="growthos-segments-authorizer")


class ConfigError(ValueError):
    """``API_KEYS`` is malformed (the authorizer then refuses every request)."""


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class AuthorizerSettings:
    """Key digests and the tenant each one belongs to."""

    tenants_by_digest: Mapping[str, str]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AuthorizerSettings:
        env = os.environ if env is None else env
        return cls.parse(env.get("API_KEYS", ""))

    @classmethod
    def parse(cls, raw: str) -> AuthorizerSettings:
        tenants: dict[str, str] = {}
        for position, entry in enumerate(part.strip() for part in raw.split(",")):
            if not entry:
                continue
            key, sep, tenant = entry.rpartition("=")
            if not sep or not key or not tenant:
                raise ConfigError(f"API_KEYS entry #{position + 1} is not '<key>=<tenant>'")
            try:
                check_tenant_id(tenant)
            except InvalidKeyError as exc:
                raise ConfigError(f"API_KEYS entry #{position + 1}: {exc}") from None
            if key.startswith("sha256:"):
                digest = key.removeprefix("sha256:").lower()
                if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                    raise ConfigError(f"API_KEYS entry #{position + 1}: not a SHA-256 hex digest")
            else:
                digest = _digest(key)
            if digest in tenants and tenants[digest] != tenant:
                raise ConfigError(f"API_KEYS entry #{position + 1}: key already maps to another tenant")
            tenants[digest] = tenant
        return cls(tenants)

    def tenant_for(self, api_key: str) -> str | None:
        return self.tenants_by_digest.get(_digest(api_key))


def key_from_headers(headers: Mapping[str, str] | None) -> str | None:
    """The presented key: the ``x-api-key`` header (any case), or ``None`` if it is empty."""
    lowered = {str(k).lower(): v for k, v in (headers or {}).items() if isinstance(v, str)}
    return lowered.get(API_KEY_HEADER, "").strip() or None


_settings: AuthorizerSettings | None = None
_config_error: str | None = None


def _load_settings() -> AuthorizerSettings | None:
    """Parsed once per container; a bad configuration is logged, never echoed to callers."""
    global _settings, _config_error
    if _settings is None and _config_error is None:
        try:
            _settings = AuthorizerSettings.from_env()
        except ConfigError as exc:
            _config_error = str(exc)
    if _config_error is not None:
        logger.error("authorizer misconfigured; refusing every request", extra={"error": _config_error})
    return _settings


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = APIGatewayAuthorizerRequestEvent(event)
    settings = _load_settings()
    api_key = key_from_headers(request.headers)
    tenant = settings.tenant_for(api_key) if settings is not None and api_key else None
    if tenant is None:
        logger.info("request refused", extra={"key_present": api_key is not None})
        raise Exception("Unauthorized")  # API Gateway turns exactly this message into a 401
    response = APIGatewayAuthorizerResponse.from_route_arn(
        request.method_arn, principal_id=f"tenant:{tenant}", context={"tenant_id": tenant}
    )
    response.allow_all_routes()  # every method and path of the called stage
    return response.asdict()
