"""Fuzzing the API from its OpenAPI document with hypothesis: bad input is never a 500.

Every operation of the committed document is called with path, query, header
and body values drawn from its schemas (and, half of the time, from anything
JSON), against moto with a little data in it. Only the status class is
checked: a 5xx means input reached code that does not handle it. The example
count is bounded so CI stays quick.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from growthos_segments.handlers.api import openapi_document
from growthos_segments.infra.repos import Repositories
from growthos_segments.plugins import default_host
from tests.integration.api_support import PRO, Api, install, install_imports

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DOC = json.loads(openapi_document())
SCHEMAS = DOC["components"]["schemas"]
OPERATIONS = sorted((route, method) for route, item in DOC["paths"].items() for method in item)
EXAMPLES = [example for entry in default_host().catalog() for example in entry["examples"]]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
rules = st.one_of(
    st.sampled_from(EXAMPLES),
    st.builds(lambda xs: {"and": xs}, st.lists(st.sampled_from(EXAMPLES), min_size=1, max_size=3)),
    st.builds(lambda x: {"!": x}, st.sampled_from(EXAMPLES)),
    st.dictionaries(
        st.sampled_from(["and", "or", "!", "segment", "email", "score", "in", "var"]),
        json_values,
        min_size=1,
        max_size=2,
    ),
    json_values,
)
ids = st.one_of(
    st.sampled_from(["pro", "c0", "c1", "snap_20261122T120000Z_00000000"]),
    st.text(min_size=1, max_size=40).filter(lambda s: "/" not in s and "?" not in s),
)


def from_schema(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values shaped like ``schema`` (and sometimes not quite: the API must cope)."""
    if "$ref" in schema:
        return from_schema(SCHEMAS[schema["$ref"].rsplit("/", 1)[1]], depth)
    if "anyOf" in schema or "oneOf" in schema:
        return st.one_of([from_schema(s, depth) for s in schema.get("anyOf", schema.get("oneOf"))])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if depth > 3:
        return json_values
    if kind == "object":
        properties = schema.get("properties")
        if not properties:
            return rules if depth <= 1 else json_values
        required = {
            k: from_schema(v, depth + 1) for k, v in properties.items() if k in schema.get("required", [])
        }
        optional = {k: from_schema(v, depth + 1) for k, v in properties.items() if k not in required}
        return st.fixed_dictionaries(required, optional=optional)
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {}), depth + 1), max_size=4)
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda s: len(s) < 300)
        return st.text(max_size=min(int(schema.get("maxLength", 40)), 40))
    if kind == "integer":
        return st.integers(int(schema.get("minimum", -(2**31))) - 2, int(schema.get("maximum", 2**31)) + 2)
    if kind == "number":
        return st.floats(allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return json_values


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    route, method = draw(st.sampled_from(OPERATIONS))
    operation = DOC["paths"][route][method]
    path = re.sub(r"\{\w+\}", lambda _: draw(ids), route)
    query: dict[str, str] = {}
    headers: dict[str, str] = {}
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path" or not draw(st.booleans()):
            continue
        value = draw(st.one_of(from_schema(parameter.get("schema", {})), st.text(max_size=30)))
        text = json.dumps(value) if not isinstance(value, str) else value
        (query if parameter["in"] == "query" else headers)[parameter["name"]] = text
    kwargs: dict[str, Any] = {"query": query or None, "headers": headers or None}
    body = operation.get("requestBody")
    if body is not None:
        schema = body["content"]["application/json"]["schema"]
        kwargs["raw_body"] = draw(
            st.one_of(
                from_schema(schema).map(json.dumps),
                json_values.map(json.dumps),
                st.text(max_size=40),
            )
        )
    return method.upper(), path, kwargs


@pytest.fixture
def api(repos: Repositories, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    # deployed, the template names the imports' bucket and queue
    api = install(install_imports(repos, monkeypatch), lambda: NOW, monkeypatch)
    for i in range(3):
        api.contact(f"c{i}", attributes={"plan": "pro" if i else "free", "email": f"c{i}@x.io"})
        api.repos.events.append("t1", f"c{i}", "email.opened", at=NOW - timedelta(days=i), event_id=f"e{i}")
    assert api.post("/segments", {"id": "pro", "name": "Pro", "rule": PRO}).status == 201
    api.backfill("t1", "pro")
    yield api


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=requests())
def test_no_input_makes_the_api_fail_with_a_5xx(api: Api, request: tuple[str, str, dict[str, Any]]) -> None:
    method, path, kwargs = request
    reply = api.call(method, path, **{k: v for k, v in kwargs.items() if v is not None})
    assert reply.status < 500, (method, path, kwargs, reply.body)
    assert isinstance(reply.body, dict)
    if reply.status >= 400:
        assert "message" in reply.body or "errors" in reply.body
