"""CORS: the API's answers carry Access-Control-Allow-Origin for the configured origins only,
on success, on every refusal (inside and before the resolver) and on preflight."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.settings import Settings, SettingsError, current_settings
from tests.integration.api_support import Api, install
from tests.integration.conftest import NOW

APP = "https://app.example.com"


@pytest.fixture
def api(repos: Repositories, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("CORS_ORIGINS", f"{APP}, http://127.0.0.1:5173")
    current_settings.cache_clear()
    yield install(repos, lambda: NOW, monkeypatch)
    current_settings.cache_clear()


def allowed(reply_headers: dict[str, list[str]]) -> list[str] | None:
    return reply_headers.get("Access-Control-Allow-Origin")


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), [
    ("GET", "/health", {}, 200),
    ("GET", "/segments", {}, 200),
    ("GET", "/segments/missing", {}, 404),
    ("POST", "/rules/estimate", {"body": {"rule": {}}}, 422),
    ("POST", "/rules/validate", {"raw_body": "{"}, 400),
    ("GET", "/nowhere", {}, 404),
    ("GET", "/segments", {"tenant": None}, 401),
])
def test_every_answer_names_a_configured_origin(
    api: Api, method: str, path: str, kwargs: dict, status: int
) -> None:
    reply = api.call(method, path, headers={"Origin": APP}, **kwargs)
    assert reply.status == status, reply.body
    assert allowed(reply.headers) == [APP] and reply.headers["Vary"] == ["Origin"]
    assert "Access-Control-Allow-Credentials" not in reply.headers
    other = api.call(method, path, headers={"Origin": "https://evil.example"}, **kwargs)
    assert other.status == status and allowed(other.headers) is None
    assert allowed(api.call(method, path, **kwargs).headers) is None  # no Origin: not a browser's call


def test_a_preflight_names_methods_and_headers(api: Api) -> None:
    reply = api.call("OPTIONS", "/segments/pro/transitions", headers={
        "Origin": "http://127.0.0.1:5173", "Access-Control-Request-Method": "GET"})
    assert reply.status == 204 and allowed(reply.headers) == ["http://127.0.0.1:5173"]
    assert "GET" in reply.headers["Access-Control-Allow-Methods"][0]
    sent = {h.strip().lower() for h in reply.headers["Access-Control-Allow-Headers"][0].split(",")}
    assert {"content-type", "x-api-key", "idempotency-key"} <= sent


def test_the_setting_lists_origins_and_refuses_a_wildcard() -> None:
    env = Settings.local("x").table_env()
    assert Settings.from_env(env).cors_origins == ()
    listed = Settings.from_env({**env, "CORS_ORIGINS": "https://a.io, http://localhost:5173,"})
    assert listed.cors_origins == ("https://a.io", "http://localhost:5173")
    assert Settings.from_env(listed.table_env()).cors_origins == listed.cors_origins
    for bad, says in (("*", "may not be '*'"), ("https://a.io/app", "entry #1 is not an origin"),
                      ("https://a.io,a.io", "entry #2")):
        with pytest.raises(SettingsError, match=says.replace("*", r"\*")):
            Settings.from_env({**env, "CORS_ORIGINS": bad})
