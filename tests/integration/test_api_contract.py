"""The HTTP contract at its edges: every input the API cannot use is a documented 4xx in the
error shape, never a 5xx, and the OpenAPI document says what the answers are.
"""

from __future__ import annotations

import http.client as http_client
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from growthos_segments.devstack.front import ApiFront
from growthos_segments.handlers.api import openapi_document
from growthos_segments.infra.repos import Repositories
from tests.integration.api_support import PRO, Api, install, local_front, reset_authorizer

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DOC = json.loads(openapi_document())

BODY_ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/rules/validate", {"rule": PRO}),
    ("POST", "/rules/estimate", {"rule": PRO}),
    ("POST", "/segments", {"name": "n", "rule": PRO}),
    ("PUT", "/segments/{segment_id}", {"version": 1, "name": "n", "rule": PRO}),
    ("POST", "/segments/{segment_id}/snapshots", {"label": "x"}),
    ("POST", "/rules/count", {"rule": PRO}),
    ("POST", "/segments/{segment_id}/impact", {"rule": PRO}),
    ("POST", "/segments/{segment_id}/duplicate", {"name": "copy"}),
    ("POST", "/contacts", {"items": [{"contact_id": "c1", "attributes": {"plan": "pro"}}]}),
    ("POST", "/events", {"items": [
        {"event_id": "e1", "contact_id": "c1", "name": "email.opened", "at": "2026-11-22T11:00:00Z"}]}),
    ("POST", "/imports/{import_id}/start", {"dry_run": True}),
]
"""Every operation with a request body (method, route of the document, a valid body)."""


@pytest.fixture
def api(repos: Repositories, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    api = install(repos, lambda: NOW, monkeypatch)
    assert api.post("/segments", {"id": "pro", "name": "Pro", "rule": PRO}).status == 201
    yield api


def documented(method: str, route: str, status: int) -> bool:
    return str(status) in DOC["paths"][route][method.lower()]["responses"]


def assert_error_shape(body: Any) -> None:
    assert isinstance(body, dict) and isinstance(body.get("message"), str), body
    assert body["errors"] and all({"location", "path", "message"} <= set(e) for e in body["errors"]), body


def concrete(route: str) -> str:
    return route.replace("{segment_id}", "pro").replace("{import_id}", "imp_unknown")


def test_the_routes_with_a_body_are_the_documents() -> None:
    with_body = {
        (method.upper(), route) for route, item in DOC["paths"].items()
        for method, op in item.items() if "requestBody" in op
    }
    assert with_body == {(method, route) for method, route, _ in BODY_ROUTES}


# --- bodies that cannot be decoded ------------------------------------------------------------


@pytest.mark.parametrize(("method", "route", "body"), BODY_ROUTES)
def test_an_integer_longer_than_python_reads_is_400_on_every_route(
    api: Api, method: str, route: str, body: dict[str, Any]
) -> None:
    huge = "9" * 5000
    for raw in (json.dumps(body)[:-1] + f', "x": {huge}}}', json.dumps({**body, "version": 1})
                .replace('"version": 1', f'"version": {huge}')):
        reply = api.call(method, concrete(route), raw_body=raw)
        assert reply.status == 400, reply.body
        assert_error_shape(reply.body)
        assert "5000 digits" in reply.body["errors"][0]["message"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_json_number_literals_are_400(api: Api, literal: str) -> None:
    raw = '{"rule": {"score": {"name": "n", "gte": LITERAL}}}'.replace("LITERAL", literal)
    reply = api.call("POST", "/rules/validate", raw_body=raw)
    assert reply.status == 400, reply.body
    assert_error_shape(reply.body)
    assert literal.lstrip("-") in reply.body["errors"][0]["message"]


# --- content types ------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "route", "body"), BODY_ROUTES)
@pytest.mark.parametrize(
    "content_type",
    ["application/xml", "multipart/form-data", "multipart/form-data; boundary=x", "image/png"],
)
def test_a_body_of_another_type_is_a_documented_415(
    api: Api, method: str, route: str, body: dict[str, Any], content_type: str
) -> None:
    headers = {"Content-Type": content_type}
    reply = api.call(method, concrete(route), raw_body=json.dumps(body), headers=headers)
    assert reply.status == 415, reply.body
    assert_error_shape(reply.body)
    assert reply.body["errors"][0] == {
        "location": "header", "path": "/Content-Type",
        "message": f"send the body as application/json, not {content_type.split(';')[0]}",
    }
    assert documented(method, route, 415)


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON; charset=utf-8", "application/merge-patch+json",
     "text/plain", "application/x-www-form-urlencoded"],
)
def test_json_and_the_types_curl_sends_are_read_as_json(api: Api, content_type: str) -> None:
    reply = api.call("POST", "/rules/validate", raw_body=json.dumps({"rule": PRO}),
                     headers={"Content-Type": content_type})
    assert reply.status == 200 and reply.body["valid"] is True, reply.body


def test_an_empty_body_is_missing_whatever_its_type(api: Api) -> None:
    for content_type in ("application/xml", "multipart/form-data"):
        reply = api.call("POST", "/rules/validate", raw_body="", headers={"Content-Type": content_type})
        assert reply.status == 400, reply.body
        assert_error_shape(reply.body)
    # a snapshot's body is optional: no body of any declared type is simply no label
    reply = api.call("POST", "/segments/pro/snapshots", raw_body="", headers={"Content-Type": "text/xml"})
    assert reply.status == 201 and reply.body["label"] == ""


# --- the document and the answers agree --------------------------------------------------------


def schema_accepts(schema: dict[str, Any], value: Any) -> bool:
    """``value`` against a schema of the document (its ``$ref``s resolved within it)."""
    return bool(jsonschema_rs.validator_for({**schema, "components": DOC["components"]}).is_valid(value))


def request_schema(method: str, route: str) -> dict[str, Any]:
    return DOC["paths"][route][method.lower()]["requestBody"]["content"]["application/json"]["schema"]


def response_schema(method: str, route: str, status: int) -> dict[str, Any]:
    response = DOC["paths"][route][method.lower()]["responses"][str(status)]
    return response["content"]["application/json"]["schema"]


@pytest.mark.parametrize(
    ("method", "route", "body"),
    [
        ("POST", "/rules/validate", {}),
        ("POST", "/rules/validate", {"rule": {}}),
        ("POST", "/rules/validate", {"rule": None}),
        ("POST", "/rules/validate", {"rule": {"and": [PRO]}}),
        ("POST", "/rules/estimate", {"rule": {}}),
        ("POST", "/segments", {"name": "x", "rule": None}),
        ("POST", "/segments", {"name": "x"}),
        ("POST", "/segments", {"name": "x", "rule": {}}),
        ("POST", "/segments", {"name": "x", "type": "static"}),
        ("POST", "/segments", {"name": "x", "type": "static", "rule": PRO}),
        ("POST", "/segments", {"name": "x", "rule": PRO}),
        ("PUT", "/segments/{segment_id}", {"version": 1, "name": "x", "rule": None}),
        ("PUT", "/segments/{segment_id}", {"version": 1, "name": "x", "type": "static"}),
    ],
)
def test_the_document_accepts_exactly_the_bodies_the_api_accepts(
    api: Api, method: str, route: str, body: dict[str, Any]
) -> None:
    reply = api.call(method, concrete(route), body=body)
    assert reply.status in (200, 201, 422), reply.body
    assert schema_accepts(request_schema(method, route), body) == (reply.status < 300), reply.body
    assert schema_accepts(response_schema(method, route, reply.status), reply.body), reply.body


@pytest.mark.parametrize(
    ("method", "route", "body", "pointer"),
    [
        ("POST", "/segments", {"name": "a\u0000b", "rule": PRO}, "/name"),
        ("POST", "/segments", {"name": "line\nbreak", "rule": PRO}, "/name"),
        ("POST", "/segments", {"name": "bell\u0007", "rule": PRO}, "/name"),
        ("POST", "/segments", {"name": "c1\u0085", "rule": PRO}, "/name"),
        ("POST", "/segments", {"name": "n", "description": "nul\u0000", "rule": PRO}, "/description"),
        ("PUT", "/segments/pro", {"version": 1, "name": "\u001b[31mred", "rule": PRO}, "/name"),
        ("POST", "/segments/pro/snapshots", {"label": "tab\there"}, "/label"),
    ],
)
def test_control_characters_in_names_and_labels_are_422_with_a_pointer(
    api: Api, method: str, route: str, body: dict[str, Any], pointer: str
) -> None:
    reply = api.call(method, route, body=body)
    assert reply.status == 422, reply.body
    (error,) = reply.body["errors"]
    assert error["location"] == "body" and error["path"] == pointer
    assert "control character U+" in error["message"]


def test_descriptions_may_have_line_breaks(api: Api) -> None:
    reply = api.post("/segments", {"name": "n", "description": "one\r\ntwo\tthree", "rule": PRO})
    assert reply.status == 201 and reply.body["description"] == "one\r\ntwo\tthree"


def test_versions_beyond_exact_json_integers_are_422(api: Api) -> None:
    reply = api.call("PUT", "/segments/pro", body={"version": 2**53, "name": "n", "rule": PRO})
    assert reply.status == 422 and reply.body["errors"][0]["path"] == "/version", reply.body
    reply = api.call("DELETE", "/segments/pro", query={"version": str(2**64)})
    assert reply.status == 422 and reply.body["errors"][0]["location"] == "query", reply.body
    assert api.get("/segments/pro").body["status"] == "active"


# --- through the local API Gateway: paths, keys and routes ---------------------------------------

KEY = "contract-key"


@pytest.fixture
def front(api: Api, monkeypatch: pytest.MonkeyPatch) -> ApiFront:
    reset_authorizer(monkeypatch, f"{KEY}=t1")
    return local_front()


def http(front: ApiFront, method: str, target: str, key: str | None = KEY) -> tuple[int, Any]:
    response = front.handle(method, target, [("x-api-key", key)] if key is not None else [], b"")
    return response.status, json.loads(response.body)


def test_an_encoded_slash_stays_inside_its_path_segment(api: Api, front: ApiFront) -> None:
    api.contact("a/b", attributes={"plan": "pro"})
    api.backfill("t1", "pro")
    status, body = http(front, "GET", "/segments/pro%2Fmembers")
    assert status == 404 and body["errors"][0]["path"] == "/segment_id", body  # not the member list
    status, body = http(front, "GET", "/segments/pro/members/a%2Fb")
    assert (status, body["contact_id"], body["member"]) == (200, "a/b", True), body
    status, body = http(front, "GET", "/contacts/a%2Fb/segments")
    assert status == 200 and [s["segment_id"] for s in body["segments"]] == ["pro"], body


@pytest.mark.parametrize(
    ("target", "route"),
    [
        ("/segments/%0A/count", "/segments/{segment_id}/count"),
        ("/segments/pro/members/%00", "/segments/{segment_id}/members/{contact_id}"),
        ("/contacts/%7F/segments", "/contacts/{contact_id}/segments"),
    ],
)
def test_control_characters_in_a_path_are_a_documented_404(front: ApiFront, target: str, route: str) -> None:
    status, body = http(front, "GET", target)
    assert status == 404, body
    assert_error_shape(body)
    assert schema_accepts(response_schema("GET", route, 404), body)


def test_the_root_is_a_404_in_the_error_shape(front: ApiFront) -> None:
    for key in (KEY, None):
        status, body = http(front, "GET", "/", key)
        assert status == 404 and body["message"] == "no such route", body
        assert_error_shape(body)


@pytest.mark.parametrize("key", [None, "", "wrong"])
def test_without_a_valid_key_the_401_says_where_the_key_goes(front: ApiFront, key: str | None) -> None:
    status, body = http(front, "GET", "/segments", key)
    assert status == 401
    assert_error_shape(body)
    assert body["errors"][0]["location"] == "header" and body["errors"][0]["path"] == "/x-api-key"
    assert schema_accepts(response_schema("GET", "/segments", 401), body)
    scheme = {"type": "apiKey", "in": "header", "name": "x-api-key"}
    assert DOC["components"]["securitySchemes"]["apiKey"] == scheme and DOC["security"] == [{"apiKey": []}]


@pytest.mark.parametrize(
    ("method", "target", "allow"),
    [
        ("GET", "/rules/validate", "POST"),
        ("PATCH", "/segments", "GET, POST"),
        ("TRACE", "/segments/pro", "DELETE, GET, PUT"),
        ("DELETE", "/segments/pro/members/c%2F1", "GET"),
    ],
)
def test_a_method_a_path_does_not_have_is_405_with_allow(
    api: Api, front: ApiFront, method: str, target: str, allow: str
) -> None:
    response = front.handle(method, target, [("x-api-key", KEY)], b"")
    assert response.status == 405 and ("Allow", allow) in response.headers, response
    assert_error_shape(json.loads(response.body))


def test_a_path_the_api_does_not_have_is_404(front: ApiFront) -> None:
    status, body = http(front, "GET", "/no/such/thing")
    assert status == 404 and body["message"] == "no such route"
    assert_error_shape(body)


def test_every_method_reaches_the_api_over_http(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    reset_authorizer(monkeypatch, f"{KEY}=t1")
    front = local_front(listen=True)
    front.start()
    try:
        for method, status in (("TRACE", 405), ("GET", 200)):
            connection = http_client.HTTPConnection(front.host, front.port, timeout=30)
            connection.request(method, "/segments", headers={"x-api-key": KEY})
            response = connection.getresponse()
            body = json.loads(response.read())
            connection.close()
            assert response.status == status and response.getheader("Content-Type") == "application/json"
            if status == 405:
                assert_error_shape(body)
    finally:
        assert front.stop()


@pytest.mark.parametrize(
    "raw", ['[{"rule": {"tag": {"match": "any", "tags": ["vip"]}}}]', "[null, null]", "[]"]
)
def test_a_json_array_body_is_400_not_its_first_item(api: Api, raw: str) -> None:
    for route in ("/rules/validate", "/segments/pro/snapshots"):
        reply = api.call("POST", route, raw_body=raw)
        assert reply.status == 400, (route, reply.body)
        (error,) = reply.body["errors"]
        assert error == {"location": "body", "path": "", "message": "the body is a JSON array"}


# --- rule-level bounds (core.rules) answered the same on every route with a rule ----------------

AMOUNT = {"attribute": {"field": "signup_date", "op": "within_last", "amount": 2**31, "unit": "days"}}
BOUNDS = [
    (json.dumps({"rule": AMOUNT}), "/attribute/amount"),
    ('{"rule": {"score": {"name": "nps", "gte": 1e308}}}', "/score/gte"),
    ('{"rule": {"score": {"name": "nps", "gte": 1e999}}}', "/score/gte"),
    ('{"rule": {"score": {"name": "nps", "gte": 1e-131}}}', "/score/gte"),
    ('{"rule": {"score": {"name": "nps", "gte": 123456789012345678901234567890123456789}}}', "/score/gte"),
    ('{"rule": {"in": [{"var": "x"}, [1, 2, 1e200]]}}', "/in/1/2"),
]


@pytest.mark.parametrize(("raw", "pointer"), BOUNDS)
def test_rule_bounds_are_422_with_a_pointer_on_every_route(api: Api, raw: str, pointer: str) -> None:
    reply = api.call("POST", "/rules/validate", raw_body=raw)
    assert reply.status == 422 and reply.body["errors"][0]["path"] == pointer, reply.body
    before = api.get("/segments", query={"include_archived": "true"}).body
    for method, route, extra in [
        ("POST", "/rules/estimate", {}),
        ("POST", "/segments", {"name": "n"}),
        ("PUT", "/segments/pro", {"name": "n", "version": 1}),
    ]:
        body = json.dumps(extra)[:-1] + (", " if extra else "") + raw[1:]
        reply = api.call(method, route, raw_body=body)
        assert reply.status == 422, (method, route, reply.body)
        assert reply.body["errors"][0] == {
            "location": "body", "path": "/rule" + pointer, "message": reply.body["errors"][0]["message"]}
    assert api.get("/segments", query={"include_archived": "true"}).body == before  # nothing stored


numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(min_value=-(10**45), max_value=10**45).map(str),
    st.sampled_from(["1e125", "9.99e125", "1e-130", "-1e-130", "1e-131", "1e126", "0.0", "-0"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(number=numbers, where=st.sampled_from(["score", "plain"]))
def test_saving_never_fails_on_a_number(api: Api, number: str, where: str) -> None:
    """A number the rule layer accepts is stored and read back as it was sent; any other
    is a 422 before anything is written. The write itself never fails on one."""
    rule = ('{"score": {"name": "nps", "gte": %s}}' if where == "score" else '{"==": [{"var": "x"}, %s]}')
    raw = '{"name": "n", "rule": ' + rule.replace("%s", number) + "}"
    reply = api.call("POST", "/segments", raw_body=raw)
    assert reply.status in (201, 422), reply.body
    if reply.status == 201:
        stored = api.get(f"/segments/{reply.body['id']}").body["rule"]
        value = stored["score"]["gte"] if where == "score" else stored["=="][1]
        assert value == json.loads(number)
    else:
        assert reply.body["errors"][0]["path"].startswith("/rule/"), reply.body
