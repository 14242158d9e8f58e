"""The audience API's OpenAPI document, generated from the routes and their models.

Every documented route answers its errors in one shape (``ErrorOut``); the
committed ``openapi.json`` is this document, byte for byte
(``python -m growthos_segments.handlers.api > openapi.json``).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

from growthos_segments.core.api_models import ErrorOut
from growthos_segments.handlers.api_http import app
from growthos_segments.handlers.authorizer import API_KEY_HEADER

__all__ = ["OPENAPI_TITLE", "OPENAPI_VERSION", "openapi_document", "responses"]

OPENAPI_TITLE = "GrowthOS Segment Engine: audience API"
OPENAPI_VERSION = "1.0.0"
_ERRORS: dict[int, dict[str, Any]] = {
    code: {"description": text, "content": {"application/json": {"model": ErrorOut}}}
    for code, text in (
        (400, "the body is not a JSON object, or a cursor is malformed"),
        (401, "missing or unknown API key: send it in the x-api-key header"),
        (404, "no such segment, contact or snapshot in this tenant"),
        (409, "version conflict, archived segment, or a create still in progress"),
        (414, "the address (path and query) is too long: the gateway refuses it before any route"),
        (415, "the request has a body that is not JSON"),
        (422, "a value does not validate (every error, with JSON pointers)"),
    )
}


def responses(status: int = 200, description: str = "OK") -> dict[int, Any]:
    """The success response (schema from the return annotation) and the error ones."""
    return {status: {"description": description}, **_ERRORS}


@cache
def openapi_document() -> str:
    """The OpenAPI document, byte-stable (the committed ``openapi.json`` is compared to it).
    Cached: call it once every route module is imported (``growthos_segments.handlers.api``)."""
    schema = json.loads(app.get_openapi_json_schema(
        title=OPENAPI_TITLE, version=OPENAPI_VERSION,
        security_schemes={"apiKey": APIKey(name=API_KEY_HEADER, in_=APIKeyIn.header)},
        security=[{"apiKey": []}],
    ))
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
