"""The local front serves the built web app beside the API without taking any API path."""

from __future__ import annotations

import threading
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
