"""The local front answers CORS as the deployed API Gateway does: preflights from the
template's ``Cors`` (no key, no function), its own refusals with their ``ResponseParameters``."""

from __future__ import annotations

from typing import Any

import pytest

from growthos_segments.devstack.front import GatewayResponse, HttpResponse, cors_preflights, gateway_responses
from growthos_segments.devstack.functions import load_app
from growthos_segments.devstack.runtime import LambdaFunction
from growthos_segments.devstack.template import load_template
from tests.integration.api_support import local_front, reset_authorizer

APP_ORIGIN = load_template()["Parameters"]["AppOrigin"]["Default"]


def header(response: HttpResponse, name: str) -> str | None:
    return next((v for k, v in response.headers if k.lower() == name.lower()), None)


def test_a_preflight_is_answered_without_a_key_or_a_function_call() -> None:
    calls: list[Any] = []
    app = load_app(load_template())
    functions = {name: LambdaFunction.of(lambda e, c: calls.append(e), name=name) for name in app.functions}
    front = local_front(functions)
    response = front.handle("OPTIONS", "/segments/pro/transitions", [
        ("Origin", APP_ORIGIN), ("Access-Control-Request-Method", "GET"),
        ("Access-Control-Request-Headers", "x-api-key")], b"")
    assert response.status == 200 and calls == []
    assert header(response, "Access-Control-Allow-Origin") == APP_ORIGIN
    assert "GET" in (header(response, "Access-Control-Allow-Methods") or "").split(",")
    assert "X-Api-Key" in (header(response, "Access-Control-Allow-Headers") or "").split(",")


def test_the_fronts_own_refusals_name_the_app_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    reset_authorizer(monkeypatch, "k=demo")
    front = local_front()
    for headers, status in (([], 401), ([("x-api-key", "wrong")], 401)):
        response = front.handle("GET", "/segments", [("Origin", APP_ORIGIN), *headers], b"")
        assert response.status == status
        assert header(response, "Access-Control-Allow-Origin") == APP_ORIGIN
        assert header(response, "Vary") == "Origin"


def test_gateway_headers_and_preflights_resolve_template_parameters() -> None:
    template = {
        "Parameters": {"Site": {"Type": "String", "Default": "https://app.example.com"}},
        "Resources": {"Api": {"Type": "AWS::Serverless::Api", "Properties": {
            "Cors": {"AllowOrigin": {"Fn::Sub": "'${Site}'"}, "MaxAge": "'60'"},
            "GatewayResponses": {"DEFAULT_4XX": {"ResponseParameters": {"Headers": {
                "Access-Control-Allow-Origin": {"Fn::Sub": "'${Site}'"}, "X-Static": "'yes'"}}}},
        }}},
    }
    entry = gateway_responses(template)["Api"]["DEFAULT_4XX"]
    assert entry == GatewayResponse(headers=(("Access-Control-Allow-Origin", "https://app.example.com"),
                                             ("X-Static", "yes")))
    assert entry.render(403, "no", {"message": "no"}).headers[1:] == list(entry.headers)
    assert cors_preflights(template)["Api"].headers == [
        ("Access-Control-Allow-Origin", "https://app.example.com"), ("Access-Control-Max-Age", "60")]
