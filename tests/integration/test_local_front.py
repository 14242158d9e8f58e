"""The local API Gateway with the real authorizer and API handlers (no sockets: ``ApiFront.handle``).

What API Gateway does around the functions is what is pinned here: the REQUEST
authorizer runs first (only with a non-empty identity header), its verdict maps
to 401/403, its context reaches the API function, the path is routed as sent
(percent-encoded), unknown routes are ``Missing Authentication Token``, a
broken function is a 502, never a stack trace in the response, and every one of
these refusals has the body the template's ``GatewayResponses`` give it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from growthos_segments.devstack.front import GatewayResponse, HttpResponse, gateway_responses, policy_decision
from growthos_segments.devstack.functions import ApiRoute, FunctionSpec, load_app
from growthos_segments.devstack.runtime import LambdaFunction
from growthos_segments.devstack.template import load_template
from growthos_segments.handlers.authorizer import key_from_headers
from growthos_segments.infra.settings import ApiKeys, SettingsError
from tests.integration.api_support import local_front, reset_authorizer

KEY = "local-demo-key"


@pytest.fixture
def api_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    reset_authorizer(monkeypatch, f"{KEY}=demo,local-acme-key=acme")
    yield


make_front = local_front


def body(response: HttpResponse) -> Any:
    return json.loads(response.body)


def test_a_known_key_reaches_the_api_with_its_tenant(api_keys: None) -> None:
    front = make_front()
    response = front.handle("GET", "/condition-types", [("x-api-key", KEY)], b"")
    assert response.status == 200
    assert any(entry["name"] == "attribute" for entry in body(response)["condition_types"])


UNAUTHORIZED = {
    "message": "missing or unknown API key",
    "errors": [{"location": "header", "path": "/x-api-key",
                "message": "send your tenant's API key in the x-api-key header"}],
}


def test_missing_unknown_and_malformed_keys_are_401_saying_where_the_key_goes(api_keys: None) -> None:
    front = make_front(identity=())  # the authorizer itself decides
    for headers in ([], [("x-api-key", "nope")], [("Authorization", "Basic abc")],
                    [("x-api-key", ""), ("Authorization", f"Bearer {KEY}")],
                    [("Authorization", f"Bearer {KEY}")]):
        response = front.handle("GET", "/condition-types", headers, b"")
        assert (response.status, body(response)) == (401, UNAUTHORIZED), headers


def test_an_empty_identity_header_is_refused_before_the_authorizer_runs(api_keys: None) -> None:
    calls: list[Any] = []
    app = load_app(load_template())
    functions = {name: LambdaFunction(spec, "us-east-1") for name, spec in app.functions.items()}
    (auth,) = [a for a in app.authorizers.values() if a]
    functions[auth.function] = LambdaFunction.of(lambda e, c: calls.append(e), name=auth.function)
    front = make_front(functions)
    for value in ("", "   "):
        headers = [("x-api-key", value), ("Authorization", f"Bearer {KEY}")]
        response = front.handle("GET", "/health", headers, b"")
        assert (response.status, body(response)) == (401, UNAUTHORIZED)
    assert calls == []


def test_a_missing_identity_header_is_refused_before_the_authorizer_runs(api_keys: None) -> None:
    calls: list[Any] = []

    def authorizer(event: Any, context: Any) -> Any:
        calls.append(event)
        raise AssertionError("must not be called")

    app = load_app(load_template())
    functions = {name: LambdaFunction(spec, "us-east-1") for name, spec in app.functions.items()}
    (auth,) = [a for a in app.authorizers.values() if a]
    functions[auth.function] = LambdaFunction.of(authorizer, name=auth.function)
    front = make_front(functions, identity=("x-api-key",))
    response = front.handle("GET", "/health", [("Authorization", f"Bearer {KEY}")], b"")
    assert (response.status, body(response)) == (401, UNAUTHORIZED)
    assert calls == []


def test_the_authorizer_context_and_the_proxy_event_have_api_gateways_shape(api_keys: None) -> None:
    seen: list[dict[str, Any]] = []

    def api(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        return {
            "statusCode": 201,
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "headers": {"X-One": "1"},
            "body": base64.b64encode(b"\x00ok").decode(),
            "isBase64Encoded": True,
        }

    app = load_app(load_template())
    functions = {name: LambdaFunction(spec, "us-east-1") for name, spec in app.functions.items()}
    (route,) = app.routes
    functions[route.function] = LambdaFunction.of(api, name=route.function)
    front = make_front(functions)
    response = front.handle(
        "POST",
        "/segments/seg%201%2Fx/members?limit=5&tag=a&tag=b",
        [("x-api-key", KEY), ("Content-Type", "application/json")],
        b'{"x": 1}',
    )
    assert response.status == 201 and response.body == b"\x00ok"
    assert ("Set-Cookie", "a=1") in response.headers and ("Set-Cookie", "b=2") in response.headers
    assert ("X-One", "1") in response.headers
    [event] = seen
    # API Gateway routes on the path as sent and passes it so; path parameters are decoded
    assert event["path"] == "/segments/seg%201%2Fx/members" and event["resource"] == "/{proxy+}"
    assert event["pathParameters"] == {"proxy": "segments/seg 1/x/members"}
    assert event["queryStringParameters"] == {"limit": "5", "tag": "b"}
    assert event["multiValueQueryStringParameters"]["tag"] == ["a", "b"]
    assert event["body"] == '{"x": 1}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["authorizer"]["tenant_id"] == "demo"
    assert context["authorizer"]["principalId"] == "tenant:demo"
    assert context["stage"] == "v1" and context["path"] == "/v1/segments/seg%201%2Fx/members"


def test_binary_request_bodies_are_base64_encoded(api_keys: None) -> None:
    seen: list[dict[str, Any]] = []
    app = load_app(load_template())
    functions = {name: LambdaFunction(spec, "us-east-1") for name, spec in app.functions.items()}
    (route,) = app.routes
    functions[route.function] = LambdaFunction.of(
        lambda e, c: seen.append(e) or {"statusCode": 204}, name=route.function
    )
    assert make_front(functions).handle("PUT", "/x", [("x-api-key", KEY)], b"\xff\xfe").status == 204
    assert seen[0]["isBase64Encoded"] is True and base64.b64decode(seen[0]["body"]) == b"\xff\xfe"


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"statusCode": "200"}, 502),
        ({"statusCode": True}, 502),
        ({"statusCode": 200, "body": {"not": "a string"}}, 502),
        ({"statusCode": 200, "body": "!!", "isBase64Encoded": True}, 502),
        ("just a string", 502),
        ({"statusCode": 200}, 200),
    ],
)
def test_malformed_proxy_responses_are_502(api_keys: None, payload: Any, status: int) -> None:
    app = load_app(load_template())
    functions = {name: LambdaFunction(spec, "us-east-1") for name, spec in app.functions.items()}
    (route,) = app.routes
    functions[route.function] = LambdaFunction.of(lambda e, c: payload, name=route.function)
    assert make_front(functions).handle("GET", "/health", [("x-api-key", KEY)], b"").status == status


def test_a_crashing_function_is_a_502_with_api_gateways_body(api_keys: None) -> None:
    def boom(event: Any, context: Any) -> Any:
        raise RuntimeError("secret detail")

    app = load_app(load_template())
    functions = {name: LambdaFunction(spec, "us-east-1") for name, spec in app.functions.items()}
    (route,) = app.routes
    functions[route.function] = LambdaFunction.of(boom, name=route.function)
    response = make_front(functions).handle("GET", "/health", [("x-api-key", KEY)], b"")
    assert (response.status, body(response)) == (502, {"message": "Internal server error", "errors": []})


def test_routes_outside_the_template_are_a_404_in_the_error_shape(api_keys: None) -> None:
    for headers in ([("x-api-key", KEY)], []):
        response = make_front().handle("GET", "/", headers, b"")
        assert (response.status, body(response)) == (404, {
            "message": "no such route",
            "errors": [{"location": "path", "path": "", "message": "no route for this method and path"}],
        })


def test_requests_before_ready_are_503_in_the_error_shape(api_keys: None) -> None:
    response = make_front(ready=False).handle("GET", "/health", [("x-api-key", KEY)], b"")
    message = "the local stack is starting (seeding demo data); retry"
    assert (response.status, body(response)) == (503, {"message": message, "errors": []})


def test_a_failing_authorizer_is_a_500_in_the_error_shape(api_keys: None) -> None:
    app = load_app(load_template())
    functions = {name: LambdaFunction(spec, "us-east-1") for name, spec in app.functions.items()}
    (auth,) = [a for a in app.authorizers.values() if a]

    def broken(event: Any, context: Any) -> Any:
        raise RuntimeError("secret detail")

    for function in (broken, lambda e, c: {"no": "policy"}):
        functions[auth.function] = LambdaFunction.of(function, name=auth.function)
        response = make_front(functions).handle("GET", "/health", [("x-api-key", KEY)], b"")
        assert (response.status, body(response)) == (
            500, {"message": "the API key could not be checked; retry", "errors": []})


def test_gateway_responses_fall_back_like_api_gateway() -> None:
    template = {"Resources": {"Api": {"Type": "AWS::Serverless::Api", "Properties": {"GatewayResponses": {
        "UNAUTHORIZED": {"StatusCode": "401", "ResponseTemplates": {"application/json": '{"u": 1}'}},
        "MISSING_AUTHENTICATION_TOKEN": {"StatusCode": "404"},
        "DEFAULT_4XX": {"ResponseTemplates": {
            "application/json": '{"m": $context.error.messageString, "raw": "$context.error.message"}'}},
    }}}, "Other": {"Type": "AWS::Serverless::Api", "Properties": {}}}}
    responses = gateway_responses(template)
    assert responses["Other"] == {}
    assert responses["Api"]["MISSING_AUTHENTICATION_TOKEN"] == GatewayResponse(404, None)
    front = make_front()
    front.responses = responses
    cases = [
        ("Api", "UNAUTHORIZED", 401, "Unauthorized", 401, {"u": 1}),
        ("Api", "THROTTLED", 429, "Slow down", 429, {"m": "Slow down", "raw": "Slow down"}),
        ("Api", "MISSING_AUTHENTICATION_TOKEN", 403, "Missing Authentication Token", 404,
         {"message": "Missing Authentication Token"}),
        ("Api", None, 502, "Internal server error", 502, {"message": "Internal server error"}),
        ("Other", "UNAUTHORIZED", 401, "Unauthorized", 401, {"message": "Unauthorized"}),
    ]
    for api, kind, status, message, answered, payload in cases:
        response = front.gateway_response(api, kind, status, message)
        assert (response.status, body(response)) == (answered, payload), (api, kind)


def test_bad_input_to_the_api_is_4xx_never_500(api_keys: None) -> None:
    front = make_front()
    auth = [("x-api-key", KEY)]
    assert front.handle("POST", "/rules/validate", auth, b"{not json").status == 400
    assert front.handle("POST", "/rules/validate", auth, b"[1, 2]").status == 400
    assert front.handle("POST", "/rules/validate", auth, b"").status == 400
    assert front.handle("POST", "/rules/validate", auth, b"\xff").status == 400
    deep = b'{"rule": {"in": ["x", ' + b"[" * 900 + b"1" + b"]" * 900 + b"]}}"
    assert front.handle("POST", "/rules/validate", auth, deep).status == 422
    invalid = json.dumps({"rule": {"and": [{"emial": {}}, {"score": {"name": "nps", "gte": "x"}}]}}).encode()
    response = front.handle("POST", "/rules/validate", auth, invalid)
    assert response.status == 422
    errors = body(response)["errors"]
    assert errors[0]["path"] == "/and/0"
    assert all(set(e) == {"path", "message", "suggestion"} for e in errors)
    valid = json.dumps({"rule": {"score": {"name": "nps", "gte": 9}}}).encode()
    assert body(front.handle("POST", "/rules/validate", auth, valid))["normalized"] == {
        "score": {"name": "nps", "gte": 9}
    }


def test_the_api_refuses_an_event_without_a_tenant() -> None:
    from growthos_segments.handlers.api import handler

    spec = FunctionSpec("ApiFunction", "growthos_segments.handlers.api.handler", 29, 512, {})
    event = {
        "resource": "/{proxy+}",
        "path": "/templates",
        "httpMethod": "GET",
        "headers": {},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": "templates"},
        "stageVariables": None,
        "requestContext": {
            "stage": "v1",
            "requestId": "r",
            "path": "/v1/templates",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": None,
        "isBase64Encoded": False,
    }
    result = LambdaFunction.of(handler, name=spec.logical_id).invoke(event)
    assert result.ok and result.payload["statusCode"] == 401


# --- policies and keys -------------------------------------------------------------------------

ARN = "arn:aws:execute-api:us-east-1:123456789012:segmentsapi/v1/GET/segments/a"


@pytest.mark.parametrize(
    ("statements", "decision"),
    [
        (
            [
                {
                    "Effect": "Allow",
                    "Action": "execute-api:Invoke",
                    "Resource": "arn:aws:execute-api:*:*:segmentsapi/v1/*/*",
                }
            ],
            "allow",
        ),
        (
            [
                {
                    "Effect": "Allow",
                    "Action": "execute-api:Invoke",
                    "Resource": ["arn:aws:execute-api:*:*:other/v1/*/*"],
                }
            ],
            "none",
        ),
        (
            [
                {"Effect": "Allow", "Action": "execute-api:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": f"{ARN[:-1]}*"},
            ],
            "deny",
        ),
        ([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}], "none"),
        ([], "none"),
    ],
)
def test_policy_decisions_follow_iam(statements: list[dict[str, Any]], decision: str) -> None:
    assert policy_decision({"Version": "2012-10-17", "Statement": statements}, ARN) == decision


def test_api_keys_parse_plain_and_hashed_entries_and_refuse_bad_ones() -> None:
    digest = hashlib.sha256(b"s3cret").hexdigest()
    settings = ApiKeys.parse(f"k1=demo, sha256:{digest}=acme ,")
    assert settings.identity_for("k1").tenant_id == "demo"  # type: ignore[union-attr]
    assert settings.identity_for("s3cret").tenant_id == "acme"  # type: ignore[union-attr]
    assert settings.identity_for("k2") is None
    for bad in ("novalue", "k=", "k=bad#tenant", "sha256:zz=demo", "k=demo,k=acme"):
        with pytest.raises(SettingsError):
            ApiKeys.parse(bad)


def test_keys_come_only_from_x_api_key() -> None:
    assert key_from_headers({"X-Api-Key": " k "}) == "k"
    assert key_from_headers({"authorization": "Bearer k"}) is None
    assert key_from_headers({"x-api-key": " ", "Authorization": "Bearer k"}) is None
    assert key_from_headers(None) is None


def test_a_misconfigured_authorizer_refuses_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    reset_authorizer(monkeypatch, "broken")
    assert make_front().handle("GET", "/health", [("x-api-key", "broken")], b"").status == 401


def test_template_routes_match_like_api_gateway() -> None:
    route = ApiRoute("Fn", "Proxy", "Api", "/{proxy+}", "ANY")
    assert route.matches("DELETE", "/a/b") == {"proxy": "a/b"}
    assert route.matches("GET", "/") is None
    item = ApiRoute("Fn", "Item", "Api", "/segments/{id}", "GET")
    assert item.matches("GET", "/segments/s1") == {"id": "s1"}
    assert item.matches("GET", "/segments/s1/members") is None
    assert item.matches("POST", "/segments/s1") is None
