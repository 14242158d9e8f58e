"""How the web app reaches its users: built and tested by the two commands, and served
locally beside the API.

- ``make test`` and CI must not pass with browser tests that did not run: there a
  missing web/dist (or chromium) fails them, while a developer's plain ``pytest``
  still skips them with the reason.
- The local front serves ``config.json`` (the deployment's API address; locally
  ``{"api": null}``: the page's own origin) like any other file of the build, so the
  app's first request is not a 404 in the browser's console, and the local stack's
  banner says where the app is.
- Without npm, building the app (the first step of ``make run`` and ``make test``)
  stops with one line saying what to install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

from growthos_segments.devstack.demo_data import api_key_for
from growthos_segments.devstack.front import ApiFront
from growthos_segments.devstack.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]
BROWSER_TESTS = ROOT / "tests" / "web" / "test_builder.py"


def _browser_tests(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The browser tests run with no web app built (the fixtures stop before any stack starts)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "SEGMENTS_WEB_REQUIRED")}
    clean.update(SEGMENTS_WEB_DIST=str(tmp_path / "no-build"), **env)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "web",
               str(BROWSER_TESTS)]
    return subprocess.run(
        command, cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_missing_build_fails_the_browser_tests_in_ci_and_under_make_test(tmp_path: Path) -> None:
    for env in ({"CI": "1"}, {"SEGMENTS_WEB_REQUIRED": "1"}):
        result = _browser_tests(tmp_path, **env)
        assert result.returncode == 1, (env, result.stdout[-2000:])
        assert "no-build is not built (make web)" in result.stdout
        assert "SKIPPED" not in result.stdout


def test_a_missing_build_skips_the_browser_tests_elsewhere_saying_why(tmp_path: Path) -> None:
    result = _browser_tests(tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "SKIPPED" in result.stdout and "FAILED" not in result.stdout and "ERROR" not in result.stdout
    assert "no-build is not built (make web)" in result.stdout


def test_the_local_front_serves_config_json_to_the_apps_fetch(tmp_path: Path) -> None:
    """The app asks for ./config.json with ``fetch`` (``Accept: */*``), not as a page."""
    (tmp_path / "index.html").write_text("<!doctype html><title>builder</title>")
    (tmp_path / "config.json").write_text('{"api": null}\n')
    ready = threading.Event()
    ready.set()
    front = ApiFront([], {}, {}, {}, port=0, ready=ready, responses={}, preflights={}, site=tmp_path)
    front.server.server_close()
    answer = front.handle("GET", "/config.json", [("Accept", "*/*")], b"")
    assert (answer.status, json.loads(answer.body)) == (200, {"api": None})
    assert ("Content-Type", "application/json") in answer.headers
    assert front.handle("GET", "/", [("Accept", "*/*")], b"").status == 403  # the root stays the API's
    assert front.handle("GET", "/assets/%00", [("Accept", "*/*")], b"").status == 403  # no file, no crash


def test_the_banner_names_the_apps_address_connected_with_the_first_demo_key(tmp_path: Path) -> None:
    stack = SimpleNamespace(front=SimpleNamespace(site=tmp_path),
                            options=SimpleNamespace(tenants=[("demo", 10)]))
    url = "http://127.0.0.1:3000"
    assert "not built (make web)" in LocalStack._app_line(stack, url)  # type: ignore[arg-type]
    (tmp_path / "index.html").write_text("<!doctype html>")
    assert LocalStack._app_line(stack, url).endswith(  # type: ignore[arg-type]
        f"Segment Builder (web app)  {url}/?key={api_key_for('demo')}"
    )


def test_without_npm_the_build_stops_in_one_line_naming_what_to_install(tmp_path: Path) -> None:
    """``make run`` and ``make test`` build the app first: a machine without Node.js hears why."""
    (tmp_path / "web").mkdir()
    for name in ("Makefile", "openapi.json", "web/package.json", "web/package-lock.json", "web/index.html",
                 "web/vite.config.ts", "web/tsconfig.json"):
        shutil.copy(ROOT / name, tmp_path / name)
    tools = tmp_path / "bin"  # make alone: the recipes' shell is /bin/sh, and npm is nowhere
    tools.mkdir()
    make = shutil.which("make")
    assert make is not None
    (tools / "make").symlink_to(make)
    result = subprocess.run([str(tools / "make"), "--no-print-directory", "web"], cwd=tmp_path,
                            env={"PATH": str(tools)}, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    first = result.stderr.splitlines()[0]
    assert first.startswith("npm not found: the Segment Builder (web/) needs Node.js >= 20.19 and npm")
    assert "Traceback" not in result.stderr and not (tmp_path / "web" / "node_modules").exists()
