"""The audience API (API Gateway REST proxy, Powertools resolver).

Routes that exist today: ``GET /health``, ``GET /condition-types``,
``GET /templates`` and ``POST /rules/validate``; the audience API issue adds
segments, members, counts, estimates and explanations to this same resolver.

The tenant comes only from the authorizer's context
(``requestContext.authorizer.tenant_id``), never from the path, query or body,
so one tenant's key can never name another tenant. Bad input is always a 4xx
with a JSON body saying what is wrong; a 500 means a bug here.
"""

from __future__ import annotations

import binascii
import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, UnauthorizedError

from core.errors import RuleValidationError
from core.host import PluginHost
from core.rules import parse_rule, rule_reads, to_json
from infra.keys import InvalidKeyError, check_tenant_id
from plugins import default_host

__all__ = ["app", "handler"]

logger = Logger(service="growthos-segments-api")
app = APIGatewayRestResolver(enable_validation=True)

_HOST: PluginHost = default_host()
"""Built once per container: plugin discovery is pluggy's job at cold start only."""


def current_tenant() -> str:
    """The caller's tenant from the authorizer context; 401 when absent or malformed."""
    context = app.current_event.raw_event.get("requestContext")
    authorizer = context.get("authorizer") if isinstance(context, dict) else None
    tenant = authorizer.get("tenant_id") if isinstance(authorizer, dict) else None
    try:
        return check_tenant_id(tenant)
    except InvalidKeyError:
        raise UnauthorizedError("no tenant in the authorizer context") from None


def _json_body() -> Any:
    try:
        text = app.current_event.decoded_body
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequestError("body is not valid base64-encoded UTF-8") from None
    if not text:
        raise BadRequestError("a JSON body is required")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise BadRequestError(f"body is not valid JSON: {exc.msg} ({where})") from None
    except RecursionError:
        raise BadRequestError("body JSON is nested too deeply") from None


def _json(status: int, payload: Any) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
    )


@app.get("/health")
def health() -> dict[str, Any]:
    """Liveness only; the authorizer in front of it already proved the key."""
    return {"status": "ok", "condition_types": len(_HOST.condition_types)}


@app.get("/condition-types")
def condition_types() -> dict[str, Any]:
    current_tenant()
    return {"condition_types": _HOST.catalog()}


@app.get("/templates")
def templates() -> dict[str, Any]:
    current_tenant()
    return {"templates": _HOST.list_templates()}


@app.post("/rules/validate")
def validate_rule() -> Response[Any]:
    """``{"rule": <rule>}`` -> 200 with the normal form and what it reads, or 422
    with every error (JSON pointer into the rule, message, suggestion)."""
    current_tenant()
    body = _json_body()
    if not isinstance(body, dict) or "rule" not in body:
        raise BadRequestError('body must be a JSON object with a "rule" member')
    try:
        node = parse_rule(body["rule"], _HOST)
    except RuleValidationError as exc:
        errors = [{"path": e.path, "message": e.message, "suggestion": e.suggestion} for e in exc.errors]
        return _json(422, {"valid": False, "errors": errors})
    return _json(200, {"valid": True, "normalized": to_json(node), "reads": rule_reads(node).to_json()})


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
