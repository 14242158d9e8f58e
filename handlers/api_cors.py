"""CORS of the audience API: the origins a web app's pages may call it from.

The origins are the deployment's ``CORS_ORIGINS``
(:class:`growthos_segments.infra.settings.Settings`), read when a request carries
an ``Origin``, not at import: the OpenAPI document is written by importing the
API with no deployment. A listed origin is echoed with ``Vary: Origin``; any
other gets no CORS header, so its page cannot read the answer. On AWS, API
Gateway answers preflights and its own refusals with the same origin
(``Cors`` and ``GatewayResponses`` of ``template.yaml``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import CORSConfig

from growthos_segments.infra.settings import current_settings

__all__ = ["CORS", "cors_headers"]


class _SettingsCors(CORSConfig):
    def __init__(self) -> None:
        # "*" only gets the parent's own check out of the way: allowed_origin filters first.
        super().__init__(allow_origin="*", allow_headers=["Idempotency-Key"], max_age=600)

    def allowed_origin(self, extracted_origin: str | None) -> str | None:
        return extracted_origin if extracted_origin in current_settings().cors_origins else None

    def to_dict(self, origin: str | None) -> dict[str, str]:
        if self.allowed_origin(origin) is None:
            return {}
        return {**super().to_dict(origin), "Vary": "Origin"}


CORS = _SettingsCors()


def cors_headers(event: Any) -> dict[str, str]:
    """The CORS headers for an answer made outside the resolver (refusals before it)."""
    headers = event.get("headers") if isinstance(event, dict) else None
    origin = next((v for k, v in (headers or {}).items() if str(k).lower() == "origin"), None)
    return CORS.to_dict(origin if isinstance(origin, str) else None)
