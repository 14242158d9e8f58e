"""Refusals made before a route runs, in the audience API's one error shape.

An event without a tenant is a 401 before anything else is looked at. A path
the API does not have is a 404, a method a path does not have a 405 with
``Allow`` (both read from the OpenAPI document). Bodies are JSON: they are read
as JSON whatever the Content-Type says when it is a form or text type (``curl
-d`` sends ``application/x-www-form-urlencoded`` by default, and refusing every
README-style request helps nobody); a body of any other type (XML, multipart,
...) is a 415.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from growthos_segments.handlers.api_http import app, json_response, tenant_of
from growthos_segments.handlers.api_openapi import openapi_document
from growthos_segments.handlers.authorizer import API_KEY_HEADER
from growthos_segments.services.audience import located

__all__ = ["refuse_before_resolving"]

_READ_AS_JSON = frozenset({"application/json", "application/x-www-form-urlencoded", "text/plain"})


def _proxy_error(status: int, message: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
    """A proxy response in the error shape, for refusals made before the resolver runs."""
    return {"statusCode": status, "multiValueHeaders": {"Content-Type": ["application/json"]},
            "body": json.dumps({"message": message, "errors": errors}, ensure_ascii=False),
            "isBase64Encoded": False}


def refuse_before_resolving(event: dict[str, Any]) -> dict[str, Any] | None:
    """401 for an event without a tenant; 415 for a body of a type not read as JSON.
    Otherwise the Content-Type is made ``application/json`` so the resolver parses the
    body as JSON (and never reaches its form or multipart parsers, which this API does
    not offer); an empty body has no type to check: the route answers for it."""
    if tenant_of(event) is None:
        return _proxy_error(401, "no tenant in the authorizer context", [located(
            "header", f"/{API_KEY_HEADER}", "the authorizer did not name a tenant for this request's key")])
    places = [(headers, name) for field in ("headers", "multiValueHeaders")
              if isinstance(headers := event.get(field), dict)
              for name in headers if str(name).lower() == "content-type"]
    values = [headers[name] for headers, name in places]
    firsts = [v[0] if isinstance(v, list) and v else v for v in values]
    media = next((f.split(";")[0].strip().lower() for f in firsts if isinstance(f, str)), "")
    if event.get("body") and media and media not in _READ_AS_JSON and not media.endswith("+json"):
        return _proxy_error(415, "the body must be JSON", [
            located("header", "/Content-Type", f"send the body as application/json, not {media[:100]}")])
    for headers, name in places:
        headers[name] = ["application/json"] if isinstance(headers[name], list) else "application/json"
    return None


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
        errors = [located("request", "", message)]
        return json_response(405, {"message": "method not allowed", "errors": errors},
                             headers={"Allow": ", ".join(allowed)})
    errors = [located("path", "", f"no route for {path}")]
    return json_response(404, {"message": "no such route", "errors": errors})
