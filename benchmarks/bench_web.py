"""The Segment Builder in chromium, local stack, 3,000 demo contacts: bundle, page load, estimates.

The app is the built ``web/dist`` (``make web``); the stack runs in this process
with the minute scheduler paused (as in ``bench_api``), and Debian's chromium is
driven by Playwright. Every figure is wall time as a marketer sees it:

- bundle: the bytes a first visit downloads (JavaScript and CSS), raw and gzip;
- page load: a fresh browser context (empty cache) opening the app until its
  navigation shows, that is until the catalog and the segments list arrived;
- first estimate: opening a template in the builder until its estimate shows;
- edit to estimate: replacing the rule in the JSON view (one edit) until the
  estimate shows the new rule's answer — this includes the builder's 300 ms
  pause after an edit, which is part of what a marketer waits for. Cold is with
  the API's one-minute sample cache emptied before the edit, warm with it kept.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.timing import percentiles_ms, row

CHROMIUM = Path("/usr/bin/chromium")
TEMPLATE = "at_risk"
EDITS = [
    {"attribute": {"field": "plan", "op": "equals", "value": "pro"}},
    {"email": {"action": "opened", "min_count": 2, "within": "30d"}},
    {"and": [{"score": {"name": "nps", "gte": 9}}, {"event": {"name": "order.completed", "within": "90d"}}]},
]


def _first_visit(dist: Path) -> list[Path]:
    """The JavaScript and CSS ``index.html`` loads: the segments list's page with what it
    imports; the other pages are chunks fetched when first opened."""
    named = re.findall(r'(?:src|href)="\.?/?(assets/[^"]+\.(?:js|css))"', (dist / "index.html").read_text())
    return [dist / name for name in named]


def _bundle(paths: list[Path]) -> tuple[int, int]:
    """Raw and gzip bytes of these files."""
    raw = zipped = 0
    for path in paths:
        data = path.read_bytes()
        raw += len(data)
        zipped += len(gzip.compress(data, compresslevel=9))
    return raw, zipped


def main() -> None:
    from growthos_segments.devstack.front import WEB_DIST

    if not (WEB_DIST / "index.html").exists() or not CHROMIUM.exists():
        row("web app", "skipped", f"needs {WEB_DIST} (make web) and {CHROMIUM}")
        return
    raw, zipped = _bundle(_first_visit(WEB_DIST))
    row(
        "bundle: JavaScript + CSS of a first visit", f"{zipped / 1024:.0f} kB",
        f"gzip; {raw / 1024:.0f} kB raw (the segments list; other pages load when opened)",
    )
    raw, zipped = _bundle(sorted(p for p in (WEB_DIST / "assets").iterdir() if p.suffix in {".js", ".css"}))
    row("bundle: every page", f"{zipped / 1024:.0f} kB", f"gzip; {raw / 1024:.0f} kB raw")

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        os.environ.setdefault(name, value)
    logging.getLogger("infra").setLevel(logging.WARNING)
    from growthos_segments.devstack.stack import LocalStack, Options

    environment = dict(os.environ)
    options = Options(port=0, moto_port=0, prefix="benchweb", handler_log_level="ERROR")
    stack = LocalStack(options, emit=lambda _: None)
    stack.app = replace(stack.app, schedules=())
    stack.start()
    try:
        assert stack.front is not None
        _run(stack.front.url)
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(environment)


def _run(base: str) -> None:
    from playwright.sync_api import sync_playwright

    from growthos_segments.handlers.api_wiring import service

    app = f"{base}/?key=local-demo-key"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        try:
            _fresh_loads(browser, f"{app}#/", lambda page: page.get_by_role("navigation", name="pages"),
                         7, "page load, empty cache, until connected")
            _fresh_loads(browser, f"{app}#/new/template/{TEMPLATE}",
                         lambda page: page.get_by_test_id("estimate-value"),
                         5, f"template ({TEMPLATE}) to its first estimate")

            page = browser.new_page()
            page.goto(f"{app}#/new/template/{TEMPLATE}")
            page.get_by_test_id("estimate-value").wait_for(timeout=60_000)
            page.get_by_text("JSON", exact=True).click()
            estimator = service().audience.estimator
            assert estimator is not None
            for label, clear in (("cold", True), ("warm", False)):
                samples = []
                for rule in EDITS * 3:
                    if clear:
                        estimator._cache.clear()
                    samples.append(_edit(page, rule))
                p50, p99 = percentiles_ms(samples)
                label = f"edit to updated estimate, {label} ({len(samples)} edits)"
                row(label, f"{p50:.0f} / {p99:.0f} ms", "p50 / max")
        finally:
            browser.close()


def _fresh_loads(browser: Any, url: str, shown: Callable[[Any], Any], times: int, label: str) -> None:
    """Opens ``url`` ``times`` times, each in a new context (an empty cache), until ``shown``."""
    samples = []
    for _ in range(times):
        context = browser.new_context()
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url)
        shown(page).wait_for(timeout=60_000)
        samples.append(time.perf_counter() - started)
        context.close()
    p50, p99 = percentiles_ms(samples)
    row(f"{label} ({times} loads)", f"{p50:.0f} / {p99:.0f} ms", "p50 / max")


def _edit(page: Any, rule: Any) -> float:
    """Seconds from applying ``rule`` in the JSON view until the estimate answers for it
    (its text changes: consecutive rules of ``EDITS`` have different sizes)."""
    page.get_by_test_id("estimate").evaluate("node => { node.dataset.before = node.textContent }")
    view = page.get_by_label("rule JSON")
    view.fill(json.dumps(rule))
    started = time.perf_counter()
    page.get_by_role("button", name="Apply JSON").click()
    page.wait_for_function(
        """() => { const node = document.querySelector('[data-testid="estimate"]');
                   return node && node.querySelector('[data-testid="estimate-value"]')
                          && node.classList.contains('ready')
                          && node.textContent !== node.dataset.before; }""",
        timeout=60_000,
    )
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
