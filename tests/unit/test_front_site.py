"""The local front serves the built web app beside the API without taking any API path."""

from __future__ import annotations

import json
import logging
import socket
import socketserver
import struct
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from growthos_segments.devstack.front import ApiFront, HttpResponse
from growthos_segments.devstack.functions import ApiRoute

BROWSER = [("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")]


class _Health:
    """The one function behind the one route: answers like a proxy integration, counts calls."""

    calls = 0

    def invoke(self, event: object) -> object:
        _Health.calls += 1
        return SimpleNamespace(ok=True, payload={"statusCode": 200, "body": '{"status": "ok"}'})


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>builder</title>")
    (tmp_path / "assets" / "app.js").write_text("console.log(1)")
    (tmp_path.parent / "secret.txt").write_text("not part of the site")
    return tmp_path


def front(site: Path | None, *, catch_all: bool = False) -> ApiFront:
    """An API with ``GET /health`` and, with ``catch_all``, the template's ``ANY /{proxy+}``."""
    routes = [ApiRoute(function="Health", name="health", api="Api", path="/health", method="GET")]
    if catch_all:
        routes.append(ApiRoute(function="Health", name="proxy", api="Api", path="/{proxy+}", method="ANY"))
    ready = threading.Event()
    ready.set()
    built = ApiFront(routes, {"Health": _Health()}, {"Api": None}, {"Api": "v1"},  # type: ignore[dict-item]
                     port=0, ready=ready, responses={}, site=site)
    built.server.server_close()
    return built


def get(api: ApiFront, path: str, headers: list[tuple[str, str]] | None = None) -> HttpResponse:
    return api.handle("GET", path, headers or [], b"")


def test_a_browser_gets_the_app_at_the_root_and_its_assets(site: Path) -> None:
    api = front(site)
    page = get(api, "/", BROWSER)
    assert (page.status, page.body) == (200, (site / "index.html").read_bytes())
    assert ("Content-Type", "text/html") in page.headers
    script = get(api, "/assets/app.js")
    assert script.status == 200 and script.body == b"console.log(1)"
    assert any(k == "Content-Type" and "javascript" in v for k, v in script.headers)


def test_api_clients_and_api_routes_are_untouched(site: Path) -> None:
    api = front(site)
    assert get(api, "/").status == 403  # API Gateway's own refusal (a 404 in the template's shape)
    assert get(api, "/", [("Accept", "application/json")]).status == 403
    before = _Health.calls
    assert get(api, "/health", BROWSER).body == b'{"status": "ok"}'
    assert _Health.calls == before + 1
    assert api.handle("POST", "/", BROWSER, b"").status == 403


@pytest.mark.parametrize("path", ["/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt",
                                  "/assets/missing.js", "/nothing-here"])
def test_nothing_outside_the_built_files(site: Path, path: str) -> None:
    assert get(front(site), path, BROWSER).status == 403


def test_files_win_over_the_catch_all_route_only(site: Path) -> None:
    api = front(site, catch_all=True)
    before = _Health.calls
    assert get(api, "/assets/app.js").body == b"console.log(1)"
    assert get(api, "/", BROWSER).body == (site / "index.html").read_bytes()
    assert _Health.calls == before
    for path in ("/health", "/segments", "/assets/missing.js"):
        assert get(api, path, BROWSER).body == b'{"status": "ok"}'
    assert _Health.calls == before + 3


def test_without_a_build_the_root_is_the_api_404(tmp_path: Path) -> None:
    assert get(front(tmp_path / "not-built"), "/", BROWSER).status == 403
    assert get(front(None), "/assets/app.js", BROWSER).status == 403


class _Slow:
    """Answers after the client has given up, as an estimate does when the app cancels it."""

    def invoke(self, event: object) -> object:
        time.sleep(0.5)
        return SimpleNamespace(ok=True, payload={"statusCode": 200, "body": "x" * 100_000})


def test_a_client_that_leaves_before_the_answer_is_no_error(caplog: pytest.LogCaptureFixture) -> None:
    """A browser tab closed (or a cancelled fetch) while its request runs: the front logs it
    in one line instead of letting socketserver print a BrokenPipeError traceback."""
    routes = [ApiRoute(function="Slow", name="slow", api="Api", path="/slow", method="GET")]
    ready = threading.Event()
    ready.set()
    api = ApiFront(routes, {"Slow": _Slow()}, {"Api": None}, {"Api": "v1"},  # type: ignore[dict-item]
                   port=0, ready=ready, responses={}, site=None)
    failures: list[BaseException] = []
    api.server.handle_error = lambda request, address: failures.append(sys.exc_info()[1])  # type: ignore[method-assign,assignment,misc,arg-type]
    serving = threading.Thread(target=api.server.serve_forever, daemon=True)
    serving.start()
    try:
        with caplog.at_level(logging.INFO, logger="growthos_segments.devstack.front"):
            client = socket.create_connection(("127.0.0.1", api.port))
            client.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\nx-api-key: k\r\n\r\n")
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()  # a reset, at once
            deadline = time.monotonic() + 30
            while "closed the connection" not in caplog.text and not failures and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        api.server.shutdown()
        api.server.server_close()
    assert failures == []
    assert "GET /slow: the client closed the connection before the answer" in caplog.text


def test_a_client_that_resets_an_idle_connection_is_no_error(caplog: pytest.LogCaptureFixture) -> None:
    """A browser closing a kept-alive connection resets it while the front waits for the
    next request line: one log line, not socketserver's ConnectionResetError traceback."""
    ready = threading.Event()
    ready.set()
    served = ApiFront([], {}, {}, {}, port=0, ready=ready, responses={}, site=None)
    printed: list[str] = []
    original = socketserver.BaseServer.handle_error
    socketserver.BaseServer.handle_error = lambda self, request, address: printed.append("traceback")  # type: ignore[method-assign]
    serving = threading.Thread(target=served.server.serve_forever, daemon=True)
    serving.start()
    try:
        with caplog.at_level(logging.INFO, logger="growthos_segments.devstack.front"):
            client = socket.create_connection(("127.0.0.1", served.port))
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            deadline = time.monotonic() + 30
            while "closed the connection (ConnectionResetError)" not in caplog.text and not printed:
                assert time.monotonic() < deadline, "the front never noticed the reset"
                time.sleep(0.05)
    finally:
        socketserver.BaseServer.handle_error = original  # type: ignore[method-assign]
        served.server.shutdown()
        served.server.server_close()
    assert printed == []


@pytest.mark.parametrize(
    ("request_line", "status", "message"),
    [
        (b"GET /segments?cursor=" + b"%F3%9E%A8%A1" * 6000 + b" HTTP/1.1", 414, "Request-URI Too Long"),
        (b"NOT AN HTTP REQUEST LINE AT ALL", 400, "Bad request"),
    ],
)
def test_what_http_server_refuses_before_routing_is_answered_in_the_error_shape(
    request_line: bytes, status: int, message: str
) -> None:
    """An address over 64 KiB (API Gateway refuses long ones too) or a malformed request
    line gets the gateway's JSON refusal, as documented, not http.server's HTML page."""
    ready = threading.Event()
    ready.set()
    served = ApiFront([], {}, {}, {}, port=0, ready=ready, responses={}, site=None)
    serving = threading.Thread(target=served.server.serve_forever, daemon=True)
    serving.start()
    try:
        with socket.create_connection(("127.0.0.1", served.port), timeout=30) as client:
            client.sendall(request_line + b"\r\nHost: x\r\n\r\n")
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
    finally:
        served.server.shutdown()
        served.server.server_close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split(b" ")[1] == str(status).encode()
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["message"].startswith(message)
