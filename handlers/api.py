"""The audience API (API Gateway REST proxy, one Powertools resolver).

Each route parses its request (pydantic models of :mod:`growthos_segments.core.api_models`,
validated by the resolver), calls one method of :class:`growthos_segments.services.audience.Audience`
and shapes the response; the OpenAPI document at ``/openapi.json`` is generated
from the same models (and committed as ``openapi.json``).

The tenant comes only from the authorizer's context
(``requestContext.authorizer.tenant_id``), never from the path, query or body,
so one tenant's key can never name another tenant; an event without one is a
401 before anything else is looked at. Bad input is always a 4xx with a JSON
body ``{"message", "errors": [{"location", "path", "message", "suggestion"}]}``
(``path`` a JSON pointer into the body, query or path): 400 for a body that is
not a JSON object, 404 for ids this tenant does not have and paths the API does
not have, 405 (with ``Allow``) for a method a path does not have, 409 for
version and state conflicts, 415 for a body that is not JSON, 422 for values
that do not validate. A 500 means a bug here. The refusals API Gateway makes
before this function runs (a missing or unknown key, ``/``) have the same shape
through the ``GatewayResponses`` of ``template.yaml``.

Bodies are JSON. They are read as JSON whatever the Content-Type says when it
is a form or text type (``curl -d`` sends ``application/x-www-form-urlencoded``
by default, and refusing every README-style request helps nobody); a body of
any other type (XML, multipart, ...) is a 415 in the error shape above. A body
Python cannot decode as JSON (bad syntax, invalid UTF-8, ``NaN``, an integer
longer than Python's 4,300-digit conversion limit) is a 400.
"""

from __future__ import annotations

import binascii
import json
import os
import re
import sys
from dataclasses import dataclass
from functools import cache
from re import Match
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query

from growthos_segments.core.api_models import (
    MAX_VERSION,
    ConditionTypesOut,
    ContactSegmentsOut,
    CountOut,
    ErrorOut,
    EstimateIn,
    EstimateOut,
    ExplainOut,
    MembershipOut,
    MembersOut,
    SegmentCreate,
    SegmentListOut,
    SegmentOut,
    SegmentUpdate,
    SnapshotContactsOut,
    SnapshotIn,
    SnapshotListOut,
    SnapshotOut,
    TemplatesOut,
    ValidateIn,
    ValidateOut,
)
from growthos_segments.core.host import PluginHost
from growthos_segments.handlers.authorizer import API_KEY_HEADER
from growthos_segments.infra.keys import InvalidKeyError, check_tenant_id
from growthos_segments.plugins import default_host
from growthos_segments.services.audience import ApiError, Audience, IdempotentCreates, located, validate

__all__ = ["app", "handler", "openapi_document"]

logger = Logger(service="growthos-segments-api")


def _strict_int(text: str) -> int:
    limit = sys.get_int_max_str_digits()
    if len(text.lstrip("-")) > limit:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits (at most {limit} can be read)")
    return int(text)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


class _ArrayBody(ValueError):
    """The body is a JSON array (answered 400 by the handler registered below)."""


def _read_json(text: str) -> Any:
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
        raise _ArrayBody("the body is a JSON array")
    return value


class _Resolver(APIGatewayRestResolver):
    """API Gateway hands a REST API the request path as it was sent, percent-encoded, so
    ``%2F`` inside an id stays inside one path segment while routing; each route
    parameter is decoded once it is matched (``/contacts/a%2Fb/segments`` is contact
    ``a/b``)."""

    def _convert_matches_into_route_keys(self, match: Match[str]) -> dict[str, str]:
        return {name: unquote(value) for name, value in match.groupdict().items()}


app = _Resolver(enable_validation=True, json_body_deserializer=_read_json)

_HOST: PluginHost = default_host()
"""Built once per container: plugin discovery is pluggy's job at cold start only."""

OPENAPI_TITLE = "GrowthOS Segment Engine: audience API"
OPENAPI_VERSION = "1.0.0"
_ERRORS: dict[int, dict[str, Any]] = {
    code: {"description": text, "content": {"application/json": {"model": ErrorOut}}}
    for code, text in (
        (400, "the body is not a JSON object, or a cursor is malformed"),
        (401, "missing or unknown API key: send it in the x-api-key header"),
        (404, "no such segment, contact or snapshot in this tenant"),
        (409, "version conflict, archived segment, or a create still in progress"),
        (415, "the request has a body that is not JSON"),
        (422, "a value does not validate (every error, with JSON pointers)"),
    )
}


def _responses(status: int = 200, description: str = "OK") -> dict[int, Any]:
    """The success response (schema from the return annotation) and the error ones."""
    return {status: {"description": description}, **_ERRORS}


# --- wiring --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    audience: Audience
    creates: IdempotentCreates


@cache
def service() -> Service:
    """Built on the first request that needs AWS (catalog routes never do)."""
    from growthos_segments.infra import aws
    from growthos_segments.infra.repos import build_repositories
    from growthos_segments.infra.settings import Settings
    from growthos_segments.services.backfill import start_backfill

    settings = Settings.from_env()
    repos = build_repositories(settings)

    def backfill(tenant_id: str, segment_id: str, version: int) -> str:
        if not settings.backfill_queue_url:
            return "none"
        start_backfill(settings, tenant_id, segment_id, version)
        return "queued"

    audience = Audience(repos, _HOST, start_backfill=backfill)
    idempotency = aws.client("dynamodb", settings)
    repos.requests.attach(idempotency)
    return Service(audience, IdempotentCreates(audience, settings.tables.idempotency, idempotency))


def current_tenant() -> str:
    """The caller's tenant from the authorizer context (checked again in :func:`handler`)."""
    tenant = _tenant_of(app.current_event.raw_event)
    if tenant is None:
        raise ApiError("no tenant in the authorizer context")
    return tenant


def _tenant_of(event: Any) -> str | None:
    context = event.get("requestContext") if isinstance(event, dict) else None
    authorizer = context.get("authorizer") if isinstance(context, dict) else None
    tenant = authorizer.get("tenant_id") if isinstance(authorizer, dict) else None
    try:
        return check_tenant_id(tenant)
    except InvalidKeyError:
        return None


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        headers=headers,
    )


def _model(status: int, model: Any) -> Response[Any]:
    """A model (or its dump, as idempotency replays it) with a status; the resolver
    validates it against the route's return annotation and serializes it."""
    payload = model if isinstance(model, dict) else model.model_dump(mode="json")
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=payload)


# --- errors --------------------------------------------------------------------------------


@app.exception_handler(ApiError)
def _api_error(error: ApiError) -> Response[Any]:
    return _json(error.status, error.body())


_NOT_AN_OBJECT = frozenset({"model_attributes_type", "dict_type", "missing", "json_invalid", "model_type"})


@app.exception_handler(RequestValidationError)
def _validation_error(error: RequestValidationError) -> Response[Any]:
    """Pydantic's errors as located entries: 400 when the body is not a JSON object
    at all, 422 when its values do not validate."""
    errors = []
    unreadable = False
    for item in error.errors():
        loc = [str(part) for part in item.get("loc", ())]
        location = loc[0] if loc and loc[0] in ("body", "query", "path", "header") else "request"
        rest = loc[1:] if location != "request" else loc
        if location == "body" and len(rest) <= 1 and item.get("type") in _NOT_AN_OBJECT and (
            not rest or item.get("type") == "json_invalid" or rest[0] in ("body", "request")
        ):
            unreadable = True
        if item.get("type") == "json_invalid":
            message = f"body is not valid JSON: {(item.get('ctx') or {}).get('error', 'decode error')}"
            errors.append(located("body", "", message))
            continue
        pointer = "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in rest)
        errors.append(located(location, pointer, str(item.get("msg", "invalid value"))))
    if unreadable:
        return _json(400, {"message": "the body must be a JSON object", "errors": errors})
    return _json(422, {"message": "the request does not validate", "errors": errors})


@app.exception_handler([UnicodeDecodeError, binascii.Error, RecursionError])
def _unreadable_body(error: Exception) -> Response[Any]:
    message = "body JSON is nested too deeply" if isinstance(error, RecursionError) else (
        "body is not valid base64-encoded UTF-8")
    return _json(400, {"message": message, "errors": [located("body", "", message)]})


@app.exception_handler(_ArrayBody)
def _array_body(error: _ArrayBody) -> Response[Any]:
    errors = [located("body", "", str(error))]
    return _json(400, {"message": "the body must be a JSON object", "errors": errors})


@cache
def _documented_paths() -> list[tuple[re.Pattern[str], list[str]]]:
    """Each path of the OpenAPI document as a pattern over the path as sent, with its methods."""
    found = []
    for route, item in json.loads(openapi_document())["paths"].items():
        pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(route))
        found.append((re.compile(f"^{pattern}/*$"), sorted(method.upper() for method in item)))
    return found


@app.not_found
def _no_route(error: NotFoundError) -> Response[Any]:
    """405 with ``Allow`` for a path the API has with other methods, else 404."""
    path, method = app.current_event.path, app.current_event.http_method.upper()
    allowed = sorted({m for pattern, methods in _documented_paths() if pattern.match(path) for m in methods})
    if allowed:
        message = f"{method[:20]} is not allowed here; use {', '.join(allowed)}"
        return _json(405, {"message": "method not allowed", "errors": [located("request", "", message)]},
                     headers={"Allow": ", ".join(allowed)})
    return _json(404, {"message": "no such route", "errors": [located("path", "", f"no route for {path}")]})


# --- catalog and rules ---------------------------------------------------------------------


@app.get("/health", include_in_schema=False)
def health() -> dict[str, Any]:
    """Liveness only; the authorizer in front of it already proved the key."""
    return {"status": "ok", "condition_types": len(_HOST.condition_types)}


@app.get("/openapi.json", include_in_schema=False)
def openapi_json() -> Response[Any]:
    return Response(200, content_types.APPLICATION_JSON, openapi_document())


@app.get("/condition-types", summary="The condition-type catalog for the rule builder",
         responses=_responses())
def condition_types() -> ConditionTypesOut:
    current_tenant()
    return ConditionTypesOut(condition_types=_HOST.catalog())


@app.get("/templates", summary="Pre-built segments", responses=_responses())
def templates() -> TemplatesOut:
    current_tenant()
    return TemplatesOut(templates=[dict(t) for t in _HOST.list_templates()])


@app.post(
    "/rules/validate",
    summary="Validate a rule: every error with a JSON pointer into the rule",
    responses={**_responses(), 422: {
        "description": "the rule is invalid (ValidateOut: valid false, every error with a pointer into "
        "the rule), or the request is (ErrorOut, e.g. no rule at all)",
        "content": {"application/json": {"schema": {"anyOf": [
            {"$ref": "#/components/schemas/ValidateOut"}, {"$ref": "#/components/schemas/ErrorOut"}]}}},
    }},
)
def validate_rule(body: Annotated[ValidateIn, Body()]) -> Response[ValidateOut]:
    current_tenant()
    result = validate(_HOST, body.rule)
    return _model(200 if result.valid else 422, result)


@app.post("/rules/estimate", summary="Estimated size of an unsaved rule (95% interval)",
          responses=_responses())
def estimate_rule(body: Annotated[EstimateIn, Body()]) -> EstimateOut:
    return service().audience.estimate(current_tenant(), body)


# --- segments ------------------------------------------------------------------------------

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=255,
           description="replays the first response to a retried create for 24 h"),
]


@app.post("/segments", summary="Create a segment (starts its backfill)", responses=_responses(201, "Created"))
def create_segment(
    body: Annotated[SegmentCreate, Body()], idempotency_key: IdempotencyKey = None
) -> Response[SegmentOut]:
    tenant = current_tenant()
    if idempotency_key:
        return _model(201, service().creates.create_segment(tenant, idempotency_key, body))
    return _model(201, service().audience.create_segment(tenant, body))


@app.get("/segments", summary="List segments (embedded ones only with type=embedded)", responses=_responses())
def list_segments(
    include_archived: Annotated[bool, Query()] = False,
    type: Annotated[Literal["shared", "embedded", "pinned", "static"] | None, Query()] = None,
) -> SegmentListOut:
    return service().audience.list_segments(current_tenant(), include_archived=include_archived,
                                            segment_type=type)


@app.get("/segments/<segment_id>", summary="Get a segment", responses=_responses())
def get_segment(segment_id: str) -> SegmentOut:
    return service().audience.get_segment(current_tenant(), segment_id)


@app.put("/segments/<segment_id>", summary="Replace a segment's definition (new version, backfill)",
         responses=_responses())
def update_segment(segment_id: str, body: Annotated[SegmentUpdate, Body()]) -> SegmentOut:
    return service().audience.update_segment(current_tenant(), segment_id, body)


@app.delete("/segments/<segment_id>", summary="Archive a segment", responses=_responses())
def archive_segment(
    segment_id: str, version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None
) -> SegmentOut:
    return service().audience.archive_segment(current_tenant(), segment_id, version)


# --- membership ----------------------------------------------------------------------------


@app.get("/segments/<segment_id>/members", summary="Current members, paged", responses=_responses())
def members(
    segment_id: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> MembersOut:
    return service().audience.members(current_tenant(), segment_id, limit=limit, cursor=cursor)


@app.get("/segments/<segment_id>/count", summary="Live member count", responses=_responses())
def count(segment_id: str) -> CountOut:
    return service().audience.count(current_tenant(), segment_id)


@app.get("/segments/<segment_id>/members/<contact_id>", summary="Is this contact a member, since when",
         responses=_responses())
def membership(segment_id: str, contact_id: str) -> MembershipOut:
    return service().audience.membership(current_tenant(), segment_id, contact_id)


@app.get("/contacts/<contact_id>/segments", summary="Every segment a contact is in", responses=_responses())
def contact_segments(contact_id: str) -> ContactSegmentsOut:
    return service().audience.contact_segments(current_tenant(), contact_id)


@app.post("/segments/<segment_id>/explain/<contact_id>",
          summary="Evaluate now and explain why the contact is or is not a member", responses=_responses())
def explain(segment_id: str, contact_id: str) -> ExplainOut:
    return service().audience.explain(current_tenant(), segment_id, contact_id)


# --- snapshots -----------------------------------------------------------------------------


@app.post("/segments/<segment_id>/snapshots", summary="Freeze the audience now, with its breakdown",
          responses=_responses(201, "Created"))
def create_snapshot(
    segment_id: str,
    body: Annotated[SnapshotIn | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response[SnapshotOut]:
    tenant = current_tenant()
    request = body or SnapshotIn()
    if idempotency_key:
        return _model(201, service().creates.create_snapshot(tenant, segment_id, idempotency_key, request))
    return _model(201, service().audience.create_snapshot(tenant, segment_id, request))


@app.get("/segments/<segment_id>/snapshots", summary="Snapshots of a segment, newest first",
         responses=_responses())
def list_snapshots(
    segment_id: str,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> SnapshotListOut:
    return service().audience.list_snapshots(current_tenant(), segment_id, limit=limit, cursor=cursor)


@app.get("/segments/<segment_id>/snapshots/<snapshot_id>", summary="One snapshot's breakdown",
         responses=_responses())
def get_snapshot(segment_id: str, snapshot_id: str) -> SnapshotOut:
    return service().audience.get_snapshot(current_tenant(), segment_id, snapshot_id)


@app.get("/segments/<segment_id>/snapshots/<snapshot_id>/contacts",
         summary="A snapshot's contact ids of one category, paged", responses=_responses())
def snapshot_contacts(
    segment_id: str,
    snapshot_id: str,
    category: Annotated[
        Literal["all", "addressable", "bounced", "unsubscribed", "spam", "no_email"], Query()
    ] = "all",
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> SnapshotContactsOut:
    return service().audience.snapshot_contacts(current_tenant(), segment_id, snapshot_id,
                                                category=category, cursor=cursor)


# --- entry point ---------------------------------------------------------------------------


@cache
def openapi_document() -> str:
    """The OpenAPI document, byte-stable (the committed ``openapi.json`` is compared to it)."""
    schema = json.loads(app.get_openapi_json_schema(
        title=OPENAPI_TITLE, version=OPENAPI_VERSION,
        security_schemes={"apiKey": APIKey(name=API_KEY_HEADER, in_=APIKeyIn.header)},
        security=[{"apiKey": []}],
    ))
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


_READ_AS_JSON = frozenset({"application/json", "application/x-www-form-urlencoded", "text/plain"})


def _error_response(status: int, message: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
    """A proxy response in the error shape, for refusals made before the resolver runs."""
    return {
        "statusCode": status,
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "body": json.dumps({"message": message, "errors": errors}, ensure_ascii=False),
        "isBase64Encoded": False,
    }


def _content_type_headers(event: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """Every ``(headers dict, key)`` holding the Content-Type, single- and multi-value."""
    found = []
    for field in ("headers", "multiValueHeaders"):
        headers = event.get(field)
        if isinstance(headers, dict):
            found.extend((headers, name) for name in headers if str(name).lower() == "content-type")
    return found


def _refuse_non_json_body(event: dict[str, Any]) -> dict[str, Any] | None:
    """A 415 for a body of a type that is not read as JSON; otherwise the Content-Type is
    made ``application/json`` so the resolver parses the body as JSON (and never reaches
    its form or multipart parsers, which this API does not offer). An empty body has no
    type to check: the route then answers for the missing body."""
    places = _content_type_headers(event)
    media = ""
    for headers, name in places:
        value = headers[name]
        first = value[0] if isinstance(value, list) and value else value
        if isinstance(first, str):
            media = first.split(";")[0].strip().lower()
            break
    if event.get("body") and media and media not in _READ_AS_JSON and not media.endswith("+json"):
        return _error_response(415, "the body must be JSON", [
            located("header", "/Content-Type", f"send the body as application/json, not {media[:100]}")])
    for headers, name in places:
        headers[name] = ["application/json"] if isinstance(headers[name], list) else "application/json"
    return None


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if _tenant_of(event) is None:
        return _error_response(401, "no tenant in the authorizer context", [located(
            "header", f"/{API_KEY_HEADER}", "the authorizer did not name a tenant for this request's key")])
    refused = _refuse_non_json_body(event)
    if refused is not None:
        return refused
    if os.environ.get("IDEMPOTENCY_TABLE"):
        service().creates.register_lambda_context(context)
    return app.resolve(event, context)


if __name__ == "__main__":  # python -m growthos_segments.handlers.api > openapi.json
    print(openapi_document(), end="")
