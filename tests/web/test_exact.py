"""Exact answers in the Segment Builder, in a real browser against the local stack: the exact
count of the rule being built (said to be exact, as of when), the sampled estimate when
there is no exact answer, and the impact of an edit with examples that open Explain.

The module's stack is started with ``ANALYTICS_COPY`` set; when the stack does not build
the demo tenant's copy itself, the test writes it from the seeded tables, so the exact
path is exercised either way.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from growthos_segments.analytics.parquet import write_tenant
from growthos_segments.devstack.stack import READY_MARKER
from growthos_segments.infra.keys import CONTACT_SHARDS
from growthos_segments.infra.repos import build_repositories
from growthos_segments.infra.settings import Settings
from tests.e2e.test_local_stack import START_TIMEOUT, Running, start_stack
from tests.web.conftest import WEB_MARKS, WebStack, get, open_app, post, shoot, sync_api

pytestmark = WEB_MARKS
EXPECTED_CONSOLE_ERRORS = ("the server responded with a status of 503",)
"""The failure the third test fakes for the exact count."""

PRO = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}
PAID = {"attribute": {"field": "plan", "op": "in", "values": ["pro", "enterprise"]}}
SEGMENT = "web_exact_pro"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStack]:
    """The module's stack with an analytical copy of the demo tenant."""
    copy = tmp_path_factory.mktemp("analytics-copy")
    prefix = f"webx{os.getpid()}"
    running: Running = start_stack("--port", "0", "--moto-port", "0", "--contacts", "200", "--prefix", prefix,
                                   environment={"ANALYTICS_COPY": str(copy)})
    try:
        ready = running.wait_for(rf"{READY_MARKER} [\d.]+ s: API (http://127\.0\.0\.1:\d+)", START_TIMEOUT)
        moto = running.wait_for(r"moto .*(http://127\.0\.0\.1:\d+)", 5).group(1)
        built = WebStack(ready.group(1), moto, prefix)
        if not get(built.api, "/rules/count")["available"]:
            write_tenant(copy, "demo", seeded_documents(built, "demo"))
        assert get(built.api, "/rules/count") == {"available": True}
        yield built
    finally:
        running.process.terminate()
        running.process.wait(30)


def seeded_documents(stack: WebStack, tenant: str) -> list[dict[str, Any]]:
    """Every contact of the tenant with all its events, read back from the stack's tables."""
    repos = build_repositories(Settings.local(stack.prefix, endpoint_url=stack.moto))
    docs: list[dict[str, Any]] = []
    for shard in range(CONTACT_SHARDS):
        cursor = None
        while True:
            page = repos.contacts.contact_ids(tenant, shard=shard, cursor=cursor)
            views = repos.views.load_views(tenant, page.items, now=datetime.now(UTC), lookback=timedelta.max)
            docs += [doc for doc in views.values() if doc is not None]
            if (cursor := page.cursor) is None:
                break
    return docs


def apply_rule(page: Any, rule: Any) -> None:
    """Puts ``rule`` in the builder through its JSON view."""
    page.locator("details.json-view > summary").click()
    page.get_by_label("rule JSON").fill(json.dumps(rule))
    page.get_by_role("button", name="Apply JSON").click()


def test_the_builder_shows_the_exact_count_as_of_the_copy(
    stack: WebStack, page: Any, artifacts: Path
) -> None:
    exact = post(stack.api, "/rules/count", {"rule": PRO})
    assert exact["path"] == "sql" and 0 < exact["count"] < 200
    open_app(page, stack.api, "/new")
    apply_rule(page, PRO)
    estimate = page.get_by_test_id("estimate")
    sync_api.expect(page.get_by_test_id("exact-note")).to_contain_text("exact, as of")
    sync_api.expect(page.get_by_test_id("estimate-value")).to_have_text(f"{exact['count']:,}")
    sync_api.expect(estimate).not_to_contain_text("interval")
    shoot(page, artifacts, "exact-01-count")


def test_without_an_exact_answer_the_estimate_stays(stack: WebStack, page: Any, artifacts: Path) -> None:
    """A tenant without a copy (the status says so) asks for no exact count; when the count
    fails, the estimate stays."""
    page.route(re.compile(r".*/rules/count$"), lambda route: route.fulfill(
        status=200, content_type="application/json", body='{"available": false}'))
    open_app(page, stack.api, "/new")
    asked: list[str] = []
    page.on("request", lambda request: request.method == "POST" and request.url.endswith("/rules/count")
            and asked.append(request.url))
    apply_rule(page, PRO)
    sync_api.expect(page.get_by_test_id("estimate-value")).to_be_visible()
    sync_api.expect(page.get_by_test_id("exact-note")).to_have_count(0)
    assert asked == []
    shoot(page, artifacts, "exact-02-no-copy-estimate")

    page.unroute(re.compile(r".*/rules/count$"))
    page.route(re.compile(r".*/rules/count$"), lambda route: route.fulfill(
        status=200, content_type="application/json", body='{"available": true}')
        if route.request.method == "GET" else route.fulfill(
        status=503, content_type="application/json",
        body='{"message": "unavailable", "errors": [{"location": "request", "path": "", '
             '"message": "the copy is being rebuilt"}]}'))
    open_app(page, stack.api, "/new")
    with page.expect_request(lambda asked: asked.method == "POST" and asked.url.endswith("/rules/count")):
        apply_rule(page, PRO)
    sync_api.expect(page.get_by_test_id("estimate-value")).to_be_visible()
    # 200 contacts are few enough for the estimate to read them all: it is exact, and says so
    sync_api.expect(page.get_by_test_id("estimate")).to_contain_text("exact, all 200 evaluated")
    sync_api.expect(page.get_by_test_id("exact-note")).to_have_count(0)
    shoot(page, artifacts, "exact-03-failed-estimate-stays")


def test_editing_a_segment_shows_who_would_enter_and_exit(
    stack: WebStack, page: Any, artifacts: Path
) -> None:
    post(stack.api, "/segments", {"id": SEGMENT, "name": "Pro (exact)", "rule": PRO})
    open_app(page, stack.api, f"/segments/{SEGMENT}/edit")
    summary = page.get_by_test_id("impact-summary")
    sync_api.expect(summary).to_have_text("0 would enter, 0 would exit")
    apply_rule(page, PAID)
    expected = post(stack.api, f"/segments/{SEGMENT}/impact", {"rule": PAID})
    assert expected["would_enter"] > 0 and expected["would_exit"] == 0
    sync_api.expect(summary).to_have_text(f"{expected['would_enter']:,} would enter, 0 would exit")
    sync_api.expect(page.get_by_test_id("impact")).to_contain_text(
        f"{expected['members']:,} members now, {expected['after']:,} after saving")
    entering = page.get_by_test_id("impact-enter").get_by_role("link")
    sync_api.expect(entering).to_have_count(len(expected["enter_examples"]))
    sync_api.expect(entering.first).to_have_text(expected["enter_examples"][0])
    shoot(page, artifacts, "exact-04-impact-of-an-edit")

    entering.first.click()
    sync_api.expect(page).to_have_url(re.compile(rf"#/explain/{SEGMENT}/{expected['enter_examples'][0]}$"))
    # not a member yet: the new rule is not saved, and explain evaluates the saved version
    sync_api.expect(page.get_by_test_id("explain-verdict")).to_contain_text(
        f"{expected['enter_examples'][0]} is not a member of “Pro (exact)”")
    shoot(page, artifacts, "exact-05-explain-an-entering-contact")
