"""What a route raises, answered in the audience API's one error shape.

The shape: ``{"message", "errors": [{"location", "path", "message",
"suggestion"}]}``, ``path`` a JSON pointer into the body, query or path. 400 for
a body that is not a JSON object, 404 for ids this tenant does not have, 409 for
version and state conflicts, 422 for values that do not validate (the
:class:`growthos_segments.services.audience.ApiError` a service raises carries
its status). Refusals made before a route runs (401, 404 and 405 for paths and
methods, 415) are ``growthos_segments.handlers.api_gateway``'s. A 500 means a bug.
"""

from __future__ import annotations

import binascii
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from growthos_segments.core.errors import pointer
from growthos_segments.handlers.api_http import ArrayBody, app, json_response
from growthos_segments.services.audience import ApiError, located

__all__: list[str] = []
"""Importing this module registers the handlers on ``app``."""

_NOT_AN_OBJECT = frozenset({"model_attributes_type", "dict_type", "missing", "json_invalid", "model_type"})


@app.exception_handler(ApiError)
def _api_error(error: ApiError) -> Response[Any]:
    return json_response(error.status, error.body())


@app.exception_handler(RequestValidationError)
def _validation_error(error: RequestValidationError) -> Response[Any]:
    """400 when the body is not a JSON object at all, 422 when its values do not validate."""
    errors, unreadable = [], False
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
        errors.append(located(location, pointer(rest), str(item.get("msg", "invalid value"))))
    if unreadable:
        return json_response(400, {"message": "the body must be a JSON object", "errors": errors})
    return json_response(422, {"message": "the request does not validate", "errors": errors})


@app.exception_handler([UnicodeDecodeError, binascii.Error, RecursionError])
def _unreadable_body(error: Exception) -> Response[Any]:
    message = "body JSON is nested too deeply" if isinstance(error, RecursionError) else (
        "body is not valid base64-encoded UTF-8")
    return json_response(400, {"message": message, "errors": [located("body", "", message)]})


@app.exception_handler(ArrayBody)
def _array_body(error: ArrayBody) -> Response[Any]:
    errors = [located("body", "", str(error))]
    return json_response(400, {"message": "the body must be a JSON object", "errors": errors})
