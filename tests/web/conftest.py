"""What every browser test of the web app shares: one local stack per module (200
demo contacts, its own table prefix), Debian's chromium driven by Playwright, a
page that fails its test on any console error, and screenshots as artifacts
(``$WEB_ARTIFACTS``, default a pytest temporary directory, printed).

These tests are marked ``web``: ``make test`` builds the app (``make web``) and
runs them after the rest of the suite. There (``SEGMENTS_WEB_REQUIRED=1``) and in CI
(``CI`` set), a missing chromium or web/dist fails them: a browser test
that skips there would pass CI without having run. Elsewhere they skip, saying why.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api

from growthos_segments.devstack.demo_data import api_key_for
from growthos_segments.devstack.front import WEB_DIST
from growthos_segments.devstack.stack import READY_MARKER
from tests.e2e.test_local_stack import START_TIMEOUT, Running, start_stack

CHROMIUM = Path("/usr/bin/chromium")
STEP_TIMEOUT_MS = 60_000
"""Generous: an estimate on a loaded 2-core machine can take seconds."""
sync_api.expect.set_options(timeout=STEP_TIMEOUT_MS)
"""Assertions wait as long as steps do, in every module whatever the order they run in."""

REQUIRED = bool(os.environ.get("SEGMENTS_WEB_REQUIRED") or os.environ.get("CI"))
"""Whether a missing prerequisite fails the browser tests instead of skipping them."""


def missing_prerequisites() -> list[str]:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    if not (WEB_DIST / "index.html").exists():
        missing.append(f"{WEB_DIST} is not built (make web)")
    return missing


@pytest.fixture(scope="module")
def web_prerequisites() -> None:
    """Module-scoped so that it runs before the module's local stack starts."""
    missing = missing_prerequisites()
    if missing and REQUIRED:
        pytest.fail("; ".join(missing), pytrace=False)
    if missing:
        pytest.skip("; ".join(missing))


WEB_MARKS = [pytest.mark.web, pytest.mark.usefixtures("web_prerequisites")]
"""Every browser test module sets ``pytestmark = WEB_MARKS``."""

EXPECTED_422 = "the server responded with a status of 422"
"""Chromium logs every 4xx response as a console error; the 422s this test provokes
(an invalid rule sent for an estimate) are the only ones allowed."""


@dataclass(frozen=True)
class WebStack:
    """A module's local stack: its API, and the moto endpoint and table prefix that
    ``segments simulate`` (or a test's own repositories) needs to write into it."""

    api: str
    moto: str
    prefix: str


@pytest.fixture(scope="module")
def stack() -> Iterator[WebStack]:
    prefix = f"web{os.getpid()}"
    running: Running = start_stack("--port", "0", "--moto-port", "0", "--contacts", "200", "--prefix", prefix)
    try:
        ready = running.wait_for(rf"{READY_MARKER} [\d.]+ s: API (http://127\.0\.0\.1:\d+)", START_TIMEOUT)
        moto = running.wait_for(r"moto .*(http://127\.0\.0\.1:\d+)", 5).group(1)
        yield WebStack(ready.group(1), moto, prefix)
    finally:
        running.process.terminate()
        running.process.wait(30)


@pytest.fixture(scope="module")
def api(stack: WebStack) -> str:
    return stack.api


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("WEB_ARTIFACTS") or tmp_path_factory.mktemp("web-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {folder}")
    return folder


@dataclass
class Dialogs:
    """The browser's own dialogs a page opened (``beforeunload``, ``confirm``), in order,
    answered as ``accept`` says when each opens (accepted unless a test says otherwise)."""

    seen: list[str] = field(default_factory=list)
    accept: bool = True


@pytest.fixture
def dialogs() -> Dialogs:
    return Dialogs()


@pytest.fixture
def page(artifacts: Path, request: pytest.FixtureRequest, dialogs: Dialogs) -> Iterator[Any]:
    """A module provoking other refusals on purpose names them in ``EXPECTED_CONSOLE_ERRORS``."""
    allowed = (EXPECTED_422, *getattr(request.module, "EXPECTED_CONSOLE_ERRORS", ()))
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        tab = browser.new_page(viewport={"width": 1280, "height": 1000})
        tab.set_default_timeout(STEP_TIMEOUT_MS)
        tab.on(
            "console",
            lambda m: m.type == "error" and not any(text in m.text for text in allowed)
            and problems.append(m.text),
        )
        tab.on("pageerror", lambda error: problems.append(str(error)))
        tab.on("dialog", lambda dialog: (dialogs.seen.append(dialog.type),
                                         dialog.accept() if dialogs.accept else dialog.dismiss()))
        yield tab
        browser.close()
    assert problems == [], "console errors on the page"


def shoot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def open_app(page: Any, api: str, route: str = "/", tenant: str = "demo") -> None:
    """Opens the app at ``route`` (its hash path) connected with ``tenant``'s demo key."""
    page.goto(f"{api}/?key={api_key_for(tenant)}#{route}")
    sync_api.expect(page.get_by_role("navigation", name="pages")).to_be_visible()


def get(api: str, path: str) -> Any:
    request = urllib.request.Request(api + path, headers={"x-api-key": api_key_for("demo")})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def send(api: str, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        api + path, data=None if body is None else json.dumps(body).encode(), method=method,
        headers={"x-api-key": api_key_for("demo"), "content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def post(api: str, path: str, body: Any) -> Any:
    return send(api, "POST", path, body)


def put(api: str, path: str, body: Any) -> Any:
    return send(api, "PUT", path, body)
