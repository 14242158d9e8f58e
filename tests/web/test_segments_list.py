"""The segments list and the templates gallery in a real browser against the local
stack: every demo segment with its live count and its size trend (or the honest "new"
of a fresh stack), search, the type filter, a segment created through the API shown
queued and then filled, an archived one only on request, a template opened in the
builder with its estimate, and another tenant's key never showing the demo tenant's
segments.

The fixtures (the stack, the browser, screenshots) are in ``conftest.py``.
"""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from growthos_segments.core.ports import Resolution
from growthos_segments.devstack.demo_data import api_key_for
from growthos_segments.infra.repos import build_repositories
from growthos_segments.infra.settings import Settings
from tests.web.conftest import (
    STEP_TIMEOUT_MS,
    WEB_MARKS,
    WebStack,
    get,
    open_app,
    post,
    send,
    shoot,
    sync_api,
)

pytestmark = WEB_MARKS

expect = sync_api.expect

TRENDING = "promoters"
"""The demo segment given six earlier days of sizes (the fresh stack recorded today's)."""

PAST = (-30, -20, -25, -10, -5, -2)
"""Its sizes on the six days before today, relative to its count now."""


def call(api: str, method: str, path: str, tenant: str = "demo") -> Any:
    request = urllib.request.Request(api + path, method=method, headers={"x-api-key": api_key_for(tenant)})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def record_past_days(stack: WebStack, count: int) -> None:
    """Writes the earlier daily sizes through the SegmentSizes port the scheduler's
    recorder writes with (a point per segment and day; the first one of a day stays)."""
    repos = build_repositories(Settings.local(stack.prefix, endpoint_url=stack.moto))
    today = datetime.now(UTC)
    for days, delta in zip(range(len(PAST), 0, -1), PAST, strict=True):
        repos.sizes.record("demo", {TRENDING: max(count + delta, 0)}, at=today - timedelta(days=days),
                           resolutions=[Resolution.DAY])


WATCH_FILLING = """testId => {
    window.fillingTexts = [];
    const record = () => {
        const text = document.querySelector(`[data-testid="${testId}"]`)?.textContent ?? null;
        if (text !== null && text !== window.fillingTexts.at(-1)) window.fillingTexts.push(text);
    };
    const watched = {subtree: true, childList: true, characterData: true};
    new MutationObserver(record).observe(document.body, watched);
}"""
"""Records in ``window.fillingTexts`` each text the element with this test id takes, as it is rendered."""


def row(page: Any, segment_id: str) -> Any:
    return page.get_by_test_id(f"segment-{segment_id}")


class PerSegmentReads:
    """Counts the page's requests for trends and last changes, those reading every kept
    day, and the most in flight together."""

    PATTERN = re.compile(r"/segments/[^/?]+/(history|transitions)\?")

    def __init__(self, page: Any) -> None:
        self.total = 0
        self.unbounded = 0
        self.in_flight = 0
        self.most = 0
        page.on("request", self.started)
        page.on("requestfinished", self.ended)
        page.on("requestfailed", self.ended)

    def started(self, request: Any) -> None:
        if self.PATTERN.search(request.url):
            self.total += 1
            self.unbounded += "/history?" in request.url and "since=" not in request.url
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)

    def ended(self, request: Any) -> None:
        if self.PATTERN.search(request.url):
            self.in_flight -= 1


def test_the_list_shows_counts_trends_search_filter_filling_and_archived(
    stack: WebStack, page: Any, artifacts: Path
) -> None:
    api = stack.api
    listed = get(api, "/segments")["segments"]
    seeded = len(listed)
    assert seeded == len(get(api, "/templates")["templates"])  # the demo tenant has a segment per template
    counts = {s["id"]: s["count"] for s in listed}
    record_past_days(stack, counts[TRENDING])

    send(api, "PUT", f"/segments/{TRENDING}/users/journey:welcome")  # a module targets it

    reads = PerSegmentReads(page)
    open_app(page, api, "/")
    expect(page.locator("table.segments tbody tr")).to_have_count(seeded)
    expect(page.get_by_test_id("segments-summary")).to_have_text(f"{seeded} of {seeded} segments")
    for segment in listed:
        expect(row(page, segment["id"])).to_contain_text(segment["name"])
    expect(page.get_by_test_id(f"count-{TRENDING}")).to_have_text(f"{counts[TRENDING]:,}")
    expect(page.get_by_test_id("count-cold_leads")).to_have_text(f"{counts['cold_leads']:,}")
    line = page.get_by_test_id(f"trend-{TRENDING}").get_by_role("img")
    first = max(counts[TRENDING] + PAST[0], 0)
    expect(line).to_have_attribute(
        "aria-label", f"Promoters: 7 daily sizes, from {first:,} to {counts[TRENDING]:,}")
    in_use = page.get_by_test_id(f"in-use-{TRENDING}")
    expect(in_use).to_have_attribute("title", re.compile("^used by journey:welcome"))
    expect(page.locator(".badge.in-use")).to_have_count(1)  # read with the list, not a request per segment
    expect(page.get_by_test_id("trend-cold_leads")).to_have_text("new")  # one day recorded so far
    expect(page.get_by_test_id("filling-cold_leads")).to_have_text("live")  # filled by the initial load
    changed = re.compile("member change|definition saved")
    expect(page.get_by_test_id("changed-cold_leads")).to_contain_text(changed)
    expect(page.locator("[aria-busy=true]")).to_have_count(0)
    assert (reads.total, reads.most) == (2 * seeded, 4)  # a trend and a feed read per segment, 4 at a time
    assert reads.unbounded == 0  # 30 days of daily sizes, not the 400 kept
    shoot(page, artifacts, "10-segments-list")

    search = page.get_by_label("Search")
    search.fill("promot")
    expect(page.locator("table.segments tbody tr")).to_have_count(1)
    expect(row(page, TRENDING)).to_be_visible()
    search.fill("no segment has this")
    expect(page.get_by_test_id("segments-no-match")).to_contain_text("No segment matches")
    page.get_by_role("button", name="Clear search and filter").click()
    expect(page.locator("table.segments tbody tr")).to_have_count(seeded)

    # A new segment's backfill waits ~6 s in its queue: the list must show it queued (or
    # filling) and then filled. Every text its cell takes is recorded as the page renders
    # it, so a loaded machine that is slow to look cannot miss the short states; and the
    # segment is created once the list is out of view, just before it is read again.
    page.evaluate(WATCH_FILLING, "filling-web_list_static")
    page.get_by_role("navigation", name="pages").get_by_role("link", name="Templates").click()
    expect(page.locator(".template-card").first).to_be_visible()
    created = post(api, "/segments", {"id": "web_list_static", "name": "Hand-picked", "type": "static",
                                      "rule": None, "include_contacts": ["c1", "c2"]})
    assert created["backfill"] == "queued"
    assert get(api, "/segments/web_list_static")["backfill_progress"]["status"] == "queued"
    page.get_by_role("navigation", name="pages").get_by_role("link", name="All segments").click()
    filling = page.get_by_test_id("filling-web_list_static")
    expect(filling).to_contain_text(re.compile("queued|filling|filled"))
    shoot(page, artifacts, "11-segment-filling")
    expect(filling).to_contain_text("filled", timeout=STEP_TIMEOUT_MS)  # the list polls while something fills
    shown = page.evaluate("() => window.fillingTexts")
    assert re.match(r"(queued|filling)", shown[0]) and shown[-1].startswith("filled"), shown
    expect(page.get_by_test_id("count-web_list_static")).to_have_text("2")
    expect(page.get_by_test_id("changed-web_list_static")).to_contain_text("member change")  # read again
    expect(page.locator("[aria-busy=true]")).to_have_count(0)
    # Those read a moment ago are kept: only the new segment's, once shown and once filled.
    assert reads.total == 2 * (seeded + 1) + 2

    page.get_by_label("Type").select_option("static")
    expect(page.locator("table.segments tbody tr")).to_have_count(1)
    expect(row(page, "web_list_static")).to_be_visible()
    post(api, "/segments", {"id": "web_list_embedded", "name": "A module's own", "type": "embedded",
                            "rule": {"score": {"name": "nps", "gte": 9}}})
    page.get_by_label("Type").select_option("embedded")  # the API lists these only when asked
    expect(page.locator("table.segments tbody tr")).to_have_count(1)
    expect(row(page, "web_list_embedded")).to_be_visible()
    # listed, an embedded segment that fills is polled like any other until it is filled
    expect(page.get_by_test_id("filling-web_list_embedded")).to_contain_text("filled")
    embedded = get(api, "/segments/web_list_embedded")["count"]
    expect(page.get_by_test_id("count-web_list_embedded")).to_have_text(f"{embedded:,}")
    page.get_by_label("Type").select_option("all")
    expect(row(page, "web_list_embedded")).to_have_count(0)

    call(api, "DELETE", "/segments/web_list_static")
    page.get_by_label("Show archived").check()
    expect(row(page, "web_list_static")).to_have_class("archived")
    expect(page.get_by_test_id("filling-web_list_static")).to_have_text("archived")
    summary = f"{seeded + 1} of {seeded + 1} segments · 1 archived"
    expect(page.get_by_test_id("segments-summary")).to_have_text(summary)
    shoot(page, artifacts, "12-segments-archived")
    page.get_by_label("Show archived").uncheck()
    expect(row(page, "web_list_static")).to_have_count(0)
    expect(page.locator("table.segments tbody tr")).to_have_count(seeded)


def test_the_templates_gallery_opens_a_template_in_the_builder(api: str, page: Any, artifacts: Path) -> None:
    templates = get(api, "/templates")["templates"]
    open_app(page, api, "/templates")
    expect(page.locator(".template-card")).to_have_count(len(templates))
    for category in {t["category"] for t in templates}:
        expect(page.get_by_test_id(f"category-{category}")).to_be_visible()
    summary = page.get_by_test_id("template-summary-hot_leads")
    expect(summary).to_contain_text("all of")
    expect(summary).to_contain_text("Score")
    expect(summary).to_contain_text("Last activity")
    shoot(page, artifacts, "13-templates")

    page.get_by_label("Search templates").fill("nps promoters")
    expect(page.locator(".template-card")).to_have_count(1)
    page.get_by_test_id("template-promoters").get_by_role("link", name="Start from this template").click()
    expect(page).to_have_url(re.compile(r"#/new/template/promoters$"))
    expect(page.get_by_test_id("estimate-value")).to_be_visible()
    shoot(page, artifacts, "14-template-in-builder")


def test_another_tenants_key_never_shows_the_demo_segments(api: str, page: Any) -> None:
    vip = {"tag": {"match": "any", "tags": ["vip"]}}
    post(api, "/segments", {"id": "web_demo_only", "name": "Demo only", "rule": vip})
    acme = {s["id"]: s["count"] for s in call(api, "GET", "/segments", tenant="acme")["segments"]}
    open_app(page, api, "/", tenant="acme")
    expect(page.locator("table.segments tbody tr")).to_have_count(len(acme))
    expect(row(page, "web_demo_only")).to_have_count(0)
    for segment_id, count in acme.items():
        expect(page.get_by_test_id(f"count-{segment_id}")).to_have_text(f"{count:,}")
